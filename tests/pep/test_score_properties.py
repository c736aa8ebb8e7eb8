"""Properties: the score is the sum of the matching enabled risk rules, and the band follows the thresholds.

The oracle below classifies each request from the bundle's plain data with the standard library only, so it
shares no code with the engine's precompiled tables and caches.
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from pep.attributes import ATTRIBUTES
from pep.builder import build_payload
from pep.engine import ALLOW, DENY, STEP_UP, DecisionRequest, Engine
from tests.pep.conftest import MONDAY_10, policy

IDENTITIES = [
    {"id": "std", "expected_countries": ["GB"], "desk": "fx"},
    {"id": "priv", "privileged": True, "expected_countries": ["GB", "US"], "desk": "fx"},
    {
        "id": "hours",
        "expected_countries": [],
        "desk": "fx",
        "trading_hours": {"timezone": "UTC", "days": [0, 1, 2, 3, 4], "start": "08:00", "end": "17:00"},
    },
]
DEVICES = {"m": "managed_compliant", "u": "unmanaged", "n": "non_compliant", "k": "unknown"}
ZONES = {"office": ["10.1.0.0/16"]}
COUNTRY_TABLE = {"81.2.0.0/16": "GB", "81.2.69.0/24": "US", "5.6.0.0/16": "RU"}
IPS = ["10.1.3.4", "81.2.1.1", "81.2.69.9", "5.6.7.8", "203.0.113.5", None]
CONDITIONS = [(name, cond) for name, attr in ATTRIBUTES.items() for cond in attr.conditions]

risk_rule_lists = st.lists(
    st.tuples(st.sampled_from(CONDITIONS), st.integers(-100, 100), st.booleans()), min_size=0, max_size=14
).map(
    lambda rules: [
        {"id": f"r{n}", "attribute": a, "condition": c, "score": s, "enabled": e}
        for n, ((a, c), s, e) in enumerate(rules)
    ]
)
bands = st.tuples(st.integers(1, 120), st.integers(0, 120)).map(lambda t: {"step_up": t[0], "deny": t[0] + t[1]})
requests = st.builds(
    DecisionRequest,
    identity=st.sampled_from([i["id"] for i in IDENTITIES]),
    target=st.just("rfq-gateway"),
    message_type=st.just("R"),
    authentication=st.sampled_from(["hardware", "software", "none"]),
    device=st.sampled_from([*DEVICES, "unregistered", None]),
    source_ip=st.sampled_from(IPS),
    country=st.sampled_from([None, None, "GB", "us", "FR"]),
    time=st.integers(MONDAY_10 - 7 * 86400, MONDAY_10 + 7 * 86400),
)


def expected_conditions(request: DecisionRequest) -> set[tuple[str, str]]:
    identity = next(i for i in IDENTITIES if i["id"] == request.identity)
    found = {("identity", "privileged" if identity.get("privileged") else "standard")}
    found.add(("authentication", request.authentication))
    found.add(("device", DEVICES.get(request.device, "unknown") if request.device else "unknown"))
    address = ipaddress.ip_address(request.source_ip) if request.source_ip else None
    in_zone = address is not None and any(address in ipaddress.ip_network(c) for cs in ZONES.values() for c in cs)
    found.add(("network", "known" if in_zone else "unknown"))
    matches = [
        (ipaddress.ip_network(cidr).prefixlen, country)
        for cidr, country in COUNTRY_TABLE.items()
        if address is not None and address in ipaddress.ip_network(cidr)
    ]
    country = request.country.upper() if request.country else (max(matches)[1] if matches else None)
    if country is None:
        found.add(("geography", "unknown"))
    elif not identity["expected_countries"] or country in identity["expected_countries"]:
        found.add(("geography", "expected"))
    else:
        found.add(("geography", "anomalous"))
    hours = identity.get("trading_hours")
    if hours:
        moment = datetime.fromtimestamp(request.time, UTC)
        inside = moment.weekday() in hours["days"] and 8 <= moment.hour < 17
        found.add(("trading_hours", "inside" if inside else "outside"))
    return found


def make_engine(risk_rules, bands_=None) -> Engine:
    payload = build_payload(
        **policy(
            identities=IDENTITIES,
            devices=DEVICES,
            network_zones=ZONES,
            ip_countries=COUNTRY_TABLE,
            risk_rules=risk_rules,
            bands=bands_ or {"step_up": 20, "deny": 40},
        )
    )
    return Engine.from_payload(payload)


@settings(max_examples=300, deadline=None)
@given(risk_rules=risk_rule_lists, request=requests)
def test_score_is_the_sum_of_the_matching_enabled_rules(risk_rules, request):
    decision = make_engine(risk_rules).decide(request)
    holding = expected_conditions(request)
    matching = [r for r in risk_rules if r["enabled"] and (r["attribute"], r["condition"]) in holding]
    assert decision.score == sum(r["score"] for r in matching)
    assert sorted(c.rule_id for c in decision.contributions) == sorted(r["id"] for r in matching)
    assert sum(c.score for c in decision.contributions) == decision.score


@settings(max_examples=300, deadline=None)
@given(risk_rules=risk_rule_lists, bands_=bands, request=requests)
def test_band_follows_the_thresholds(risk_rules, bands_, request):
    decision = make_engine(risk_rules, bands_).decide(request)
    assert decision.matched_rule == "ar-fx-rfq"
    if decision.score >= bands_["deny"]:
        assert decision.outcome == DENY
    elif decision.score >= bands_["step_up"]:
        assert decision.outcome == STEP_UP
    else:
        assert decision.outcome == ALLOW


@settings(max_examples=100, deadline=None)
@given(risk_rules=risk_rule_lists, request=requests)
def test_no_grant_is_deny_whatever_the_score(risk_rules, request):
    decision = make_engine(risk_rules).decide(request._replace(message_type="D"))
    assert decision.outcome == DENY
    assert decision.matched_rule is None
