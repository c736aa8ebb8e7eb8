"""The dashboard: tiles from every app, so it lives above them all (docs/architecture.md, "Layers")."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views import View

from accounts.models import ApiToken, OathDevice
from alerts.selectors import dashboard_summary as alerts_summary
from certificates.models import Certificate
from certificates.selectors import dashboard_counts
from policies.distribution.selectors import dashboard_summary as enforcement_summary
from policies.selectors import dashboard_summary
from sessions.selectors import dashboard_summary as sessions_summary
from ztconsole.core.models import AuditEvent, AuditHead
from ztconsole.core.permissions import ConsoleView
from ztconsole.core.roles import (
    VIEW_ALERTS,
    VIEW_AUDIT,
    VIEW_CERTIFICATES,
    VIEW_CONSOLE,
    VIEW_ENFORCEMENT_POINTS,
    VIEW_IDENTITIES,
    VIEW_POLICY,
    VIEW_SESSIONS,
    role_of,
)


class DashboardView(ConsoleView, View):
    permission_required = VIEW_CONSOLE

    def get(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        can_audit = user.has_perm(VIEW_AUDIT)
        if not user.has_perm(VIEW_IDENTITIES):
            # Someone who does not administer identities (a trader) sees what is theirs, not organisation counts.
            sessions = sessions_summary(user) if user.has_perm(VIEW_SESSIONS) else None
            return render(
                request, "core/dashboard.html", {"personal": True, "role": role_of(user), "sessions": sessions}
            )
        head = AuditHead.objects.filter(pk=1).first()
        tiles = {
            "identities": get_user_model().objects.filter(is_active=True).count(),
            "mfa_devices": OathDevice.objects.filter(confirmed=True, suspended_at__isnull=True).count(),
            "api_tokens": ApiToken.objects.filter(revoked_at__isnull=True, expires_at__gt=timezone.now()).count(),
            "audit_events": head.seq if head else 0,
        }
        recent = list(AuditEvent.objects.all()[:8]) if can_audit else []
        certificates = None
        if user.has_perm(VIEW_CERTIFICATES):
            certificates = dashboard_counts(Certificate.objects.restrict(user), user)
        policy = None
        if user.has_perm(VIEW_POLICY):
            policy = dashboard_summary()
        enforcement = enforcement_summary() if user.has_perm(VIEW_ENFORCEMENT_POINTS) else None
        sessions = sessions_summary(user) if user.has_perm(VIEW_SESSIONS) else None
        alerts = alerts_summary() if user.has_perm(VIEW_ALERTS) else None
        return render(
            request,
            "core/dashboard.html",
            {
                "tiles": tiles,
                "recent": recent,
                "can_audit": can_audit,
                "role": role_of(user),
                "certificates": certificates,
                "policy": policy,
                "enforcement": enforcement,
                "sessions": sessions,
                "alerts": alerts,
            },
        )
