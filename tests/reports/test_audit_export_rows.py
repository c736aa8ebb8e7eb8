"""The streamed export writes each event exactly as the format's definitions do (export_line, csv_row), whatever
the database hands back, and the examiner's verifier accepts a re-encoded but equal JSON Lines file."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.db import connection

from reports import audit_export
from tests.core.audit_helpers import tamper
from tests.reports.helpers import archive_of, export_now, offline_verify, public_key_file, record
from ztconsole import auditverify, verify_export
from ztconsole.core.models import AuditEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(personas):
    admin = personas["admin"].user
    record(admin, "identity.created", {"name": "Zoë Ångström", "limits": {"usd": 1.5}, "tags": ["a", None]})
    record(None, "auth.login_failed", {"username": "mallory", "note": 'quotes " and, commas\nand\u2028more'})
    record(admin, "policy.rule_changed", {"before": {"score": 10}, "after": {"score": 15}})
    # An address and a whole-second timestamp (SQLite keeps no fraction then): written behind the chain's back,
    # so the file must still hold what the database holds.
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    stored = "2026-01-02 03:04:05" if connection.vendor == "sqlite" else when  # as Django writes it on SQLite
    tamper("UPDATE core_auditevent SET ip_address = %s, created_at = %s WHERE seq = 2", ["192.0.2.7", stored])
    return {"compliance": personas["compliance"].user}


def _expected(last_seq: int) -> list[tuple[tuple, str]]:
    rows = AuditEvent.objects.filter(seq__lte=last_seq).order_by("seq")
    expected = []
    for row in rows.values_list(*auditverify.HASHED_FIELDS, "hash"):
        values = list(row[:-1])
        values[1] = audit_export.timestamp(values[1])
        expected.append((tuple(values), row[-1]))
    return expected


def _member(archive: Path, name: str) -> str:
    with zipfile.ZipFile(archive) as bundle:
        (member,) = [item for item in bundle.namelist() if item.endswith("/" + name)]
        return bundle.read(member).decode("utf-8")


def test_jsonl_lines_are_export_line_of_each_event(history):
    export = export_now(history["compliance"], "jsonl")
    lines = _member(archive_of(export), "events.jsonl").split("\n")[:-1]  # not splitlines: U+2028 is in a value
    expected = _expected(export.last_seq)
    assert lines == [auditverify.export_line(values, stored) for values, stored in expected]
    assert expected[1][0][1] == "2026-01-02T03:04:05.000000Z"


def test_csv_rows_are_csv_row_of_each_event(history):
    export = export_now(history["compliance"], "csv")
    rows = list(csv.reader(io.StringIO(_member(archive_of(export), "events.csv"), newline="")))
    assert rows[0] == list(verify_export.CSV_COLUMNS)
    assert rows[1:] == [verify_export.csv_row(values, stored) for values, stored in _expected(export.last_seq)]


def test_the_manifest_hashes_are_those_of_the_files_written(history, tmp_path):
    export = export_now(history["compliance"], "csv")
    result = offline_verify(archive_of(export), "--public-key", public_key_file(tmp_path))
    # seq 2 was changed behind the chain's back: the files match the manifest, the event does not match its hash.
    assert "SHA-256" not in result.stderr
    assert "events.csv line 3: event seq 2: content does not match its hash" in result.stderr


def test_a_jsonl_file_encoded_another_way_still_verifies(personas, tmp_path):
    record(personas["admin"].user, "identity.created", {"name": "Zoë", "roles": ["trader"]})
    record(None, "auth.login_failed", {"username": "mallory"})
    export = export_now(personas["compliance"].user, "jsonl")
    with zipfile.ZipFile(archive_of(export)) as bundle:
        bundle.extractall(tmp_path / "x")
    (folder,) = (tmp_path / "x").iterdir()
    events = folder / "events.jsonl"
    # Same documents, keys in another order, spaces and ASCII escapes: not the console's bytes, equal events.
    lines = [json.loads(line) for line in events.read_text(encoding="utf-8").split("\n")[:-1]]
    events.write_text("".join(json.dumps(dict(reversed(d.items()))) + "\n" for d in lines), encoding="utf-8")
    manifest_path = folder / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest.pop("signature")
    for entry in manifest["files"]:
        if entry["name"] == "events.jsonl":
            with events.open("rb") as handle:
                entry["sha256"], entry["bytes"] = verify_export.file_sha256(handle)
    manifest_path.write_text(
        json.dumps(verify_export.sign_manifest(audit_export.signing_key(), manifest)), encoding="utf-8"
    )

    result = offline_verify(folder, "--public-key", public_key_file(tmp_path))

    assert result.returncode == 0, result.stderr
    assert f"{len(lines)} exported events match their hashes" in result.stdout
