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
from collections.abc import Callable, Mapping
from datetime import datetime
from operator import attrgetter, itemgetter
from socket import AF_INET as _AF_INET
from socket import AF_INET6 as _AF_INET6
from socket import inet_pton as _inet_pton
from sys import intern as _intern
from typing import Any, NamedTuple

from pep.attributes import ATTRIBUTES, RiskAttribute, Scope
from pep.bundle import VerifiedBundle, collector_paused, validate_payload
from pep.model import IdentityRecord, Signals, Window

ALLOW = "allow"
STEP_UP = "step_up"
DENY = "deny"
OUTCOMES = (ALLOW, STEP_UP, DENY)

# Bounds on the caches: they are dropped wholesale when full (cheap, and self-healing under a flood of distinct
# attacker-chosen inputs), never evicted entry by entry on the hot path.
SESSION_CACHE_LIMIT = 262_144
PAIRS_PER_SESSION_LIMIT = 1024  # (target, message type) decisions kept per session


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


class Decision(NamedTuple):
    """The answer, with its explanation. ``contributions`` sum to ``score``; ``matched_rule`` is the access rule
    that granted the target, or None when access was not granted.

    A named tuple because one is built (in C) on every decision that is not cached. ``reason`` is formatted when
    read: most decisions at a gateway are enforced, not explained, and string formatting would otherwise be the
    most expensive step of a decision. ``explanation`` is the reason itself when the engine gave it as text (a
    session refused before any grant was looked at), else the refusals met while trying the grants; the reason
    is then formatted from them, the request fields and the ``bands`` (step-up, deny). One tuple holds it all, so
    that a new decision is one object for the collector. ``valid_from`` / ``valid_until`` (epoch seconds, None
    when the answer does not depend on the clock) bound the times for which the engine gives the same decision
    again.
    """

    outcome: str
    score: int
    contributions: tuple[Contribution, ...]
    matched_rule: str | None
    explanation: str | tuple[str, ...]
    bundle_version: int
    valid_from: float | None = None
    valid_until: float | None = None
    identity: str | None = None
    target: str | None = None
    message_type: str | None = None
    bands: tuple[int, int] = (0, 0)

    @property
    def version(self) -> int:
        """The bundle version that decided (the same as ``bundle_version``)."""
        return self.bundle_version

    @property
    def reason(self) -> str:
        """Why: the granting rule and the band, or why access was refused."""
        explanation = self.explanation
        return explanation if isinstance(explanation, str) else _explain(self, explanation)

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


def _explain(decision: Decision, refusals: tuple[str, ...]) -> str:
    identity, target, message_type = decision.identity, decision.target, decision.message_type
    step_up, deny = decision.bands
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
_NEVER = float("inf")
_STALE = (_NEVER, -_NEVER, 0, ())  # a time attribute's last answer before the first: holds for no time
_V4_MAPPED = b"\0" * 10 + b"\xff\xff"
_from_bytes = int.from_bytes
_new_tuple = tuple.__new__


def _nothing_read(_: Any) -> None:
    return None


# A session is one tuple, (identity record, session risk, entry): the risk is (score, contributions), shared between
# sessions with the same risk, and the entry is the Decision of the one (target, message type) decided so far, or a
# dict (target, message type) -> Decision once there are several (a FIX session talks to one target; its message
# types vary). A session refused before any grant is looked at is (None, None, its denial): the denial names no
# target, so the warm path finds nothing in it and answers it on the way to _decide without a check of its own.
# Every object a cold decision leaves behind is one the cyclic collector counts and scans, and one more line of
# memory for the next cold decision to miss: there are three, the key, this tuple and the Decision.
_Session = tuple[IdentityRecord | None, tuple[int, tuple[Any, ...]] | None, Any]
_NO_LOCATION: tuple[None, None] = (None, None)
_OUTSIDE: tuple[tuple[None, None], tuple[Any, ...]] = (_NO_LOCATION, ())  # an IPv4 /16 no prefix touches


class _AddressTable:
    """Longest-prefix match of zones and countries together over integer addresses.

    One dict per prefix length (over the union of both tables' lengths), probed from the longest down. Each key
    holds the answer for both tables, resolved at build time: when the most specific prefix that contains an
    address is P, the zone (country) of the address is that of P's most specific enclosing zone (country) prefix,
    since every enclosing prefix of the address encloses P. So one pass answers both, and allocates nothing.
    """

    def __init__(self, zones: list[tuple[str, str]], countries: list[tuple[str, str]]) -> None:
        by_net: dict[tuple[int, int, int], list[str | None]] = {}
        for column, entries in ((0, zones), (1, countries)):
            for cidr, value in entries:
                net = ipaddress.ip_network(cidr)
                key = (net.version, net.prefixlen, int(net.network_address) >> (net.max_prefixlen - net.prefixlen))
                cell = by_net.setdefault(key, [None, None, False, False])  # type: ignore[list-item]
                if not cell[column + 2]:  # the first value wins for a CIDR listed twice (entries arrive sorted)
                    cell[column], cell[column + 2] = _intern(value), True  # type: ignore[call-overload]
        tables: dict[tuple[int, int], dict[int, tuple[str | None, str | None]]] = {}
        for version, length, prefix in by_net:
            answer = [None, None]
            for column in (0, 1):
                # the most specific prefix of this column enclosing (or equal to) this one
                for shorter in range(length, -1, -1):
                    enclosing = by_net.get((version, shorter, prefix >> (length - shorter)))
                    if enclosing is not None and enclosing[column + 2]:
                        answer[column] = enclosing[column]
                        break
            tables.setdefault((version, length), {})[prefix] = (answer[0], answer[1])
        self.v4: tuple[tuple[int, dict[int, tuple[str | None, str | None]]], ...] = tuple(
            (32 - length, table) for (version, length), table in sorted(tables.items(), reverse=True) if version == 4
        )
        self.v6: tuple[tuple[int, dict[int, tuple[str | None, str | None]]], ...] = tuple(
            (128 - length, table) for (version, length), table in sorted(tables.items(), reverse=True) if version == 6
        )
        # IPv4 in two steps, keyed by the address's top 16 bits: for each /16 that some prefix touches, the answer
        # of the most specific prefix of /16 or shorter that contains it, and the tables of the longer prefixes
        # that have entries inside it (empty for most); an address in no /16 that any prefix touches gets
        # _OUTSIDE. A dict of the /16s in use (at most 65,536, for a /0) rather than two lists of all of them:
        # as fast on the benchmark's tables, and 1 MB less per loaded bundle.
        answers: dict[int, tuple[str | None, str | None]] = {}
        deeper_lengths: dict[int, set[int]] = {}
        for (version, length), table in sorted(tables.items()):
            if version != 4:
                continue
            if length <= 16:
                for prefix, answer in table.items():
                    first = prefix << (16 - length)
                    for bucket in range(first, first + (1 << (16 - length))):
                        answers[bucket] = answer
            else:
                for prefix in table:
                    deeper_lengths.setdefault(prefix >> (length - 16), set()).add(length)
        v4: dict[int, tuple[tuple[str | None, str | None], tuple[tuple[int, dict[int, Any]], ...]]] = {
            bucket: (answer, ()) for bucket, answer in answers.items()
        }
        for bucket, lengths in deeper_lengths.items():
            deeper = tuple((32 - length, tables[(4, length)]) for length in sorted(lengths, reverse=True))
            v4[bucket] = (answers.get(bucket, _NO_LOCATION), deeper)
        self.v4_buckets = v4

    def lookup(self, version: int, address: int) -> tuple[str | None, str | None]:
        """``(zone, country)`` of the most specific prefixes containing ``address`` (None where none does)."""
        for shift, table in self.v4 if version == 4 else self.v6:
            found = table.get(address >> shift)
            if found is not None:
                return found
        return _NO_LOCATION


_rule_id = itemgetter(0)  # Grant.rule_id, in C: the sort key of merged grants
# The session tuple of a request, read in C (one call instead of six attribute reads and a tuple build).
_session_key = attrgetter("identity", "certificate_fingerprint", "authentication", "device", "source_ip", "country")


def _gather(tables: tuple[dict[str, tuple[Grant, ...]], ...], target: str) -> tuple[tuple[Grant, ...], bool]:
    """The grants of ``target`` in ``tables``, in rule-id order, and whether more than one table held some."""
    found: tuple[Grant, ...] = ()
    holding = 0
    for table in tables:
        grants = table.get(target)
        if grants is not None:
            found += grants
            holding += 1
    if holding > 1:
        return tuple(sorted(found, key=_rule_id)), True
    return found, False


def _epoch(text: str | None) -> int | None:
    if text is None:
        return None
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


class Engine:
    """A compiled bundle. Build with :meth:`from_bundle`; ``decide`` is safe to call from many threads."""

    def __init__(self, payload: Mapping[str, Any], *, sha256: str | None = None) -> None:
        with collector_paused():  # hundreds of thousands of long-lived objects, no cycles (pep.bundle)
            self._build(payload, sha256)

    def _build(self, payload: Mapping[str, Any], sha256: str | None) -> None:
        self.environment: str = payload["environment"]
        self.version: int = payload["version"]
        self.sha256 = sha256
        self.step_up: int = payload["bands"]["step_up"]
        self.deny: int = payload["bands"]["deny"]
        self._bands = (self.step_up, self.deny)
        self._compile_risk(payload["risk_rules"])
        # Values that end up in memo keys or are compared on every cold decision are interned: a parsed bundle holds
        # a separate string object for each occurrence, and comparing equal objects by identity touches no memory.
        self._devices: dict[str, str] = {d["id"]: _intern(d["health"]) for d in payload["devices"]}
        self._addresses = _AddressTable(
            [(c, z["id"]) for z in payload["network_zones"] for c in z["cidrs"]],
            [(e["cidr"], e["country"]) for e in payload["ip_countries"]],
        )
        self._session_risk: dict[tuple[Any, ...], tuple[int, tuple[Contribution, ...]]] = {}
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
        # When every session attribute declares what it reads besides the resolved signals, session risk is
        # memoised on those values: a cold decision then builds one small tuple instead of calling each attribute.
        reads = [attribute.reads for attribute, _ in self._session_attrs]
        self._memo_reads: tuple[Callable[[Any], Any], Callable[[Any], Any]] | None = None
        self._memo_request: Callable[[Any], Any] = _nothing_read
        if all(r is not None for r in reads):
            fields = sorted({f for r in reads for f in r})  # type: ignore[union-attr]
            on_request = [f.removeprefix("request.") for f in fields if f.startswith("request.")]
            on_identity = [f.removeprefix("identity.") for f in fields if f.startswith("identity.")]
            if len(on_request) + len(on_identity) != len(fields):
                raise ValueError(f"session attributes may read request.* and identity.* fields only: {fields}")
            self._memo_reads = (
                attrgetter(*on_request) if on_request else _nothing_read,
                attrgetter(*on_identity) if on_identity else _nothing_read,
            )
            self._memo_request = self._memo_reads[0]
        self._time_attrs = by_scope[Scope.TIME]
        # A time attribute with a span that declares the identity fields it reads is memoised on them: the
        # identities with the same values share the last answer and the run it holds for (see _decide).
        self._time_reads: list[Callable[[Any], Any] | None] = []
        for attribute, _ in self._time_attrs:
            if attribute.span is None or attribute.reads is None:
                self._time_reads.append(None)
                continue
            on_identity = [f.removeprefix("identity.") for f in attribute.reads]
            if any(not f.startswith("identity.") for f in attribute.reads) or not on_identity:
                raise ValueError(f"time attribute {attribute.name!r} may read identity.* fields only")
            self._time_reads.append(attrgetter(*on_identity))

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

        kinds = ("identity", "desk", "group", "role")
        by_kind: dict[str, dict[str, dict[str, tuple[Grant, ...]]]] = {k: {} for k in kinds}
        for (kind, subject), table in frozen.items():
            by_kind[kind][subject] = table
        own_tables, desk_tables, group_tables, role_tables = (by_kind[k] for k in kinds)

        identities: dict[str, IdentityRecord] = {}
        # Work done once per distinct value rather than once per identity: the membership tables of a (desk,
        # groups, roles) combination, the identity-scoped risk of a combination of conditions, the time attributes
        # of a combination of applies().
        memberships: dict[tuple[Any, ...], tuple[dict[str, tuple[Grant, ...]], ...]] = {}
        identity_risk: dict[tuple[Any, ...], tuple[int, tuple[Contribution, ...], int]] = {}
        # (risk class, the identity fields the session attributes read) -> a number: the identity's part of the
        # session-risk memo key, worked out here once rather than read on every cold decision
        session_classes: dict[tuple[Any, ...], int] = {}
        memo_identity = self._memo_reads[1] if self._memo_reads is not None else _nothing_read
        shared_time_attrs: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        # one lazily merged grants table per combination of tables: per (desk, groups, roles), and per identity
        # for the identities with grants of their own
        merged_grants: dict[Any, dict[str, tuple[Grant, ...]]] = {}
        identity_attrs = self._identity_attrs
        time_attrs = self._time_attrs
        time_reads = self._time_reads
        # Every Python call here is paid 10k times: no comprehension (a frame of its own in Python 3.11) when the
        # registry has one attribute of a scope, as it ships.
        evaluators = [attribute.evaluate for attribute, _ in identity_attrs]
        applies_tests = [attribute.applies for attribute, _ in time_attrs]
        evaluate_one = evaluators[0] if len(evaluators) == 1 else None
        applies_one = applies_tests[0] if len(applies_tests) == 1 else None
        no_countries: frozenset[str] = frozenset()
        # One object per distinct set of expected countries: session risk is memoised on it (a field the geography
        # attribute reads), and a memo hit then compares it by identity instead of element by element.
        country_sets: dict[frozenset[str], frozenset[str]] = {no_countries: no_countries}
        for item in payload["identities"]:
            desk, groups, roles = item["desk"], tuple(item["groups"]), tuple(item["roles"])
            expected, certificates, hours = item["expected_countries"], item["certificates"], item["trading_hours"]
            if expected:
                expected = frozenset(expected)
                expected = country_sets.setdefault(expected, expected)
            record = IdentityRecord(
                item["id"],
                _intern(item["status"]),
                item["privileged"],
                expected or no_countries,
                None if hours is None else Window.compile(hours),
                desk,
                groups,
                roles,
                frozenset(certificates) if certificates else no_countries,
            )
            # The grant tables of the identity and of each of its memberships, looked up per target when a decision
            # needs them: merging them per identity here would copy a few hundred entries for each of 10k identities.
            key = (desk, groups, roles)
            shared = memberships.get(key)
            if shared is None:
                found = [desk_tables.get(desk)] if desk is not None else []
                found += [group_tables.get(g) for g in groups]
                found += [role_tables.get(r) for r in roles]
                shared = memberships[key] = tuple([t for t in found if t is not None])
            own = own_tables.get(record.id)
            tables = record.grant_tables = shared if own is None else (own, *shared)
            if len(tables) == 1:
                record.grants = tables[0]
            elif tables:
                merged_key = key if own is None else (key, record.id)
                merged = merged_grants.get(merged_key)
                if merged is None:
                    merged = merged_grants[merged_key] = {}
                record.grants, record.merges = merged, True
            if evaluate_one is not None:
                conditions: tuple[Any, ...] = (evaluate_one(record),)
            else:
                conditions = tuple([evaluate(record) for evaluate in evaluators])
            risk = identity_risk.get(conditions)
            if risk is None:
                score, contributions = 0, ()
                for (_, table), condition in zip(identity_attrs, conditions, strict=True):
                    if condition is not None:
                        s, c = table.get(condition, _NOTHING)
                        score, contributions = score + s, contributions + c
                classes = {r[1]: r[2] for r in identity_risk.values()}
                risk = identity_risk[conditions] = (score, contributions, classes.get(contributions, len(classes)))
            record.base_score, record.base_contributions, record.risk_class = risk
            reads = (record.risk_class, memo_identity(record))
            record.session_class = session_classes.setdefault(reads, len(session_classes))
            if time_attrs:
                if applies_one is not None:
                    applies: tuple[bool, ...] = (applies_one(record),)
                else:
                    applies = tuple([test(record) for test in applies_tests])
                if any(applies):
                    # (attribute, risk table, its last answer shared by the identities with the same read values)
                    values = tuple(
                        [read(record) if read and yes else None for read, yes in zip(time_reads, applies, strict=True)]
                    )
                    applying = shared_time_attrs.get((applies, values))
                    if applying is None:
                        applying = shared_time_attrs[(applies, values)] = tuple(
                            (attribute, table, [_STALE] if read is not None else None)
                            for (attribute, table), yes, read in zip(time_attrs, applies, time_reads, strict=True)
                            if yes
                        )
                    record.time_attributes = applying
            identities[record.id] = record
        return identities

    def identity(self, identity_id: str) -> IdentityRecord | None:
        """The compiled identity (its grant tables, flags and base risk), for the simulator and tooling."""
        return self._identities.get(identity_id)

    @staticmethod
    def grants(identity: IdentityRecord, target: str) -> tuple[Grant, ...]:
        """The grants of ``target`` reachable from the identity and its memberships, in rule-id order."""
        return _gather(identity.grant_tables, target)[0]

    def targets(self, identity: IdentityRecord) -> set[str]:
        """Every target some access rule grants the identity something on (whatever the time)."""
        return {target for table in identity.grant_tables for target in table}

    # -- lookups --------------------------------------------------------------------------------------------------

    def locate(self, source_ip: str | None) -> tuple[str | None, str | None] | None:
        """``(network zone, country)`` of an address from the bundle's tables; None if it is not an IP address."""
        return _NO_LOCATION if source_ip is None else self._resolve(source_ip)

    def _resolve(self, source_ip: Any) -> tuple[str | None, str | None] | None:
        # Parse, then one longest-prefix pass. Not cached: only a session's first request resolves its address, and
        # a table of repeat addresses cost more on the misses (insert, growth, clearing) than it saved on the hits
        # (docs/bundle.md, "How the engine stays fast").
        addresses = self._addresses
        try:
            if ":" not in source_ip:
                address = _from_bytes(_inet_pton(_AF_INET, source_ip), "big")
                found, tables = addresses.v4_buckets.get(address >> 16, _OUTSIDE)
            else:
                packed = _inet_pton(_AF_INET6, source_ip.partition("%")[0])  # a zone index names a link
                if packed[:12] == _V4_MAPPED:  # ::ffff:a.b.c.d from a dual-stack socket is the IPv4 peer
                    address = _from_bytes(packed[12:], "big")
                    found, tables = addresses.v4_buckets.get(address >> 16, _OUTSIDE)
                else:
                    address, found, tables = _from_bytes(packed, "big"), _NO_LOCATION, addresses.v6
        except (OSError, ValueError, TypeError):  # not an address, or not even a string
            return None
        for shift, table in tables:
            hit = table.get(address >> shift)
            if hit is not None:
                return hit  # type: ignore[no-any-return]
        return found

    def _deny(self, reason: str) -> Decision:
        return Decision(DENY, 0, (), None, reason, self.version)

    def _open_session(self, key: tuple[Any, ...], request: Any) -> Decision:
        """A cold decision: open the session (cached under ``key``), then decide the request in it."""
        # the request's session fields, as read for the key (unpacking it is cheaper than reading them again)
        identity_id, fingerprint, _, device, source_ip, country = key
        identity = self._identities.get(identity_id)
        if identity is None:
            denial = self._deny(f"unknown identity {identity_id!r}")
        elif identity.status != "active":
            denial = self._deny(f"identity {identity.id!r} is {identity.status}")
        elif (
            identity.certificates
            and fingerprint not in identity.certificates  # as the gateway gives it: lower case
            and (fingerprint or "").lower() not in identity.certificates
        ):
            denial = self._deny(f"certificate is not bound to identity {identity.id!r}")
        else:
            located = self._resolve(source_ip) if source_ip is not None else _NO_LOCATION
            if located is not None:
                zone, ip_country = located
                health = self._devices.get(device, "unknown") if device else "unknown"
                country = country.upper() if country else ip_country
                if self._memo_reads is not None:
                    memo_key = (identity.session_class, health, zone, ip_country, country, self._memo_request(request))
                    risk = self._session_risk.get(memo_key)
                    if risk is None:
                        signals = _new_tuple(Signals, (identity, request, health, zone, ip_country, country))
                        risk = self._session_risk_for(identity, memo_key, signals)
                else:
                    signals = _new_tuple(Signals, (identity, request, health, zone, ip_country, country))
                    risk = self._session_risk_for(identity, None, signals)
                return self._decide(key, identity, risk, request, None)
            denial = self._deny(f"source IP {source_ip!r} is not an IP address")
        sessions = self._sessions
        if len(sessions) >= SESSION_CACHE_LIMIT:
            sessions.clear()
        sessions[key] = (None, None, denial)
        return denial

    def _session_risk_for(
        self, identity: IdentityRecord, memo_key: tuple[Any, ...] | None, signals: Signals
    ) -> tuple[int, tuple[Contribution, ...]]:
        # Memoised per (identity risk class, everything the session attributes read): a few thousand
        # combinations, each summed and its explanation tuple built once per bundle.
        score, contributions = identity.base_score, identity.base_contributions
        for attribute, table in self._session_attrs:
            condition = attribute.evaluate(signals)
            if condition is not None:
                s, c = table.get(condition, _NOTHING)
                score, contributions = score + s, contributions + c
        risk = (score, contributions)
        if memo_key is not None:
            if len(self._session_risk) >= SESSION_CACHE_LIMIT:
                self._session_risk.clear()
            self._session_risk[memo_key] = risk
        return risk

    # -- deciding -------------------------------------------------------------------------------------------------

    def decide(self, request: Any) -> Decision:
        """Decide one request (a :class:`DecisionRequest` or anything with the same attributes)."""
        key = _session_key(request)
        session = self._sessions.get(key)
        if session is None:
            return self._open_session(key, request)
        identity, risk, entry = session
        if entry.__class__ is dict:
            decision = entry.get((request.target, request.message_type))
        elif entry.target == request.target and entry.message_type == request.message_type:
            decision = entry
        else:
            decision = None
        if decision is not None:
            if decision.valid_until is None:
                return decision
            now = request.time
            if now is None:
                now = _time.time()
            if decision.valid_from <= now < decision.valid_until:
                return decision
        if identity is None:
            return entry  # type: ignore[no-any-return]  # a refused session: its entry is the denial
        return self._decide(key, identity, risk, request, entry)

    def _decide(
        self,
        key: tuple[Any, ...],
        identity: IdentityRecord,
        risk: tuple[int, tuple[Contribution, ...]],
        request: Any,
        entry: Any,
    ) -> Decision:
        score, contributions = risk
        now = request.time
        valid_from: float | None = None
        valid_until: float | None = None
        time_attrs = identity.time_attributes
        if time_attrs:
            if now is None:
                now = _time.time()
            valid_from, valid_until = -_NEVER, _NEVER
            for attribute, table, last in time_attrs:
                if last is not None:
                    # the last answer for these read values, its (score, contributions) looked up with it; asked
                    # again only once the time leaves the run it holds for (replaced whole: thread-safe)
                    lo, hi, s, c = last[0]
                    if not lo <= now < hi:
                        condition, lo, hi = attribute.span(identity, now)
                        s, c = _NOTHING if condition is None else table.get(condition, _NOTHING)
                        last[0] = (lo, hi, s, c)
                elif attribute.span is None:
                    condition = attribute.evaluate(identity, now)
                    lo = hi = now  # no span: an empty validity, never reused
                    s, c = _NOTHING if condition is None else table.get(condition, _NOTHING)
                else:
                    condition, lo, hi = attribute.span(identity, now)
                    s, c = _NOTHING if condition is None else table.get(condition, _NOTHING)
                if lo > valid_from:
                    valid_from = lo
                if hi < valid_until:
                    valid_until = hi
                score, contributions = score + s, contributions + c
        target = request.target
        message_type = request.message_type
        matched: str | None = None
        refusals: tuple[str, ...] = ()
        grants = identity.grants.get(target)
        if grants is None:
            grants = ()
            if identity.merges:
                # Most targets are granted by one of the tables, whose tuple is then taken as it is and not stored
                # (looking it up again costs what storing would); a merge of several is kept.
                grants, merged = _gather(identity.grant_tables, target)
                if merged:
                    identity.grants[target] = grants  # type: ignore[index]  # merges: the engine's own dict
        for grant in grants:
            if grant.message_types is not None and message_type not in grant.message_types:
                continue
            expires_at, window = grant.expires_at, grant.window
            if expires_at is not None or window is not None:
                if now is None:
                    now = _time.time()
                if valid_from is None:
                    valid_from, valid_until = -_NEVER, _NEVER
                if expires_at is not None:
                    if now >= expires_at:
                        valid_from = max(valid_from, expires_at)
                        refusals += (f"access rule {grant.rule_id} has expired",)
                        continue
                    valid_until = min(valid_until, expires_at)
                if window is not None:
                    inside, lo, hi = window.state(now)
                    valid_from, valid_until = max(valid_from, lo), min(valid_until, hi)
                    if not inside:
                        refusals += (f"outside the window of access rule {grant.rule_id}",)
                        continue
            # A match ends the scan: later grants cannot change the answer while this one holds.
            matched = grant.rule_id
            break
        if matched is None:
            outcome = DENY
        else:
            outcome = DENY if score >= self.deny else STEP_UP if score >= self.step_up else ALLOW
        decision = _new_tuple(
            Decision,
            (
                outcome,
                score,
                contributions,
                matched,
                refusals,
                self.version,
                valid_from,
                valid_until,
                identity.id,
                target,
                message_type,
                self._bands,
            ),
        )
        # Remember it: the session's first decision is its entry as it is; a second (target, message type) turns
        # the entry into a dict keyed by them. Only those two steps put a new tuple in the sessions table.
        sessions = self._sessions
        if entry is None:
            if len(sessions) >= SESSION_CACHE_LIMIT:
                sessions.clear()
            sessions[key] = (identity, risk, decision)
        elif entry.__class__ is dict:
            if len(entry) < PAIRS_PER_SESSION_LIMIT:
                entry[(target, message_type)] = decision
        elif entry.target == target and entry.message_type == message_type:
            sessions[key] = (identity, risk, decision)  # the same pair, decided again at another time
        else:
            sessions[key] = (
                identity,
                risk,
                {(entry.target, entry.message_type): entry, (target, message_type): decision},
            )
        return decision

    def band(self, score: int) -> str:
        """The outcome the bands give a score (when access is granted)."""
        return DENY if score >= self.deny else STEP_UP if score >= self.step_up else ALLOW
