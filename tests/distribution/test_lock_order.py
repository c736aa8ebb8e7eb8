"""Transactions that touch points, deliveries and the audit head never wait on each other in a cycle (PostgreSQL).

A CI run once died of "deadlock detected": an approval held the audit head and waited for a delivery row that a
worker, acknowledging it, held while it waited for the audit head. Each test holds, in a second connection, the
lock a worker holds mid-acknowledgement and checks that the other side goes through without waiting
(``lock_timeout`` turns a wait into an error).
"""

import threading

import pytest
from django.db import connection, transaction

from certificates.actions import revoke_certificate
from policies.distribution import actions
from policies.distribution.models import Delivery, DeliveryKind, DeliveryState
from tests.distribution.helpers import register

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]


@pytest.fixture(autouse=True)
def _postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("row locks and lock_timeout are PostgreSQL's; SQLite has one writer at a time")


class Holder:
    """Runs ``take`` in its own transaction on its own connection and keeps its locks until released."""

    def __init__(self, take):
        self.taken, self.release, self.error = threading.Event(), threading.Event(), None
        self.thread = threading.Thread(target=self._run, args=(take,), daemon=True)

    def _run(self, take):
        try:
            with transaction.atomic():
                take()
                self.taken.set()
                self.release.wait(60)
        except Exception as exc:  # reported by the test, not lost in the thread
            self.error = exc
            self.taken.set()
        finally:
            connection.close()

    def __enter__(self):
        self.thread.start()
        assert self.taken.wait(30), "the holder never took its lock"
        assert self.error is None, self.error
        return self

    def __exit__(self, *exc):
        self.release.set()
        self.thread.join(30)


def _no_waiting():
    with connection.cursor() as cursor:
        cursor.execute("SET lock_timeout = '3s'")


def _reset():
    with connection.cursor() as cursor:
        cursor.execute("RESET lock_timeout")


def test_an_approval_skips_the_delivery_a_worker_holds_and_it_is_superseded_when_next_sent(
    personas, published, quiet_queue
):
    point = register("pep-held").point
    first = published()
    held = Delivery.objects.get(point=point, kind=DeliveryKind.BUNDLE, number=first.version)
    from policies import actions as policy_actions

    policy_actions.create_network_zone(None, environment="prod", name="second", cidrs=["10.98.0.0/16"])

    with Holder(lambda: list(Delivery.objects.select_for_update().filter(pk=held.pk))):
        _no_waiting()
        try:
            second = published()  # would raise LockNotAvailable if it waited for the held row
        finally:
            _reset()
    held.refresh_from_db()
    assert held.state == DeliveryState.PENDING  # skipped, not waited for
    # When it is next taken it is superseded before anything is sent (the point's URL answers nothing).
    assert actions.deliver(held.pk) == "superseded"
    held.refresh_from_db()
    assert held.state == DeliveryState.SUPERSEDED
    assert Delivery.objects.get(point=point, number=second.version).state == DeliveryState.PENDING


def test_a_revocation_inserts_deliveries_while_a_worker_holds_the_point(personas, published, quiet_queue):
    point = register("pep-busy").point
    victim = register("pep-victim")
    published()

    # A worker acknowledging: the point locked as _lock_point locks it, its delivery row updated.
    def acknowledging():
        actions._lock_point(point.pk)
        Delivery.objects.filter(point=point).update(detail="mid-acknowledgement")

    with Holder(acknowledging):
        _no_waiting()
        try:
            with transaction.atomic():
                revoke_certificate(None, victim.certificate, reason="keyCompromise")
        finally:
            _reset()
    assert Delivery.objects.filter(point=point, kind=DeliveryKind.REVOCATION, number=1).exists()


def test_a_fanout_claims_what_is_free_and_skips_the_row_another_worker_holds(personas, published, quiet_queue):
    points = [register(f"pep-fan-{n}").point for n in range(3)]  # port 9: nothing answers, every send is retried
    pv = published()
    rows = Delivery.objects.filter(kind=DeliveryKind.BUNDLE, number=pv.version).order_by("pk")
    held, *free = list(rows)

    with Holder(lambda: list(Delivery.objects.select_for_update().filter(pk=held.pk))):
        _no_waiting()
        try:
            counts = actions.deliver_batch([d.pk for d in rows])  # would raise LockNotAvailable if it waited
        finally:
            _reset()
    assert counts == {"retry": 2}
    assert Delivery.objects.get(pk=held.pk).attempts == 0  # left to whoever holds it
    assert [Delivery.objects.get(pk=d.pk).attempts for d in free] == [1, 1]
    assert len(points) == 3


def test_a_batch_acknowledgement_waits_for_a_point_but_never_holds_the_audit_head_while_waiting(
    personas, published, quiet_queue
):
    """Acknowledging several points locks them in pk order before any delivery row or the audit head: while a
    worker holds one of its points, a revocation (which takes the audit head, then inserts deliveries for every
    point) still goes through."""
    points = [register(f"pep-ack-{n}").point for n in range(3)]
    victim = register("pep-ack-victim")
    pv = published()
    rows = list(Delivery.objects.filter(kind=DeliveryKind.BUNDLE, number=pv.version).order_by("pk"))
    acks = [actions._Ack(d, "applied") for d in rows]
    done = threading.Event()
    errors = []

    def acknowledge():
        try:
            actions._acknowledge_many(acks)
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()
            done.set()

    with Holder(lambda: actions._lock_point(points[1].pk)):
        thread = threading.Thread(target=acknowledge, daemon=True)
        thread.start()
        assert not done.wait(1.0)  # waits for the held point...
        _no_waiting()
        try:
            with transaction.atomic():
                revoke_certificate(None, victim.certificate, reason="keyCompromise")  # ...without blocking this
        finally:
            _reset()
    thread.join(30)
    assert done.is_set() and not errors, errors
    assert {d.state for d in Delivery.objects.filter(pk__in=[d.pk for d in rows])} == {DeliveryState.ACKNOWLEDGED}
