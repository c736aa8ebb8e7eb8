"""Read-side queries the ledger page, the dashboard tile and the publication page share."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q

from accounts.models import Environment
from policies.distribution.actions import in_force, point_row
from policies.distribution.models import Delivery, DeliveryKind, DistributionAlert, EnforcementPoint, PointStatus


def ledger(environment: str) -> dict[str, Any]:
    """The version in force, how many active points enforce it, and one row per point (retired last)."""
    current = in_force(environment)
    points = list(EnforcementPoint.objects.filter(environment=environment).order_by("status", "name"))
    open_alerts = dict(
        DistributionAlert.objects.filter(point__environment=environment, resolved_at__isnull=True)
        .values_list("point")
        .annotate(n=Count("id"))
        .values_list("point", "n")
    )
    rows = []
    for point in points:
        row = point_row(point, current) if current is not None else _row_without_version(point)
        row["alerts"] = open_alerts.get(point.pk, 0)
        rows.append(row)
    active = [r for r in rows if r["status"] == PointStatus.ACTIVE]
    return {
        "in_force": current,
        "rows": rows,
        "active": len(active),
        "converged": sum(1 for r in active if r["converged"]),
    }


def _row_without_version(point: EnforcementPoint) -> dict[str, Any]:
    row = point_row(point)
    row["lag"] = None
    return row


def dashboard_summary() -> dict[str, Any] | None:
    """The dashboard tile: active points, how many enforce their environment's version, open alerts."""
    points = list(EnforcementPoint.objects.filter(status=PointStatus.ACTIVE))
    if not points and not EnforcementPoint.objects.exists():
        return None
    current = {env: in_force(env) for env in Environment.values}
    converged = sum(
        1
        for p in points
        if current.get(p.environment) is not None and p.acknowledged_sha256 == current[p.environment].sha256
    )
    return {
        "active": len(points),
        "converged": converged,
        "behind": len(points) - converged,
        "alerts": DistributionAlert.objects.filter(resolved_at__isnull=True).count(),
    }


def publication_acknowledgements(publication) -> list[dict[str, Any]]:
    """Per point of the environment: when this version reached it (or what happened instead)."""
    deliveries = {
        d.point_id: d
        for d in Delivery.objects.filter(
            Q(publication=publication) | Q(number=publication.version, sha256=publication.sha256),
            kind=DeliveryKind.BUNDLE,
        ).order_by("created_at")
    }
    rows = []
    for point in EnforcementPoint.objects.filter(environment=publication.environment).order_by("name"):
        delivery = deliveries.get(point.pk)
        enforced = point.acknowledged_version is not None and point.acknowledged_version >= publication.version
        rows.append({"point": point, "delivery": delivery, "beyond": enforced and delivery is None})
    return rows
