"""The reconcile beat task: behind points get a fresh delivery, lost messages are queued again, long lag alerts."""

from datetime import timedelta

import pytest
from django.utils import timezone

from policies.distribution import actions
from policies.distribution.models import AlertKind, Delivery, DeliveryState, DistributionAlert, EnforcementPoint
from tests.distribution.helpers import register
from ztconsole.core.models import AuditEvent


@pytest.fixture
def queued(monkeypatch):
    """What reconcile hands to the broker (the sending itself is tested against real PEPs)."""
    sent: list[int] = []
    monkeypatch.setattr(actions, "dispatch", lambda ids, countdown=None: sent.extend(ids))
    return sent


def test_a_point_behind_gets_a_fresh_delivery_and_alerts_when_behind_too_long(personas, published, queued, settings):
    creds = register("pep-behind")
    pv = published()
    Delivery.objects.filter(point=creds.point).update(state=DeliveryState.CANCELLED)
    actions.reconcile()
    delivery = Delivery.objects.get(point=creds.point, number=pv.version)
    assert delivery.state == DeliveryState.PENDING and delivery.pk in queued
    point = EnforcementPoint.objects.get(pk=creds.point.pk)
    assert point.behind_since is not None
    EnforcementPoint.objects.filter(pk=point.pk).update(
        behind_since=timezone.now() - timedelta(seconds=settings.ZT_PEP_BEHIND_ALERT_SECONDS + 1)
    )
    actions.reconcile()
    actions.reconcile()
    alert = DistributionAlert.objects.get(point=point, kind=AlertKind.BEHIND, resolved_at__isnull=True)
    assert f"v{pv.version}" in alert.message
    assert AuditEvent.objects.filter(action="enforcement.alert", target_label="pep-behind").count() == 1


def test_a_due_delivery_whose_message_was_lost_is_queued_again_but_not_a_claimed_one(personas, published, queued):
    creds = register("pep-lost")
    pv = published()
    delivery = Delivery.objects.get(point=creds.point, number=pv.version)
    Delivery.objects.filter(pk=delivery.pk).update(claimed_until=timezone.now() + timedelta(seconds=30))
    actions.reconcile()
    assert delivery.pk not in queued  # a live worker holds it
    Delivery.objects.filter(pk=delivery.pk).update(claimed_until=timezone.now() - timedelta(seconds=1))
    actions.reconcile()
    assert delivery.pk in queued  # the claim lapsed: the worker died


def test_a_refused_delivery_is_not_retried_by_reconcile(personas, published, queued):
    creds = register("pep-refusing")
    pv = published()
    Delivery.objects.filter(point=creds.point).update(state=DeliveryState.REFUSED, reason="bad_signature")
    actions.reconcile()
    assert queued == [] and Delivery.objects.get(point=creds.point, number=pv.version).state == DeliveryState.REFUSED


def test_a_point_missing_revocations_gets_them(personas, published, queued):
    from accounts.actions import suspend_identity

    creds = register("pep-revs")
    suspend_identity(None, personas["trader"].user.identity, reason="investigation")
    Delivery.objects.filter(point=creds.point, kind="revocation").delete()
    actions.reconcile()
    assert Delivery.objects.filter(point=creds.point, kind="revocation", number=1, state="pending").exists()


def test_a_point_drained_after_its_row_was_written_is_not_sent_to(personas, published, queued):
    from policies.distribution.actions import deliver, update_enforcement_point

    creds = register("pep-drained")
    pv = published()
    update_enforcement_point(None, creds.point, control_url=creds.point.control_url, segments=[], status="draining")
    delivery = Delivery.objects.get(point=creds.point, number=pv.version)
    assert deliver(delivery.pk) == "cancelled"
    assert Delivery.objects.get(pk=delivery.pk).state == DeliveryState.CANCELLED


def test_an_unreachable_point_alerts_only_after_the_silence_threshold(personas, published, settings):
    creds = register("pep-silent")  # port 9: nothing listens there
    assert actions.probe(creds.point.pk) == "unreachable"
    assert not DistributionAlert.objects.filter(point=creds.point).exists()  # just registered
    EnforcementPoint.objects.filter(pk=creds.point.pk).update(
        created_at=timezone.now() - timedelta(seconds=settings.ZT_PEP_SILENCE_SECONDS + 1)
    )
    assert actions.probe(creds.point.pk) == "unreachable"
    alert = DistributionAlert.objects.get(point=creds.point, resolved_at__isnull=True)
    assert alert.kind == AlertKind.UNREACHABLE
