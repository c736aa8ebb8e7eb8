"""Approved bundles and revocation deltas reach real enforcement points (`python -m pep serve`) over mutual TLS.

The console's Celery worker runs in its own process, the PEPs in theirs; nothing here is a stand-in.
"""

import pytest

from accounts.actions import suspend_identity
from certificates.actions import revoke_certificate
from policies import actions as policy_actions
from policies.distribution import actions
from policies.distribution.models import (
    AlertKind,
    Delivery,
    DeliveryKind,
    DeliveryState,
    DistributionAlert,
    EnforcementPoint,
    RevocationDelta,
)
from tests.distribution.peps import wait_for
from ztconsole.core.models import AuditEvent

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(400)]  # real processes on a shared box


def _acknowledged(points, version) -> bool:
    return all(EnforcementPoint.objects.get(pk=p.point.pk).acknowledged_version == version for p in points)


def _change_draft(name: str) -> None:
    policy_actions.create_network_zone(None, environment="prod", name=name, cidrs=["10.99.0.0/16"])


def test_an_approval_reaches_every_pep_and_is_acknowledged_by_hash(personas, published, pep_fleet, worker_process):
    creds = [pep_fleet.register(f"pep-{n}") for n in ("ldn", "nyc", "sgp")]
    peps = [pep_fleet.start(c) for c in creds]
    assert all(p.status()["status"] == "no_bundle" for p in peps)

    pv = published()
    wait_for(lambda: _acknowledged(creds, pv.version), message="three acknowledgements")

    for pep in peps:
        status = pep.status()
        assert (status["version"], status["sha256"]) == (pv.version, pv.sha256)
    deliveries = Delivery.objects.filter(kind=DeliveryKind.BUNDLE, number=pv.version)
    assert {d.state for d in deliveries} == {DeliveryState.ACKNOWLEDGED}
    assert all(d.acknowledged_at >= d.created_at for d in deliveries)
    assert all(d.attempt_log.filter(outcome="applied", http_status=200).count() == 1 for d in deliveries)
    assert all(pep.status()["counters"]["bundles_applied"] == 1 for pep in peps)
    acks = AuditEvent.objects.filter(action="enforcement.acknowledged")
    assert sorted(e.target_label for e in acks) == ["pep-ldn", "pep-nyc", "pep-sgp"]
    assert {e.details["sha256"] for e in acks} == {pv.sha256}

    # Two approvals in quick succession: every PEP ends on the higher version and never goes back.
    _change_draft("second")
    second = published()
    _change_draft("third")
    third = published()
    wait_for(lambda: _acknowledged(creds, third.version), message="the higher version everywhere")
    for pep in peps:
        assert pep.status()["version"] == third.version
    assert not Delivery.objects.filter(number=second.version, state=DeliveryState.PENDING).exists()
    per_point = AuditEvent.objects.filter(action="enforcement.acknowledged", details__version=third.version)
    assert per_point.count() == 3  # one per version per PEP, whatever the retries

    # A revocation: a signed delta applied by every PEP.
    suspend_identity(None, personas["trader"].user.identity, reason="investigation")
    sequence = RevocationDelta.objects.get(environment="prod").sequence
    wait_for(
        lambda: all(EnforcementPoint.objects.get(pk=c.point.pk).revocation_sequence == sequence for c in creds),
        message="the revocation applied",
    )
    for pep in peps:
        assert pep.status()["revocation_sequence"] == sequence
    applied = AuditEvent.objects.filter(action="enforcement.revocation_applied", details__sequence=sequence)
    assert sorted(e.target_label for e in applied) == ["pep-ldn", "pep-nyc", "pep-sgp"]


def test_missing_revocations_are_sent_in_order_after_a_sequence_gap(personas, published, pep_fleet, quiet_queue):
    creds = pep_fleet.register("pep-gap")
    pep = pep_fleet.start(creds)
    others = [pep_fleet.register(f"pep-victim-{n}") for n in range(3)]
    for victim in others:
        revoke_certificate(None, victim.certificate, reason="keyCompromise")
    deliveries = {d.number: d for d in Delivery.objects.filter(point=creds.point, kind=DeliveryKind.REVOCATION)}
    assert sorted(deliveries) == [1, 2, 3]
    # The last one first: the PEP answers sequence_gap and the console sends #1 and #2, then #3 again.
    assert actions.deliver(deliveries[3].pk) in ("applied", "already_applied")
    assert pep.status()["revocation_sequence"] == 3
    states = dict(
        Delivery.objects.filter(point=creds.point, kind=DeliveryKind.REVOCATION).values_list("number", "state")
    )
    assert states == {1: DeliveryState.ACKNOWLEDGED, 2: DeliveryState.ACKNOWLEDGED, 3: DeliveryState.ACKNOWLEDGED}
    assert deliveries[3].attempt_log.filter(reason="sequence_gap", http_status=409).count() == 1


def test_a_pep_presenting_another_certificate_gets_nothing_and_raises_an_alert(
    personas, published, pep_fleet, quiet_queue
):
    pinned = pep_fleet.register("pep-pinned")
    impostor = pep_fleet.register("pep-impostor")
    # The impostor's certificate (issued by our CA, valid chain) on the pinned point's control port.
    pep = pep_fleet.start(impostor, control_port=int(pinned.point.control_url.rsplit(":", 1)[1]))
    pv = published()
    delivery = Delivery.objects.get(point=pinned.point, number=pv.version)
    assert actions.deliver(delivery.pk) == "pin_mismatch"
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.REFUSED and delivery.reason == "pin_mismatch"
    assert impostor.certificate.sha256 in delivery.detail
    alert = DistributionAlert.objects.get(point=pinned.point, resolved_at__isnull=True)
    assert alert.kind == AlertKind.PIN_MISMATCH
    assert AuditEvent.objects.filter(action="enforcement.alert", target_label="pep-pinned").count() == 1
    # Nothing reached the process: it still has no bundle.
    from policies.distribution.actions import control_client

    status = (
        control_client().call(pinned.point.control_url, "GET", "/status", None, pinned=impostor.certificate.sha256).body
    )
    assert status["version"] is None and status["counters"].get("control_put_bundle", 0) == 0
    assert pep.ready["pep"] == "pep-impostor"


def test_a_refused_bundle_is_recorded_with_the_peps_reason_and_alerts(personas, published, pep_fleet, quiet_queue):
    creds = pep_fleet.register("pep-uat-only", environment="prod")
    pep_fleet.start(creds, environment="uat")  # misconfigured: serves uat, registered for prod
    pv = published()
    delivery = Delivery.objects.get(point=creds.point, number=pv.version)
    assert actions.deliver(delivery.pk) == "refused"
    delivery.refresh_from_db()
    assert (delivery.state, delivery.reason) == (DeliveryState.REFUSED, "wrong_environment")
    point = EnforcementPoint.objects.get(pk=creds.point.pk)
    assert point.last_refusal_reason == "wrong_environment" and point.acknowledged_version is None
    assert DistributionAlert.objects.filter(point=point, kind=AlertKind.REFUSED, resolved_at__isnull=True).exists()
