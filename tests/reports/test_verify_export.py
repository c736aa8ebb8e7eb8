"""Signed audit exports verified by ztconsole.verify_export in a separate process with no Django."""

from __future__ import annotations

import csv
import hashlib
import json
import zipfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.db import connection

from tests.core.audit_helpers import tamper
from tests.reports.helpers import archive_of, export_now, offline_verify, public_key_file, record
from ztconsole import auditverify, verify_export
from ztconsole.core.models import AuditEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(personas):
    """A small, varied chain: people and the system, non-ASCII text, nested details, addresses."""
    compliance, admin = personas["compliance"].user, personas["admin"].user
    record(admin, "identity.created", {"name": "Zoë Ångström", "roles": ["trader"], "limits": {"usd": 1.5}})
    record(None, "auth.login_failed", {"username": "mallory", "reason": "bad password"})
    record(admin, "policy.rule_changed", {"before": {"score": 10}, "after": {"score": 15}})
    record(compliance, "auth.login", {})
    record(admin, "identity.suspended", {"comment": 'quotes " and, commas\nand a newline'})
    return {"compliance": compliance, "admin": admin}


def _unzip(archive: Path, into: Path) -> Path:
    with zipfile.ZipFile(archive) as bundle:
        bundle.extractall(into)
    (folder,) = into.iterdir()
    return folder


def _rewrite(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_an_export_verifies_offline_with_django_absent(fmt, history, tmp_path):
    export = export_now(history["compliance"], fmt)
    archive = archive_of(export)
    key = public_key_file(tmp_path)

    result = offline_verify(archive, "--public-key", key)

    assert result.returncode == 0, result.stderr
    assert f"{archive}: OK" in result.stdout
    total = AuditEvent.objects.count() - 1  # the export's own "completed" event came after it
    assert f"chain continuous over seq 1..{total}" in result.stdout
    with zipfile.ZipFile(archive) as bundle:
        manifest = json.loads(bundle.read(f"audit-export-{export.pk}/manifest.json"))
        names = sorted(name.rsplit("/", 1)[-1] for name in bundle.namelist())
    assert names == sorted(["manifest.json", "chain.csv", f"events.{fmt}"])
    assert manifest["requested"]["by"] == history["compliance"].get_username()
    assert manifest["event_count"] == total == export.written
    last = AuditEvent.objects.get(seq=total)
    assert manifest["range"] == {
        "first_seq": 1,
        "last_seq": total,
        "prev_hash": auditverify.GENESIS_HASH,
        "last_hash": last.hash,
        "head_seq_at_export": total,
    }
    assert manifest["signature"]["key_id"] == auditverify.key_id(
        auditverify.load_public_keys(key.read_text()).popitem()[1]
    )


def test_a_filtered_export_holds_only_the_selected_events_and_the_whole_chain_of_its_period(history, tmp_path):
    admin = history["admin"]
    export = export_now(history["compliance"], "csv", actor=admin.get_username(), action_prefix="identity.")
    folder = _unzip(archive_of(export), tmp_path / "x")

    with (folder / "events.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["action"] for row in rows] == ["identity.created", "identity.suspended"]
    assert rows[1]["details"] == json.dumps(
        {"comment": 'quotes " and, commas\nand a newline'}, separators=(",", ":"), ensure_ascii=False
    )
    with (folder / "chain.csv").open(encoding="utf-8", newline="") as handle:
        chain = list(csv.DictReader(handle))
    assert [int(row["seq"]) for row in chain] == list(range(1, export.last_seq + 1))  # unselected events too
    result = offline_verify(folder, "--public-key", public_key_file(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "2 exported events match their hashes" in result.stdout


def test_a_time_window_covers_only_the_events_of_the_period(history, tmp_path):
    events = list(AuditEvent.objects.order_by("seq"))
    since = events[1].created_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    until = events[3].created_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    export = export_now(history["compliance"], "jsonl", since=since, until=until)
    assert (export.first_seq, export.last_seq, export.written) == (2, 3, 2)
    result = offline_verify(archive_of(export), "--public-key", public_key_file(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "chain continuous over seq 2..3" in result.stdout


def _fails(path: Path, key: Path) -> str:
    result = offline_verify(path, "--public-key", key)
    assert result.returncode == 1, result.stdout + result.stderr
    return result.stderr


def test_a_changed_events_file_is_named(history, tmp_path):
    folder = _unzip(archive_of(export_now(history["compliance"])), tmp_path / "x")
    _rewrite(folder / "events.jsonl", "mallory", "mal1ory")
    stderr = _fails(folder, public_key_file(tmp_path))
    assert "events.jsonl: SHA-256" in stderr
    assert "events.jsonl line 2: event seq 2: content does not match its hash" in stderr


def test_a_changed_file_with_its_hash_updated_in_the_manifest_breaks_the_signature(history, tmp_path):
    folder = _unzip(archive_of(export_now(history["compliance"], "csv")), tmp_path / "x")
    events = folder / "events.csv"
    before = hashlib.sha256(events.read_bytes()).hexdigest()
    _rewrite(events, "mallory", "mal1ory")
    _rewrite(folder / "manifest.json", before, hashlib.sha256(events.read_bytes()).hexdigest())
    stderr = _fails(folder, public_key_file(tmp_path))
    assert "manifest.json: signature does not verify" in stderr


def test_a_changed_manifest_breaks_the_signature(history, tmp_path):
    folder = _unzip(archive_of(export_now(history["compliance"], "jsonl", action_prefix="auth.")), tmp_path / "x")
    _rewrite(folder / "manifest.json", '"action_prefix": "auth."', '"action_prefix": "au"')
    assert "manifest.json: signature does not verify" in _fails(folder, public_key_file(tmp_path))


def test_a_manifest_signed_by_another_key_is_refused(history, tmp_path):
    folder = _unzip(archive_of(export_now(history["compliance"])), tmp_path / "x")
    manifest = json.loads((folder / "manifest.json").read_text())
    forged = verify_export.sign_manifest(Ed25519PrivateKey.generate(), manifest)
    (folder / "manifest.json").write_text(json.dumps(forged))
    assert "which is not among the given public keys" in _fails(folder, public_key_file(tmp_path))


def test_an_event_changed_in_the_database_is_named_with_its_line_and_seq(history, tmp_path):
    tamper("UPDATE core_auditevent SET target_label = %s WHERE seq = 3", ["rewritten"])
    folder = _unzip(archive_of(export_now(history["compliance"], "csv")), tmp_path / "x")
    assert "events.csv line 4: event seq 3: content does not match its hash" in _fails(
        folder, public_key_file(tmp_path)
    )


def test_an_event_removed_from_the_database_is_named(history, tmp_path):
    if connection.vendor == "postgresql":
        tamper("ALTER TABLE core_auditevent DISABLE TRIGGER USER")
    tamper("DELETE FROM core_auditevent WHERE seq = 2")
    folder = _unzip(archive_of(export_now(history["compliance"])), tmp_path / "x")
    assert "chain.csv: seq 3 where seq 2 was expected" in _fails(folder, public_key_file(tmp_path))


def _rewrite_history_from(seq: int) -> None:
    """What an attacker with the database does: change an event and recompute every hash after it."""
    rows = list(AuditEvent.objects.filter(seq__gte=seq).order_by("seq").values_list(*auditverify.HASHED_FIELDS, "hash"))
    prev = AuditEvent.objects.get(seq=seq - 1).hash
    for index, row in enumerate(rows):
        values = list(row[:-1])
        values[1] = values[1].strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        if index == 0:
            values[auditverify.HASHED_FIELDS.index("details")] = {"username": "someone-else"}
        values[-1] = prev
        new_hash = auditverify.event_hash(values)
        tamper(
            "UPDATE core_auditevent SET details = %s, prev_hash = %s, hash = %s WHERE seq = %s",
            [json.dumps(values[8]), prev, new_hash, row[0]],
        )
        prev = new_hash
    tamper("UPDATE core_audithead SET hash = %s WHERE id = 1", [prev])


def test_two_overlapping_exports_agree_and_a_rewrite_between_them_is_caught(history, tmp_path):
    key = public_key_file(tmp_path)
    first = archive_of(export_now(history["compliance"], "jsonl"))
    record(history["admin"], "identity.created", {"name": "later"})
    honest = archive_of(export_now(history["compliance"], "csv", action_prefix="identity."))
    result = offline_verify(first, honest, "--public-key", key)
    assert result.returncode == 0, result.stderr
    assert "consistent on every event they share" in result.stdout

    _rewrite_history_from(2)
    rewritten = archive_of(export_now(history["compliance"], "csv"))
    alone = offline_verify(rewritten, "--public-key", key)
    assert alone.returncode == 0, alone.stderr  # consistent in itself: only the earlier export shows the change
    stderr = _fails_pair(first, rewritten, key)
    assert "seq 2: hash" in stderr and "the audit log was changed between the two exports" in stderr


def _fails_pair(first: Path, second: Path, key: Path) -> str:
    result = offline_verify(first, second, "--public-key", key)
    assert result.returncode == 1, result.stdout
    return result.stderr


def test_unreadable_inputs_exit_2_with_a_message(tmp_path):
    key = tmp_path / "key.pem"
    key.write_text("not a key")
    result = offline_verify(tmp_path, "--public-key", key)
    assert result.returncode == 2 and "no PEM public key" in result.stderr
    key.write_text(auditverify.public_key_pem(Ed25519PrivateKey.generate().public_key()))
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip")
    result = offline_verify(junk, "--public-key", key)
    assert result.returncode == 2 and "neither a folder nor a zip archive" in result.stderr
