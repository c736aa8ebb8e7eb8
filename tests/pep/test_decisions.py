"""Least privilege, the seed worked example, message types, trading hours, windows, expiry and explanations."""

from __future__ import annotations

from pep.engine import ALLOW, DENY, STEP_UP, Engine
from tests.pep.conftest import MONDAY_10, engine_for, request


def contributions(decision) -> dict[str, int]:
    return {c.rule_id: c.score for c in decision.contributions}


def test_seed_worked_example_dynamic_ip_managed_device_hardware_token_is_15_allow(engine: Engine):
    decision = engine.decide(request())
    assert (decision.outcome, decision.score, decision.matched_rule) == (ALLOW, 15, "ar-fx-rfq")
    assert contributions(decision) == {
        "seed-identity-standard": 0,
        "seed-auth-hardware": 0,
        "seed-device-managed": 0,
        "seed-network-unknown": 15,
        "seed-geo-expected": 0,
    }
    assert decision.bundle_version == 1
    assert sum(c.score for c in decision.contributions) == decision.score


def test_corporate_network_scores_zero(engine: Engine):
    assert engine.decide(request(source_ip="10.1.2.3")).score == 0
    assert engine.decide(request(source_ip="2001:db8::1")).score == 0


def test_default_deny_without_an_access_rule_whatever_the_score(engine: Engine):
    decision = engine.decide(request(target="oms", source_ip="10.1.2.3"))
    assert decision.outcome == DENY
    assert decision.score == 0
    assert decision.matched_rule is None
    assert "default deny" in decision.reason


def test_quote_request_and_quote_allowed_new_order_single_denied(engine: Engine):
    assert engine.decide(request(message_type="R")).outcome == ALLOW
    assert engine.decide(request(message_type="S")).outcome == ALLOW
    denied = engine.decide(request(message_type="D"))
    assert denied.outcome == DENY
    assert denied.matched_rule is None


def test_segment_rule_covers_its_resources_but_resource_rule_not_its_segment(engine: Engine):
    assert engine.decide(request(target="rfq-gw-1")).matched_rule == "ar-fx-rfq"
    bob = {"identity": "bob", "certificate_fingerprint": None, "source_ip": "10.1.0.1"}
    assert engine.decide(request(**bob, target="md-1", message_type="W")).outcome == ALLOW
    assert engine.decide(request(**bob, target="market-data", message_type="W")).outcome == DENY


def test_privileged_identity_bands_allow_step_up_deny(engine: Engine):
    bob = {"identity": "bob", "certificate_fingerprint": None, "target": "md-1"}
    office = engine.decide(request(**bob, authentication="software", source_ip="10.1.0.1"))
    assert (office.outcome, office.score) == (ALLOW, 15)  # privileged 10 + software token 5
    dynamic = engine.decide(request(**bob, authentication="software", source_ip="81.2.1.1"))
    assert (dynamic.outcome, dynamic.score) == (STEP_UP, 30)  # + unknown network 15
    unmanaged = engine.decide(request(**bob, authentication="software", device="laptop-b", source_ip="10.1.0.1"))
    assert (unmanaged.outcome, unmanaged.score) == (DENY, 40)  # + unmanaged device 25
    assert unmanaged.matched_rule == "ar-bob-md"
    password = engine.decide(request(**bob, authentication="none", source_ip="10.1.0.1"))
    assert (password.outcome, password.score) == (DENY, 40)  # privileged 10 + password only 30


def test_anomalous_country_denies_and_override_wins_over_the_ip_table(engine: Engine):
    foreign = engine.decide(request(source_ip="5.6.7.8"))
    assert (foreign.outcome, foreign.score) == (DENY, 55)
    assert contributions(foreign)["seed-geo-anomalous"] == 40
    assert engine.decide(request(source_ip="5.6.7.8", country="gb")).score == 15
    assert engine.decide(request(country="RU")).outcome == DENY


def test_unknown_country_and_unknown_device_add_nothing_under_the_seed_table(engine: Engine):
    decision = engine.decide(request(source_ip="203.0.113.9", device="not-registered"))
    assert decision.score == 15
    assert "seed-geo-expected" not in contributions(decision)


def test_unknown_identity_suspended_identity_and_wrong_certificate_are_denied(engine: Engine):
    assert "unknown identity" in engine.decide(request(identity="mallory")).reason
    assert "suspended" in engine.decide(request(identity="dave", certificate_fingerprint=None)).reason
    assert "certificate" in engine.decide(request(certificate_fingerprint="cd" * 32)).reason
    assert engine.decide(request(certificate_fingerprint=("ab" * 32).upper())).outcome == ALLOW


def test_malformed_source_ip_is_denied(engine: Engine):
    assert engine.decide(request(source_ip="not-an-ip")).outcome == DENY


def test_trading_hours_in_the_identitys_time_zone():
    rules = [{"id": "late", "attribute": "trading_hours", "condition": "outside", "score": 20}]
    engine = engine_for(risk_rules=rules)
    carol = {"identity": "carol", "certificate_fingerprint": None, "target": "oms", "message_type": "D"}
    inside = engine.decide(request(**carol, time=MONDAY_10))
    assert (inside.outcome, inside.score) == (ALLOW, 0)
    # 07:30 UTC in summer is 08:30 in London: inside; in November London is on UTC: 07:30 is inside too,
    # 06:30 is outside, and so is Saturday.
    assert engine.decide(request(**carol, time=MONDAY_10 - 3.5 * 3600)).score == 20
    assert engine.decide(request(**carol, time=MONDAY_10 - 2 * 86400)).score == 20


def test_access_rule_window_refuses_outside_it(engine: Engine):
    carol = {"identity": "carol", "certificate_fingerprint": None, "target": "oms-1", "message_type": "D"}
    assert engine.decide(request(**carol, time=MONDAY_10)).matched_rule == "ar-algo-oms"
    evening = engine.decide(request(**carol, time=MONDAY_10 + 7 * 3600))
    assert evening.outcome == DENY
    assert "outside the window of access rule ar-algo-oms" in evening.reason


def test_expired_access_rule_no_longer_grants(engine: Engine):
    bob = {"identity": "bob", "certificate_fingerprint": None, "target": "md-1", "source_ip": "10.1.0.1"}
    assert engine.decide(request(**bob, time=MONDAY_10)).outcome == ALLOW
    expired = engine.decide(request(**bob, time=MONDAY_10 + 30 * 86400))
    assert expired.outcome == DENY
    assert "expired" in expired.reason


def test_disabled_risk_rule_contributes_nothing():
    rules = [{"id": "net", "attribute": "network", "condition": "unknown", "score": 15, "enabled": False}]
    assert engine_for(risk_rules=rules).decide(request()).score == 0


def test_bands_are_data():
    engine = engine_for(bands={"step_up": 10, "deny": 15})
    assert engine.decide(request()).outcome == DENY
    assert engine.decide(request(source_ip="10.1.0.1")).outcome == ALLOW


def test_repeated_requests_return_the_same_cached_decision_and_time_dependent_ones_are_recomputed(engine: Engine):
    assert engine.decide(request()) is engine.decide(request())
    bob = {"identity": "bob", "certificate_fingerprint": None, "target": "md-1", "source_ip": "10.1.0.1"}
    assert engine.decide(request(**bob)).outcome == ALLOW
    assert engine.decide(request(**bob, time=MONDAY_10 + 30 * 86400)).outcome == DENY


def test_decision_to_dict_is_json_ready(engine: Engine):
    data = engine.decide(request()).to_dict()
    assert set(data) == {"outcome", "score", "contributions", "matched_rule", "reason", "bundle_version"}
    assert data["contributions"][0] == {
        "rule_id": "seed-identity-standard",
        "attribute": "identity",
        "condition": "standard",
        "score": 0,
    }
