"""Health and the audit log pages. (The dashboard composes the apps: console/views.py.)"""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views import View

from ztconsole.core import actions, audit, explorer
from ztconsole.core.action_views import ActionView
from ztconsole.core.health import run_checks
from ztconsole.core.keyset import Keyset, html_page, page_size_from, query_without_cursor
from ztconsole.core.models import AuditEvent, AuditHead, AuditVerification, VerificationStatus
from ztconsole.core.permissions import PUBLIC, ConsoleView
from ztconsole.core.roles import VERIFY_AUDIT, VIEW_AUDIT

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
    """The audit explorer: combinable filters held in the URL, newest first, keyset-paginated on seq."""

    permission_required = VIEW_AUDIT

    def get(self, request: HttpRequest) -> HttpResponse:
        # The list page's older names stay valid in bookmarks: ?action=auth. reads as a prefix.
        form = explorer.ExplorerForm(request.GET or None)
        actions = explorer.distinct_actions()
        queryset = AuditEvent.objects.all()
        status = 200
        if form.is_bound and not form.is_valid():
            status = 400
            queryset = queryset.none()
        elif form.is_bound:
            queryset, branches = explorer.apply(queryset, form.cleaned_data, actions)
            if branches:
                size = page_size_from(request.GET.get("page_size"), AUDIT_ORDER) or AUDIT_ORDER.default_size
                seqs = explorer.branch_seqs(queryset, branches, AUDIT_ORDER, request.GET.get("cursor"), size)
                queryset = AuditEvent.objects.filter(seq__in=seqs)
        page = html_page(request, queryset, AUDIT_ORDER)
        active = form.active() if form.is_bound else {}
        active.pop("page_size", None)
        return render(
            request,
            "core/audit_list.html",
            {
                "form": form,
                "events": page.items,
                "page_obj": page,
                "query": query_without_cursor(request),
                "actions": actions,
                "filtered": bool(active),
                "head": AuditHead.objects.filter(pk=1).first(),
                "live": not page.has_previous and not active and status == 200,
                "can_verify": request.user.has_perm(VERIFY_AUDIT),
            },
            status=status,
        )


def _details_rows(details: Any) -> list[dict[str, Any]]:
    """Before/after pairs an action recorded (``from``/``to``, ``before``/``after``, or ``{field: {from, to}}``)."""
    if not isinstance(details, dict):
        return []
    rows = []
    for before_key, after_key in (("from", "to"), ("before", "after"), ("old", "new")):
        if before_key in details or after_key in details:
            rows.append({"field": "value", "before": details.get(before_key), "after": details.get(after_key)})
    for key, value in details.items():
        if isinstance(value, dict) and ({"from", "to"} & value.keys() or {"before", "after"} & value.keys()):
            rows.append(
                {
                    "field": key,
                    "before": value.get("from", value.get("before")),
                    "after": value.get("to", value.get("after")),
                }
            )
    return rows


class AuditEventDetailView(ConsoleView, View):
    """One event in full: details, request id, source address, its hashes and "verify up to here"."""

    permission_required = VIEW_AUDIT

    def get(self, request: HttpRequest, seq: int) -> HttpResponse:
        event = get_object_or_404(AuditEvent, seq=seq)
        details = event.details
        if isinstance(details, str):
            details = json.loads(details)
        return render(
            request,
            "core/audit_event.html",
            {
                "event": event,
                "details_json": json.dumps(details, indent=2, sort_keys=True, ensure_ascii=False),
                "changes": _details_rows(details),
                "check": audit.verify_up_to(event.seq),
                "previous_seq": AuditEvent.objects.filter(seq=event.seq - 1).values_list("seq", flat=True).first(),
                "next_seq": AuditEvent.objects.filter(seq=event.seq + 1).values_list("seq", flat=True).first(),
                "back": request.GET.get("back", ""),
            },
        )


def _verification_state(run: AuditVerification) -> dict[str, Any]:
    return {
        "id": str(run.pk),
        "status": run.status,
        "written": run.checked,
        "total": run.total,
        "percent": run.percent,
        "error": "" if run.intact is not False else run.summary,
        "result": run.summary if run.status in (VerificationStatus.DONE, VerificationStatus.FAILED) else "",
        "intact": run.intact,
        "warnings": run.warnings,
        "download": False,
    }


class AuditVerificationListView(ConsoleView, View):
    """Past verifications of the whole chain, and the button that starts one."""

    permission_required = VERIFY_AUDIT

    def get(self, request: HttpRequest) -> HttpResponse:
        runs = AuditVerification.objects.select_related("requested_by")[:25]
        return render(request, "core/audit_verifications.html", {"runs": runs})


class AuditVerifyView(ConsoleView, ActionView):
    """POST: queue a verification of the whole chain (audited), then follow its progress."""

    permission_required = VERIFY_AUDIT

    def act(self) -> str:
        self.object = actions.request_chain_verification(self.request.user, request=self.request)
        return "Verification queued: a worker walks the whole chain against the signed checkpoints."

    def success_url(self) -> str:
        return reverse("core:audit_verification", kwargs={"pk": self.object.pk})

    def failure_url(self) -> str:
        return reverse("core:audit_verifications")


class AuditVerificationDetailView(ConsoleView, View):
    permission_required = VERIFY_AUDIT

    def get(self, request: HttpRequest, pk) -> HttpResponse:
        run = get_object_or_404(AuditVerification.objects.select_related("requested_by"), pk=pk)
        return render(request, "core/audit_verification.html", {"run": run, "state": _verification_state(run)})


class AuditVerificationStatusView(ConsoleView, View):
    """The small JSON the verification page polls for its progress bar."""

    permission_required = VERIFY_AUDIT

    def get(self, request: HttpRequest, pk) -> JsonResponse:
        return JsonResponse(_verification_state(get_object_or_404(AuditVerification, pk=pk)))
