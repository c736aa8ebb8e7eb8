"""The outbox: deliveries are written in the approval's transaction and queued only after it commits."""

import pytest
from django.db import transaction

from policies import actions as policy_actions
from policies.distribution.models import Delivery, DeliveryKind, DeliveryState
from tests.distribution.helpers import register


def test_approval_writes_one_delivery_per_active_point_of_its_environment(
    personas, published, django_capture_on_commit_callbacks
):
    ldn, nyc = register("pep-ldn"), register("pep-nyc")
    register("pep-uat", environment="uat")
    retired = register("pep-gone")
    from policies.distribution.actions import retire_enforcement_point

    retire_enforcement_point(None, retired.point, reason="gone")
    with django_capture_on_commit_callbacks() as callbacks:
        pv = published()
    rows = Delivery.objects.filter(kind=DeliveryKind.BUNDLE)
    assert sorted(rows.values_list("point__name", flat=True)) == ["pep-ldn", "pep-nyc"]
    assert {(d.number, d.sha256, d.state) for d in rows} == {(pv.version, pv.sha256, DeliveryState.PENDING)}
    assert callbacks, "the send is queued after commit"
    assert ldn.point.pk != nyc.point.pk


def test_a_rolled_back_approval_writes_and_queues_nothing(personas, published, django_capture_on_commit_callbacks):
    register("pep-ldn")
    pv = policy_actions.request_publication(personas["admin"].user, environment="prod")
    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(RuntimeError), transaction.atomic():
        policy_actions.approve_publication(personas["security"].user, pv)
        assert Delivery.objects.count() == 1  # written inside the transaction...
        raise RuntimeError("the request failed after the approval")
    assert Delivery.objects.count() == 0  # ...and gone with it
    assert callbacks == []
    pv.refresh_from_db()
    assert pv.state == "pending"


def test_a_second_approval_supersedes_pending_deliveries_of_the_first(personas, published):
    register("pep-ldn")
    first = published()
    policy_actions.create_network_zone(None, environment="prod", name="paris-office", cidrs=["10.30.0.0/16"])
    second = published()
    states = dict(Delivery.objects.values_list("number", "state"))
    assert states == {first.version: DeliveryState.SUPERSEDED, second.version: DeliveryState.PENDING}


def test_a_new_point_gets_the_version_in_force_and_past_revocations(personas, published):
    pv = published()
    revoked = register("pep-first")
    from certificates.actions import revoke_certificate

    revoke_certificate(None, revoked.certificate, reason="keyCompromise")
    late = register("pep-late")
    rows = Delivery.objects.filter(point=late.point).order_by("kind", "number")
    assert [(d.kind, d.number) for d in rows] == [(DeliveryKind.BUNDLE, pv.version), (DeliveryKind.REVOCATION, 1)]


def test_backoff_grows_exponentially_with_jitter_and_is_capped(settings):
    from policies.distribution.actions import backoff_seconds

    settings.ZT_DELIVERY_BACKOFF_BASE_SECONDS, settings.ZT_DELIVERY_BACKOFF_MAX_SECONDS = 1, 20
    for attempts, ceiling in ((1, 1), (2, 2), (3, 4), (5, 16), (6, 20), (30, 20)):
        samples = [backoff_seconds(attempts) for _ in range(200)]
        assert all(ceiling / 2 <= s <= ceiling for s in samples)
        assert max(samples) - min(samples) > 0  # jittered, not lock-step
