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


@pytest.fixture
def audit_refuses_acknowledgements():
    """The database refuses the audit event of an acknowledgement (a trigger): a real error at recording time."""
    from django.db import connection

    table = AuditEvent._meta.db_table
    if connection.vendor == "postgresql":
        create = [
            "CREATE FUNCTION zt_test_refuse() RETURNS trigger AS $$ BEGIN "
            "RAISE EXCEPTION 'refused by the test'; END $$ LANGUAGE plpgsql",
            f"CREATE TRIGGER zt_test_refuse BEFORE INSERT ON {table} FOR EACH ROW "
            "WHEN (NEW.action = 'enforcement.acknowledged') EXECUTE FUNCTION zt_test_refuse()",
        ]
        drop = [f"DROP TRIGGER zt_test_refuse ON {table}", "DROP FUNCTION zt_test_refuse()"]
    else:
        create = [
            f"CREATE TRIGGER zt_test_refuse BEFORE INSERT ON {table} "
            "WHEN NEW.action = 'enforcement.acknowledged' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
        ]
        drop = ["DROP TRIGGER zt_test_refuse"]
    with connection.cursor() as cursor:
        for statement in create:
            cursor.execute(statement)

    lifted = []

    def lift() -> None:
        if not lifted:
            lifted.append(True)
            with connection.cursor() as cursor:
                for statement in drop:
                    cursor.execute(statement)

    yield lift
    lift()  # also when the test failed before lifting it: the table outlives the test


def test_a_database_error_while_recording_a_batch_leaves_the_rows_to_be_sent_again(
    personas, published, pep_fleet, quiet_queue, audit_refuses_acknowledgements
):
    """The points applied the bundle, the console could not record it: nothing half-written (no attempt, no
    acknowledgement, no point moved), the rows pending and unclaimed; the resend is answered ``already_applied``
    and recorded once."""
    fleet = [pep_fleet.register(f"pep-rec-{n}") for n in ("a", "b")]
    peps = [pep_fleet.start(c) for c in fleet]
    pv = published()
    rows = Delivery.objects.filter(kind=DeliveryKind.BUNDLE, number=pv.version)
    ids = sorted(rows.values_list("pk", flat=True))

    assert actions.deliver_batch(ids) == {"requeued": 2}
    for creds, pep in zip(fleet, peps, strict=True):
        assert pep.status()["version"] == pv.version  # sent and applied
        delivery = rows.get(point=creds.point)
        assert (delivery.state, delivery.claimed_until, delivery.attempt_log.count()) == (
            DeliveryState.PENDING,
            None,
            0,
        )
        assert EnforcementPoint.objects.get(pk=creds.point.pk).acknowledged_version != pv.version
    assert _events("enforcement.acknowledged", version=pv.version) == []

    audit_refuses_acknowledgements()  # the database is back
    assert sorted(actions.deliver(pk) for pk in ids) == ["already_applied", "already_applied"]
    for creds in fleet:
        delivery = rows.get(point=creds.point)
        assert delivery.state == DeliveryState.ACKNOWLEDGED
        assert list(delivery.attempt_log.values_list("outcome", flat=True)) == ["already_applied"]
        assert EnforcementPoint.objects.get(pk=creds.point.pk).acknowledged_version == pv.version
    assert _events("enforcement.acknowledged", version=pv.version) == ["pep-rec-a", "pep-rec-b"]
