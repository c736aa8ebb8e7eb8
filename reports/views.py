"""Audit export pages: request with filters, watch progress, download the signed archive, fetch the key."""

from __future__ import annotations

from django.contrib import messages
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views import View

from accounts.stepup import StepUpRequiredMixin
from reports import actions, audit_export
from reports.catalogue import Period, kinds
from reports.forms import AuditExportForm, ReportExportForm, ReportPeriodForm
from reports.models import AuditExport, ExportFormat
from ztconsole.core.action_views import ActionView
from ztconsole.core.errors import ActionError
from ztconsole.core.permissions import ConsoleView
from ztconsole.core.roles import ATTEST_ACCESS, EXPORT_AUDIT, VIEW_REPORTS


def _status(export: AuditExport) -> dict:
    return {
        "id": str(export.pk),
        "status": export.status,
        "written": export.written,
        "total": export.total,
        "percent": export.percent,
        "error": export.error,
        "download": actions.archive_path(export) is not None,
    }


class AuditExportListView(ConsoleView, StepUpRequiredMixin, View):
    """The export form and the latest exports; POST (step-up) queues a new one."""

    permission_required = EXPORT_AUDIT

    def _render(self, request: HttpRequest, form: AuditExportForm, status: int = 200) -> HttpResponse:
        exports = AuditExport.objects.filter(report="").select_related("requested_by")[:50]
        return render(request, "reports/audit_exports.html", {"form": form, "exports": exports}, status=status)

    def get(self, request: HttpRequest) -> HttpResponse:
        return self._render(request, AuditExportForm())

    def post(self, request: HttpRequest) -> HttpResponse:
        form = AuditExportForm(request.POST)
        if not form.is_valid():
            return self._render(request, form, status=400)
        try:
            export = actions.request_audit_export(
                request.user, fmt=form.cleaned_data["format"], filters=form.filters(), request=request
            )
        except ActionError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, str(exc))
            return self._render(request, form, status=400)
        messages.success(request, "Export queued: it is written in the background.")
        return redirect("reports:audit_export_detail", pk=export.pk)


class AuditExportDetailView(ConsoleView, View):
    permission_required = EXPORT_AUDIT

    def get(self, request: HttpRequest, pk) -> HttpResponse:
        export = get_object_or_404(AuditExport.objects.select_related("requested_by"), pk=pk)
        return render(request, "reports/audit_export_detail.html", {"export": export, "state": _status(export)})


class AuditExportStatusView(ConsoleView, View):
    """The small JSON the detail page polls for its progress bar."""

    permission_required = EXPORT_AUDIT

    def get(self, request: HttpRequest, pk) -> JsonResponse:
        return JsonResponse(_status(get_object_or_404(AuditExport, pk=pk)))


class AuditExportDownloadView(ConsoleView, View):
    permission_required = EXPORT_AUDIT

    def get(self, request: HttpRequest, pk) -> HttpResponse:
        export = get_object_or_404(AuditExport, pk=pk)
        try:
            path = actions.record_export_download(request.user, export, request=request)
        except ActionError as exc:
            return HttpResponse(str(exc), status=409, content_type="text/plain; charset=utf-8")
        return FileResponse(path.open("rb"), as_attachment=True, filename=path.name, content_type="application/zip")


class ExportPublicKeyView(ConsoleView, View):
    """The export public key(s), PEM: the current one first, then retired ones (rotation)."""

    permission_required = EXPORT_AUDIT

    def get(self, request: HttpRequest) -> HttpResponse:
        response = HttpResponse(audit_export.public_keys_pem(), content_type="application/x-pem-file")
        response["Content-Disposition"] = 'attachment; filename="ztconsole-export-key.pem"'
        return response


# --- reports on screen ----------------------------------------------------------------------------------


SCREEN_ROWS = 2000  # per table on the page; the CSV and JSON Lines exports hold every row


def _display(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "" if value is None else str(value)


class ReportIndexView(ConsoleView, View):
    """The reports, the controls each evidences, and the latest report exports."""

    permission_required = VIEW_REPORTS

    def get(self, request: HttpRequest) -> HttpResponse:
        exports = AuditExport.objects.exclude(report="").select_related("requested_by")[:25]
        return render(
            request,
            "reports/index.html",
            {
                "kinds": list(kinds().values()),
                "exports": exports if request.user.has_perm(EXPORT_AUDIT) else [],
                "can_export": request.user.has_perm(EXPORT_AUDIT),
            },
        )


class ReportView(ConsoleView, View):
    """One report for a period (in the URL: ?since=YYYY-MM-DD&until=YYYY-MM-DD), with charts and tables."""

    permission_required = VIEW_REPORTS

    def get(self, request: HttpRequest, slug: str) -> HttpResponse:
        kind = kinds().get(slug)
        if kind is None:
            raise Http404("no such report")
        form = ReportPeriodForm(request.GET or None)
        status = 200
        period = Period.default()
        if form.is_bound:
            if form.is_valid():
                period = form.period()
            else:
                status = 400
        report = kind.build(period)
        can_attest = slug == "access-review" and request.user.has_perm(ATTEST_ACCESS)
        tables = []
        for table in report.tables:
            keys = [key for key, _ in table.columns if key != "line_key"]  # the line key is for exports and forms
            tables.append(
                {
                    "table": table,
                    "columns": [(key, heading) for key, heading in table.columns if key != "line_key"],
                    "rows": [([_display(row.get(key)) for key in keys], row) for row in table.rows[:SCREEN_ROWS]],
                    "total": len(table.rows),
                    "cut": len(table.rows) > SCREEN_ROWS,
                    "attest": can_attest and table.id == "access",
                }
            )
        charts = [
            {
                "chart": chart,
                "data": chart.as_json(),
                "data_id": f"{chart.id}-data",
                "rows": [[_display(v) for v in r] for r in chart.table_rows()],
            }
            for chart in report.charts
        ]
        return render(
            request,
            "reports/report.html",
            {
                "report": report,
                "kind": kind,
                "form": form if form.is_bound else ReportPeriodForm(initial=period.as_text_inclusive()),
                "charts": charts,
                "tables": tables,
                "export_form": ReportExportForm(initial={**period.as_text_inclusive(), "format": ExportFormat.PDF}),
                "can_export": request.user.has_perm(EXPORT_AUDIT),
                "can_attest": can_attest,
                "query": request.GET.urlencode(),
            },
            status=status,
        )


class ReportExportView(ConsoleView, StepUpRequiredMixin, ActionView):
    """POST (step-up): queue a signed export of a report (CSV, JSON Lines or PDF), then follow its progress."""

    permission_required = EXPORT_AUDIT

    def act(self) -> str:
        slug = self.kwargs["slug"]
        form = ReportExportForm(self.request.POST)
        if not form.is_valid():
            field, errors = next(iter(form.errors.items()))
            raise ActionError(errors[0], field=field)
        period = actions.parse_period(form.cleaned_data["since"], form.cleaned_data["until"])
        self.object = actions.request_report_export(
            self.request.user, report=slug, fmt=form.cleaned_data["format"], period=period, request=self.request
        )
        return "Export queued: it is written and signed in the background."

    def refusal_message(self, exc: ActionError) -> str:
        return f"{exc.field}: {exc}" if exc.field else str(exc)

    def success_url(self) -> str:
        return reverse("reports:audit_export_detail", kwargs={"pk": self.object.pk})

    def failure_url(self) -> str:
        return reverse("reports:report", kwargs={"slug": self.kwargs["slug"]})


class AccessAttestView(ConsoleView, ActionView):
    """POST: attest or flag one line of the access review (audited), then back to the review."""

    permission_required = ATTEST_ACCESS

    def act(self) -> str:
        data = self.request.POST
        attestation = actions.attest_access_line(
            self.request.user,
            line_key=data.get("line", "")[:300],
            decision=data.get("decision", ""),
            comment=data.get("comment", ""),
            request=self.request,
        )
        decided = attestation.get_decision_display()
        return f"{decided}: {attestation.identity} through {attestation.via} ({attestation.rule})."

    def refusal_message(self, exc: ActionError) -> str:
        return f"{exc.field}: {exc}" if exc.field else str(exc)

    def success_url(self) -> str:
        back = self.request.POST.get("back", "")
        base = reverse("reports:report", kwargs={"slug": "access-review"})
        return f"{base}?{back}" if back and len(back) < 200 and back.isprintable() else base
