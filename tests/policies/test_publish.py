"""Maker-checker: a second officer approves with a fresh OTP; rejections, expiry and rollback."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.actions import VERIFIED_AT_SESSION_KEY
from policies import actions
from policies.models import PolicyVersion, PublicationState
from ztconsole.core.models import AuditEvent


def test_author_cannot_approve_their_own(rfq_policy, personas):
    pv = actions.request_publication(personas["admin"].user, environment="prod")
    with pytest.raises(actions.PolicyError, match="second person"):
        actions.approve_publication(personas["admin"].user, pv)
    approved = actions.approve_publication(personas["security"].user, pv)
    assert approved.state == PublicationState.APPROVED and approved.approver == personas["security"].user
    assert actions.latest_approved("prod").pk == pv.pk
    assert AuditEvent.objects.filter(action="policy.publish_approve", target_id=str(pv.pk)).exists()


def test_only_approvers_may_approve(rfq_policy, personas):
    pv = actions.request_publication(personas["admin"].user, environment="prod")
    for who in ("compliance", "trader"):
        with pytest.raises(actions.PolicyError, match="Security Officer or an Administrator"):
            actions.approve_publication(personas[who].user, pv)


def test_publication_records_version_hash_and_diff(rfq_policy, personas):
    first = actions.request_publication(personas["admin"].user, environment="prod")
    assert first.version == 1 and len(first.sha256) == 64
    assert first.diff["access_rules"]["added"] == ["trader-rfq"]
    actions.approve_publication(personas["security"].user, first)
    actions.create_risk_rule(
        None, environment="prod", name="device-noncompliant", attribute="device", condition="non_compliant", score=40
    )
    actions.delete_access_rule(None, rfq_policy["rule"])
    second = actions.request_publication(personas["admin"].user, environment="prod")
    assert second.version == 2
    assert second.diff["risk_rules"]["added"] == ["device-noncompliant"]
    assert second.diff["access_rules"]["removed"] == ["trader-rfq"]


def test_rejected_or_expired_cannot_be_approved(rfq_policy, personas):
    pv = actions.request_publication(personas["admin"].user, environment="prod")
    with pytest.raises(actions.PolicyError, match="only an approver"):
        actions.reject_publication(personas["compliance"].user, pv, reason="no")
    with pytest.raises(actions.PolicyError) as info:
        actions.reject_publication(personas["security"].user, pv, reason="  ")
    assert info.value.field == "reason"
    actions.reject_publication(personas["security"].user, pv, reason="wrong desk")
    with pytest.raises(actions.PolicyError, match="rejected"):
        actions.approve_publication(personas["security"].user, pv)

    pv2 = actions.request_publication(personas["admin"].user, environment="prod")
    PolicyVersion.objects.filter(pk=pv2.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    with pytest.raises(actions.PolicyError, match="expired"):
        actions.approve_publication(personas["security"].user, pv2)
    assert actions.expire_publications() == 1
    assert PolicyVersion.objects.get(pk=pv2.pk).state == PublicationState.EXPIRED
    assert AuditEvent.objects.filter(action="policy.publish_expire").count() == 1


def test_expiry_task_uses_the_configured_ttl(rfq_policy, personas, settings):
    from policies.tasks import expire_publications

    settings.ZT_PUBLICATION_TTL_HOURS = 2
    pv = actions.request_publication(personas["admin"].user, environment="prod")
    assert pv.expires_at - pv.created_at == timedelta(hours=2)
    assert expire_publications() == 0


def test_a_new_request_supersedes_the_pending_one(rfq_policy, personas):
    old = actions.request_publication(personas["admin"].user, environment="prod")
    new = actions.request_publication(personas["admin"].user, environment="prod")
    assert PolicyVersion.objects.get(pk=old.pk).state == PublicationState.SUPERSEDED
    assert new.version == old.version + 1
    with pytest.raises(actions.PolicyError, match="superseded"):
        actions.approve_publication(personas["security"].user, old)


def test_rollback_creates_a_higher_version_with_earlier_content(rfq_policy, personas):
    v1 = actions.request_publication(personas["admin"].user, environment="prod")
    actions.approve_publication(personas["security"].user, v1)
    actions.update_bands(None, environment="prod", step_up=10, deny=30)
    v2 = actions.request_publication(personas["admin"].user, environment="prod")
    actions.approve_publication(personas["security"].user, v2)
    rollback = actions.rollback_to(personas["admin"].user, environment="prod", version=1)
    assert rollback.version == 3 and rollback.rollback_of == 1 and rollback.state == PublicationState.PENDING
    content = json.loads(rollback.payload)
    assert content["bands"] == {"step_up": 20, "deny": 40}
    assert content["version"] == 3
    assert rollback.diff["bands"]["after"] == {"step_up": 20, "deny": 40}
    with pytest.raises(actions.PolicyError, match="second person"):
        actions.approve_publication(personas["admin"].user, rollback)
    actions.approve_publication(personas["security"].user, rollback)
    assert actions.latest_approved("prod").version == 3
    with pytest.raises(actions.PolicyError) as info:
        actions.rollback_to(personas["admin"].user, environment="prod", version=9)
    assert info.value.field == "version"


def test_approving_in_the_browser_needs_step_up(rfq_policy, personas, verified_client):
    author = verified_client(personas["admin"])
    response = author.post("/policies/publications/request/", {"environment": "prod"})
    pv = PolicyVersion.objects.get(environment="prod")
    assert response.status_code == 302 and response["Location"] == f"/policies/publications/{pv.pk}/"
    page = author.get(f"/policies/publications/{pv.pk}/").content.decode()
    assert "a second officer must approve it" in page and "Approve and publish" not in page
    response = author.post(f"/policies/publications/{pv.pk}/approve/")
    assert response.status_code == 400
    assert PolicyVersion.objects.get(pk=pv.pk).state == PublicationState.PENDING

    approver = verified_client(personas["security"])
    session = approver.session
    session[VERIFIED_AT_SESSION_KEY] = time.time() - 3600  # the last OTP is stale
    session.save()
    response = approver.post(f"/policies/publications/{pv.pk}/approve/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/step-up/")
    assert PolicyVersion.objects.get(pk=pv.pk).state == PublicationState.PENDING

    session = approver.session
    session[VERIFIED_AT_SESSION_KEY] = time.time()
    session.save()
    response = approver.post(f"/policies/publications/{pv.pk}/approve/")
    assert response.status_code == 302
    assert PolicyVersion.objects.get(pk=pv.pk).state == PublicationState.APPROVED


def test_reject_in_the_browser_needs_a_reason(rfq_policy, personas, verified_client):
    pv = actions.request_publication(personas["admin"].user, environment="prod")
    client = verified_client(personas["security"])
    response = client.post(f"/policies/publications/{pv.pk}/reject/", {"reason": ""})
    assert response.status_code == 400
    response = client.post(f"/policies/publications/{pv.pk}/reject/", {"reason": "not yet"})
    assert response.status_code == 302
    assert PolicyVersion.objects.get(pk=pv.pk).rejection_reason == "not yet"
    pv2 = actions.request_publication(personas["admin"].user, environment="prod")
    response = verified_client(personas["compliance"]).post(f"/policies/publications/{pv2.pk}/reject/", {"reason": "x"})
    assert response.status_code == 403
