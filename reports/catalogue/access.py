"""Access review: who reaches which segment or resource, with which FIX message types, through which rule.

Read from the signed policy in force at the end of the period (the newest version approved before it, per
environment), not from the draft: what the enforcement points enforce is what is reviewed. A rule reaches an
identity directly, or through its desk, a group or its role (docs/bundle.md); each (identity, rule, path) is a
line. "Since" is when the line's version run began: the approval time of the oldest version in the unbroken run
of approved versions, ending at the one in force, that held the same rule with the same content for the same
identity through the same path.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import connection

from accounts.models import Identity, IdentityKind
from policies.models import PolicyVersion
from reports.catalogue import NYDFS_500_7, Chart, Period, Report, ReportKind, Series, Table, utc_text
from reports.models import AccessAttestation
from sessions.models import Decision, DecisionKind, Outcome

MAX_VERSIONS = 100  # versions walked back to find when a line began; older runs read "at or before" the oldest


@dataclass(frozen=True)
class Line:
    environment: str
    identity: str
    rule: str
    via: str  # "direct", "desk fx-spot", "group rfq", "role Trader"
    target: str  # "segment rfq-gateway" or "resource oms-eu"
    message_types: str
    window: str
    expires_at: str
    privileged: bool
    digest: str  # the rule's content, so an attestation stops applying when the rule changes
    covers: tuple[str, ...] = ()  # the targets a Logon may name under the rule: the segment and its resources

    @property
    def key(self) -> str:
        return "|".join((self.environment, self.identity, self.rule, self.via, self.digest[:16]))


def _rule_digest(rule: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(rule, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def lines_of(environment: str, payload: dict[str, Any], only: set[tuple[str, str]] | None = None) -> list[Line]:
    """Every (identity, rule, path) a bundle payload grants, for active identities only (the engine's rule).

    ``only``: (rule id, content digest) pairs; other rules are skipped (walking back through older versions).
    """
    identities = [i for i in payload.get("identities", []) if i.get("status") == "active"]
    by_desk: dict[str, list[dict]] = {}
    by_group: dict[str, list[dict]] = {}
    by_role: dict[str, list[dict]] = {}
    by_id = {i["id"]: i for i in identities}
    for identity in identities:
        if identity.get("desk"):
            by_desk.setdefault(identity["desk"], []).append(identity)
        for group in identity.get("groups") or ():
            by_group.setdefault(group, []).append(identity)
        for role in identity.get("roles") or ():
            by_role.setdefault(role, []).append(identity)
    expand: dict[tuple[str, str], tuple[str, ...]] = {}
    for segment in payload.get("segments", []):  # as the engine expands a rule's target (pep/engine.py)
        resources = tuple(r["id"] for r in segment.get("resources") or ())
        expand[("segment", segment["id"])] = (segment["id"], *resources)
        for resource in resources:
            expand[("resource", resource)] = (resource,)
    lines = []
    for rule in payload.get("access_rules", []):
        digest = _rule_digest(rule)
        if only is not None and (rule["id"], digest) not in only:
            continue
        kind, subject = rule["subject"]["kind"], rule["subject"]["id"]
        if kind == "identity":
            reached, via = ([by_id[subject]] if subject in by_id else []), "direct"
        else:
            reached = {"desk": by_desk, "group": by_group, "role": by_role}.get(kind, {}).get(subject, [])
            via = f"{kind} {subject}"
        window = rule.get("window")
        for identity in reached:
            lines.append(
                Line(
                    environment=environment,
                    identity=identity["id"],
                    rule=rule["id"],
                    via=via,
                    target=f"{rule['target']['kind']} {rule['target']['id']}",
                    message_types=", ".join(rule.get("message_types") or []),
                    window=json.dumps(window, sort_keys=True) if window else "",
                    expires_at=rule.get("expires_at") or "",
                    privileged=bool(identity.get("privileged")),
                    digest=digest,
                    covers=expand.get((rule["target"]["kind"], rule["target"]["id"]), (rule["target"]["id"],)),
                )
            )
    return lines


@dataclass
class InForce:
    environment: str
    version: PolicyVersion
    lines: list[Line]
    # line key -> (approved at, version) of the run's start, and True when it may have begun before (walk limit)
    since: dict[str, tuple]


def in_force(until: datetime) -> list[InForce]:
    """Per environment, the newest version approved before ``until`` and when each of its lines began."""
    approved = list(
        PolicyVersion.objects.filter(approved_at__isnull=False, approved_at__lt=until)
        .select_related("approver")
        .order_by("environment", "-version")
        .only("environment", "version", "payload", "approved_at", "approver__username")
    )
    per_env: dict[str, list[PolicyVersion]] = {}
    for version in approved:
        if len(per_env.setdefault(version.environment, [])) < MAX_VERSIONS:
            per_env[version.environment].append(version)
    result = []
    for environment, versions in sorted(per_env.items()):
        current = versions[0]
        lines = lines_of(environment, json.loads(current.payload))
        since = {line.key: (current.approved_at, current.version) for line in lines}
        open_keys = set(since)
        by_key = {line.key: line for line in lines}
        for older in versions[1:]:
            if not open_keys:
                break
            wanted = {(by_key[key].rule, by_key[key].digest) for key in open_keys}
            held = {line.key for line in lines_of(environment, json.loads(older.payload), only=wanted)}
            for key in list(open_keys):
                if key in held:
                    since[key] = (older.approved_at, older.version)
                else:
                    open_keys.discard(key)
        if len(versions) == MAX_VERSIONS:
            # Still held by the oldest version walked: it began then or earlier.
            oldest = versions[-1].version
            for key in open_keys:
                if since[key][1] == oldest:
                    since[key] = (since[key][0], oldest, True)
        result.append(InForce(environment, current, lines, since))
    return result


def find_line(line_key: str, until: datetime) -> tuple[Line, PolicyVersion] | None:
    """The line with this key in the policy in force at ``until``, or None (a forged or outdated key)."""
    for snapshot in in_force(until):
        for line in snapshot.lines:
            if line.key == line_key:
                return line, snapshot.version
    return None


_PROBES_PER_QUERY = 400  # (environment, identity, rule, target) keys per query: 1,600 parameters, any SQLite
# The target a Logon named, as the decision log keeps it (inputs.target): one expression per database.
_TARGET_SQL = {"postgresql": "d.inputs ->> 'target'", "sqlite": "json_extract(d.inputs, '$.target')"}


def last_used(lines: list[Line], until: datetime) -> dict[tuple[str, str, str, str], datetime]:
    """(environment, identity, rule, target) -> the time of the newest allowed Logon before ``until`` that the
    rule granted at that target (the segment or resource the Logon named), for every target the lines cover.

    One probe per key, all keys in one query (a batch of ``_PROBES_PER_QUERY``): each reads the partial index
    ``decision_last_used`` (allowed Logons by environment, identity, rule, time) backwards from ``until`` to the
    first Logon at that target. The cost follows the number of lines, not the size of the decision log.
    """
    keys = sorted({(line.environment, line.identity, line.rule, target) for line in lines for target in line.covers})
    target = _TARGET_SQL.get(connection.vendor, _TARGET_SQL["sqlite"])
    used: dict[tuple[str, str, str, str], datetime] = {}
    for start in range(0, len(keys), _PROBES_PER_QUERY):
        batch = keys[start : start + _PROBES_PER_QUERY]
        # Constants and placeholders only: every value travels as a parameter.
        sql = (
            "SELECT k.column1, k.column2, k.column3, k.column4, ("  # noqa: S608
            f"SELECT d.time FROM {Decision._meta.db_table} d"
            f" WHERE d.kind = '{DecisionKind.LOGON}' AND d.outcome = '{Outcome.ALLOW}'"
            " AND d.environment = k.column1 AND d.identity_name = k.column2 AND d.matched_rule = k.column3"
            f" AND d.time < %s AND {target} = k.column4"
            " ORDER BY d.time DESC LIMIT 1"
            ") FROM (VALUES " + ", ".join(["(%s, %s, %s, %s)"] * len(batch)) + ") AS k"
        )
        until_param = connection.ops.adapt_datetimefield_value(until)
        with connection.cursor() as cursor:
            cursor.execute(sql, [until_param, *(value for key in batch for value in key)])
            for environment, identity, rule, reached, when in cursor.fetchall():
                if when is not None:
                    used[(environment, identity, rule, reached)] = _aware(when)
    return used


def _aware(value: datetime | str) -> datetime:
    """A time as the driver gives it (SQLite: Django's text in UTC) as an aware datetime."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def line_last_used(line: Line, used: dict[tuple[str, str, str, str], datetime]) -> datetime | None:
    """The identity's last allowed Logon through the line's rule at the line's segment or one of its resources."""
    times = [used[key] for t in line.covers if (key := (line.environment, line.identity, line.rule, t)) in used]
    return max(times) if times else None


def build(period: Period) -> Report:
    snapshots = in_force(period.until)
    used = last_used([line for s in snapshots for line in s.lines], period.until) if snapshots else {}
    usernames = {line.identity for s in snapshots for line in s.lines}
    kinds = dict(
        Identity.objects.filter(user__username__in=usernames).values_list("user__username", "kind")
    )  # one query
    latest: dict[str, AccessAttestation] = {}
    for decision in (
        AccessAttestation.objects.filter(decided_at__lt=period.until).select_related("reviewer").order_by("decided_at")
    ):
        latest[decision.line_key] = decision
    rows = []
    for snapshot in snapshots:
        for line in snapshot.lines:
            started_at, started_version, *earlier = snapshot.since[line.key]
            kind = kinds.get(line.identity, "")
            decision = latest.get(line.key)
            rows.append(
                {
                    "line_key": line.key,
                    "identity": line.identity,
                    "identity_kind": str(IdentityKind(kind).label) if kind else "unknown",
                    "privileged": line.privileged,
                    "environment": line.environment,
                    "target": line.target,
                    "message_types": line.message_types,
                    "rule": line.rule,
                    "via": line.via,
                    "window": line.window,
                    "expires_at": line.expires_at,
                    "since": ("at or before " if earlier else "") + (utc_text(started_at) or ""),
                    "approved_in": f"v{started_version}" + (" or earlier" if earlier else ""),
                    "in_force": f"v{snapshot.version.version}",
                    "approved_by": snapshot.version.approver.get_username() if snapshot.version.approver else "",
                    "last_used": utc_text(line_last_used(line, used)) or "never used",
                    "review": decision.get_decision_display() if decision else "not reviewed",
                    "reviewed_by": decision.reviewer.get_username() if decision else "",
                    "reviewed_at": utc_text(decision.decided_at) if decision else "",
                    "review_comment": decision.comment if decision else "",
                    "_rank": 0 if line.privileged else 1 if kind and kind != IdentityKind.HUMAN else 2,
                }
            )
    rows.sort(key=lambda r: (r["_rank"], r["environment"], r["identity"], r["rule"], r["via"]))
    paths = ["direct", "desk", "group", "role"]
    populations = [("privileged", 0), ("non-person", 1), ("other people", 2)]
    by_path = Chart(
        id="access-by-path",
        title="Access lines by path and population",
        kind="bar",
        labels=paths,
        series=[
            Series(name, [sum(1 for r in rows if r["_rank"] == rank and r["via"].split()[0] == p) for p in paths])
            for name, rank in populations
        ],
        x_title="how the rule reaches the identity",
        y_title="lines",
        stacked=True,
    )
    reviews = Counter(r["review"] for r in rows)
    review_chart = Chart(
        id="access-review-progress",
        title="Review progress",
        kind="bar",
        labels=["Attested", "Flagged", "not reviewed"],
        series=[Series("lines", [reviews.get(k, 0) for k in ("Attested", "Flagged", "not reviewed")])],
        x_title="decision",
        y_title="lines",
    )
    columns = [
        ("identity", "Identity"),
        ("identity_kind", "Kind"),
        ("privileged", "Privileged"),
        ("review", "Review"),
        ("reviewed_by", "Reviewer"),
        ("environment", "Env."),
        ("target", "Segment / resource"),
        ("message_types", "FIX message types"),
        ("rule", "Rule"),
        ("via", "Through"),
        ("since", "Since (UTC)"),
        ("approved_in", "Approved in"),
        ("in_force", "In force"),
        ("approved_by", "Approved by"),
        ("last_used", "Last used"),
        ("review_comment", "Review comment"),
    ]
    return Report(
        slug=KIND.slug,
        title=KIND.title,
        controls=list(KIND.controls),
        period=period,
        description=(
            "Every line of access the signed policy in force at the end of the period grants: identity, "
            "segment or resource, FIX message types, the rule and the path through which it reaches the identity "
            "(direct, desk, group, role), since when, and in which approved version. Privileged and non-person "
            "identities first. A reviewer attests or flags each line; decisions are audited."
        ),
        summary=[
            ("Policies in force", ", ".join(f"{s.environment} v{s.version.version}" for s in snapshots) or "none"),
            ("Lines of access", len(rows)),
            ("Privileged or non-person lines", sum(1 for r in rows if r["_rank"] < 2)),
            ("Not reviewed", reviews.get("not reviewed", 0)),
            ("Flagged", reviews.get("Flagged", 0)),
        ],
        charts=[by_path, review_chart],
        tables=[
            Table(
                id="access",
                title="Access lines (privileged and non-person identities first)",
                columns=[*columns, ("line_key", "Line key")],
                rows=[{k: v for k, v in r.items() if not k.startswith("_")} for r in rows],
                empty="No approved policy in force at the end of the period.",
            )
        ],
        notes=[
            "\"Last used\" is the identity's last Logon the enforcement points allowed through the line's rule at its "
            'segment or resource before the end of the period (the decision log); "never used" when there is none. '
            'The decision log keeps ended sessions ZT_SESSION_RETENTION_DAYS, so an older use reads "never used".',
            "An attestation applies to a line while its rule keeps the same content; a changed rule is a new line.",
        ],
    )


KIND = ReportKind(
    slug="access-review",
    title="Access review",
    controls=(NYDFS_500_7,),
    summary="Who reaches which segment with which FIX message types, through which rule, since when; attest or flag.",
    build=build,
)
