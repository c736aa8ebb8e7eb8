"""Health and the audit log pages. (The dashboard composes the apps: console/views.py.)"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views import View

from ztconsole.core.health import run_checks
from ztconsole.core.models import AuditEvent, AuditHead
from ztconsole.core.permissions import PUBLIC, ConsoleView
from ztconsole.core.roles import VIEW_AUDIT

AUDIT_PAGE_SIZE = 50


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
        queryset = AuditEvent.objects.order_by("-seq")
        action = request.GET.get("action", "").strip()
        actor = request.GET.get("actor", "").strip()
        before = request.GET.get("before", "")
        if action:
            queryset = queryset.filter(action__startswith=action)
        if actor:
            queryset = queryset.filter(actor_label=actor)
        if before.isdigit():
            queryset = queryset.filter(seq__lt=int(before))
        events = list(queryset[: AUDIT_PAGE_SIZE + 1])
        has_more = len(events) > AUDIT_PAGE_SIZE
        events = events[:AUDIT_PAGE_SIZE]
        return render(
            request,
            "core/audit_list.html",
            {
                "events": events,
                "next_before": events[-1].seq if has_more and events else None,
                "action": action,
                "actor": actor,
                "head": AuditHead.objects.filter(pk=1).first(),
                "live": not before and not action and not actor,
            },
        )
