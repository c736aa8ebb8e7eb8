"""Bad draft input is refused by the actions with the field at fault, and by the pages with a form error."""

from __future__ import annotations

import pytest

from accounts.actions import revoke_identity
from policies import actions
from policies.models import RiskRule


def _error(call, **kwargs) -> actions.PolicyError:
    with pytest.raises(actions.PolicyError) as info:
        call(None, **kwargs)
    return info.value


def test_bad_cidr_names_the_field(db):
    exc = _error(actions.create_network_zone, environment="prod", name="office", cidrs=["10.0.0.1/8"])
    assert exc.field == "cidrs" and "host bits" in str(exc)
    exc = _error(actions.create_country_range, environment="prod", cidr="not-a-cidr", country="GB")
    assert exc.field == "cidr"
    exc = _error(actions.create_country_range, environment="prod", cidr="81.2.69.0/24", country="Britain")
    assert exc.field == "country"


def test_unknown_attribute_or_condition_is_refused(db):
    exc = _error(actions.create_risk_rule, environment="prod", name="x", attribute="weather", condition="rain", score=5)
    assert exc.field == "attribute"
    exc = _error(actions.create_risk_rule, environment="prod", name="x", attribute="device", condition="shiny", score=5)
    assert exc.field == "condition"


@pytest.mark.parametrize("score", [-101, 101, "ten"])
def test_score_outside_range_is_refused(db, score):
    exc = _error(
        actions.create_risk_rule, environment="prod", name="x", attribute="device", condition="unknown", score=score
    )
    assert exc.field == "score"


def test_bands_cannot_invert(db):
    exc = _error(actions.update_bands, environment="prod", step_up=50, deny=40)
    assert exc.field == "deny"
    bands = actions.update_bands(None, environment="prod", step_up=25, deny=45)
    assert (bands.step_up, bands.deny) == (25, 45)


def test_segment_needs_resources_and_unique_ids(db):
    exc = _error(actions.create_segment, environment="prod", name="oms", resources=[])
    assert exc.field == "resources"
    actions.create_segment(None, environment="prod", name="oms", resources=[{"name": "oms-fix"}])
    exc = _error(actions.create_segment, environment="prod", name="oms2", resources=[{"name": "oms-fix"}])
    assert exc.field == "resources"
    exc = _error(actions.create_segment, environment="prod", name="oms", resources=[{"name": "x"}])
    assert exc.field == "name"


def test_rule_for_a_revoked_identity_is_refused(personas):
    segment = actions.create_segment(None, environment="prod", name="oms", resources=[{"name": "oms-fix"}])
    trader = personas["trader"].user.identity
    revoke_identity(personas["admin"].user, trader, reason="left")
    trader.refresh_from_db()
    exc = _error(
        actions.create_access_rule,
        environment="prod",
        name="r1",
        subject_kind="identity",
        subject_identity=trader,
        target_segment=segment,
        message_types=["R"],
    )
    assert exc.field == "subject_identity"


def test_bad_message_type_and_window(personas):
    segment = actions.create_segment(None, environment="prod", name="oms", resources=[{"name": "oms-fix"}])
    base = {
        "environment": "prod",
        "name": "r1",
        "subject_kind": "role",
        "subject_role": "Trader",
        "target_segment": segment,
    }
    assert _error(actions.create_access_rule, **base, message_types=["NOPE!"]).field == "message_types"
    window = {"timezone": "Mars/Olympus", "days": [0], "start": "07:00", "end": "18:00"}
    assert _error(actions.create_access_rule, **base, message_types=["R"], window=window).field == "window"


def test_seed_is_exactly_the_shipped_table(db):
    from pep.builder import SEED_RISK_RULES

    actions.seed_policy(None, "uat")
    rows = {(r.name, r.attribute, r.condition, r.score) for r in RiskRule.objects.filter(environment="uat")}
    assert rows == {(r["id"], r["attribute"], r["condition"], r["score"]) for r in SEED_RISK_RULES}
    assert actions.seed_policy(None, "uat") is False


def test_pages_show_form_errors_not_500(personas, verified_client):
    client = verified_client(personas["admin"])
    response = client.post("/policies/zones/new/", {"environment": "prod", "name": "office", "cidrs": "10.0.0.1/8"})
    assert response.status_code == 400
    assert "host bits" in response.content.decode()
    response = client.post(
        "/policies/risk-rules/new/",
        {"environment": "prod", "name": "x", "attribute": "device", "condition": "unknown", "score": "150"},
    )
    assert response.status_code == 400
    assert "between -100 and 100" in response.content.decode()
    response = client.post("/policies/segments/new/", {"environment": "prod", "name": "oms", "resources": ""})
    assert response.status_code == 400
