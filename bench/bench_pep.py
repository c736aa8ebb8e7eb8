"""PEP decisions on a policy of 10k identities / 5k access rules / 200 segments, against OPA and Cedar.

Figures, all from this run: compile + sign time (budget 2 s), bundle verify + engine load time, our decision
p50/p99 (budget 1.5 / 5 us), then the same policy and the same requests through OPA (Rego, via
opa-golib-python-bindings) and AWS Cedar (cedarpy), every decision compared with ours, and the speed ratios
(budget: >= 50x OPA, >= 30x Cedar). Needs no Django. The anchors are optional: ``make bench`` installs the
``bench`` extra; without it their rows say so and the rest still prints.

Timing: ``time.perf_counter_ns`` around batches of ``BATCH`` decisions; a batch's mean is one sample, p50/p99
are over samples. The request mix replays a sample of sessions (a FIX session decides each message it sends), so
caches are warm as in a gateway; the cold figure (every session seen for the first time) is printed too.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from bench.results import Result
from pep.builder import SEED_RISK_RULES, build_payload
from pep.bundle import BundleVerifier, bundle_bytes, generate_private_key, key_ring, sign_payload
from pep.engine import DENY, Decision, DecisionRequest, Engine
from pep.model import Window

IDENTITIES = 10_000
ACCESS_RULES = 5_000
SEGMENTS = 200
SAMPLE = 2_000
ANCHOR_SAMPLE = 400
BATCH = 20
ROUNDS = 1_500
BUDGET_COMPILE_S = 2.0
BUDGET_P50_US = 1.5
BUDGET_P99_US = 5.0
BUDGET_OPA_RATIO = 50.0
BUDGET_CEDAR_RATIO = 30.0

MESSAGE_TYPES = ("R", "S", "D", "AI", "Z")
COUNTRIES = ("GB", "US", "DE", "FR", "CH", "JP", "SG", "HK", "RU", "BR")
# One trading-hours window for everyone who has one: Cedar has no calendar arithmetic, so its policy can only
# express a window it is told about (see _cedar_score). Our engine and the Rego policy take any window.
HOURS = {"timezone": "UTC", "days": [0, 1, 2, 3, 4], "start": "07:00", "end": "18:00"}
RULE_WINDOW = {"timezone": "UTC", "days": [0, 1, 2, 3, 4], "start": "06:00", "end": "20:00"}
NOW = int(datetime(2026, 11, 23, tzinfo=UTC).timestamp())  # a Monday
EXTRA_RISK_RULES = (
    {"id": "device-non-compliant", "attribute": "device", "condition": "non_compliant", "score": 40},
    {"id": "device-unknown", "attribute": "device", "condition": "unknown", "score": 25},
    {"id": "outside-trading-hours", "attribute": "trading_hours", "condition": "outside", "score": 20},
    {"id": "geo-unknown", "attribute": "geography", "condition": "unknown", "score": 10, "enabled": False},
)


# -- the policy and the requests ----------------------------------------------------------------------------------


def build_policy(seed: int = 4) -> dict[str, Any]:
    """Keyword arguments for :func:`pep.builder.build_payload`: the benchmark policy, deterministic per seed."""
    rnd = random.Random(seed)
    segments = [
        {
            "id": f"seg-{s:03d}",
            "resources": [{"id": f"seg-{s:03d}-r{r}", "address": f"10.9.{s}.{r}:9876"} for r in (0, 1)],
        }
        for s in range(SEGMENTS)
    ]
    identities = []
    for n in range(IDENTITIES):
        identities.append(
            {
                "id": f"id-{n:05d}",
                "status": "suspended" if rnd.random() < 0.01 else "active",
                "privileged": rnd.random() < 0.05,
                "expected_countries": rnd.sample(COUNTRIES[:8], rnd.choice((1, 1, 2))),
                "trading_hours": HOURS if rnd.random() < 0.3 else None,
                "desk": f"desk-{n % 20:02d}",
                "groups": [f"group-{g:03d}" for g in rnd.sample(range(100), rnd.choice((0, 1, 2)))],
                "roles": [f"role-{r}" for r in rnd.sample(range(10), rnd.choice((0, 0, 1)))],
            }
        )
    health = ("managed_compliant",) * 17 + ("unmanaged", "non_compliant", "unknown")
    devices = {f"dev-{n:05d}": rnd.choice(health) for n in range(IDENTITIES)}
    rules = []
    for n in range(ACCESS_RULES):
        if n < 4_000:
            subject = {"kind": "identity", "id": f"id-{rnd.randrange(IDENTITIES):05d}"}
        elif n < 4_600:
            subject = {"kind": "desk", "id": f"desk-{rnd.randrange(20):02d}"}
        elif n < 4_900:
            subject = {"kind": "group", "id": f"group-{rnd.randrange(100):03d}"}
        else:
            subject = {"kind": "role", "id": f"role-{rnd.randrange(10)}"}
        seg = rnd.randrange(SEGMENTS)
        target = (
            {"kind": "segment", "id": f"seg-{seg:03d}"}
            if rnd.random() < 0.7
            else {"kind": "resource", "id": f"seg-{seg:03d}-r{rnd.randrange(2)}"}
        )
        types = ["*"] if rnd.random() < 0.05 else rnd.sample(MESSAGE_TYPES[:4], rnd.choice((1, 2, 2, 3)))
        roll = rnd.random()
        rules.append(
            {
                "id": f"ar-{n:05d}",
                "subject": subject,
                "target": target,
                "message_types": types,
                "window": RULE_WINDOW if roll < 0.1 else None,
                "expires_at": None
                if roll < 0.8 or subject["kind"] != "identity"
                else datetime.fromtimestamp(NOW + rnd.randrange(-5, 60) * 86400, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
        )
    zones = {
        "corp-london": ["10.1.0.0/16", "192.168.10.0/24"],
        "corp-new-york": ["10.2.0.0/16", "172.16.0.0/12"],
        "corp-singapore": ["10.3.0.0/16"],
        "colo-ld4": ["198.51.100.0/24"],
        "vpn": ["100.64.0.0/10"],
    }
    ip_countries = {f"{a}.{b}.0.0/16": COUNTRIES[(a * 7 + b) % len(COUNTRIES)] for a in range(20, 60) for b in (0, 16)}
    return {
        "environment": "bench",
        "version": 1,
        "issued_at": "2026-11-22T00:00:00Z",
        "identities": identities,
        "devices": devices,
        "segments": segments,
        "access_rules": rules,
        "risk_rules": [*SEED_RISK_RULES, *EXTRA_RISK_RULES],
        "network_zones": zones,
        "ip_countries": ip_countries,
    }


def build_requests(payload: dict[str, Any], engine: Engine, count: int, seed: int = 7) -> list[DecisionRequest]:
    """A realistic mix: mostly granted targets and message types from the office or from an expected country, and
    a tail of what a gateway must refuse (ungranted types, foreign or unknown addresses, unknown devices)."""
    rnd = random.Random(seed)
    ids = [i["id"] for i in payload["identities"]]
    targets = [s["id"] for s in payload["segments"]] + [r["id"] for s in payload["segments"] for r in s["resources"]]
    by_country: dict[str, list[str]] = {}
    for entry in payload["ip_countries"]:
        by_country.setdefault(entry["country"], []).append(entry["cidr"])

    def address_in(cidr: str) -> str:
        a, b = cidr.split(".")[:2]
        return f"{a}.{int(b) + rnd.randrange(16)}.{rnd.randrange(256)}.{rnd.randrange(1, 255)}"

    requests = []
    for _ in range(count):
        identity = rnd.choice(ids)
        record = engine.identity(identity)
        assert record is not None
        reachable = sorted(record.grants)
        if reachable and rnd.random() < 0.85:
            target = rnd.choice(reachable)
            types = sorted(set().union(*((g.message_types or set(MESSAGE_TYPES)) for g in record.grants[target])))
            message_type = rnd.choice(types) if rnd.random() < 0.9 else rnd.choice(MESSAGE_TYPES)
        else:
            target, message_type = rnd.choice(targets), rnd.choice(MESSAGE_TYPES)
        roll = rnd.random()
        if roll < 0.5:
            ip = f"10.{rnd.choice((1, 2, 3))}.{rnd.randrange(256)}.{rnd.randrange(1, 255)}"
        elif roll < 0.9:
            ip = address_in(rnd.choice(by_country[rnd.choice(sorted(record.expected_countries))]))
        elif roll < 0.96:
            ip = address_in(rnd.choice(payload["ip_countries"])["cidr"])
        else:
            ip = f"203.0.113.{rnd.randrange(1, 255)}"
        requests.append(
            DecisionRequest(
                identity=identity,
                target=target,
                message_type=message_type,
                authentication=rnd.choices(("hardware", "software", "none"), (6, 3, 1))[0],
                device=f"dev-{identity[3:]}" if rnd.random() < 0.95 else f"dev-x{rnd.randrange(100)}",
                source_ip=ip,
                country=rnd.choice(COUNTRIES) if rnd.random() < 0.03 else None,
                time=NOW + rnd.randrange(5) * 86400 + rnd.randrange(7 * 3600, 18 * 3600)
                if rnd.random() < 0.8
                else NOW + rnd.randrange(7 * 86400),
            )
        )
    return requests


# -- timing -------------------------------------------------------------------------------------------------------


def _percentiles(samples_ns: list[float]) -> tuple[float, float]:
    ordered = sorted(samples_ns)
    return ordered[len(ordered) // 2] / 1000, ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] / 1000


def _time_batches(decide: Callable[[Any], Any], requests: list[Any], rounds: int, batch: int = BATCH) -> list[float]:
    # The collector stays on: a gateway runs with it, and its pauses belong in the p99.
    samples: list[float] = []
    count = len(requests)
    for n in range(rounds):
        start = (n * batch) % count
        chunk = requests[start : start + batch] or requests[:batch]
        t0 = time.perf_counter_ns()
        for request in chunk:
            decide(request)
        samples.append((time.perf_counter_ns() - t0) / len(chunk))
    return samples


# -- OPA ----------------------------------------------------------------------------------------------------------

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
	active
	cert_ok
	some s in ident.subjects
	some g in data.grants[s][input.target]
	type_ok(g)
	live(g)
	open_now(g)
})

identity_cond := "privileged" if ident.privileged else := "standard"

auth_cond := input.authentication if input.authentication in {"hardware", "software"} else := "none"

device_cond := h if h := data.devices[input.device] else := "unknown"

zone_known if {
	some cidr in data.zone_cidrs
	net.cidr_contains(cidr, input.source_ip)
}

network_cond := "known" if zone_known else := "unknown"

ip_country := c if {
	some e in data.ip_countries
	net.cidr_contains(e.cidr, input.source_ip)
	c := e.country
}

country := upper(input.country) if input.country else := ip_country

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
"""


def _intervals(window: dict[str, Any] | None) -> list[list[int]] | None:
    compiled = Window.compile(window)
    return None if compiled is None else [list(iv) for iv in compiled.intervals]


def opa_data(payload: dict[str, Any]) -> dict[str, Any]:
    """The bundle as OPA data, indexed the way a Rego author would (subject -> target -> grants), as ours is."""
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
            "expires": None
            if rule["expires_at"] is None
            else int(datetime.fromisoformat(rule["expires_at"].replace("Z", "+00:00")).timestamp()),
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
        "ip_countries": payload["ip_countries"],
    }


def _opa_input(request: DecisionRequest) -> dict[str, Any]:
    return {k: v for k, v in request._asdict().items() if v is not None}


# -- Cedar --------------------------------------------------------------------------------------------------------


def _cedar_str(value: str) -> str:
    return json.dumps(value)


def _cedar_condition(attribute: str, condition: str, payload: dict[str, Any]) -> str:
    """A Cedar boolean expression for 'condition holds' (the registry's evaluate functions, written in Cedar)."""
    if attribute == "identity":
        return "principal.privileged" if condition == "privileged" else "!principal.privileged"
    if attribute == "authentication":
        if condition == "none":
            return '!(context.authentication == "hardware" || context.authentication == "software")'
        return f"context.authentication == {_cedar_str(condition)}"
    if attribute == "device":
        return f'(if context.device has health then context.device.health else "unknown") == {_cedar_str(condition)}'
    if attribute == "network":
        cidrs = [c for z in payload["network_zones"] for c in z["cidrs"]]
        known = "(" + " || ".join(f'context.ip.isInRange(ip("{c}"))' for c in cidrs) + ")"
        return known if condition == "known" else f"!{known}"
    if attribute == "geography":
        by_country: dict[str, list[str]] = {}
        for entry in payload["ip_countries"]:
            by_country.setdefault(entry["country"], []).append(entry["cidr"])
        located = {
            c: "(" + " || ".join(f'context.ip.isInRange(ip("{cidr}"))' for cidr in cidrs) + ")"
            for c, cidrs in sorted(by_country.items())
        }
        in_country = {
            c: f"((context has country && context.country == {_cedar_str(c)}) || (!(context has country) && {e}))"
            for c, e in located.items()
        }
        known = "(context has country || " + " || ".join(located.values()) + ")"
        expected = (
            "(principal.expected.isEmpty() || "
            + " || ".join(f"({e} && principal.expected.contains({_cedar_str(c)}))" for c, e in in_country.items())
            + " || (context has country && principal.expected.contains(context.country)))"
        )
        return {
            "unknown": f"!{known}",
            "expected": f"({known} && {expected})",
            "anomalous": f"({known} && !{expected})",
        }[condition]
    if attribute == "trading_hours":
        # Cedar has no division or calendar functions: the request carries the UTC minute of the week.
        lo_hi = Window.compile(HOURS).intervals  # type: ignore[union-attr]
        inside = "(" + " || ".join(f"(context.mow >= {lo} && context.mow < {hi})" for lo, hi in lo_hi) + ")"
        return f"(principal.has_hours && {inside})" if condition == "inside" else f"(principal.has_hours && !{inside})"
    raise ValueError(f"no Cedar form for attribute {attribute!r}")


def cedar_policies(payload: dict[str, Any]) -> str:
    """One permit per access rule, and one forbid for the deny band whose condition computes the score."""
    parts = []
    for rule in payload["access_rules"]:
        subject = rule["subject"]
        principal = (
            f'principal == ZT::Identity::"{subject["id"]}"'
            if subject["kind"] == "identity"
            else f'principal in ZT::Subject::"{subject["kind"]}:{subject["id"]}"'
        )
        types = rule["message_types"]
        action = "action" if "*" in types else "action in [" + ", ".join(f'ZT::Action::"{t}"' for t in types) + "]"
        conditions = ['principal.status == "active"']
        if rule["expires_at"] is not None:
            expires = int(datetime.fromisoformat(rule["expires_at"].replace("Z", "+00:00")).timestamp())
            conditions.append(f"context.now < {expires}")
        if rule["window"] is not None:
            intervals = Window.compile(rule["window"]).intervals  # type: ignore[union-attr]
            conditions.append(
                "(" + " || ".join(f"(context.mow >= {a} && context.mow < {b})" for a, b in intervals) + ")"
            )
        parts.append(
            f'@id("{rule["id"]}")\npermit ({principal}, {action}, resource in ZT::Target::"{rule["target"]["id"]}")'
            f" when {{ {' && '.join(conditions)} }};"
        )
    terms = [
        f"(if {_cedar_condition(r['attribute'], r['condition'], payload)} then {r['score']} else 0)"
        for r in payload["risk_rules"]
        if r["enabled"] and r["score"] != 0
    ]
    score = " + ".join(terms) or "0"
    parts.append(
        f'@id("deny-band")\nforbid (principal, action, resource) when {{ {score} >= {payload["bands"]["deny"]} }};'
    )
    return "\n".join(parts)


def cedar_entities(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """Identities (parents: their desk, groups and roles), targets (resources under segments) and devices."""
    entities: list[dict[str, Any]] = []
    subjects: set[str] = set()
    for ident in payload["identities"]:
        parents = ([f"desk:{ident['desk']}"] if ident["desk"] else []) + [f"group:{g}" for g in ident["groups"]]
        parents += [f"role:{r}" for r in ident["roles"]]
        subjects.update(parents)
        entities.append(
            {
                "uid": {"type": "ZT::Identity", "id": ident["id"]},
                "attrs": {
                    "status": ident["status"],
                    "privileged": ident["privileged"],
                    "expected": ident["expected_countries"],
                    "has_hours": ident["trading_hours"] is not None,
                },
                "parents": [{"type": "ZT::Subject", "id": p} for p in parents],
            }
        )
    entities += [{"uid": {"type": "ZT::Subject", "id": s}, "attrs": {}, "parents": []} for s in sorted(subjects)]
    for segment in payload["segments"]:
        entities.append({"uid": {"type": "ZT::Target", "id": segment["id"]}, "attrs": {}, "parents": []})
        for resource in segment["resources"]:
            parent = [{"type": "ZT::Target", "id": segment["id"]}]
            entities.append({"uid": {"type": "ZT::Target", "id": resource["id"]}, "attrs": {}, "parents": parent})
    for device in payload["devices"]:
        entities.append(
            {"uid": {"type": "ZT::Device", "id": device["id"]}, "attrs": {"health": device["health"]}, "parents": []}
        )
    for message_type in MESSAGE_TYPES:
        entities.append({"uid": {"type": "ZT::Action", "id": message_type}, "attrs": {}, "parents": []})
    return entities


def _cedar_request(request: DecisionRequest) -> dict[str, Any]:
    when = int(request.time or 0)
    context: dict[str, Any] = {
        "authentication": request.authentication,
        "device": {"__entity": {"type": "ZT::Device", "id": request.device or ""}},
        "ip": {"__extn": {"fn": "ip", "arg": request.source_ip}},
        "now": when,
        "mow": (when // 60 + 4320) % 10080,
    }
    if request.country:
        context["country"] = request.country.upper()
    return {
        "principal": {"type": "ZT::Identity", "id": request.identity},
        "action": {"type": "ZT::Action", "id": request.message_type},
        "resource": {"type": "ZT::Target", "id": request.target},
        "context": context,
    }


# -- the run ------------------------------------------------------------------------------------------------------


def _anchor(
    name: str,
    budget_ratio: float,
    ours_p50_us: float,
    setup: Callable[[], Callable[[DecisionRequest], Any]],
    compare: Callable[[Decision, Any], bool],
    requests: list[DecisionRequest],
    expected: list[Decision],
    what: str,
) -> list[Result]:
    try:
        decide = setup()
        answers = [decide(r) for r in requests]
    except ImportError as exc:
        return [Result(f"{name}: not installed ({exc.name}); `make bench` installs it", "-", f">= {budget_ratio:.0f}x")]
    except Exception as exc:  # an anchor that breaks must not hide the other rows
        return [Result(f"{name}: failed: {type(exc).__name__}: {exc}"[:200], "-", f">= {budget_ratio:.0f}x", ok=False)]
    mismatches = [
        n for n, (ours, theirs) in enumerate(zip(expected, answers, strict=True)) if not compare(ours, theirs)
    ]
    samples = _time_batches(decide, requests, rounds=max(20, len(requests) // 5), batch=5)
    p50, p99 = _percentiles(samples)
    ratio = p50 / ours_p50_us
    first = f"; first mismatch #{mismatches[0]}: {requests[mismatches[0]]}" if mismatches else ""
    return [
        Result(
            f"{name}: decisions equal to ours ({what})",
            f"{len(requests) - len(mismatches)}/{len(requests)}{first}",
            "all",
            ok=not mismatches,
        ),
        Result(f"{name}: decision p50 / p99", f"{p50:.1f} us / {p99:.1f} us", "-"),
        Result(
            f"PEP speed-up over {name} (p50)",
            f"{ratio:.0f}x",
            f">= {budget_ratio:.0f}x",
            ratio=ratio,
            ok=ratio >= budget_ratio,
        ),
    ]


def _opa_setup(payload: dict[str, Any]) -> Callable[[], Callable[[DecisionRequest], Any]]:
    def setup() -> Callable[[DecisionRequest], Any]:
        from opa_bindings import OpaEngine

        engine = OpaEngine()
        engine.add_policy("ztc.rego", REGO)
        engine.add_data(opa_data(payload))
        evaluate = engine.eval_document
        return lambda request: evaluate("ztc.result", _opa_input(request))

    return setup


def _cedar_setup(payload: dict[str, Any]) -> Callable[[], Callable[[DecisionRequest], Any]]:
    def setup() -> Callable[[DecisionRequest], Any]:
        import cedarpy

        policies = cedarpy.PolicySet.from_str(cedar_policies(payload))
        entities = cedarpy.Entities.from_json_str(json.dumps(cedar_entities(payload)))
        authorize = cedarpy.is_authorized
        return lambda request: authorize(_cedar_request(request), policies, entities)

    return setup


def _cedar_equal(ours: Decision, theirs: Any) -> bool:
    # Cedar answers allow or deny only: our allow and step-up (access granted, score under the deny band) are its
    # Allow. A granted request over the deny band must be denied by the deny-band forbid.
    return (ours.outcome != DENY) == bool(theirs.allowed)


def run() -> list[Result]:
    """Build, sign, load, decide; then OPA and Cedar on the same policy and inputs."""
    policy = build_policy()
    key = generate_private_key()
    t0 = time.perf_counter()
    payload = build_payload(**policy)
    raw = bundle_bytes(sign_payload(payload, key))
    compile_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    verified = BundleVerifier(key_ring(key.public_key())).load(raw)
    verify_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    engine = Engine.from_bundle(verified)
    load_s = time.perf_counter() - t0

    requests = build_requests(payload, engine, SAMPLE)
    mix = {o: sum(engine.decide(r).outcome == o for r in requests) for o in ("allow", "step_up", "deny")}

    cold_samples: list[float] = []
    for _ in range(3):
        fresh = Engine.from_bundle(verified)
        cold_samples += _time_batches(fresh.decide, requests, rounds=SAMPLE // BATCH)
    cold_p50, cold_p99 = _percentiles(cold_samples)

    for request in requests:  # warm: the gateway has seen these sessions before
        engine.decide(request)
    p50, p99 = _percentiles(_time_batches(engine.decide, requests, rounds=ROUNDS))

    rows = [
        Result(
            f"PEP compile + sign ({IDENTITIES // 1000}k identities, {ACCESS_RULES // 1000}k rules,"
            f" {SEGMENTS} segments)",
            f"{compile_s:.2f} s ({len(raw) / 1e6:.1f} MB)",
            f"<= {BUDGET_COMPILE_S:.0f} s",
            ratio=compile_s / BUDGET_COMPILE_S,
            ok=compile_s <= BUDGET_COMPILE_S,
        ),
        Result("PEP bundle verify (signature + schema) / engine load", f"{verify_s:.2f} s / {load_s:.2f} s", "-"),
        Result(
            f"PEP decision p50 (mix of {SAMPLE} requests: {mix['allow']} allow, {mix['step_up']} step-up,"
            f" {mix['deny']} deny)",
            f"{p50:.2f} us",
            f"<= {BUDGET_P50_US} us",
            ratio=p50 / BUDGET_P50_US,
            ok=p50 <= BUDGET_P50_US,
        ),
        Result(
            "PEP decision p99",
            f"{p99:.2f} us",
            f"<= {BUDGET_P99_US} us",
            ratio=p99 / BUDGET_P99_US,
            ok=p99 <= BUDGET_P99_US,
        ),
        Result(
            "PEP decision p50 / p99, cold (each session seen for the first time)",
            f"{cold_p50:.2f} us / {cold_p99:.2f} us",
            "-",
        ),
    ]
    anchor_requests = requests[:ANCHOR_SAMPLE]
    expected = [engine.decide(r) for r in anchor_requests]
    rows += _anchor(
        "OPA (Rego, opa-golib-python-bindings)",
        BUDGET_OPA_RATIO,
        p50,
        _opa_setup(payload),
        lambda ours, theirs: (
            (ours.outcome, ours.score, ours.matched_rule) == (theirs["outcome"], theirs["score"], theirs["rule"])
        ),
        anchor_requests,
        expected,
        "outcome, score, rule",
    )
    rows += _anchor(
        "Cedar (cedarpy)",
        BUDGET_CEDAR_RATIO,
        p50,
        _cedar_setup(payload),
        _cedar_equal,
        anchor_requests,
        expected,
        "allow/deny",
    )
    return rows
