"""Audit export pages: request with filters, watch progress, download the signed archive, fetch the key."""

from __future__ import annotations

from django.contrib import messages
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views import View

from accounts.stepup import StepUpRequiredMixin
from reports import actions, audit_export
from reports.forms import AuditExportForm
from reports.models import AuditExport
from ztconsole.core.errors import ActionError
from ztconsole.core.permissions import ConsoleView
from ztconsole.core.roles import EXPORT_AUDIT


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
        exports = AuditExport.objects.select_related("requested_by")[:50]
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
