"""Health and the audit log pages. (The dashboard composes the apps: console/views.py.)"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views import View

from ztconsole.core.filters import action_prefix
from ztconsole.core.health import run_checks
from ztconsole.core.keyset import Keyset, html_page, query_without_cursor
from ztconsole.core.models import AuditEvent, AuditHead
from ztconsole.core.permissions import PUBLIC, ConsoleView
from ztconsole.core.roles import VIEW_AUDIT

AUDIT_ORDER = Keyset(("-seq",))


class HealthView(View):
    """Load-balancer probe: database, Redis and a Celery worker, each a real round trip; says only ok or fail.

    Vendors, versions, host names and error texts help an attacker: they are on /healthz/details, for
    signed-in operators.
    """

    permission_required = PUBLIC

    def get(self, request: HttpRequest) -> JsonResponse:
        healthy, _ = run_checks()
        return JsonResponse({"status": "ok" if healthy else "fail"}, status=200 if healthy else 503)


class HealthDetailsView(ConsoleView, View):
    """The same checks with each dependency's status, timing, version and error, for operators."""

    permission_required = VIEW_AUDIT

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
