"""The audit chain: append-only, hash-chained, and verify_audit names the first broken event."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction

from tests.core.audit_helpers import record_events, tamper
from ztconsole.core import audit
from ztconsole.core.models import AuditEvent, AuditRefused

pytestmark = pytest.mark.django_db(transaction=True)


_record = record_events
_tamper = tamper


def _verify_fails_at(seq: int) -> str:
    with pytest.raises(CommandError) as info:
        call_command("verify_audit")
    assert info.value.returncode == 1
    message = str(info.value)
    assert f"seq {seq}" in message
    return message


def test_intact_chain_verifies():
    _record(5)
    report = audit.verify_chain()
    assert report.ok and report.checked == 5
    call_command("verify_audit")  # no exception: exit 0


def test_each_event_links_to_the_previous_hash():
    first, second, third = _record(3)
    assert first.prev_hash == audit.GENESIS_HASH
    assert second.prev_hash == first.hash
    assert third.prev_hash == second.hash
    assert third.hash == audit.compute_hash(third)


def test_modified_event_is_detected():
    events = _record(5)
    _tamper("UPDATE core_auditevent SET details = %s WHERE seq = %s", ['{"i": 99}', events[2].seq])
    message = _verify_fails_at(3)
    assert "modified" in message


def test_deleted_event_is_detected():
    _record(5)
    _tamper("DELETE FROM core_auditevent WHERE seq = %s", [2])
    _verify_fails_at(3)


def test_deleted_tail_is_detected():
    _record(4)
    _tamper("DELETE FROM core_auditevent WHERE seq = %s", [4])
    _verify_fails_at(4)


def test_reordered_events_are_detected():
    _record(5)
    # Swap the sequence numbers of events 2 and 3 (via a free value to satisfy the unique index).
    _tamper("UPDATE core_auditevent SET seq = -1 WHERE seq = %s", [2])
    _tamper("UPDATE core_auditevent SET seq = 2 WHERE seq = %s", [3])
    _tamper("UPDATE core_auditevent SET seq = 3 WHERE seq = %s", [-1])
    _verify_fails_at(2)


def test_application_refuses_update_and_delete():
    (event,) = _record(1)
    with pytest.raises(AuditRefused):
        event.save()
    with pytest.raises(AuditRefused):
        event.delete()
    with pytest.raises(AuditRefused):
        AuditEvent.objects.filter(pk=event.pk).update(action="x")
    with pytest.raises(AuditRefused):
        AuditEvent.objects.filter(pk=event.pk).delete()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL trigger")
def test_postgresql_trigger_refuses_update_and_delete():
    from django.db import DatabaseError

    (event,) = _record(1)
    for sql in (
        "UPDATE core_auditevent SET action = 'x' WHERE id = %s",
        "DELETE FROM core_auditevent WHERE id = %s",
    ):
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql, [event.pk])
    assert audit.verify_chain().ok


def test_event_rolls_back_with_its_transaction():
    _record(1)
    with pytest.raises(RuntimeError), transaction.atomic():
        audit.record(None, "test.rolled_back", None, {})
        raise RuntimeError("the action failed")
    assert not AuditEvent.objects.filter(action="test.rolled_back").exists()
    assert audit.verify_chain().ok


def test_secrets_in_details_are_redacted():
    with transaction.atomic():
        event = audit.record(None, "test.secret", None, {"password": "hunter2hunter2", "note": "token=abc123"})
    assert event.details["password"] == "[redacted]"
    assert "abc123" not in event.details["note"]


def test_concurrent_appends_keep_one_total_order():
    """Writers on their own connections, single events and batches mixed: every seq once, every link intact."""
    import threading

    from django.db import connections

    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(20):
                if i % 5 == 0:
                    with transaction.atomic():
                        audit.record_batch(
                            [(None, "test.batch", ("test.thing", f"{n}-{i}-{j}", "t")) for j in range(3)]
                        )
                else:
                    audit.record(None, "test.single", ("test.thing", f"{n}-{i}", "t"), {"n": n, "i": i})
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    seqs = list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, 4 * (16 + 4 * 3) + 1))
    report = audit.verify_chain()
    assert report.ok and report.checked == len(seqs), report.summary()


def test_details_stored_in_an_equivalent_form_still_verify():
    _record(3)
    _tamper("UPDATE core_auditevent SET details = %s WHERE seq = 2", ['{ "i" :  1 }'])  # same content
    assert audit.verify_chain().ok
    _tamper("UPDATE core_auditevent SET details = %s WHERE seq = 2", ['{"i": 2}'])
    assert "modified" in _verify_fails_at(2)


@pytest.mark.parametrize(
    "details",
    [
        {"big": 1e100},  # PostgreSQL gives it back as the integer 1 followed by 100 zeros
        {"huge": 1.2345678901234567e19},
        {"negative_zero": -0.0},  # PostgreSQL's numeric has no negative zero
        {"tiny": 1e-7, "plain": 2.5, "whole": 3.0},
        {"nested": [{"a": -0.0, "b": [1e16]}]},
    ],
)
def test_numbers_verify_as_the_database_gives_them_back(details):
    with transaction.atomic():
        audit.record(None, "test.numbers", None, details)
    stored = AuditEvent.objects.get(action="test.numbers")
    report = audit.verify_chain()
    assert report.ok, (report.summary(), stored.details)


def test_numbers_json_cannot_hold_are_recorded_as_text():
    with transaction.atomic():
        audit.record(None, "test.numbers", None, {"nan": float("nan"), "inf": float("inf"), "ninf": float("-inf")})
    stored = AuditEvent.objects.get(action="test.numbers")
    assert stored.details == {"nan": "NaN", "inf": "Infinity", "ninf": "-Infinity"}
    assert audit.verify_chain().ok
