"""Audit retention: old events go to a signed archive, then away; the chain still verifies across the cut,
online and offline, and the archive plus a live export verify together with the examiner's command."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import DatabaseError, connection, transaction

from reports import audit_export
from retention import actions
from tests.core.audit_helpers import record_events, tamper
from ztconsole import auditverify
from ztconsole.core import audit
from ztconsole.core.models import AuditEvent

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def retained(settings, tmp_path):
    settings.ZT_AUDIT_RETENTION_DAYS = 30
    settings.ZT_AUDIT_ARCHIVE_DIR = str(tmp_path / "archives")
    events = record_events(6)
    # "Now" is 30 days after the fourth event: events 1 to 4 are older than the retention.
    result = actions.apply_retention(now=events[3].created_at + timedelta(days=30, microseconds=1))
    return events, result


def _live_export(tmp_path: Path) -> Path:
    covered = audit_export.plan({})
    folder = tmp_path / "live-export"
    audit_export.write_export(
        folder, fmt="jsonl", filters={}, covered=covered, requested={"by": "test"}, progress=lambda _n: None
    )
    target = tmp_path / "live-export.zip"
    audit_export.archive(folder, target)
    return target


def test_old_events_are_archived_then_deleted_and_the_chain_still_verifies(retained):
    events, result = retained
    assert (result.first_seq, result.last_seq, result.deleted) == (1, 4, 4)
    assert result.archive.is_file() and result.archive.name == "audit-archive-000000000001-000000000004.zip"
    assert sorted(AuditEvent.objects.values_list("seq", flat=True)) == [5, 6, 7]
    applied = AuditEvent.objects.get(action="audit.retention_applied")
    assert applied.details["last_hash"] == events[3].hash and applied.details["deleted"] == 4
    assert applied.details["manifest_sha256"] == result.manifest_sha256
    report = audit.verify_chain()
    assert report.ok, report.summary()
    assert audit.checkpoint() is not None  # later checkpoints verify from the cut too
    assert audit.verify_chain().ok


def test_nothing_happens_when_retention_is_off_or_nothing_is_old_enough(settings, tmp_path):
    settings.ZT_AUDIT_ARCHIVE_DIR = str(tmp_path / "archives")
    record_events(2)
    settings.ZT_AUDIT_RETENTION_DAYS = 0
    assert actions.apply_retention() is None
    settings.ZT_AUDIT_RETENTION_DAYS = 30
    assert actions.apply_retention() is None
    assert AuditEvent.objects.count() == 2 and not (tmp_path / "archives").exists()


def test_deleting_the_first_live_event_after_the_cut_is_caught(retained):
    tamper("DELETE FROM core_auditevent WHERE seq = %s", [5])
    report = audit.verify_chain()
    assert not report.ok and report.first_broken_seq == 6


def test_a_cut_nobody_signed_is_not_accepted_as_retention(settings, tmp_path):
    record_events(4)
    tamper("DELETE FROM core_auditevent WHERE seq <= %s", [2])  # no retention checkpoint at seq 2
    report = audit.verify_chain()
    assert not report.ok and report.first_broken_seq == 3


def test_the_archive_and_a_live_export_verify_together_offline(retained, tmp_path):
    _, result = retained
    live = _live_export(tmp_path)
    key = tmp_path / "export.pem"
    key.write_text(audit_export.public_keys_pem())
    run = subprocess.run(
        [sys.executable, "-m", "ztconsole.verify_export", str(result.archive), str(live), "--public-key", str(key)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert "live-export.zip continues audit-archive-000000000001-000000000004.zip with no gap" in run.stdout


def test_the_offline_chain_verifier_starts_from_the_signed_cut(retained, tmp_path):
    events_file = tmp_path / "live.jsonl"
    with events_file.open("w") as handle:
        audit.export_events(handle.write)
    checkpoints = tmp_path / "checkpoints.jsonl"
    checkpoints.write_text("".join(c.to_json() + "\n" for c in audit.stored_checkpoints()))
    key = tmp_path / "audit.pem"
    key.write_text(auditverify.public_key_pem(audit.signing_key().public_key()))
    arguments = [str(events_file), "--checkpoint", str(checkpoints), "--public-key", str(key)]
    assert auditverify.main(arguments) == 0
    # Without the retention checkpoint the same file is a chain with its start cut off.
    kept = [c for c in audit.stored_checkpoints() if c.reason != auditverify.RETENTION_REASON]
    checkpoints.write_text("".join(c.to_json() + "\n" for c in kept))
    assert auditverify.main(arguments) == 1


@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_postgresql_still_refuses_deleting_events_the_cut_does_not_cover(retained):
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM core_auditevent WHERE seq = 6")
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE core_auditevent SET target_label = 'x' WHERE seq = 5")
    assert AuditEvent.objects.filter(seq__in=[5, 6]).count() == 2


def test_retention_waits_for_a_siem_destination_that_is_behind(settings, tmp_path):
    from alerts.models import SiemCursor

    settings.ZT_AUDIT_RETENTION_DAYS = 30
    settings.ZT_AUDIT_ARCHIVE_DIR = str(tmp_path / "archives")
    settings.ZT_SIEM_FORWARD_AUDIT = True
    settings.ZT_SIEM_SYSLOG_URL = "udp://127.0.0.1:9"
    settings.ZT_SIEM_WEBHOOK_URL = "https://siem.example.test/in"
    events = record_events(6)
    later = events[3].created_at + timedelta(days=30, microseconds=1)
    SiemCursor.objects.create(destination="syslog", last_seq=2)
    assert actions.apply_retention(now=later) is None  # the webhook never acknowledged anything
    SiemCursor.objects.create(destination="webhook", last_seq=3)
    result = actions.apply_retention(now=later)
    assert (result.first_seq, result.last_seq) == (1, 2)
    assert audit.verify_chain().ok


def test_the_retention_checkpoint_reason_is_the_one_the_offline_verifier_knows():
    from ztconsole import auditverify
    from ztconsole.core.models import CheckpointReason

    assert CheckpointReason.RETENTION == auditverify.RETENTION_REASON
