"""Search indexes of the identity and device lists (see ztconsole/core/search.py for how they work).

An identity matches on its display name, SenderCompIDs, username or e-mail; a device on its serial,
hostname or its owner's display name.
"""

from __future__ import annotations

from ztconsole.core.search import FtsIndex, trigram_index_sql

IDENTITY_FTS = FtsIndex(
    table="accounts_identity_search",
    columns=("display_name", "sender_comp_ids", "username", "email"),
    select="SELECT i.id, i.display_name, i.sender_comp_ids, u.username, u.email "
    "FROM accounts_identity i JOIN auth_user u ON u.id = i.user_id WHERE {where}",
    triggers=(
        "accounts_identity_search_ai AFTER INSERT ON accounts_identity BEGIN "
        "INSERT INTO accounts_identity_search(rowid, display_name, sender_comp_ids, username, email) "
        "SELECT NEW.id, NEW.display_name, NEW.sender_comp_ids, u.username, u.email "
        "FROM auth_user u WHERE u.id = NEW.user_id; END",
        "accounts_identity_search_au AFTER UPDATE OF display_name, sender_comp_ids, user_id ON accounts_identity "
        "BEGIN DELETE FROM accounts_identity_search WHERE rowid = OLD.id; "
        "INSERT INTO accounts_identity_search(rowid, display_name, sender_comp_ids, username, email) "
        "SELECT NEW.id, NEW.display_name, NEW.sender_comp_ids, u.username, u.email "
        "FROM auth_user u WHERE u.id = NEW.user_id; END",
        "accounts_identity_search_ad AFTER DELETE ON accounts_identity BEGIN "
        "DELETE FROM accounts_identity_search WHERE rowid = OLD.id; END",
        "accounts_identity_search_user_au AFTER UPDATE OF username, email ON auth_user BEGIN "
        "UPDATE accounts_identity_search SET username = NEW.username, email = NEW.email "
        "WHERE rowid IN (SELECT id FROM accounts_identity WHERE user_id = NEW.id); END",
    ),
)

DEVICE_FTS = FtsIndex(
    table="accounts_device_search",
    columns=("serial", "hostname"),
    select="SELECT d.id, d.serial, d.hostname FROM accounts_deviceregistration d WHERE {where}",
    triggers=(
        "accounts_device_search_ai AFTER INSERT ON accounts_deviceregistration BEGIN "
        "INSERT INTO accounts_device_search(rowid, serial, hostname) VALUES (NEW.id, NEW.serial, NEW.hostname); END",
        "accounts_device_search_au AFTER UPDATE OF serial, hostname ON accounts_deviceregistration BEGIN "
        "UPDATE accounts_device_search SET serial = NEW.serial, hostname = NEW.hostname WHERE rowid = NEW.id; END",
        "accounts_device_search_ad AFTER DELETE ON accounts_deviceregistration BEGIN "
        "DELETE FROM accounts_device_search WHERE rowid = OLD.id; END",
    ),
)

FTS_INDEXES = [IDENTITY_FTS, DEVICE_FTS]

TRIGRAM_INDEXES = [
    ("accounts_identity_name_trgm", "accounts_identity", "display_name"),
    ("accounts_identity_compids_trgm", "accounts_identity", "sender_comp_ids"),
    ("auth_user_username_trgm", "auth_user", "username"),
    ("auth_user_email_trgm", "auth_user", "email"),
    ("accounts_device_serial_trgm", "accounts_deviceregistration", "serial"),
    ("accounts_device_hostname_trgm", "accounts_deviceregistration", "hostname"),
]


def trigram_sql() -> list[str]:
    return [trigram_index_sql(name, table, column) for name, table, column in TRIGRAM_INDEXES]


def trigram_drop_sql() -> list[str]:
    return [f"DROP INDEX IF EXISTS {name}" for name, _, _ in TRIGRAM_INDEXES]
