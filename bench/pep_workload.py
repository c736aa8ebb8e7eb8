"""The PEP benchmark's policy, its request stream, and the plain-Python evaluator used as the floor.

The stream is built the way a gateway sees traffic: distinct FIX sessions (identity, certificate,
authentication, device, source address, country override) open at times spread over a week, mostly during
trading hours, each to one target (mostly one its identity is granted), and send messages of several types
(mostly granted ones, plus a tail of what a gateway must refuse) over the minutes that follow. Requests are
in time order, so the first request of every
session is a cold decision for an enforcement point and the others are warm.
"""

from __future__ import annotations

import random
import socket
from datetime import UTC, datetime
from typing import Any, NamedTuple

from pep.builder import SEED_RISK_RULES
from pep.engine import DecisionRequest
from pep.model import Window

IDENTITIES = 10_000
ACCESS_RULES = 5_000
SEGMENTS = 200
SESSIONS = 60_000
REQUESTS = 120_000

MESSAGE_TYPES = ("R", "S", "D", "AI", "Z")
COUNTRIES = ("GB", "US", "DE", "FR", "CH", "JP", "SG", "HK", "RU", "BR")
# One trading-hours window for everyone who has one, and one window shape for access rules: Cedar has no
# calendar arithmetic, so its policy can only express windows it is told about (see bench.pep_anchors). Our
# engine, the floor and the Rego policy take any window in any time zone.
HOURS = {"timezone": "UTC", "days": [0, 1, 2, 3, 4], "start": "07:00", "end": "18:00"}
RULE_WINDOW = {"timezone": "UTC", "days": [0, 1, 2, 3, 4], "start": "06:00", "end": "20:00"}
NOW = int(datetime(2026, 11, 23, tzinfo=UTC).timestamp())  # a Monday
EXTRA_RISK_RULES = (
    {"id": "device-non-compliant", "attribute": "device", "condition": "non_compliant", "score": 40},
    {"id": "device-unknown", "attribute": "device", "condition": "unknown", "score": 25},
    {"id": "outside-trading-hours", "attribute": "trading_hours", "condition": "outside", "score": 20},
    {"id": "geo-unknown", "attribute": "geography", "condition": "unknown", "score": 10, "enabled": False},
)


def _utc(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_policy(seed: int = 4, identities: int = IDENTITIES) -> dict[str, Any]:
    """Keyword arguments for :func:`pep.builder.build_payload`: the benchmark policy, deterministic per seed."""
    rnd = random.Random(seed)
    segments = [
        {
            "id": f"seg-{s:03d}",
            "resources": [{"id": f"seg-{s:03d}-r{r}", "address": f"10.9.{s}.{r}:9876"} for r in (0, 1)],
        }
        for s in range(SEGMENTS)
    ]
    people = []
    for n in range(identities):
        people.append(
            {
                "id": f"id-{n:05d}",
                "status": "suspended" if rnd.random() < 0.01 else "active",
                "privileged": rnd.random() < 0.05,
                "expected_countries": rnd.sample(COUNTRIES[:8], rnd.choice((1, 1, 2))),
                "trading_hours": HOURS if rnd.random() < 0.3 else None,
                "desk": f"desk-{n % 20:02d}",
                "groups": [f"group-{g:03d}" for g in rnd.sample(range(100), rnd.choice((0, 1, 2)))],
                "roles": [f"role-{r}" for r in rnd.sample(range(10), rnd.choice((0, 0, 1)))],
                # A tenth of the identities pin their certificate, as algorithms and gateways do.
                "certificates": [f"{n:064x}"] if n % 10 == 0 else [],
            }
        )
    health = ("managed_compliant",) * 17 + ("unmanaged", "non_compliant", "unknown")
    devices = {f"dev-{n:05d}": rnd.choice(health) for n in range(identities)}
    rules = []
    for n in range(ACCESS_RULES):
        if n < 4_000:
            subject = {"kind": "identity", "id": f"id-{rnd.randrange(identities):05d}"}
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
                else _utc(NOW + rnd.randrange(-5, 60) * 86400 + rnd.randrange(86400)),
            }
        )
    zones = {
        "corp-london": ["10.1.0.0/16", "192.168.10.0/24"],
        "corp-new-york": ["10.2.0.0/16", "172.16.0.0/12"],
        "corp-singapore": ["10.3.0.0/16"],
        "colo-ld4": ["198.51.100.0/24"],
        "vpn": ["100.64.0.0/10"],
        "corp-v6": ["2001:db8::/32"],
    }
    ip_countries = {f"{a}.{b}.0.0/16": COUNTRIES[(a * 7 + b) % len(COUNTRIES)] for a in range(20, 60) for b in (0, 16)}
    # A few more specific entries inside those ranges, so that longest-prefix matching is exercised.
    ip_countries.update(
        {f"{a}.{b}.7.0/24": COUNTRIES[(a + b) % len(COUNTRIES)] for a in range(20, 60, 3) for b in (0,)}
    )
    return {
        "environment": "bench",
        "version": 1,
        "issued_at": "2026-11-22T00:00:00Z",
        "identities": people,
        "devices": devices,
        "segments": segments,
        "access_rules": rules,
        "risk_rules": [*SEED_RISK_RULES, *EXTRA_RISK_RULES],
        "network_zones": zones,
        "ip_countries": ip_countries,
    }


class Workload(NamedTuple):
    """The request stream in time order, with which requests open a session (cold) and how many sessions."""

    requests: list[DecisionRequest]
    first: list[bool]
    sessions: int


def _reachable(payload: dict[str, Any]) -> dict[str, dict[str, set[str]]]:
    """identity -> target -> message types some access rule grants it (ignoring time), from the plain payload."""
    expand: dict[str, list[str]] = {}
    for segment in payload["segments"]:
        expand[segment["id"]] = [segment["id"], *(r["id"] for r in segment["resources"])]
        for resource in segment["resources"]:
            expand[resource["id"]] = [resource["id"]]
    by_subject: dict[str, dict[str, set[str]]] = {}
    for rule in payload["access_rules"]:
        subject = f"{rule['subject']['kind']}:{rule['subject']['id']}"
        types = set(MESSAGE_TYPES) if "*" in rule["message_types"] else set(rule["message_types"])
        for target in expand[rule["target"]["id"]]:
            by_subject.setdefault(subject, {}).setdefault(target, set()).update(types)
    reachable: dict[str, dict[str, set[str]]] = {}
    for ident in payload["identities"]:
        subjects = [f"identity:{ident['id']}", f"desk:{ident['desk']}"]
        subjects += [f"group:{g}" for g in ident["groups"]] + [f"role:{r}" for r in ident["roles"]]
        merged: dict[str, set[str]] = {}
        for subject in subjects:
            for target, types in by_subject.get(subject, {}).items():
                merged.setdefault(target, set()).update(types)
        reachable[ident["id"]] = merged
    return reachable


def build_workload(
    payload: dict[str, Any], sessions: int = SESSIONS, requests: int = REQUESTS, seed: int = 7
) -> Workload:
    """``sessions`` distinct session tuples sending ``requests`` requests in all, in time order."""
    rnd = random.Random(seed)
    ids = [i["id"] for i in payload["identities"]]
    certs = {i["id"]: i["certificates"] for i in payload["identities"]}
    expected = {i["id"]: i["expected_countries"] for i in payload["identities"]}
    reachable = _reachable(payload)
    targets = [s["id"] for s in payload["segments"]] + [r["id"] for s in payload["segments"] for r in s["resources"]]
    by_country: dict[str, list[str]] = {}
    for entry in payload["ip_countries"]:
        if entry["cidr"].endswith("/16"):
            by_country.setdefault(entry["country"], []).append(entry["cidr"])
    all_country_cidrs = sorted(c for cs in by_country.values() for c in cs)

    def address_in(cidr: str) -> str:
        a, b = cidr.split(".")[:2]
        return f"{a}.{b}.{rnd.choice((7, rnd.randrange(256)))}.{rnd.randrange(1, 255)}"

    tuples: set[tuple[Any, ...]] = set()
    opened: list[tuple[tuple[Any, ...], int]] = []
    while len(opened) < sessions:
        identity = rnd.choice(ids)
        roll = rnd.random()
        if roll < 0.45:
            ip = f"10.{rnd.choice((1, 2, 3))}.{rnd.randrange(256)}.{rnd.randrange(1, 255)}"
        elif roll < 0.50:
            ip = f"2001:db8:{rnd.randrange(65536):x}::{rnd.randrange(1, 65536):x}"
        elif roll < 0.85:
            ip = address_in(rnd.choice(by_country[rnd.choice(expected[identity])]))
        elif roll < 0.95:
            ip = address_in(rnd.choice(all_country_cidrs))
        else:
            ip = f"203.0.113.{rnd.randrange(1, 255)}"
        pinned = certs[identity]
        fingerprint = (pinned[0] if rnd.random() < 0.97 else "ee" * 32) if pinned else None
        key = (
            identity,
            fingerprint,
            rnd.choices(("hardware", "software", "none"), (6, 3, 1))[0],
            f"dev-{identity[3:]}" if rnd.random() < 0.95 else f"dev-x{rnd.randrange(100)}",
            ip,
            rnd.choice(COUNTRIES) if rnd.random() < 0.03 else None,
        )
        if key in tuples:
            continue
        tuples.add(key)
        # Sessions open over a week, four in five on a weekday between 07:00 and 18:00 UTC.
        if rnd.random() < 0.8:
            start = NOW + rnd.randrange(5) * 86400 + rnd.randrange(7 * 3600, 18 * 3600)
        else:
            start = NOW + rnd.randrange(7 * 86400)
        opened.append((key, start))

    events: list[tuple[int, int, str, str]] = []
    # Every session sends one request at its start; the rest go to sessions chosen with a skew (a few busy ones).
    extra = [min(int(rnd.paretovariate(1.3)), 200) for _ in opened]
    scale = (requests - sessions) / max(1, sum(extra))
    counts = [1 + int(e * scale) for e in extra]
    for n in rnd.sample(range(len(opened)), max(0, requests - sum(counts))):
        counts[n] += 1
    for n, ((key, start), count) in enumerate(zip(opened, counts, strict=True)):
        # A FIX session is a connection to one venue: its target is fixed, its messages vary in type.
        granted = reachable[key[0]]
        if granted and rnd.random() < 0.85:
            target = rnd.choice(sorted(granted))
            types = sorted(granted[target])
        else:
            target, types = rnd.choice(targets), []
        at = start
        for _ in range(count):
            message_type = rnd.choice(types) if types and rnd.random() < 0.9 else rnd.choice(MESSAGE_TYPES)
            events.append((at, n, target, message_type))
            at += int(rnd.expovariate(1 / 90))  # a message every minute and a half on average
    events.sort()
    seen: set[int] = set()
    stream: list[DecisionRequest] = []
    first: list[bool] = []
    for at, n, target, message_type in events:
        identity, fingerprint, authentication, device, ip, country = opened[n][0]
        stream.append(
            DecisionRequest(
                identity=identity,
                target=target,
                message_type=message_type,
                authentication=authentication,
                device=device,
                source_ip=ip,
                country=country,
                certificate_fingerprint=fingerprint,
                time=at,
            )
        )
        first.append(n not in seen)
        seen.add(n)
    return Workload(stream, first, len(opened))


# -- the floor: a plain evaluator of the same policy --------------------------------------------------------------


class PlainEvaluator:
    """The policy as a straightforward Python function: dict lookups and a sum, no caches.

    It is what a competent engineer writes first: identities with their grants merged per target, the risk table
    as a dict, longest-prefix matching over per-prefix-length dicts of integer addresses. It answers
    ``(outcome, score, matched rule)`` and builds no explanation. It is the floor the engine is held to.
    """

    def __init__(self, payload: dict[str, Any]) -> None:
        expand: dict[tuple[str, str], list[str]] = {}
        for segment in payload["segments"]:
            expand[("segment", segment["id"])] = [segment["id"], *(r["id"] for r in segment["resources"])]
            for resource in segment["resources"]:
                expand[("resource", resource["id"])] = [resource["id"]]
        by_subject: dict[tuple[str, str], dict[str, list[tuple[Any, ...]]]] = {}
        for rule in payload["access_rules"]:
            types = None if "*" in rule["message_types"] else frozenset(rule["message_types"])
            expires = (
                None
                if rule["expires_at"] is None
                else int(datetime.fromisoformat(rule["expires_at"].replace("Z", "+00:00")).timestamp())
            )
            grant = (rule["id"], types, expires, Window.compile(rule["window"]))
            for target in expand[(rule["target"]["kind"], rule["target"]["id"])]:
                by_subject.setdefault((rule["subject"]["kind"], rule["subject"]["id"]), {}).setdefault(
                    target, []
                ).append(grant)
        self.identities: dict[str, tuple[Any, ...]] = {}
        for ident in payload["identities"]:
            subjects = [("identity", ident["id"])] + ([("desk", ident["desk"])] if ident["desk"] else [])
            subjects += [("group", g) for g in ident["groups"]] + [("role", r) for r in ident["roles"]]
            grants: dict[str, list[tuple[Any, ...]]] = {}
            for subject in subjects:
                for target, gs in by_subject.get(subject, {}).items():
                    grants.setdefault(target, []).extend(gs)
            for gs in grants.values():
                gs.sort()
            self.identities[ident["id"]] = (
                ident["status"] == "active",
                "privileged" if ident["privileged"] else "standard",
                frozenset(ident["expected_countries"]),
                Window.compile(ident["trading_hours"]),
                grants,
                frozenset(ident["certificates"]),
            )
        self.devices = {d["id"]: d["health"] for d in payload["devices"]}
        self.risk: dict[tuple[str, str], int] = {}
        for rule in payload["risk_rules"]:
            if rule["enabled"]:
                key = (rule["attribute"], rule["condition"])
                self.risk[key] = self.risk.get(key, 0) + rule["score"]
        self.step_up, self.deny = payload["bands"]["step_up"], payload["bands"]["deny"]
        self.zones = self._tables([(c, z["id"]) for z in payload["network_zones"] for c in z["cidrs"]])
        self.countries = self._tables([(e["cidr"], e["country"]) for e in payload["ip_countries"]])

    @staticmethod
    def _tables(entries: list[tuple[str, str]]) -> dict[int, list[tuple[int, dict[int, str]]]]:
        import ipaddress

        tables: dict[tuple[int, int], dict[int, str]] = {}
        for cidr, value in entries:
            net = ipaddress.ip_network(cidr)
            shift = net.max_prefixlen - net.prefixlen
            tables.setdefault((net.version, shift), {}).setdefault(int(net.network_address) >> shift, value)
        return {
            v: [(shift, t) for (ver, shift), t in sorted(tables.items(), key=lambda kv: kv[0][1]) if ver == v]
            for v in (4, 6)
        }

    @staticmethod
    def _lookup(tables: list[tuple[int, dict[int, str]]], address: int) -> str | None:
        for shift, table in tables:
            value = table.get(address >> shift)
            if value is not None:
                return value
        return None

    def decide(self, r: DecisionRequest) -> tuple[str, int, str | None]:
        ident = self.identities.get(r.identity)
        if ident is None or not ident[0]:
            return ("deny", 0, None)
        _, kind, expected, hours, grants, certs = ident
        if certs and (r.certificate_fingerprint or "").lower() not in certs:
            return ("deny", 0, None)
        zone = country = None
        if r.source_ip is not None:
            try:
                if ":" in r.source_ip:
                    packed = socket.inet_pton(socket.AF_INET6, r.source_ip)
                    if packed[:12] == b"\0" * 10 + b"\xff\xff":
                        version, address = 4, int.from_bytes(packed[12:], "big")
                    else:
                        version, address = 6, int.from_bytes(packed, "big")
                else:
                    version, address = 4, int.from_bytes(socket.inet_pton(socket.AF_INET, r.source_ip), "big")
            except OSError:
                return ("deny", 0, None)
            zone = self._lookup(self.zones[version], address)
            country = self._lookup(self.countries[version], address)
        if r.country:
            country = r.country.upper()
        risk = self.risk
        auth = r.authentication if r.authentication in ("hardware", "software") else "none"
        geo = "unknown" if country is None else "expected" if not expected or country in expected else "anomalous"
        score = (
            risk.get(("identity", kind), 0)
            + risk.get(("authentication", auth), 0)
            + risk.get(("device", self.devices.get(r.device, "unknown") if r.device else "unknown"), 0)
            + risk.get(("network", "unknown" if zone is None else "known"), 0)
            + risk.get(("geography", geo), 0)
        )
        now = r.time
        if hours is not None:
            score += risk.get(("trading_hours", "inside" if hours.contains(now) else "outside"), 0)
        matched = None
        for rule_id, types, expires, window in grants.get(r.target, ()):
            if types is not None and r.message_type not in types:
                continue
            if expires is not None and now >= expires:
                continue
            if window is not None and not window.contains(now):
                continue
            matched = rule_id
            break
        if matched is None:
            return ("deny", score, None)
        return ("deny" if score >= self.deny else "step_up" if score >= self.step_up else "allow", score, matched)
