"""The decision engine: a verified bundle compiled into flat lookups, and ``decide`` on top of them.

Least privilege first: without an access rule granting the identity the target (and the FIX message type) the
answer is deny, whatever the score. Otherwise the score is the sum of the enabled risk rules whose attribute
condition holds (see :mod:`pep.attributes`) and the bands turn it into allow, step-up or deny.

Speed comes from doing the work once: identity-scoped risk at load time, session-scoped risk once per distinct
session tuple, and whole decisions cached per session, target and message type whenever nothing in them depends on
the clock. Cached :class:`Decision` objects are shared, hence immutable.
"""

from __future__ import annotations

import ipaddress
import time as _time
from collections.abc import Mapping
from datetime import datetime
from typing import Any, NamedTuple

from pep.attributes import ATTRIBUTES, RiskAttribute, Scope
from pep.bundle import VerifiedBundle, validate_payload
from pep.model import IdentityRecord, Signals, Window

ALLOW = "allow"
STEP_UP = "step_up"
DENY = "deny"
OUTCOMES = (ALLOW, STEP_UP, DENY)

# Bounds on the caches: they are dropped wholesale when full (cheap, and self-healing under a flood of distinct
# attacker-chosen inputs), never evicted entry by entry on the hot path.
SESSION_CACHE_LIMIT = 262_144
TARGETS_PER_SESSION_LIMIT = 1024


class Contribution(NamedTuple):
    """One matched, enabled risk rule and what it added to the score."""

    rule_id: str
    attribute: str
    condition: str
    score: int


class DecisionRequest(NamedTuple):
    """The input of a decision (docs/bundle.md, "Decision request"). ``time`` is seconds since 1970 UTC."""

    identity: str
    target: str
    message_type: str
    authentication: str = "none"
    device: str | None = None
    source_ip: str | None = None
    country: str | None = None
    certificate_fingerprint: str | None = None
    time: float | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DecisionRequest:
        """Build from the JSON request format; ``time`` may be epoch seconds or ISO 8601 with an offset."""
        unknown = set(data) - set(cls._fields)
        if unknown:
            raise ValueError(f"unknown request fields: {', '.join(sorted(unknown))}")
        missing = [f for f in ("identity", "target", "message_type") if not data.get(f)]
        if missing:
            raise ValueError(f"missing request fields: {', '.join(missing)}")
        when = data.get("time")
        if isinstance(when, str):
            parsed = datetime.fromisoformat(when.replace("Z", "+00:00"))
            if parsed.tzinfo is None:
                raise ValueError("request time needs a UTC offset (e.g. 2026-11-23T09:30:00Z)")
            when = parsed.timestamp()
        elif when is not None and (isinstance(when, bool) or not isinstance(when, int | float)):
            raise ValueError("request time must be epoch seconds or an ISO 8601 string")
        auth = data.get("authentication", "none")
        if auth not in ("hardware", "software", "none"):
            raise ValueError("authentication must be hardware, software or none")
        fields = {f: data.get(f) for f in cls._fields if f not in ("time", "authentication")}
        return cls(**fields, authentication=auth, time=when)


class Decision:
    """The answer, with its explanation. ``contributions`` sum to ``score``; ``matched_rule`` is the access rule
    that granted the target, or None when access was not granted.

    ``reason`` is formatted on first read: most decisions at a gateway are enforced, not explained, and string
    formatting would otherwise be the most expensive step of a decision.
    """

    __slots__ = ("_reason", "bundle_version", "contributions", "matched_rule", "outcome", "score")

    def __init__(
        self,
        outcome: str,
        score: int,
        contributions: tuple[Contribution, ...],
        matched_rule: str | None,
        reason: str | tuple[Any, ...],
        bundle_version: int,
    ) -> None:
        self.outcome = outcome
        self.score = score
        self.contributions = contributions
        self.matched_rule = matched_rule
        self._reason = reason
        self.bundle_version = bundle_version

    @property
    def reason(self) -> str:
        """Why: the granting rule and the band, or why access was refused."""
        reason = self._reason
        if isinstance(reason, tuple):
            reason = self._reason = _explain(self, *reason)
        return reason

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, as ``python -m pep decide`` prints it."""
        return {
            "outcome": self.outcome,
            "score": self.score,
            "contributions": [c._asdict() for c in self.contributions],
            "matched_rule": self.matched_rule,
            "reason": self.reason,
            "bundle_version": self.bundle_version,
        }

    def __repr__(self) -> str:
        return f"Decision({self.outcome}, score={self.score}, rule={self.matched_rule}, v{self.bundle_version})"


def _explain(
    decision: Decision,
    identity: str,
    target: str,
    message_type: str,
    step_up: int,
    deny: int,
    refusals: tuple[str, ...],
) -> str:
    if decision.matched_rule is None:
        why = "; ".join(refusals) if refusals else "no access rule grants it (default deny)"
        return f"{identity} may not send {message_type} to {target}: {why}"
    granted = f"access rule {decision.matched_rule} grants {message_type} to {target}"
    score = decision.score
    if score >= deny:
        return f"{granted}; score {score} >= {deny}: deny and alert"
    if score >= step_up:
        return f"{granted}; score {score} in {step_up}..{deny - 1}: step-up MFA"
    return f"{granted}; score {score} < {step_up}: allow"


class Grant(NamedTuple):
    """An access rule as it applies to one target. ``message_types`` None means every type."""

    rule_id: str
    message_types: frozenset[str] | None
    expires_at: int | None
    window: Window | None

    @property
    def static(self) -> bool:
        """Whether the grant's answer cannot change with the clock."""
        return self.expires_at is None and self.window is None


_NOTHING: tuple[int, tuple[Contribution, ...]] = (0, ())


class _Session:
    """Cached per distinct session tuple: the identity, its session risk, and decisions that ignore the clock."""

    __slots__ = ("contributions", "decisions", "denied", "identity", "score")

    def __init__(self) -> None:
        self.identity: IdentityRecord | None = None
        self.score = 0
        self.contributions: tuple[Contribution, ...] = ()
        self.denied: Decision | None = None
        self.decisions: dict[str, dict[str, Decision]] = {}


class _PrefixTable:
    """Longest-prefix match over CIDRs: one dict per prefix length, probed from the longest length down."""

    def __init__(self, entries: list[tuple[str, str]]) -> None:
        tables: dict[tuple[int, int], dict[int, str]] = {}
        for cidr, value in entries:
            net = ipaddress.ip_network(cidr)
            key = (net.version, net.prefixlen)
            # The first value wins for a CIDR listed twice (entries arrive sorted, so this is deterministic).
            tables.setdefault(key, {}).setdefault(
                int(net.network_address) >> (net.max_prefixlen - net.prefixlen), value
            )
        self._by_version: dict[int, list[tuple[int, dict[int, str]]]] = {4: [], 6: []}
        for (version, prefixlen), table in sorted(tables.items(), key=lambda kv: -kv[0][1]):
            shift = (32 if version == 4 else 128) - prefixlen
            self._by_version[version].append((shift, table))

    def lookup(self, version: int, address: int) -> str | None:
        """The value of the most specific CIDR containing ``address``, or None."""
        for shift, table in self._by_version[version]:
            value = table.get(address >> shift)
            if value is not None:
                return value
        return None


def _rule_id(grant: Grant) -> str:
    return grant.rule_id


def _epoch(text: str | None) -> int | None:
    if text is None:
        return None
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


class Engine:
    """A compiled bundle. Build with :meth:`from_bundle`; ``decide`` is safe to call from many threads."""

    def __init__(self, payload: Mapping[str, Any], *, sha256: str | None = None) -> None:
        self.environment: str = payload["environment"]
        self.version: int = payload["version"]
        self.sha256 = sha256
        self.step_up: int = payload["bands"]["step_up"]
        self.deny: int = payload["bands"]["deny"]
        self._compile_risk(payload["risk_rules"])
        self._devices: dict[str, str] = {d["id"]: d["health"] for d in payload["devices"]}
        self._zones = _PrefixTable([(c, z["id"]) for z in payload["network_zones"] for c in z["cidrs"]])
        self._countries = _PrefixTable([(e["cidr"], e["country"]) for e in payload["ip_countries"]])
        self._ip_cache: dict[str, tuple[str | None, str | None] | None] = {}
        self._identities = self._compile_identities(payload)
        self._sessions: dict[tuple[Any, ...], _Session] = {}

    # -- construction ---------------------------------------------------------------------------------------------

    @classmethod
    def from_bundle(cls, bundle: VerifiedBundle) -> Engine:
        """Compile a verified bundle (see :class:`pep.bundle.BundleVerifier`)."""
        return cls(bundle.payload, sha256=bundle.sha256)

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any], *, validate: bool = True) -> Engine:
        """Compile an unsigned payload, e.g. a draft in the console's simulator; validated unless told not to."""
        if validate:
            validate_payload(dict(payload))
        return cls(payload)

    def _compile_risk(self, rules: list[dict[str, Any]]) -> None:
        tables: dict[str, dict[str, tuple[int, tuple[Contribution, ...]]]] = {name: {} for name in ATTRIBUTES}
        for rule in rules:
            if not rule["enabled"]:
                continue
            table = tables[rule["attribute"]]
            score, contributions = table.get(rule["condition"], (0, ()))
            contribution = Contribution(rule["id"], rule["attribute"], rule["condition"], rule["score"])
            table[rule["condition"]] = (score + rule["score"], (*contributions, contribution))
        self._risk_tables = tables
        by_scope: dict[Scope, list[tuple[RiskAttribute, dict[str, tuple[int, tuple[Contribution, ...]]]]]] = {
            scope: [] for scope in Scope
        }
        for name, attribute in ATTRIBUTES.items():
            by_scope[attribute.scope].append((attribute, tables[name]))
        self._identity_attrs = by_scope[Scope.IDENTITY]
        self._session_attrs = by_scope[Scope.SESSION]
        self._time_attrs = by_scope[Scope.TIME]

    def _compile_identities(self, payload: Mapping[str, Any]) -> dict[str, IdentityRecord]:
        expand: dict[tuple[str, str], tuple[str, ...]] = {}
        for segment in payload["segments"]:
            # A rule on a segment covers the segment and each of its resources; requests may name either.
            expand[("segment", segment["id"])] = (segment["id"], *(r["id"] for r in segment["resources"]))
            for resource in segment["resources"]:
                expand[("resource", resource["id"])] = (resource["id"],)
        per_subject: dict[tuple[str, str], dict[str, list[Grant]]] = {}
        for rule in payload["access_rules"]:  # sorted by id, so grants are tried in rule-id order
            types = None if "*" in rule["message_types"] else frozenset(rule["message_types"])
            grant = Grant(rule["id"], types, _epoch(rule["expires_at"]), Window.compile(rule["window"]))
            targets = per_subject.setdefault((rule["subject"]["kind"], rule["subject"]["id"]), {})
            for target in expand[(rule["target"]["kind"], rule["target"]["id"])]:
                targets.setdefault(target, []).append(grant)
        frozen = {key: {t: tuple(gs) for t, gs in targets.items()} for key, targets in per_subject.items()}

        identities: dict[str, IdentityRecord] = {}
        merged_by_keys: dict[tuple[tuple[str, str], ...], dict[str, tuple[Grant, ...]]] = {}
        for item in payload["identities"]:
            record = IdentityRecord(
                id=item["id"],
                status=item["status"],
                privileged=item["privileged"],
                expected_countries=frozenset(item["expected_countries"]),
                trading_hours=Window.compile(item["trading_hours"]),
                desk=item["desk"],
                groups=tuple(item["groups"]),
                roles=tuple(item["roles"]),
                certificates=frozenset(item["certificates"]),
            )
            keys = [("identity", record.id)]
            if record.desk is not None:
                keys.append(("desk", record.desk))
            keys += [("group", g) for g in record.groups] + [("role", r) for r in record.roles]
            reachable = tuple(k for k in keys if k in frozen)
            grants = merged_by_keys.get(reachable)
            if grants is None:
                # Identities with the same memberships share one read-only dict: most differ only by desk.
                grants = dict(frozen[reachable[0]]) if reachable else {}
                for key in reachable[1:]:
                    for target, gs in frozen[key].items():
                        previous = grants.get(target)
                        grants[target] = gs if previous is None else tuple(sorted(previous + gs, key=_rule_id))
                merged_by_keys[reachable] = grants
            record.grants = grants
            score, contributions = 0, ()
            for attribute, table in self._identity_attrs:
                condition = attribute.evaluate(record)
                if condition is not None:
                    s, c = table.get(condition, (0, ()))
                    score, contributions = score + s, contributions + c
            record.base_score, record.base_contributions = score, contributions
            record.time_attributes = tuple((a, t) for a, t in self._time_attrs if a.applies(record))
            identities[record.id] = record
        return identities

    def identity(self, identity_id: str) -> IdentityRecord | None:
        """The compiled identity (its grants, flags and base risk), for the simulator and tooling."""
        return self._identities.get(identity_id)

    # -- lookups --------------------------------------------------------------------------------------------------

    def locate(self, source_ip: str | None) -> tuple[str | None, str | None] | None:
        """``(network zone, country)`` of an address from the bundle's tables; None if it is not an IP address."""
        if source_ip is None:
            return (None, None)
        found = self._ip_cache.get(source_ip, False)
        if found is not False:
            return found  # type: ignore[return-value]
        try:
            address = ipaddress.ip_address(source_ip)
        except ValueError:
            found = None
        else:
            if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
                address = address.ipv4_mapped  # ::ffff:a.b.c.d from dual-stack sockets is the IPv4 peer
            value = int(address)
            found = (self._zones.lookup(address.version, value), self._countries.lookup(address.version, value))
        if len(self._ip_cache) > SESSION_CACHE_LIMIT:
            self._ip_cache.clear()
        self._ip_cache[source_ip] = found
        return found

    def _deny(self, reason: str) -> Decision:
        return Decision(DENY, 0, (), None, reason, self.version)

    def _open_session(self, key: tuple[Any, ...], request: Any) -> _Session:
        session = _Session()
        identity = self._identities.get(request.identity)
        if identity is None:
            session.denied = self._deny(f"unknown identity {request.identity!r}")
        elif identity.status != "active":
            session.denied = self._deny(f"identity {identity.id!r} is {identity.status}")
        elif identity.certificates and (request.certificate_fingerprint or "").lower() not in identity.certificates:
            session.denied = self._deny(f"certificate is not bound to identity {identity.id!r}")
        else:
            located = self.locate(request.source_ip)
            if located is None:
                session.denied = self._deny(f"source IP {request.source_ip!r} is not an IP address")
            else:
                zone, ip_country = located
                signals = Signals(
                    identity=identity,
                    request=request,
                    device_health=self._devices.get(request.device, "unknown") if request.device else "unknown",
                    zone=zone,
                    ip_country=ip_country,
                    country=request.country.upper() if request.country else ip_country,
                )
                score, contributions = identity.base_score, identity.base_contributions
                for attribute, table in self._session_attrs:
                    condition = attribute.evaluate(signals)
                    if condition is not None:
                        s, c = table.get(condition, (0, ()))
                        score, contributions = score + s, contributions + c
                session.identity, session.score, session.contributions = identity, score, contributions
        if len(self._sessions) > SESSION_CACHE_LIMIT:
            self._sessions.clear()
        self._sessions[key] = session
        return session

    # -- deciding -------------------------------------------------------------------------------------------------

    def decide(self, request: Any) -> Decision:
        """Decide one request (a :class:`DecisionRequest` or anything with the same attributes)."""
        session = self._sessions.get(
            (
                request.identity,
                request.certificate_fingerprint,
                request.authentication,
                request.device,
                request.source_ip,
                request.country,
            )
        )
        if session is None:
            session = self._open_session(
                (
                    request.identity,
                    request.certificate_fingerprint,
                    request.authentication,
                    request.device,
                    request.source_ip,
                    request.country,
                ),
                request,
            )
        if session.denied is not None:
            return session.denied
        by_type = session.decisions.get(request.target)
        if by_type is not None:
            decision = by_type.get(request.message_type)
            if decision is not None:
                return decision
        return self._decide(session, request)

    def _decide(self, session: _Session, request: Any) -> Decision:
        identity = session.identity
        assert identity is not None
        score, contributions = session.score, session.contributions
        now = request.time
        time_attrs = identity.time_attributes
        if time_attrs:
            if now is None:
                now = _time.time()
            for attribute, table in time_attrs:
                condition = attribute.evaluate(identity, now)
                if condition is not None:
                    s, c = table.get(condition, _NOTHING)
                    score, contributions = score + s, contributions + c
        target = request.target
        message_type = request.message_type
        grants = identity.grants.get(target, ())
        matched: str | None = None
        refusals: tuple[str, ...] = ()
        cacheable = not time_attrs
        for grant in grants:
            if grant.message_types is not None and message_type not in grant.message_types:
                continue
            if grant.expires_at is not None or grant.window is not None:
                cacheable = False
                if now is None:
                    now = _time.time()
                if grant.expires_at is not None and now >= grant.expires_at:
                    refusals += (f"access rule {grant.rule_id} has expired",)
                    continue
                if grant.window is not None and not grant.window.contains(now):
                    refusals += (f"outside the window of access rule {grant.rule_id}",)
                    continue
            matched = grant.rule_id
            break
        if matched is None:
            outcome = DENY
        else:
            outcome = DENY if score >= self.deny else STEP_UP if score >= self.step_up else ALLOW
        explain = (identity.id, target, message_type, self.step_up, self.deny, refusals)
        decision = Decision(outcome, score, contributions, matched, explain, self.version)
        if cacheable:
            # Every grant looked at was clock-free (a match stops the scan, so later grants cannot change it).
            decisions = session.decisions
            if target in decisions or len(decisions) < TARGETS_PER_SESSION_LIMIT:
                decisions.setdefault(target, {})[message_type] = decision
        return decision

    def band(self, score: int) -> str:
        """The outcome the bands give a score (when access is granted)."""
        return DENY if score >= self.deny else STEP_UP if score >= self.step_up else ALLOW
