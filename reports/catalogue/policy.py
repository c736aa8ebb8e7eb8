"""Policy change history: every version requested in the period, its diff, author, approver, and when each
enforcement point acknowledged it (the distribution ledger)."""

from __future__ import annotations

from collections import defaultdict

from policies.distribution.models import DeliveryKind
from policies.models import Delivery, PolicyVersion
from reports.catalogue import NYDFS_500_6, REG_SCI, Chart, Period, Report, ReportKind, Series, Table, utc_text


def diff_text(diff: dict) -> str:
    """``access_rules: +2 -1 ~3; bands changed`` from a version's stored diff."""
    parts = []
    for section, change in sorted((diff or {}).items()):
        if isinstance(change, dict) and {"added", "removed", "changed"} & change.keys():
            counts = []
            for sign, key in (("+", "added"), ("-", "removed"), ("~", "changed")):
                if change.get(key):
                    counts.append(f"{sign}{len(change[key])} ({', '.join(map(str, change[key][:5]))})")
            parts.append(f"{section}: {' '.join(counts)}")
        else:
            parts.append(f"{section} changed")
    return "; ".join(parts) or "no change"


def build(period: Period) -> Report:
    versions = list(
        PolicyVersion.objects.filter(created_at__gte=period.since, created_at__lt=period.until)
        .select_related("author", "approver")
        .order_by("created_at", "environment", "version")
        .only(
            "environment",
            "version",
            "state",
            "sha256",
            "created_at",
            "approved_at",
            "decided_at",
            "rollback_of",
            "rejection_reason",
            "diff",
            "author__username",
            "approver__username",
        )
    )
    deliveries = defaultdict(list)
    for delivery in (
        Delivery.objects.filter(kind=DeliveryKind.BUNDLE, publication__in=[v.pk for v in versions])
        .select_related("point")
        .order_by("point__name")
    ):
        deliveries[delivery.publication_id].append(delivery)
    version_rows, ack_rows = [], []
    for v in versions:
        acks = deliveries.get(v.pk, [])
        acknowledged = [d for d in acks if d.acknowledged_at]
        version_rows.append(
            {
                "environment": v.environment,
                "version": v.version,
                "state": v.state,
                "author": v.author.get_username() if v.author else "",
                "requested_at": utc_text(v.created_at),
                "approver": v.approver.get_username() if v.approver else "",
                "approved_at": utc_text(v.approved_at),
                "decided_at": utc_text(v.decided_at),
                "rollback_of": f"v{v.rollback_of}" if v.rollback_of else "",
                "rejection_reason": v.rejection_reason,
                "diff": diff_text(v.diff),
                "sha256": v.sha256,
                "acknowledged": f"{len(acknowledged)} of {len(acks)}" if acks else "no enforcement point",
            }
        )
        for d in acks:
            latency = d.latency_seconds
            ack_rows.append(
                {
                    "environment": v.environment,
                    "version": v.version,
                    "point": d.point.name,
                    "state": d.state,
                    "sent_at": utc_text(d.created_at),
                    "acknowledged_at": utc_text(d.acknowledged_at),
                    "seconds": round(latency, 3) if latency is not None else None,
                    "hash_acknowledged": d.sha256 if d.acknowledged_at else "",
                    "outcome": d.outcome or d.reason,
                }
            )
    weeks = period.weeks()
    states = [("approved", "approved"), ("rejected", "rejected"), ("pending", "pending"), ("expired", "expired")]

    def in_week(v: PolicyVersion, start, end) -> bool:
        return start <= v.created_at < end

    per_week = Chart(
        id="policy-versions-per-week",
        title="Versions requested per week, by outcome",
        kind="bar",
        labels=[start.date().isoformat() for start, _ in weeks],
        series=[
            Series(
                label,
                [
                    sum(
                        1
                        for v in versions
                        if in_week(v, s, e) and (v.state == state or (state == "approved" and v.approved_at))
                    )
                    for s, e in weeks
                ],
            )
            for state, label in states
        ],
        x_title="week starting (UTC)",
        y_title="versions",
        stacked=True,
    )
    approved = [r for r in version_rows if r["approved_at"]]
    slowest = Chart(
        id="policy-ack-latency",
        title="Slowest acknowledgement by an enforcement point, per approved version (seconds)",
        kind="bar",
        labels=[f"{r['environment']} v{r['version']}" for r in approved],
        series=[
            Series(
                "seconds to the last acknowledgement",
                [
                    max(
                        (
                            a["seconds"]
                            for a in ack_rows
                            if a["environment"] == r["environment"]
                            and a["version"] == r["version"]
                            and a["seconds"] is not None
                        ),
                        default=0,
                    )
                    for r in approved
                ],
            )
        ],
        x_title="version",
        y_title="seconds",
    )
    return Report(
        slug=KIND.slug,
        title=KIND.title,
        controls=list(KIND.controls),
        period=period,
        description=(
            "Every policy version requested in the period, with its diff against the version before, its author, "
            "its approver (always a second person) and approval time, and each enforcement point's "
            "acknowledgement of the signed bundle by version and hash, from the distribution ledger."
        ),
        summary=[
            ("Versions requested", len(version_rows)),
            ("Approved", len(approved)),
            (
                "Rejected, expired or superseded",
                sum(1 for r in version_rows if r["state"] not in ("approved", "pending")),
            ),
            ("Acknowledgements", sum(1 for a in ack_rows if a["acknowledged_at"])),
            ("Deliveries not acknowledged", sum(1 for a in ack_rows if not a["acknowledged_at"])),
        ],
        charts=[per_week, slowest],
        tables=[
            Table(
                id="versions",
                title="Versions",
                columns=[
                    ("environment", "Env."),
                    ("version", "Version"),
                    ("state", "State"),
                    ("author", "Author"),
                    ("requested_at", "Requested (UTC)"),
                    ("approver", "Approver"),
                    ("approved_at", "Approved (UTC)"),
                    ("rollback_of", "Rollback of"),
                    ("diff", "Diff"),
                    ("acknowledged", "Acknowledged"),
                    ("rejection_reason", "Rejection reason"),
                    ("sha256", "Payload SHA-256"),
                ],
                rows=version_rows,
            ),
            Table(
                id="acknowledgements",
                title="Acknowledgements by enforcement point",
                columns=[
                    ("environment", "Env."),
                    ("version", "Version"),
                    ("point", "Enforcement point"),
                    ("state", "State"),
                    ("sent_at", "Queued (UTC)"),
                    ("acknowledged_at", "Acknowledged (UTC)"),
                    ("seconds", "Seconds"),
                    ("outcome", "Outcome"),
                    ("hash_acknowledged", "Bundle SHA-256"),
                ],
                rows=ack_rows,
                empty="No delivery in this period.",
            ),
        ],
    )


KIND = ReportKind(
    slug="policy-changes",
    title="Policy change history",
    controls=(REG_SCI, NYDFS_500_6),
    summary="Every version with its diff, author, approver, approval time and each enforcement point's "
    "acknowledgement.",
    build=build,
)
