"""Read-side queries shared by the alerts pages and the dashboard tile."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet

from alerts.models import Alert, Severity

STATES = ("open", "acknowledged", "resolved", "all")


def alerts_in_state(state: str) -> QuerySet[Alert]:
    queryset = Alert.objects.select_related("acknowledged_by")
    if state == "open":  # not resolved, acknowledged or not: what still needs attention
        return queryset.filter(resolved_at__isnull=True)
    if state == "acknowledged":
        return queryset.filter(resolved_at__isnull=True, acknowledged_at__isnull=False)
    if state == "resolved":
        return queryset.filter(resolved_at__isnull=False)
    return queryset


def dashboard_summary() -> dict:
    """Open alerts, how many nobody has acknowledged, how many are critical, and the latest few."""
    open_alerts = Alert.objects.filter(resolved_at__isnull=True)
    counts = open_alerts.aggregate(
        open=Count("id"),
        unacknowledged=Count("id", filter=Q(acknowledged_at__isnull=True)),
        critical=Count("id", filter=Q(severity=Severity.CRITICAL)),
    )
    counts["latest"] = list(open_alerts.filter(acknowledged_at__isnull=True).order_by("-last_seen_at", "-id")[:3])
    return counts
