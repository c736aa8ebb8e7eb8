"""Dashboard, health and the audit log pages."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views import View

from accounts.models import ApiToken, OathDevice
from ztconsole.core.filters import action_prefix
from ztconsole.core.health import run_checks
from ztconsole.core.keyset import Keyset, html_page, query_without_cursor
from ztconsole.core.models import AuditEvent, AuditHead
from ztconsole.core.permissions import PUBLIC, ConsoleView
from ztconsole.core.roles import VIEW_AUDIT, VIEW_CERTIFICATES, VIEW_CONSOLE, VIEW_POLICY, role_of

AUDIT_ORDER = Keyset(("-seq",))


class DashboardView(ConsoleView, View):
    permission_required = VIEW_CONSOLE

    def get(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        can_audit = user.has_perm(VIEW_AUDIT)
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
            from certificates.models import Certificate
            from certificates.selectors import dashboard_counts

            certificates = dashboard_counts(Certificate.objects.restrict(user), user)
        policy = None
        if user.has_perm(VIEW_POLICY):
            from policies.selectors import dashboard_summary

            policy = dashboard_summary()
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
            },
        )


class HealthView(View):
    """Load-balancer and operator probe: database, Redis and a Celery worker, each a real round trip."""

    permission_required = PUBLIC

    def get(self, request: HttpRequest) -> JsonResponse:
        healthy, checks = run_checks()
        return JsonResponse({"status": "ok" if healthy else "fail", "checks": checks}, status=200 if healthy else 503)


class AuditLogView(ConsoleView, View):
    """Newest first, keyset-paginated on seq so page cost stays flat at millions of events."""

    permission_required = VIEW_AUDIT

    def get(self, request: HttpRequest) -> HttpResponse:
        queryset = AuditEvent.objects.all()
        action = request.GET.get("action", "").strip()
        actor = request.GET.get("actor", "").strip()
        queryset = action_prefix(queryset, action[:64])
        if actor:
            queryset = queryset.filter(actor_label=actor)
        page = html_page(request, queryset, AUDIT_ORDER)
        return render(
            request,
            "core/audit_list.html",
            {
                "events": page.items,
                "page_obj": page,
                "query": query_without_cursor(request),
                "action": action,
                "actor": actor,
                "head": AuditHead.objects.filter(pk=1).first(),
                "live": not page.has_previous and not action and not actor,
            },
        )
