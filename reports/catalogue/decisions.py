"""Decisions: what the enforcement points decided on FIX Logons in the period, read from the decision log.

Every ``logon_decision`` a PEP reported is a row of ``sessions.Decision`` (kind ``logon``, outcome allow,
step_up or deny; docs/sessions.md, "The decision log"). The report counts them per day (per week past
``DAILY_UP_TO`` days), lists the most frequent reasons for step-up and deny, and breaks the outcomes down by
identity and by enforcement point. Refused messages (a MsgType the rules do not grant, kind ``reject``) are
counted in the summary. A fixed number of aggregate queries, whatever the number of decisions.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

from django.db.models import Count, Max
from django.db.models.functions import TruncDate

from reports.catalogue import NYDFS_500_6, NYDFS_500_7, Chart, Period, Report, ReportKind, Series, Table, utc_text
from sessions.models import Decision, DecisionKind, Outcome

# Deny first: each chart gives its first series the first pattern, so deny and step-up look the same in both charts.
OUTCOMES = (Outcome.DENY.value, Outcome.STEP_UP.value, Outcome.ALLOW.value)
OUTCOME_NAMES = {"allow": "allow", "step_up": "step-up", "deny": "deny"}
DAILY_UP_TO = 31  # longer periods are charted per week
TOP_REASONS = 10


def _buckets(period: Period) -> list[tuple[datetime, datetime]]:
    if period.until - period.since <= timedelta(days=DAILY_UP_TO):
        days, start = [], period.since
        while start < period.until:
            days.append((start, start + timedelta(days=1)))
            start += timedelta(days=1)
        return days
    return period.weeks()


def _counts(row: dict[str, int]) -> dict[str, int]:
    counts = {outcome: row.get(outcome, 0) for outcome in OUTCOMES}
    return {**counts, "total": sum(counts.values())}


def build(period: Period) -> Report:
    in_period = Decision.objects.filter(time__gte=period.since, time__lt=period.until)
    logons = in_period.filter(kind=DecisionKind.LOGON)
    per_day: dict[datetime, Counter] = defaultdict(Counter)
    for row in (
        logons.annotate(day=TruncDate("time", tzinfo=UTC)).values("day", "outcome").annotate(n=Count("id")).order_by()
    ):
        day = datetime.combine(row["day"], datetime.min.time(), UTC)
        per_day[day][row["outcome"]] += row["n"]
    buckets = _buckets(period)
    daily = len(buckets) and buckets[0][1] - buckets[0][0] == timedelta(days=1)

    def in_bucket(outcome: str, start: datetime, end: datetime) -> int:
        return sum(c[outcome] for day, c in per_day.items() if start <= day < end)

    over_time = Chart(
        id="decisions-over-time",
        title=f"Logon decisions per {'day' if daily else 'week'}",
        kind="bar",
        labels=[start.date().isoformat() for start, _ in buckets],
        series=[Series(OUTCOME_NAMES[o], [in_bucket(o, s, e) for s, e in buckets]) for o in OUTCOMES],
        x_title=f"{'day' if daily else 'week starting'} (UTC)",
        y_title="Logon decisions",
        stacked=True,
    )
    totals = Counter()
    for counter in per_day.values():
        totals.update(counter)

    reasons = list(
        logons.filter(outcome__in=(Outcome.STEP_UP, Outcome.DENY))
        .values("reason", "outcome")
        .annotate(n=Count("id"), last=Max("time"))
        .order_by()
    )
    by_reason: dict[str, Counter] = defaultdict(Counter)
    last_of_reason: dict[str, datetime] = {}
    for row in reasons:
        reason = row["reason"] or "(no reason given)"
        by_reason[reason][row["outcome"]] += row["n"]
        last_of_reason[reason] = max(row["last"], last_of_reason.get(reason, row["last"]))
    ranked = sorted(by_reason, key=lambda r: (-sum(by_reason[r].values()), r))
    reason_rows = [
        {
            "reason": reason,
            "step_up": by_reason[reason]["step_up"],
            "deny": by_reason[reason]["deny"],
            "total": sum(by_reason[reason].values()),
            "last": utc_text(last_of_reason[reason]),
        }
        for reason in ranked
    ]
    top = reason_rows[:TOP_REASONS]
    reasons_chart = Chart(
        id="decisions-top-reasons",
        title=f"Top {TOP_REASONS} reasons for step-up and deny",
        kind="bar",
        labels=[r["reason"][:80] for r in top] or ["none"],
        series=[
            Series("deny", [r["deny"] for r in top] or [0]),
            Series("step-up", [r["step_up"] for r in top] or [0]),
        ],
        x_title="reason",
        y_title="Logon decisions",
        stacked=True,
    )

    identities: dict[str, Counter] = defaultdict(Counter)
    identity_last: dict[str, datetime] = {}
    for row in logons.values("identity_name", "outcome").annotate(n=Count("id"), last=Max("time")).order_by():
        name = row["identity_name"] or "(unidentified)"
        identities[name][row["outcome"]] += row["n"]
        identity_last[name] = max(row["last"], identity_last.get(name, row["last"]))
    identity_rows = [
        {"identity": name, **_counts(identities[name]), "last": utc_text(identity_last[name])} for name in identities
    ]
    identity_rows.sort(key=lambda r: (-(r["deny"] + r["step_up"]), -r["total"], r["identity"]))

    points: dict[tuple[str, str], Counter] = defaultdict(Counter)
    rejects: Counter = Counter()
    for row in in_period.values("point__name", "environment", "kind", "outcome").annotate(n=Count("id")).order_by():
        key = (row["point__name"], row["environment"])
        if row["kind"] == DecisionKind.LOGON:
            points[key][row["outcome"]] += row["n"]
        else:
            rejects[key] += row["n"]
    point_rows = [
        {"pep": name, "environment": env, **_counts(points[(name, env)]), "rejected_messages": rejects[(name, env)]}
        for name, env in sorted(set(points) | set(rejects))
    ]

    total = sum(totals[o] for o in OUTCOMES)
    count_columns = [("deny", "Deny"), ("step_up", "Step-up"), ("allow", "Allow"), ("total", "Logons")]
    return Report(
        slug=KIND.slug,
        title=KIND.title,
        controls=list(KIND.controls),
        period=period,
        description=(
            "Every FIX Logon decision the enforcement points reported in the period (the decision log): allow, "
            "step-up and deny over time, the most frequent reasons for step-up and deny, and the outcomes by "
            "identity and by enforcement point, with the messages they refused."
        ),
        summary=[
            ("Logon decisions", total),
            ("Allowed", totals["allow"]),
            ("Step-up required", totals["step_up"]),
            ("Denied", totals["deny"]),
            ("Refused messages", sum(rejects.values())),
            ("Identities", len(identity_rows)),
            ("Enforcement points", len(point_rows)),
        ],
        charts=[over_time, reasons_chart],
        tables=[
            Table(
                id="reasons",
                title="Reasons for step-up and deny, most frequent first",
                columns=[
                    ("reason", "Reason"),
                    ("deny", "Deny"),
                    ("step_up", "Step-up"),
                    ("total", "Total"),
                    ("last", "Last (UTC)"),
                ],
                rows=reason_rows,
                empty="No Logon was stepped up or denied in this period.",
            ),
            Table(
                id="by-identity",
                title="By identity (most refused first)",
                columns=[("identity", "Identity"), *count_columns, ("last", "Last decision (UTC)")],
                rows=identity_rows,
                empty="No Logon decision in this period.",
            ),
            Table(
                id="by-pep",
                title="By enforcement point",
                columns=[
                    ("pep", "Enforcement point"),
                    ("environment", "Env."),
                    *count_columns,
                    ("rejected_messages", "Refused messages"),
                ],
                rows=point_rows,
                empty="No decision in this period.",
            ),
        ],
        notes=[
            "Read from the decision log the enforcement points report; ended sessions' decisions are kept "
            'ZT_SESSION_RETENTION_DAYS (docs/sessions.md, "Retention"), so a period older than that shows less.',
        ],
    )


KIND = ReportKind(
    slug="decisions",
    title="Decisions",
    controls=(NYDFS_500_6, NYDFS_500_7),
    summary="FIX Logons allowed, stepped up and denied over time; top reasons; by identity and by PEP.",
    build=build,
)
