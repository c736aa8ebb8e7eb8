"""The fan-out: one task sends a publication's (or a revocation delta's) deliveries concurrently and records the
answers in batches. Real PEP processes over mutual TLS; the test calls the task's action itself (``quiet_queue``:
no worker races it), so what it checks is what that one call did.
"""

import pytest
from django.utils import timezone

from accounts.actions import suspend_identity
from policies.distribution import actions
from policies.distribution.models import Delivery, DeliveryKind, DeliveryState, EnforcementPoint, RevocationDelta
from tests.distribution.peps import wait_for
from ztconsole.core.models import AuditEvent

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(300)]


def _events(action: str, **details) -> list[str]:
    filters = {f"details__{key}": value for key, value in details.items()}
    return sorted(AuditEvent.objects.filter(action=action, **filters).values_list("target_label", flat=True))


def test_one_fanout_acknowledges_every_point_once_and_a_point_down_falls_back_to_retries(
    personas, published, pep_fleet, quiet_queue, settings
):
    settings.ZT_DELIVERY_BACKOFF_BASE_SECONDS = 5  # the retry is not due again within this test's own steps
    up = [pep_fleet.register(f"pep-fan-{n}") for n in ("a", "b", "c")]
    peps = [pep_fleet.start(c) for c in up]
    down = pep_fleet.register("pep-fan-down")  # registered, its process not started yet
    pv = published()
    rows = Delivery.objects.filter(kind=DeliveryKind.BUNDLE, number=pv.version)
    ids = sorted(rows.values_list("pk", flat=True))
    assert len(ids) == 4

    before = timezone.now()
    counts = actions.deliver_batch(ids)
    assert counts == {"applied": 3, "retry": 1}

    for creds, pep in zip(up, peps, strict=True):
        delivery = rows.get(point=creds.point)
        assert delivery.state == DeliveryState.ACKNOWLEDGED and delivery.attempts == 1
        assert list(delivery.attempt_log.values_list("outcome", "http_status")) == [("applied", 200)]
        point = EnforcementPoint.objects.get(pk=creds.point.pk)
        assert (point.acknowledged_version, point.acknowledged_sha256) == (pv.version, pv.sha256)
        assert pep.status()["version"] == pv.version
    missed = rows.get(point=down.point)
    assert missed.state == DeliveryState.PENDING and missed.attempts == 1 and missed.claimed_until is None
    assert missed.next_attempt_at > before  # backed off, not due at once
    assert list(missed.attempt_log.values_list("outcome", "http_status")) == [("error", None)]
    assert _events("enforcement.acknowledged", version=pv.version) == ["pep-fan-a", "pep-fan-b", "pep-fan-c"]

    # The same fan-out again (a redelivered message): nothing is due, nothing is sent or recorded twice.
    assert actions.deliver_batch(ids) == {}
    assert sum(rows.get(pk=pk).attempt_log.count() for pk in ids) == 4

    # The point comes back; its retry (the per-delivery path) acknowledges it, once.
    pep_fleet.start(down)
    Delivery.objects.filter(pk=missed.pk).update(next_attempt_at=timezone.now())
    assert actions.deliver(missed.pk) == "applied"
    assert _events("enforcement.acknowledged", version=pv.version) == [
        "pep-fan-a",
        "pep-fan-b",
        "pep-fan-c",
        "pep-fan-down",
    ]

    # A revocation delta fans out the same way: every point applies it, one audit event per point.
    suspend_identity(None, personas["trader"].user.identity, reason="investigation")
    delta = RevocationDelta.objects.get(environment="prod")
    revocations = sorted(
        Delivery.objects.filter(kind=DeliveryKind.REVOCATION, number=delta.sequence).values_list("pk", flat=True)
    )
    resumed = actions.control_client().resumptions
    assert actions.deliver_batch(revocations) == {"applied": 4}
    # Each point was called before: its TLS session is resumed (no full handshake), the pin still checked.
    assert actions.control_client().resumptions - resumed == 4
    assert actions.deliver_batch(revocations) == {}
    assert _events("enforcement.revocation_applied", sequence=delta.sequence) == [
        "pep-fan-a",
        "pep-fan-b",
        "pep-fan-c",
        "pep-fan-down",
    ]
    assert set(EnforcementPoint.objects.values_list("revocation_sequence", flat=True)) == {delta.sequence}


def test_an_approval_reaches_every_point_through_the_worker_with_one_attempt_each(
    personas, published, pep_fleet, worker_process
):
    creds = [pep_fleet.register(f"pep-task-{n}") for n in range(4)]
    for c in creds:
        pep_fleet.start(c)
    pv = published()
    wait_for(
        lambda: Delivery.objects.filter(number=pv.version, state=DeliveryState.ACKNOWLEDGED).count() == 4,
        message="four acknowledgements",
    )
    rows = Delivery.objects.filter(number=pv.version)
    assert [d.attempts for d in rows] == [1, 1, 1, 1]
    assert _events("enforcement.acknowledged", version=pv.version) == [f"pep-task-{n}" for n in range(4)]
    # Which worker ran the fan-out is not asserted: in the whole suite the session-wide in-process worker may take
    # the task before this test's worker process does (and a worker's log is block-buffered).
