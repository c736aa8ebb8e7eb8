"""Appending to the chain: the PostgreSQL function and the Python path hash the same bytes, one total order holds
under concurrent writers, and an append costs one statement on PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext

from ztconsole import auditverify
from ztconsole.core import audit
from ztconsole.core.models import AuditCheckpoint, AuditEvent

TRICKY_DETAILS = [
    {},
    {"z": [1, 2.5, None, True, False], "a": {"ü": "\u0007", "b": 1}, "n": -3},
    {"quote": 'say "hi" \\ back', "lines": "one\ntwo\ttab\r", "sep": "\u2028\u2029", "emoji": "😀", "k": "✓"},
    {"nested": {"deeper": {"list": [{"b": 1, "a": 2}], "Z": "upper", "a": "lower"}}, "é": "accent key"},
]
TRICKY_TARGETS = [
    ("test.thing", "1", "plain"),
    ("accounts.identity", "42", 'Zoë "quoted" \\ back ✓ \u2028 line\nbreak\ttab'),
    ("", "", ""),
    ("x" * 64, "9" * 64, "L" * 200),
]


def _entry(actor, action, target, details, ip, request_id, created_at=None) -> audit._Entry:
    return audit._Entry(
        created_at=created_at or datetime(2026, 11, 30, 12, 0, 0, 123456, tzinfo=UTC),
        actor=actor,
        actor_label=actor.get_username() if actor is not None else "",
        action=action,
        target=target,
        details=details,
        ip_address=ip,
        request_id=request_id,
    )


@pytest.mark.parametrize("details", TRICKY_DETAILS)
@pytest.mark.parametrize("target", TRICKY_TARGETS)
def test_the_parts_around_prev_hash_and_seq_are_the_canonical_encoding(details, target):
    user = get_user_model()(pk=7, username="zoë.ops")  # unsaved: only its pk and username are encoded
    for actor, ip in ((None, None), (user, "2001:db8::1"), (user, "10.0.0.1")):
        entry = _entry(actor, "identity.created", target, details, ip, "req-1")
        head, middle, tail = audit._parts(entry, auditverify.encode_details(details))
        for seq, prev in ((1, audit.GENESIS_HASH), (123_456_789_012, "ab" * 32)):
            values = (
                seq,
                "2026-11-30T12:00:00.123456Z",
                actor.pk if actor else None,
                entry.actor_label,
                "identity.created",
                *target,
                details,
                ip,
                "req-1",
                prev,
            )
            assert f"{head}{prev}{middle}{seq}{tail}".encode() == auditverify.canonical_event(values)


@pytest.mark.django_db(transaction=True)
def test_appended_hashes_are_the_python_definition_of_the_stored_rows(tmp_path):
    """On PostgreSQL the function hashes; on SQLite Python does: both must give what compute_hash gives for the
    row read back, and what the offline verifier accepts."""
    user = get_user_model().objects.create_user("zoë.ops", password="x" * 16)
    with transaction.atomic():
        audit.record(user, "test.single", TRICKY_TARGETS[1], TRICKY_DETAILS[2])
        audit.record_batch(
            [
                (user if i % 2 else None, f"test.batch.{i}", target, details)
                for i, (target, details) in enumerate(
                    (t, d)
                    for t in TRICKY_TARGETS
                    for d in TRICKY_DETAILS  # every combination, in one batch
                )
            ]
        )
    audit.record(None, "test.outside", None, {"ü": [1, 2]})  # outside any transaction
    events = list(AuditEvent.objects.order_by("seq"))
    assert [e.seq for e in events] == list(range(1, len(TRICKY_TARGETS) * len(TRICKY_DETAILS) + 3))
    prev = audit.GENESIS_HASH
    for event in events:
        assert event.prev_hash == prev
        assert event.hash == audit.compute_hash(event), event.seq
        prev = event.hash
    report = audit.verify_chain(checkpoints=[])
    assert report.ok and report.checked == len(events), report.summary()
    # The offline verifier, fed an export of the same rows, agrees.
    export = tmp_path / "events.jsonl"
    with export.open("w", encoding="utf-8") as handle:
        made, count = audit.export_events(handle.write)
    verifier = auditverify.ChainVerifier(audit.stored_checkpoints(), audit.public_keys())
    verifier.feed(auditverify.read_event_lines(export))
    report = verifier.finish()
    assert report.ok and count == len(events) and report.covered_seq == made.seq, report.summary()


@pytest.mark.django_db(transaction=True)
def test_record_returns_what_was_stored():
    with transaction.atomic():
        event = audit.record(None, "test.returned", ("test.thing", "1", "one"), {"b": 2, "a": [1]})
    stored = AuditEvent.objects.get(seq=event.seq)
    assert (event.id, event.hash, event.prev_hash, event.details) == (
        stored.id,
        stored.hash,
        stored.prev_hash,
        stored.details,
    )
    assert audit.compute_hash(event) == event.hash


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="the PostgreSQL function")
def test_an_append_is_one_statement_on_postgresql(settings):
    settings.ZT_AUDIT_CHECKPOINT_EVERY = 100_000  # no checkpoint falls in this test
    audit.record(None, "test.first", None, {})  # the head row exists
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        audit.record(None, "test.single", ("test.thing", "1", "t"), {"i": 1})
    assert len(queries) == 1, [q["sql"][:80] for q in queries]
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        audit.record_batch([(None, "test.batch", ("test.thing", str(i), "t"), {"i": i}) for i in range(1500)])
    assert len(queries) == 1
    assert audit.verify_chain(checkpoints=[]).ok


@pytest.mark.django_db(transaction=True)
def test_an_append_outside_a_transaction_that_reaches_a_multiple_of_n_is_checkpointed(settings):
    settings.ZT_AUDIT_CHECKPOINT_EVERY = 3
    events = [audit.record(None, "test.outside", ("test.thing", str(i), "t"), {"i": i}) for i in range(7)]
    assert audit.record_batch([(None, "test.batch", None, {"i": i}) for i in range(3)]) == 3
    stored = list(AuditCheckpoint.objects.order_by("seq").values_list("seq", "hash"))
    last = AuditEvent.objects.get(seq=10)  # the batch (8 to 10) reached 9: signed at its end
    assert stored == [(3, events[2].hash), (6, events[5].hash), (10, last.hash)]
    report = audit.verify_chain()
    assert report.ok and report.checkpoints_verified >= 3, report.summary()


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_never_fork_the_chain():
    """Writers on their own connections, inside transactions that also roll back, outside any transaction, and
    in batches: every seq once, no two events after the same predecessor, the head on the last one."""
    errors: list[BaseException] = []
    writers, rounds = 6, 25

    def writer(n: int) -> None:
        try:
            for i in range(rounds):
                kind = (n + i) % 4
                if kind == 0:
                    audit.record(None, "test.outside", ("test.thing", f"{n}-{i}", "t"), {"n": n, "i": i})
                elif kind == 1:
                    with transaction.atomic():
                        audit.record(None, "test.inside", ("test.thing", f"{n}-{i}", "t"), {"n": n, "i": i})
                elif kind == 2:
                    with transaction.atomic():
                        audit.record_batch(
                            [(None, "test.batch", ("test.thing", f"{n}-{i}-{j}", "t")) for j in range(4)]
                        )
                else:
                    try:
                        with transaction.atomic():
                            audit.record(None, "test.rolled_back", None, {"n": n, "i": i})
                            raise LookupError
                    except LookupError:
                        pass
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors, errors
    rows = list(AuditEvent.objects.order_by("seq").values_list("seq", "prev_hash", "hash", "action"))
    per_kind = writers * rounds // 4  # each kind runs once every 4 rounds per writer (25 rounds: some kinds 7 times)
    assert len(rows) >= per_kind * (1 + 1 + 4)
    assert [row[0] for row in rows] == list(range(1, len(rows) + 1))
    assert len({row[1] for row in rows}) == len(rows)  # no fork: each event has its own predecessor
    assert not any(row[3] == "test.rolled_back" for row in rows)
    assert all(rows[i][1] == rows[i - 1][2] for i in range(1, len(rows)))
    with connection.cursor() as cursor:
        cursor.execute("SELECT seq, hash FROM core_audithead WHERE id = 1")
        assert cursor.fetchone() == (rows[-1][0], rows[-1][2])
    report = audit.verify_chain(checkpoints=[])
    assert report.ok and report.checked == len(rows), report.summary()


@pytest.mark.django_db(transaction=True)
def test_the_caller_may_query_between_streamed_chunks():
    """Verification streams chunks while a thread fetches the next one; the caller's own queries between chunks
    (progress updates) still run on the same connection, and stopping early leaves no fetch behind."""
    with transaction.atomic():
        audit.record_batch([(None, "test.batch", None, {"i": i}) for i in range(25)])
    seqs = []
    for rows in audit._event_rows(chunk=4):
        seqs.extend(row[0] for row in rows)
        assert AuditEvent.objects.filter(seq__lte=seqs[-1]).count() == len(seqs)
    assert seqs == list(range(1, 26))
    for _rows_seen in audit._event_rows(chunk=4):
        break  # the generator closes here, with the next chunk being fetched
    assert AuditEvent.objects.count() == 25
    assert not [t for t in threading.enumerate() if t.name == "zt-audit-verify-fetch"]
