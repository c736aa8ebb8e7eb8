"""The simulator and the impact preview run the enforcement point's engine over the draft and the published."""

from __future__ import annotations

import pytest

from accounts.models import DeviceRegistration
from pep.engine import DecisionRequest
from policies import actions, selectors


@pytest.fixture
def managed_laptop(personas):
    return DeviceRegistration.objects.create(
        owner=personas["trader"].user.identity,
        kind="trader_workstation",
        platform="Windows 11",
        serial="WS-TINA-1",
        managed=True,
        compliance="compliant",
    )


def _request(**overrides) -> DecisionRequest:
    data = {
        "identity": "tina",
        "target": "rfq-gateway",
        "message_type": "R",
        "authentication": "hardware",
        "device": "WS-TINA-1",
        "source_ip": "81.2.69.7",
    }
    return DecisionRequest.from_dict({**data, **overrides})


def test_seed_worked_example_scores_15_and_allows(rfq_policy, managed_laptop):
    result = selectors.simulate("prod", _request())
    draft = result["draft"]
    assert (draft.outcome, draft.score, draft.matched_rule) == ("allow", 15, "trader-rfq")
    assert {c.rule_id: c.score for c in draft.contributions}["seed-network-unknown"] == 15
    assert sum(c.score for c in draft.contributions) == 15
    assert result["published"] is None  # nothing approved yet


def test_default_deny_without_an_access_rule(rfq_policy, managed_laptop):
    decision = selectors.simulate("prod", _request(message_type="D"))["draft"]
    assert decision.outcome == "deny" and decision.matched_rule is None
    decision = selectors.simulate("prod", _request(identity="carla"))["draft"]
    assert decision.outcome == "deny"


def test_known_zone_scores_zero(rfq_policy, managed_laptop):
    decision = selectors.simulate("prod", _request(source_ip="10.20.3.4"))["draft"]
    assert (decision.outcome, decision.score) == ("allow", 0)


def test_simulator_page_shows_draft_and_published_side_by_side(rfq_policy, managed_laptop, personas, verified_client):
    pv = actions.request_publication(personas["admin"].user, environment="prod")
    actions.approve_publication(personas["security"].user, pv)
    actions.update_bands(None, environment="prod", step_up=10, deny=40)  # the draft now steps up at 15
    client = verified_client(personas["security"])
    params = {
        "environment": "prod",
        "identity": personas["trader"].user.identity.pk,
        "device": managed_laptop.pk,
        "authentication": "hardware",
        "source_ip": "81.2.69.7",
        "target": "rfq-gateway",
        "message_type": "R",
    }
    response = client.get("/policies/simulator/", params)
    assert response.status_code == 200
    page = response.content.decode()
    assert 'data-outcome="step_up"' in page and 'data-outcome="allow"' in page
    assert "seed-network-unknown" in page and "trader-rfq" in page
    response = client.get("/policies/simulator/", {**params, "source_ip": "not-an-ip"})
    assert response.status_code == 400


def test_impact_preview_shows_changed_outcomes(rfq_policy, managed_laptop, personas, verified_client):
    actions.create_test_case(
        None,
        environment="prod",
        name="tina quotes from home",
        request_data={
            "identity": "tina",
            "target": "rfq-gateway",
            "message_type": "R",
            "authentication": "hardware",
            "device": "WS-TINA-1",
            "source_ip": "81.2.69.7",
        },
        expected_outcome="allow",
    )
    actions.create_test_case(
        None,
        environment="prod",
        name="tina never orders",
        request_data={"identity": "tina", "target": "rfq-gateway", "message_type": "D"},
        expected_outcome="deny",
    )
    v1 = actions.request_publication(personas["admin"].user, environment="prod")
    first = {row.case.name: row for row in selectors.impact_preview(v1)}
    assert first["tina quotes from home"].current is None and first["tina quotes from home"].changed
    actions.approve_publication(personas["security"].user, v1)

    actions.create_risk_rule(
        None, environment="prod", name="network-unknown-strict", attribute="network", condition="unknown", score=30
    )
    v2 = actions.request_publication(personas["admin"].user, environment="prod")
    rows = {row.case.name: row for row in selectors.impact_preview(v2)}
    home = rows["tina quotes from home"]
    assert (home.current.outcome, home.candidate.outcome) == ("allow", "deny")
    assert home.changed and not home.as_expected
    assert not rows["tina never orders"].changed

    page = verified_client(personas["security"]).get(f"/policies/publications/{v2.pk}/").content.decode()
    assert "tina quotes from home" in page and "not as expected" in page and "Approve and publish" in page


def test_bad_test_case_request_is_refused(db):
    with pytest.raises(actions.PolicyError) as info:
        actions.create_test_case(
            None, environment="prod", name="x", request_data={"identity": "tina"}, expected_outcome="allow"
        )
    assert info.value.field == "request"


def test_bound_certificates_are_compiled_and_the_simulator_presents_one(personas, verified_client, signing_key):
    from tests.certificates.helpers import matrix_certificate

    cert = matrix_certificate(personas)
    algo = cert.identity
    segment = actions.create_segment(None, environment="uat", name="oms", resources=[{"name": "oms-fix"}])
    actions.create_access_rule(
        None,
        environment="uat",
        name="algo-orders",
        subject_kind="identity",
        subject_identity=algo,
        target_segment=segment,
        message_types=["D"],
    )
    payload = selectors.draft_payload("uat")
    record = next(i for i in payload["identities"] if i["id"] == algo.user.username)
    assert record["certificates"] == [cert.sha256]
    assert algo.user.username not in {i["id"] for i in selectors.draft_payload("prod")["identities"]}

    client = verified_client(personas["admin"])
    params = {
        "environment": "uat",
        "identity": algo.pk,
        "authentication": "none",
        "source_ip": "10.1.2.3",
        "target": "oms",
        "message_type": "D",
    }
    page = client.get("/policies/simulator/", params).content.decode()
    assert "algo-orders" in page
    page = client.get("/policies/simulator/", {**params, "certificate": "ab" * 32}).content.decode()
    assert "certificate is not bound" in page
