"""The anchors of the PEP benchmark, each in its best form: OPA (Rego) and AWS Cedar on the same policy.

Each takes the bundle payload and answers the same requests as the engine. How each is written, and why that
is its best form, is in docs/bundle.md ("Performance"). Both need the ``bench`` extra (``make bench``
installs it); without it the benchmark says so and prints the rest.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from bench.pep_workload import HOURS, RULE_WINDOW
from pep.engine import DecisionRequest
from pep.model import Window

# -- OPA ----------------------------------------------------------------------------------------------------------

# Grants are looked up in `data` by subject and target (never scanned), risk scores by attribute and condition;
# every rule reads its inputs once. `batch` evaluates the same `result` for many inputs in one call.
REGO = """
package ztc

import rego.v1

ident := data.identities[input.identity]

active if ident.status == "active"

cert_ok if count(ident.certificates) == 0

cert_ok if ident.certificates[lower(input.certificate_fingerprint)]

mow := (floor(input.time / 60) + 4320) % 10080

in_window(intervals) if {
	some iv in intervals
	iv[0] <= mow
	mow < iv[1]
}

type_ok(g) if g.types["*"]

type_ok(g) if g.types[input.message_type]

live(g) if g.expires == null

live(g) if input.time < g.expires

open_now(g) if g.window == null

open_now(g) if in_window(g.window)

default matched := null

matched := min({g.id |
	some s in ident.subjects
	some g in data.grants[s][input.target]
	type_ok(g)
	live(g)
	open_now(g)
})

identity_cond := "privileged" if ident.privileged else := "standard"

auth_cond := input.authentication if input.authentication in {"hardware", "software"} else := "none"

device_cond := h if h := data.devices[input.device] else := "unknown"

zone_known if count(net.cidr_contains_matches(data.zone_cidrs, input.source_ip)) > 0

network_cond := "known" if zone_known else := "unknown"

# The address's country comes resolved with the input (see ip_country below); an override wins.
country := upper(input.country) if input.country else := input.ip_country

geo_cond := "unknown" if not country
else := "expected" if count(ident.expected_countries) == 0
else := "expected" if ident.expected_countries[country]
else := "anomalous"

pairs contains ["identity", identity_cond]

pairs contains ["authentication", auth_cond]

pairs contains ["device", device_cond]

pairs contains ["network", network_cond]

pairs contains ["geography", geo_cond]

pairs contains ["trading_hours", "inside"] if {
	ident.trading_hours != null
	in_window(ident.trading_hours)
}

pairs contains ["trading_hours", "outside"] if {
	ident.trading_hours != null
	not in_window(ident.trading_hours)
}

contributions contains [r.id, r.score] if {
	some p in pairs
	some r in data.risk[p[0]][p[1]]
}

score := sum([c[1] | some c in contributions])

outcome := "deny" if matched == null
else := "deny" if score >= data.bands.deny
else := "step_up" if score >= data.bands.step_up
else := "allow"

default result := {"outcome": "deny", "score": 0, "rule": null}

result := {"outcome": outcome, "score": score, "rule": matched} if {
	active
	cert_ok
}

batch := [r | some one in input.requests; r := result with input as one]
"""


def _intervals(window: dict[str, Any] | None) -> list[list[int]] | None:
    # UTC windows only (the Rego above computes the UTC minute of the week); the bench uses UTC windows.
    compiled = Window.compile(window)
    if compiled is not None and compiled.timezone != "UTC":
        raise ValueError("the Rego anchor takes UTC windows only")
    return None if compiled is None else [list(iv) for iv in compiled.intervals]


def _epoch(text: str | None) -> int | None:
    return None if text is None else int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def opa_data(payload: dict[str, Any]) -> dict[str, Any]:
    """The bundle as OPA data, indexed the way a Rego author would: subject -> target -> grants."""
    expand: dict[tuple[str, str], list[str]] = {}
    for segment in payload["segments"]:
        expand[("segment", segment["id"])] = [segment["id"], *(r["id"] for r in segment["resources"])]
        for resource in segment["resources"]:
            expand[("resource", resource["id"])] = [resource["id"]]
    grants: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for rule in payload["access_rules"]:
        subject = f"{rule['subject']['kind']}:{rule['subject']['id']}"
        grant = {
            "id": rule["id"],
            "types": dict.fromkeys(rule["message_types"], True),
            "expires": _epoch(rule["expires_at"]),
            "window": _intervals(rule["window"]),
        }
        for target in expand[(rule["target"]["kind"], rule["target"]["id"])]:
            grants.setdefault(subject, {}).setdefault(target, []).append(grant)
    identities = {}
    for ident in payload["identities"]:
        subjects = [f"identity:{ident['id']}"] + ([f"desk:{ident['desk']}"] if ident["desk"] else [])
        subjects += [f"group:{g}" for g in ident["groups"]] + [f"role:{r}" for r in ident["roles"]]
        identities[ident["id"]] = {
            "status": ident["status"],
            "privileged": ident["privileged"],
            "expected_countries": dict.fromkeys(ident["expected_countries"], True),
            "trading_hours": _intervals(ident["trading_hours"]),
            "subjects": subjects,
            "certificates": dict.fromkeys(ident["certificates"], True),
        }
    risk: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for rule in payload["risk_rules"]:
        if rule["enabled"]:
            risk.setdefault(rule["attribute"], {}).setdefault(rule["condition"], []).append(
                {"id": rule["id"], "score": rule["score"]}
            )
    return {
        "identities": identities,
        "devices": {d["id"]: d["health"] for d in payload["devices"]},
        "grants": grants,
        "risk": risk,
        "bands": payload["bands"],
        "zone_cidrs": [c for z in payload["network_zones"] for c in z["cidrs"]],
    }


def ip_country(payload: dict[str, Any]) -> Callable[[str | None], str | None]:
    """The country of an address by longest prefix, as the glue in front of an anchor resolves it.

    Neither Rego nor Cedar has a longest-prefix lookup: written in them it is a scan of the whole country table
    with a CIDR parse per entry on every request (in Rego, over a /24 nested in a /16, with a max on top). An
    application resolves the address with a GeoIP table and passes the country in, so the anchors get it resolved
    (outside their timing), while our engine's figures include its own lookup.
    """
    from bench.pep_workload import PlainEvaluator

    tables = PlainEvaluator._tables([(e["cidr"], e["country"]) for e in payload["ip_countries"]])

    def resolve(address: str | None) -> str | None:
        import ipaddress

        if address is None:
            return None
        try:
            parsed = ipaddress.ip_address(address)
        except ValueError:
            return None
        if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
            parsed = parsed.ipv4_mapped
        return PlainEvaluator._lookup(tables[parsed.version], int(parsed))

    return resolve


def opa_input(request: DecisionRequest, country: str | None) -> dict[str, Any]:
    """The request as OPA input (absent fields left out, as a JSON client would), with the address's country."""
    document = {k: v for k, v in request._asdict().items() if v is not None}
    if country is not None:
        document["ip_country"] = country
    return document


def opa(payload: dict[str, Any]) -> tuple[Callable[[dict[str, Any]], Any], Callable[[list[dict[str, Any]]], Any]]:
    """``(decide one input, decide a batch of inputs)`` on an OPA engine loaded with the policy and data."""
    from opa_bindings import OpaEngine

    engine = OpaEngine()
    engine.add_policy("ztc.rego", REGO)
    engine.add_data(opa_data(payload))
    evaluate = engine.eval_document

    def one(document: dict[str, Any]) -> Any:
        return evaluate("ztc.result", document)

    def batch(documents: list[dict[str, Any]]) -> Any:
        return evaluate("ztc.batch", {"requests": documents})

    return one, batch


def opa_answer(result: dict[str, Any]) -> tuple[str, int, str | None]:
    return (result["outcome"], result["score"], result["rule"])


# -- Cedar --------------------------------------------------------------------------------------------------------

_FAR = 2**53  # "never expires"


def _mow_condition(window: dict[str, Any]) -> str:
    compiled = Window.compile(window)
    assert compiled is not None and compiled.timezone == "UTC"
    return "(" + " || ".join(f"(context.mow >= {a} && context.mow < {b})" for a, b in compiled.intervals) + ")"


def _country_expression() -> str:
    # The override if any, else the address's country resolved by the glue (see ip_country), "" for none.
    return "(if context has country then context.country else context.ip_country)"


def cedar_policies(payload: dict[str, Any]) -> str:
    """One policy per band: ``allow`` (granted, score below step-up) and ``step_up`` (granted, below deny)."""
    risk: dict[tuple[str, str], int] = {}
    for rule in payload["risk_rules"]:
        if rule["enabled"]:
            risk[(rule["attribute"], rule["condition"])] = (
                risk.get((rule["attribute"], rule["condition"]), 0) + rule["score"]
            )
    zones = " || ".join(f'context.ip.isInRange(ip("{c}"))' for z in payload["network_zones"] for c in z["cidrs"])
    conditions = {
        ("identity", "privileged"): "principal.privileged",
        ("identity", "standard"): "!principal.privileged",
        ("authentication", "hardware"): 'context.authentication == "hardware"',
        ("authentication", "software"): 'context.authentication == "software"',
        ("authentication", "none"): '!(context.authentication == "hardware" || context.authentication == "software")',
        ("network", "known"): f"({zones})",
        ("network", "unknown"): f"!({zones})",
        # "" (no country found) is in every identity's set, so only a known, unexpected country is anomalous.
        ("geography", "anomalous"): (
            f"(principal.has_expectation && !principal.expected.contains({_country_expression()}))"
        ),
        ("trading_hours", "inside"): f"(principal.has_hours && {_mow_condition(HOURS)})",
        ("trading_hours", "outside"): f"(principal.has_hours && !{_mow_condition(HOURS)})",
    }
    for health in ("managed_compliant", "unmanaged", "non_compliant", "unknown"):
        conditions[("device", health)] = (
            f'(if context.device has health then context.device.health else "unknown") == "{health}"'
        )
    terms = []
    for (attribute, condition), score in sorted(risk.items()):
        if score == 0:
            continue
        if (attribute, condition) not in conditions:
            raise ValueError(f"no Cedar form for {attribute} = {condition}")
        terms.append(f"(if {conditions[(attribute, condition)]} then {score} else 0)")
    score = " + ".join(terms) or "0"

    def holds(owner: str, attribute: str) -> str:
        return (
            f"{owner}.{attribute}.contains({{target: resource, action: action}})"
            f' || {owner}.{attribute}.contains({{target: resource, action: ZT::Action::"*"}})'
        )

    members = [f"principal.{slot}" for slot in MEMBERSHIP_SLOTS]
    static = " || ".join(
        [holds("principal", "grants")]
        + [f"({m.split('.')[1].join(('principal has ', ''))} && ({holds(m, 'grants')}))" for m in members]
    )
    windowed = " || ".join(
        f"({m.split('.')[1].join(('principal has ', ''))} && ({holds(m, 'window_grants')}))" for m in members
    )
    timed = (
        "((context.timed has until && context.now < context.timed.until)"
        " || (context.timed has window_until && context.now < context.timed.window_until && WINDOW))"
    )
    timed = " || ".join(timed.replace("context.timed", f"context.{slot}") for slot in ("timed", "timed_any"))
    granted = (
        "principal.active && (!principal.pinned || principal.certificates.contains(context.fingerprint)) && ("
        f"{static} || ({windowed}) && WINDOW || {timed})"
    ).replace("WINDOW", _mow_condition(RULE_WINDOW))
    bands = payload["bands"]
    return (
        f'@id("allow")\npermit (principal, action, resource) when {{ {granted} && {score} < {bands["step_up"]} }};\n'
        f'@id("step_up")\npermit (principal, action, resource) when {{ {granted} && {score} < {bands["deny"]} }};\n'
    )


MEMBERSHIP_SLOTS = ("desk", "group0", "group1", "role0")


def cedar_entities(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """Grants as entity attributes: each identity, desk, group and role carries the set of ``{target, action}``
    records it is granted (segments expanded to their resources), and an identity names its memberships in
    attributes the policy follows. Grants with a window sit apart (``window_grants``); an identity's own grants
    with an expiry or a window are entities the request names. Devices carry their health."""
    expand: dict[tuple[str, str], list[str]] = {}
    for segment in payload["segments"]:
        expand[("segment", segment["id"])] = [segment["id"], *(r["id"] for r in segment["resources"])]
        for resource in segment["resources"]:
            expand[("resource", resource["id"])] = [resource["id"]]
    window_shape = Window.compile(RULE_WINDOW)

    def record(target: str, message_type: str) -> dict[str, Any]:
        return {
            "target": {"__entity": {"type": "ZT::Target", "id": target}},
            "action": {"__entity": {"type": "ZT::Action", "id": message_type}},
        }

    static: dict[str, set[tuple[str, str]]] = {}
    windowed: dict[str, set[tuple[str, str]]] = {}
    timed: dict[tuple[str, str, str], dict[str, int]] = {}
    for rule in payload["access_rules"]:
        subject = f"{rule['subject']['kind']}:{rule['subject']['id']}"
        if rule["window"] is not None and Window.compile(rule["window"]) != window_shape:
            raise ValueError("the Cedar anchor takes one access-rule window shape")
        for target in expand[(rule["target"]["kind"], rule["target"]["id"])]:
            for message_type in rule["message_types"]:
                if rule["expires_at"] is None and rule["window"] is None:
                    static.setdefault(subject, set()).add((target, message_type))
                elif rule["expires_at"] is None and rule["subject"]["kind"] != "identity":
                    windowed.setdefault(subject, set()).add((target, message_type))
                elif rule["subject"]["kind"] == "identity":
                    key = (rule["subject"]["id"], target, message_type)
                    slot = "until" if rule["window"] is None else "window_until"
                    expires = _epoch(rule["expires_at"]) or _FAR
                    timed.setdefault(key, {})[slot] = max(timed.get(key, {}).get(slot, 0), expires)
                else:
                    raise ValueError("the Cedar anchor takes expiring grants on identities only")
    entities: list[dict[str, Any]] = []
    for (identity, target, message_type), attrs in timed.items():
        entities.append(
            {"uid": {"type": "ZT::Grant", "id": f"{identity}|{target}|{message_type}"}, "attrs": attrs, "parents": []}
        )
    subjects = {s for s in (*static, *windowed) if not s.startswith("identity:")}
    for subject in sorted(subjects):
        attrs = {
            "grants": [record(*g) for g in sorted(static.get(subject, ()))],
            "window_grants": [record(*g) for g in sorted(windowed.get(subject, ()))],
        }
        entities.append({"uid": {"type": "ZT::Subject", "id": subject}, "attrs": attrs, "parents": []})
    for ident in payload["identities"]:
        if len(ident["groups"]) > 2 or len(ident["roles"]) > 1:
            raise ValueError("the Cedar anchor takes at most two groups and one role per identity")
        memberships = ([("desk", f"desk:{ident['desk']}")] if ident["desk"] else []) + [
            (f"group{n}", f"group:{g}") for n, g in enumerate(ident["groups"])
        ]
        memberships += [(f"role{n}", f"role:{r}") for n, r in enumerate(ident["roles"])]
        attrs: dict[str, Any] = {
            "active": ident["status"] == "active",
            "privileged": ident["privileged"],
            "has_expectation": bool(ident["expected_countries"]),
            "expected": [*ident["expected_countries"], ""],
            "has_hours": ident["trading_hours"] is not None,
            "pinned": bool(ident["certificates"]),
            "certificates": ident["certificates"],
            "grants": [record(*g) for g in sorted(static.get(f"identity:{ident['id']}", ()))],
        }
        for slot, subject in memberships:
            if subject in subjects:
                attrs[slot] = {"__entity": {"type": "ZT::Subject", "id": subject}}
        entities.append({"uid": {"type": "ZT::Identity", "id": ident["id"]}, "attrs": attrs, "parents": []})
    for device in payload["devices"]:
        entities.append(
            {"uid": {"type": "ZT::Device", "id": device["id"]}, "attrs": {"health": device["health"]}, "parents": []}
        )
    return entities


def cedar_request(request: DecisionRequest, country: str | None) -> dict[str, Any]:
    """The request as the PEP glue would build it for Cedar (which has no string functions or clock)."""
    when = int(request.time or 0)
    grant_id = f"{request.identity}|{request.target}|"
    context: dict[str, Any] = {
        "authentication": request.authentication,
        "device": {"__entity": {"type": "ZT::Device", "id": request.device or ""}},
        "ip": {"__extn": {"fn": "ip", "arg": request.source_ip}},
        "fingerprint": (request.certificate_fingerprint or "").lower(),
        "now": when,
        "mow": (when // 60 + 4320) % 10080,
        "timed": {"__entity": {"type": "ZT::Grant", "id": grant_id + request.message_type}},
        "timed_any": {"__entity": {"type": "ZT::Grant", "id": grant_id + "*"}},
        "ip_country": country or "",
    }
    if request.country:
        context["country"] = request.country.upper()
    return {
        "principal": {"type": "ZT::Identity", "id": request.identity},
        "action": {"type": "ZT::Action", "id": request.message_type},
        "resource": {"type": "ZT::Target", "id": request.target},
        "context": context,
    }


def cedar(payload: dict[str, Any]) -> Callable[[dict[str, Any]], Any]:
    """Decide one prepared request with cedarpy, policies and entities parsed once."""
    import cedarpy

    policies = cedarpy.PolicySet.from_str(cedar_policies(payload))
    entities = cedarpy.Entities.from_json_str(json.dumps(cedar_entities(payload)))
    authorize = cedarpy.is_authorized

    def one(request: dict[str, Any]) -> Any:
        return authorize(request, policies, entities)

    return one


def cedar_outcome(result: Any) -> str:
    """Both band policies hold below step-up (allow); only ``step_up`` between the bands; none: deny."""
    if not result.allowed:
        return "deny"
    return "allow" if len(result.diagnostics.reasons) == 2 else "step_up"


__all__ = ["cedar", "cedar_outcome", "cedar_request", "ip_country", "opa", "opa_answer", "opa_input"]
