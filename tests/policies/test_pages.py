"""The draft pages render what the draft holds, and their forms go through the actions."""

from __future__ import annotations

from policies.models import AccessRule, NetworkZone, RiskRule, Segment
from ztconsole.core.models import AuditEvent


def test_draft_page_lists_everything(rfq_policy, personas, verified_client):
    page = verified_client(personas["compliance"]).get("/policies/?environment=prod").content.decode()
    for text in ("rfq-gateway", "rfq.internal:9443", "trader-rfq", "seed-geo-anomalous", "london-office"):
        assert text in page
    assert "Add segment" not in page and "Request publication" not in page  # read-only for compliance


def test_edit_pages_render_for_the_administrator(rfq_policy, personas, verified_client):
    client = verified_client(personas["admin"])
    assert (
        "rfq-fix rfq.internal:9443 RFQ1"
        in client.get(f"/policies/segments/{rfq_policy['segment'].pk}/").content.decode()
    )
    assert client.get(f"/policies/access-rules/{rfq_policy['rule'].pk}/").status_code == 200
    assert client.get(f"/policies/zones/{rfq_policy['zone'].pk}/").status_code == 200
    risk = RiskRule.objects.filter(environment="prod").first()
    assert client.get(f"/policies/risk-rules/{risk.pk}/").status_code == 200


def test_access_rule_form_creates_and_updates_through_the_action(rfq_policy, personas, verified_client):
    client = verified_client(personas["admin"])
    data = {
        "environment": "prod",
        "name": "traders-quote",
        "subject_kind": "role",
        "subject_role": "Trader",
        "target_segment": rfq_policy["segment"].pk,
        "message_types": "R, S",
        "window_timezone": "Europe/London",
        "window_days": ["0", "1", "2", "3", "4"],
        "window_start": "07:00",
        "window_end": "18:00",
    }
    response = client.post("/policies/access-rules/new/", data)
    assert response.status_code == 302, response.content.decode()
    rule = AccessRule.objects.get(name="traders-quote")
    assert rule.message_types == ["R", "S"] and rule.window["days"] == [0, 1, 2, 3, 4]
    assert AuditEvent.objects.filter(action="policy.access_rule_create", target_id=str(rule.pk)).exists()
    response = client.post(
        f"/policies/access-rules/{rule.pk}/", {**data, "message_types": "R", "name": "renamed", "environment": "dev"}
    )
    assert response.status_code == 302
    rule.refresh_from_db()
    assert rule.message_types == ["R"] and (rule.name, rule.environment) == ("traders-quote", "prod")
    response = client.post(
        "/policies/access-rules/new/", {**data, "name": "both", "target_resource": "", "target_segment": ""}
    )
    assert response.status_code == 400 and "exactly one segment" in response.content.decode()


def test_deleting_a_targeted_segment_is_refused(rfq_policy, personas, verified_client):
    client = verified_client(personas["admin"])
    response = client.post(f"/policies/segments/{rfq_policy['segment'].pk}/delete/", follow=True)
    assert "delete them first" in response.content.decode()
    assert Segment.objects.filter(pk=rfq_policy["segment"].pk).exists()
    client.post(f"/policies/zones/{rfq_policy['zone'].pk}/delete/")
    assert not NetworkZone.objects.filter(pk=rfq_policy["zone"].pk).exists()


def test_bands_form_reports_inversion(rfq_policy, personas, verified_client):
    client = verified_client(personas["admin"])
    response = client.post("/policies/bands/", {"environment": "prod", "step_up": "50", "deny": "40"}, follow=True)
    assert "must not exceed" in response.content.decode()


def test_dashboard_and_navigation(rfq_policy, personas, verified_client):
    from policies import actions

    pv = actions.request_publication(personas["admin"].user, environment="prod")
    page = verified_client(personas["security"]).get("/").content.decode()
    assert "1 publication awaiting approval" in page
    assert 'href="/policies/"' in page and 'href="/policies/simulator/"' in page
    actions.approve_publication(personas["security"].user, pv)
    page = verified_client(personas["compliance"]).get("/").content.decode()
    assert "v1" in page and 'href="/policies/simulator/"' not in page
    trader_page = verified_client(personas["trader"]).get("/").content.decode()
    assert 'href="/policies/"' not in trader_page
