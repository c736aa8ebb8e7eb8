"""Signed checkpoints: what a database writer can no longer hide from verify_audit and the offline verifier."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction

from tests.core.audit_helpers import record_events, tamper
from ztconsole import auditverify
from ztconsole.core import audit
from ztconsole.core.models import AuditCheckpoint, AuditEvent, AuditRefused, CheckpointReason

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def every_five(settings):
    settings.ZT_AUDIT_CHECKPOINT_EVERY = 5
    return settings


def _outside(settings) -> list[auditverify.Checkpoint]:
    path = Path(settings.ZT_AUDIT_CHECKPOINT_PATH)
    return auditverify.read_checkpoints(path) if path.exists() else []


def _rewrite_from(seq: int, details: dict) -> None:
    """What the issue reproduced: edit one event and recompute every later hash, and the head, with our
    own (public) encoding. Without a secret the chain alone cannot tell."""
    rows = list(AuditEvent.objects.order_by("seq"))
    prev = rows[seq - 2].hash if seq > 1 else audit.GENESIS_HASH
    for event in rows[seq - 1 :]:
        event.prev_hash = prev
        if event.seq == seq:
            event.details = details
        new_hash = audit.compute_hash(event)
        tamper(
            "UPDATE core_auditevent SET details = %s, prev_hash = %s, hash = %s WHERE seq = %s",
            [json.dumps(event.details), prev, new_hash, event.seq],
        )
        prev = new_hash
    tamper("UPDATE core_audithead SET seq = %s, hash = %s WHERE id = 1", [rows[-1].seq, prev])


def _verify_fails(*args: str) -> str:
    with pytest.raises(CommandError) as info:
        call_command("verify_audit", *args)
    assert info.value.returncode == 1
    return str(info.value)


# --- making checkpoints -----------------------------------------------------------------------------


def test_every_n_events_a_signed_checkpoint_is_stored_and_written_outside(every_five):
    events = record_events(12)
    stored = list(AuditCheckpoint.objects.order_by("seq"))
    assert [(c.seq, c.hash, c.reason) for c in stored] == [
        (5, events[4].hash, CheckpointReason.EVENTS),
        (10, events[9].hash, CheckpointReason.EVENTS),
    ]
    outside = _outside(every_five)
    assert [(c.seq, c.hash, c.signature) for c in outside] == [(c.seq, c.hash, c.signature) for c in stored]
    # Signed by the configured key, which the database does not hold.
    key = auditverify.load_private_key(every_five.ZT_AUDIT_SIGNING_KEY).public_key()
    assert all(c.verify({auditverify.key_id(key): key}) == "" for c in outside)
    assert every_five.ZT_AUDIT_SIGNING_KEY not in json.dumps(list(AuditCheckpoint.objects.values()))


def test_every_checkpoint_fires_the_hook_other_destinations_connect_to(every_five):
    from ztconsole.core import hooks

    seen = []

    def receiver(actor, subject, *, request=None):
        seen.append((actor, subject, transaction.get_connection().in_atomic_block))

    hooks.audit_checkpoint_signed.connect(receiver)
    try:
        events = record_events(5)
        made = audit.checkpoint()
    finally:
        hooks.audit_checkpoint_signed.disconnect(receiver)
    assert [(actor, c.seq, c.hash, c.reason, inside) for actor, c, inside in seen] == [
        (None, 5, events[-1].hash, "events", True),
        (None, 5, made.hash, "manual", True),
    ]
    assert [c.to_json() for _, c, _ in seen] == [c.to_json() for c in _outside(every_five)]


def test_a_batch_that_crosses_a_multiple_of_n_is_checkpointed_at_its_end(every_five):
    record_events(3)
    with transaction.atomic():
        written = audit.record_batch([(None, "test.bulk", ("test.thing", str(i), "t"), {"i": i}) for i in range(9)])
    assert written == 9
    assert list(AuditCheckpoint.objects.values_list("seq", flat=True)) == [12]
    assert audit.verify_chain().ok


def test_a_rolled_back_append_leaves_no_checkpoint_behind(every_five):
    record_events(4)
    with pytest.raises(RuntimeError), transaction.atomic():
        audit.record(None, "test.fifth", None, {})
        raise RuntimeError("the action failed")
    assert not AuditCheckpoint.objects.exists()
    assert _outside(every_five) == []


def test_the_periodic_task_signs_a_moved_head_in_the_real_worker(celery_worker_thread, settings):
    from ztconsole.core.tasks import audit_checkpoint

    assert settings.CELERY_BEAT_SCHEDULE["audit-checkpoint"] == {
        "task": "core.audit_checkpoint",
        "schedule": settings.ZT_AUDIT_CHECKPOINT_MINUTES * 60.0,
    }
    events = record_events(3)
    assert audit_checkpoint.delay().get(timeout=30) == 3
    assert audit_checkpoint.delay().get(timeout=30) is None  # the head has not moved
    (made,) = AuditCheckpoint.objects.all()
    assert (made.seq, made.hash, made.reason) == (3, events[-1].hash, CheckpointReason.SCHEDULE)
    assert [c.seq for c in _outside(settings)] == [3]


def test_a_checkpoint_refuses_to_vouch_for_events_changed_since_the_last_one(settings):
    record_events(3)
    tamper("UPDATE core_auditevent SET details = %s WHERE seq = 2", ['{"i": 42}'])
    with pytest.raises(audit.AuditChainBroken, match="seq 2"):
        audit.checkpoint()
    assert not AuditCheckpoint.objects.exists()
    assert _outside(settings) == []


def test_checkpoint_rows_are_append_only():
    record_events(1)
    made = audit.checkpoint()
    with pytest.raises(AuditRefused):
        made.save()
    with pytest.raises(AuditRefused):
        AuditCheckpoint.objects.all().delete()


# --- what verify_audit now detects ------------------------------------------------------------------


def test_rewritten_history_with_recomputed_hashes_is_detected(every_five):
    record_events(10)
    _rewrite_from(3, {"i": 99})
    assert AuditEvent.objects.get(seq=3).hash == audit.compute_hash(AuditEvent.objects.get(seq=3))
    message = _verify_fails()
    assert "seq 5" in message and "rewritten" in message


def test_rewritten_history_is_detected_from_outside_when_database_checkpoints_are_deleted_too(every_five):
    record_events(10)
    _rewrite_from(3, {"i": 99})
    tamper("DELETE FROM core_auditcheckpoint")
    message = _verify_fails()
    assert "seq 5" in message and "rewritten" in message


def test_truncation_with_the_head_updated_is_detected(every_five):
    events = record_events(10)
    tamper("DELETE FROM core_auditevent WHERE seq > 7")
    tamper("DELETE FROM core_auditcheckpoint WHERE seq > 7")
    tamper("UPDATE core_audithead SET seq = 7, hash = %s WHERE id = 1", [events[6].hash])
    message = _verify_fails()
    assert "vouches for seq 10 but the chain ends at seq 7" in message
    assert "removed from the end" in message


def test_a_wiped_table_is_detected(every_five):
    record_events(6)
    for table in ("core_auditevent", "core_auditcheckpoint", "core_audithead"):
        tamper(f"DELETE FROM {table}")  # noqa: S608 (constant table names)
    message = _verify_fails()
    assert "vouches for seq 5 but the chain ends at seq 0" in message
    assert "emptied" in message


def test_a_forged_checkpoint_in_the_database_is_refused():
    events = record_events(3)
    impostor = Ed25519PrivateKey.generate()
    forged = auditverify.sign_checkpoint(impostor, 3, events[-1].hash, "2026-01-01T00:00:00.000000Z", "manual")
    AuditCheckpoint.objects.create(
        seq=3, hash=forged.hash, created_at=forged.created_at, reason="manual", key_id=forged.key_id,
        signature=forged.signature,
    )  # fmt: skip
    assert "signed with unknown key" in _verify_fails()


def test_a_checkpoint_whose_signature_was_altered_is_refused(settings):
    record_events(2)
    made = audit.checkpoint()
    bad = base64.b64encode(b"\0" * 64).decode()
    tamper("UPDATE core_auditcheckpoint SET seq = 1, signature = %s WHERE id = %s", [bad, made.pk])
    assert "signature does not verify" in _verify_fails()


def test_verify_audit_against_an_explicit_checkpoint_file_and_key(every_five, tmp_path):
    record_events(5)
    pem = tmp_path / "audit.pub"
    call_command("audit_checkpoint", "--public-key", stdout=pem.open("w"))
    checkpoints = Path(every_five.ZT_AUDIT_CHECKPOINT_PATH)
    call_command("verify_audit", "--checkpoint", str(checkpoints), "--public-key", str(pem))
    other = tmp_path / "other.pub"
    other.write_text(auditverify.public_key_pem(Ed25519PrivateKey.generate().public_key()))
    assert "unknown key" in _verify_fails("--checkpoint", str(checkpoints), "--public-key", str(other))
    with pytest.raises(CommandError) as info:
        call_command("verify_audit", "--public-key", str(tmp_path / "missing.pem"))
    assert info.value.returncode == 2


def test_intact_chain_reports_what_the_checkpoints_cover(every_five, capsys):
    record_events(7)
    call_command("verify_audit")
    out = capsys.readouterr().out
    assert "7 events verified" in out and "up to seq 5" in out and "2 newer events not yet checkpointed" in out


# --- offline: the exported file, the checkpoint file and the public key, and no Django --------------

OFFLINE = """
import sys
from ztconsole import auditverify
code = auditverify.main(sys.argv[1:])
loaded = sorted(m for m in sys.modules if m == "django" or m.startswith("django."))
assert not loaded, loaded
sys.exit(code)
"""


def _offline(*args: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", OFFLINE, *map(str, args)],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def exported(every_five, tmp_path):
    record_events(8)
    call_command("export_audit", str(tmp_path / "events.jsonl"))
    call_command("audit_checkpoint", "--public-key", stdout=(tmp_path / "audit.pub").open("w"))
    return tmp_path / "events.jsonl", Path(every_five.ZT_AUDIT_CHECKPOINT_PATH), tmp_path / "audit.pub"


def test_every_export_is_checkpointed_and_verifies_offline_without_django(exported):
    events, checkpoints, pem = exported
    assert [(c.seq, c.reason) for c in auditverify.read_checkpoints(checkpoints)] == [(5, "events"), (8, "export")]
    result = _offline(events, "--checkpoint", checkpoints, "--public-key", pem)
    assert result.returncode == 0, result.stderr
    assert "8 events verified" in result.stdout and "up to seq 8" in result.stdout


def test_offline_verifier_catches_a_rewritten_export(exported):
    events, checkpoints, pem = exported
    lines = [json.loads(line) for line in events.read_text().splitlines()]
    lines[2]["details"] = {"i": 99}
    prev = lines[1]["hash"]
    for line in lines[2:]:  # recompute every later hash, as a forger would
        line["prev_hash"] = prev
        line["hash"] = prev = auditverify.event_hash(tuple(line[name] for name in auditverify.HASHED_FIELDS))
    events.write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = _offline(events, "--checkpoint", checkpoints, "--public-key", pem)
    assert result.returncode == 1
    assert "seq 5" in result.stderr and "rewritten" in result.stderr


def test_offline_verifier_catches_a_truncated_or_emptied_export(exported):
    events, checkpoints, pem = exported
    lines = events.read_text().splitlines(keepends=True)
    events.write_text("".join(lines[:6]))
    result = _offline(events, "--checkpoint", checkpoints, "--public-key", pem)
    assert result.returncode == 1 and "vouches for seq 8 but the chain ends at seq 6" in result.stderr
    events.write_text("")
    result = _offline(events, "--checkpoint", checkpoints, "--public-key", pem)
    assert result.returncode == 1 and "emptied" in result.stderr


def test_offline_verifier_refuses_unusable_inputs(exported, tmp_path):
    events, checkpoints, pem = exported
    empty = tmp_path / "none.jsonl"
    empty.write_text("")
    result = _offline(events, "--checkpoint", empty, "--public-key", pem)
    assert result.returncode == 2 and "no checkpoint" in result.stderr
    result = _offline(events, "--checkpoint", checkpoints, "--public-key", events)
    assert result.returncode == 2 and "no PEM public key" in result.stderr
