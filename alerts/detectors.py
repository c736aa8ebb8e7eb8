"""The detectors: each reads what the lower apps record and raises or resolves alerts through alerts.actions.

- sign-in failures (per user, per address): read from the audit chain, where accounts records every wrong
  password (``auth.login_failed``), attempt while django-axes holds a lockout (``auth.lockout``), wrong OTP
  code or assertion (``auth.otp_failed``) and throttled code (``auth.otp_throttled``). Woken at once by the
  ``sign_in_failed`` hook and every ZT_ALERT_SCAN_SECONDS by beat;
- enforcement points: mirrors the distribution app's own alerts (behind the version in force, not reporting,
  refused a delivery, presented another certificate), which stay the source of truth;
- certificates: active certificates within the rule's number of days of notAfter;
- the audit chain: a full verification against the signed checkpoints;
- FIX Logons (the decision log, sessions.Decision): a Logon whose risk contributions include the unexpected
  country signal (geography ``anomalous``), and denied Logons above a rate per identity and per enforcement
  point. Every ZT_ALERT_SCAN_SECONDS by beat, reading the decisions stored since the last scan.
"""

from __future__ import annotations

import ipaddress
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Count, Max
from django.utils import timezone

from accounts.models import Identity
from alerts import actions
from alerts.models import (
    BURST_DETECTORS,
    DECISION_DETECTORS,
    Alert,
    Containment,
    Detector,
    DetectorCursor,
    Severity,
)
from certificates.models import Certificate
from policies.distribution.models import AlertKind, DistributionAlert
from policies.models import CountryRange
from sessions.ingest import anomalous_geography
from sessions.models import Decision, DecisionKind, Outcome
from ztconsole.core import audit
from ztconsole.core.models import AuditEvent

FAILURE_ACTIONS = ("auth.login_failed", "auth.lockout", "auth.otp_failed", "auth.otp_throttled")
SCAN_CURSOR = "sign_in_failures"
COUNTRY_CURSOR = "sign_in_country"
COUNTRY_BATCH = 5000
MAX_WINDOW_EVENTS = 50_000  # bounds memory during a flood; the counts then are "at least"


def _user_of(action: str, actor_label: str, target_label: str, details: Any) -> str:
    if action in ("auth.login_failed", "auth.lockout") and isinstance(details, dict):
        return details.get("username") or target_label
    return actor_label or target_label


def _recent_failures(since: datetime) -> list[tuple]:
    """Failure events newer than ``since``, newest first (walks the (action, seq) index backwards)."""
    rows = []
    query = (
        AuditEvent.objects.filter(action__in=FAILURE_ACTIONS)
        .order_by("-seq")
        .values_list("seq", "created_at", "action", "actor_label", "target_label", "details", "ip_address")
    )
    for row in query.iterator(chunk_size=1000):
        if row[1] < since or len(rows) >= MAX_WINDOW_EVENTS:
            break
        rows.append(row)
    return rows


@transaction.atomic
def scan_sign_in_failures(now: datetime | None = None) -> list[Alert]:
    """Count failures per user and per address over each rule's window; raise (or refresh) an alert at the
    threshold, contain when the rule says so, and resolve burst alerts that have gone quiet. Returns the alerts
    raised or refreshed by this scan."""
    now = now or timezone.now()
    rules = {detector: actions.get_rule(detector) for detector in BURST_DETECTORS}
    cursor, _ = DetectorCursor.objects.select_for_update().get_or_create(name=SCAN_CURSOR)
    touched: list[Alert] = []
    active = [rule for rule in rules.values() if rule.enabled]
    latest = (
        AuditEvent.objects.filter(seq__gt=cursor.last_seq, action__in=FAILURE_ACTIONS)
        .order_by("-seq")
        .values_list("seq", flat=True)
        .first()
    )
    if latest is not None:
        if active:
            longest = max(rule.window_seconds for rule in active)
            rows = _recent_failures(now - timedelta(seconds=longest))
            new = [row for row in rows if row[0] > cursor.last_seq]
            for rule in active:
                touched.extend(_burst(rule, rows, new, now))
            latest = max([latest, *(row[0] for row in new)])
        DetectorCursor.objects.filter(name=SCAN_CURSOR).update(last_seq=latest)
    _resolve_quiet(rules, now)
    return touched


def _key(detector: str, row: tuple) -> str | None:
    if detector == Detector.SIGN_IN_FAILURES_USER:
        return _user_of(row[2], row[3], row[4], row[5]) or None
    return str(row[6]) if row[6] else None


def _burst(rule, rows: list[tuple], new: list[tuple], now: datetime) -> list[Alert]:
    detector = rule.detector
    since = now - timedelta(seconds=rule.window_seconds)
    in_window = [row for row in rows if row[1] >= since]
    counts = Counter(_key(detector, row) for row in in_window)
    fresh = Counter(_key(detector, row) for row in new)
    others: dict[str, set[str]] = defaultdict(set)  # per user: addresses; per address: users
    for row in in_window:
        key = _key(detector, row)
        other = (
            str(row[6] or "")
            if detector == Detector.SIGN_IN_FAILURES_USER
            else _key(Detector.SIGN_IN_FAILURES_USER, row)
        )
        if key and other:
            others[key].add(other)
    touched = []
    for key, added in fresh.items():
        if key is None or counts[key] < rule.threshold:
            continue
        last = max(row[1] for row in in_window if _key(detector, row) == key)
        per_user = detector == Detector.SIGN_IN_FAILURES_USER
        noun = "user" if per_user else "address"
        details = {
            "failures": counts[key],
            "window_seconds": rule.window_seconds,
            "threshold": rule.threshold,
            "addresses" if per_user else "users": sorted(others[key])[:20],
            "last_seq": max(row[0] for row in new if _key(detector, row) == key),
        }
        alert, _opened = actions.raise_alert(
            detector,
            f"{noun}:{key}",
            key,
            message=f"{counts[key]} failed sign-ins for {noun} {key} within {rule.window_seconds} s",
            severity=Severity.CRITICAL if counts[key] >= 2 * rule.threshold else Severity.WARNING,
            details=details,
            seen_at=last,
            new_occurrences=added,
            initial_occurrences=counts[key],
        )
        if rule.containment and per_user and alert.containment == Containment.NONE:
            actions.contain(alert)
        touched.append(alert)
    return touched


def _resolve_quiet(rules: dict, now: datetime) -> None:
    for detector, rule in rules.items():
        quiet_since = now - timedelta(seconds=rule.window_seconds)
        for alert in Alert.objects.filter(detector=detector, resolved_at__isnull=True, last_seen_at__lt=quiet_since):
            actions.resolve_alert(alert, reason=f"no failure for {rule.window_seconds} s")


# --- sign-ins from an unexpected country ---------------------------------------------------------------------


def _country_table() -> list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str]]:
    """The administrators' CIDR -> country table (policies), every environment's rows, most specific first."""
    table = []
    for cidr, country in CountryRange.objects.values_list("cidr", "country"):
        try:
            table.append((ipaddress.ip_network(cidr, strict=False), country.upper()))
        except ValueError:
            continue
    table.sort(key=lambda entry: entry[0].prefixlen, reverse=True)
    return table


def locate(table, address: str) -> str | None:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    for network, country in table:
        if ip.version == network.version and ip in network:
            return country
    return None


@transaction.atomic
def scan_sign_in_countries(now: datetime | None = None) -> list[Alert]:
    """Successful sign-ins (``auth.login``) from an address the country table places outside the identity's
    expected countries (the same data the enforcement points' geography attribute uses). Identities without
    expected countries, and addresses the table does not cover, raise nothing. Returns the alerts touched."""
    now = now or timezone.now()
    rule = actions.get_rule(Detector.SIGN_IN_COUNTRY)
    cursor, _ = DetectorCursor.objects.select_for_update().get_or_create(name=COUNTRY_CURSOR)
    rows = list(
        AuditEvent.objects.filter(seq__gt=cursor.last_seq, action="auth.login")
        .order_by("seq")
        .values_list("seq", "created_at", "actor_id", "actor_label", "ip_address")[:COUNTRY_BATCH]
    )
    touched: list[Alert] = []
    if rows:
        DetectorCursor.objects.filter(name=COUNTRY_CURSOR).update(last_seq=rows[-1][0])
    since = now - timedelta(seconds=rule.window_seconds)
    rows = [row for row in rows if row[4] and row[2] and row[1] >= since]
    if rule.enabled and rows:
        identities = {
            identity.user_id: identity
            for identity in Identity.objects.filter(user_id__in={row[2] for row in rows})
            if identity.expected_countries
        }
        table = _country_table() if identities else []
        for seq, at, user_id, username, address in rows:
            identity = identities.get(user_id)
            country = locate(table, str(address)) if identity else None
            if identity is None or country is None or country in identity.expected_countries:
                continue
            expected = ", ".join(identity.expected_countries)
            alert, _opened = actions.raise_alert(
                Detector.SIGN_IN_COUNTRY,
                f"user:{username}",
                username,
                message=f"{username} signed in from {country} ({address}); expected {expected}",
                severity=Severity.CRITICAL,
                details={
                    "country": country,
                    "address": str(address),
                    "expected": identity.expected_countries,
                    "seq": seq,
                },
                seen_at=at,
            )
            if rule.containment and alert.containment == Containment.NONE:
                actions.contain(alert)
            touched.append(alert)
    _resolve_quiet({Detector.SIGN_IN_COUNTRY: rule}, now)
    return touched


# --- FIX Logons, from the decision log ---------------------------------------------------------------------

# The cursor the decision scan used before the pending flag (migration fix_sessions 0005 reads it once).
DECISION_CURSOR = "fix_decisions"
DECISION_BATCH = 5000


@transaction.atomic
def scan_decisions(now: datetime | None = None) -> list[Alert]:
    """Logon decisions stored since the last scan (at most DECISION_BATCH; the next scan reads on): raise the
    unexpected-country alerts, and the denied-Logon rate alerts of the identities and points that have new
    denied Logons. Resolves the alerts of these detectors that have gone quiet. Returns the alerts touched."""
    now = now or timezone.now()
    rules = {detector: actions.get_rule(detector) for detector in DECISION_DETECTORS}
    # The rows ingestion flagged and no scan has read (a partial index holds exactly them), not "ids above a
    # cursor": batches from several PEPs commit in any order, and a cursor past a later batch's ids would skip an
    # earlier batch that committed after it. Locked and skipped by a concurrent scan, so each is read once.
    pending = (
        Decision.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(alert_pending=True)
        .order_by("id")
        .values_list("id", "time", "outcome", "identity_name", "point__name", "environment", "session_id", "inputs")
    )
    rows = list(pending[:DECISION_BATCH])
    touched: list[Alert] = []
    if rows:
        Decision.objects.filter(id__in=[row[0] for row in rows]).update(alert_pending=False)
        touched.extend(_fix_logon_countries(rules[Detector.FIX_LOGON_COUNTRY], rows, now))
        denied = [row for row in rows if row[2] == Outcome.DENY]
        for detector, index in ((Detector.FIX_DENIED_IDENTITY, 3), (Detector.FIX_DENIED_PEP, 4)):
            touched.extend(_denied_rate(rules[detector], denied, index, now))
    for detector, rule in rules.items():
        quiet_since = now - timedelta(seconds=rule.window_seconds)
        for alert in Alert.objects.filter(detector=detector, resolved_at__isnull=True, last_seen_at__lt=quiet_since):
            actions.resolve_alert(alert, reason=f"no such Logon for {rule.window_seconds} s")
    return touched


def _fix_logon_countries(rule, rows: list[tuple], now: datetime) -> list[Alert]:
    since = now - timedelta(seconds=rule.window_seconds)
    found = [row for row in rows if row[1] >= since and row[3] and anomalous_geography(row[7])]
    if not rule.enabled or not found:
        return []
    table = _country_table()
    touched = []
    for decision_id, at, outcome, identity, point, environment, session, inputs in found:
        address = str(inputs.get("source_ip") or "")
        country = locate(table, address) if address else None
        where = f"{country} ({address})" if country else (address or "an unknown address")
        alert, _opened = actions.raise_alert(
            Detector.FIX_LOGON_COUNTRY,
            f"identity:{identity}",
            identity,
            message=f"{identity}: FIX Logon at {point} from an unexpected country, {where}; {outcome}",
            severity=Severity.CRITICAL,
            details={
                "pep": point,
                "environment": environment,
                "session": session,
                "source_ip": address,
                "country": country,
                "outcome": outcome,
                "sender_comp_id": inputs.get("sender_comp_id"),
                "decision": decision_id,
            },
            seen_at=at,
        )
        if rule.containment and alert.containment == Containment.NONE:
            actions.contain(alert)
        touched.append(alert)
    return touched


def _denied_rate(rule, denied: list[tuple], index: int, now: datetime) -> list[Alert]:
    """``index``: the row's identity (3) or point (4). One aggregate query over the window for the keys with new
    denied Logons, whatever their number."""
    since = now - timedelta(seconds=rule.window_seconds)
    fresh = Counter(row[index] for row in denied if row[1] >= since and row[index])
    if not rule.enabled or not fresh:
        return []
    per_identity = rule.detector == Detector.FIX_DENIED_IDENTITY
    key_field, other_field = ("identity_name", "point__name") if per_identity else ("point__name", "identity_name")
    in_window = Decision.objects.filter(kind=DecisionKind.LOGON, outcome=Outcome.DENY, time__gte=since)
    in_window = in_window.filter(**{f"{key_field}__in": list(fresh)})
    counts: Counter = Counter()
    last: dict[str, datetime] = {}
    others: dict[str, set[str]] = defaultdict(set)
    for key, other, n, latest in (
        in_window.values_list(key_field, other_field).annotate(n=Count("id"), last=Max("time")).order_by()
    ):
        counts[key] += n
        last[key] = max(latest, last.get(key, latest))
        if other:
            others[key].add(other)
    noun = "identity" if per_identity else "enforcement point"
    touched = []
    for key, added in fresh.items():
        if counts[key] < rule.threshold:
            continue
        alert, _opened = actions.raise_alert(
            rule.detector,
            f"{'identity' if per_identity else 'pep'}:{key}",
            key,
            message=f"{counts[key]} denied FIX Logons for {noun} {key} within {rule.window_seconds} s",
            severity=Severity.CRITICAL if counts[key] >= 2 * rule.threshold else Severity.WARNING,
            details={
                "denied": counts[key],
                "window_seconds": rule.window_seconds,
                "threshold": rule.threshold,
                "peps" if per_identity else "identities": sorted(others[key])[:20],
            },
            seen_at=last[key],
            new_occurrences=added,
            initial_occurrences=counts[key],
        )
        touched.append(alert)
    return touched


# --- condition detectors ------------------------------------------------------------------------------------


def _reconcile(detector: str, present: dict[str, dict[str, Any]], now: datetime) -> None:
    """Raise an alert for each present subject; resolve the open ones whose condition is gone."""
    for subject, spec in present.items():
        actions.raise_alert(detector, subject, seen_at=now, new_occurrences=0, **spec)
    for alert in Alert.objects.filter(detector=detector, resolved_at__isnull=True).exclude(subject__in=list(present)):
        actions.resolve_alert(alert, reason="condition cleared")


_POINT_SEVERITY = {
    AlertKind.PIN_MISMATCH: Severity.CRITICAL,
    AlertKind.REFUSED: Severity.CRITICAL,
    AlertKind.BEHIND: Severity.WARNING,
    AlertKind.UNREACHABLE: Severity.WARNING,
}


@transaction.atomic
def detect_enforcement_points(now: datetime | None = None) -> int:
    """One alert per open distribution alert (point and kind); resolved with it. Returns how many are open."""
    now = now or timezone.now()
    if not actions.get_rule(Detector.ENFORCEMENT_POINT).enabled:
        return 0
    present = {}
    for source in DistributionAlert.objects.filter(resolved_at__isnull=True).select_related("point"):
        point = source.point
        present[f"point:{point.pk}:{source.kind}"] = {
            "label": f"{point.name} ({point.environment})",
            "message": f"{point.name}: {source.message}",
            "severity": _POINT_SEVERITY.get(source.kind, Severity.WARNING),
            "details": {
                "point": point.name,
                "environment": point.environment,
                "kind": source.kind,
                "since": source.created_at.isoformat(),
                "acknowledged_version": point.acknowledged_version,
            },
        }
    _reconcile(Detector.ENFORCEMENT_POINT, present, now)
    return len(present)


@transaction.atomic
def detect_expiring_certificates(now: datetime | None = None) -> int:
    now = now or timezone.now()
    rule = actions.get_rule(Detector.CERTIFICATE_EXPIRING)
    if not rule.enabled:
        return 0
    present = {}
    for cert in Certificate.objects.expiring_within(rule.threshold).select_related("identity__user"):
        left = cert.not_after - now
        present[f"certificate:{cert.serial}"] = {
            "label": f"{cert.serial} ({cert.identity})",
            "message": f"certificate {cert.serial} of {cert.identity} expires {cert.not_after:%Y-%m-%d %H:%M} UTC",
            "severity": Severity.CRITICAL if left <= timedelta(days=1) else Severity.WARNING,
            "details": {"serial": cert.serial, "identity": str(cert.identity), "not_after": cert.not_after.isoformat()},
        }
    _reconcile(Detector.CERTIFICATE_EXPIRING, present, now)
    return len(present)


def verify_audit_chain(now: datetime | None = None) -> bool:
    """A full verification (outside checkpoints included); a failure raises a critical alert. Returns ok."""
    now = now or timezone.now()
    if not actions.get_rule(Detector.AUDIT_CHAIN).enabled:
        return True
    report = audit.verify_chain()
    with transaction.atomic():
        present = {}
        if not report.ok:
            present["audit:chain"] = {
                "label": "audit chain",
                "message": report.summary(),
                "severity": Severity.CRITICAL,
                "details": {"first_broken_seq": report.first_broken_seq, "problem": report.problem[:200]},
            }
        _reconcile(Detector.AUDIT_CHAIN, present, now)
    return report.ok
