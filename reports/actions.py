"""Verbs of the compliance officer's exports; each writes its audit event in the same transaction."""

from __future__ import annotations

import hashlib
import logging
import shutil
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from reports import audit_export
from reports.models import AuditExport, ExportFormat, ExportStatus
from ztconsole.core import audit
from ztconsole.core.errors import ActionError

logger = logging.getLogger(__name__)
FILTER_KEYS = ("since", "until", "actor", "action_prefix")


def _clean_filters(filters: dict[str, Any]) -> dict[str, str]:
    cleaned = {}
    for key in FILTER_KEYS:
        value = str(filters.get(key) or "").strip()
        if len(value) > 150:
            raise ActionError("at most 150 characters", field=key)
        if value and key in ("since", "until"):
            try:
                audit_export.parse_timestamp(value)
            except ValueError:
                raise ActionError("a UTC time as YYYY-MM-DDTHH:MM:SS.ffffffZ", field=key) from None
        if value:
            cleaned[key] = value
    if "since" in cleaned and "until" in cleaned and cleaned["until"] <= cleaned["since"]:
        raise ActionError("must be after the start of the period", field="until")
    return cleaned


def request_audit_export(
    actor: Any, *, fmt: str, filters: dict[str, Any], request: HttpRequest | None = None
) -> AuditExport:
    """Record the request (audited) and queue the Celery task that writes the signed archive."""
    if fmt not in ExportFormat.values:
        raise ActionError(f"one of {', '.join(ExportFormat.values)}", field="format")
    cleaned = _clean_filters(filters)
    with transaction.atomic():
        export = AuditExport.objects.create(requested_by=actor, format=fmt, filters=cleaned)
        audit.record(
            actor,
            "audit_export.requested",
            ("reports.auditexport", str(export.pk), f"audit export {export.pk}"),
            {"format": fmt, "filters": cleaned},
            request=request,
        )
        transaction.on_commit(lambda: _enqueue(export.pk))
    return export


def _enqueue(export_id: Any) -> None:
    from reports.tasks import build_audit_export as task

    task.delay(str(export_id))


def _archive_path(export: AuditExport) -> Path:
    return Path(settings.ZT_EXPORT_DIR) / f"audit-export-{export.pk}.zip"


def archive_path(export: AuditExport) -> Path | None:
    """The finished archive on disk, or None while it is not (or no longer) there."""
    path = _archive_path(export)
    return path if export.status == ExportStatus.DONE and path.is_file() else None


def build_audit_export(export_id: str) -> AuditExport | None:
    """Write, sign and archive one export; idempotent (only a queued export is started, by one worker)."""
    started = AuditExport.objects.filter(pk=export_id, status=ExportStatus.QUEUED).update(status=ExportStatus.RUNNING)
    if not started:
        return None
    export = AuditExport.objects.select_related("requested_by").get(pk=export_id)
    folder = Path(settings.ZT_EXPORT_DIR) / f"audit-export-{export.pk}"
    destination = _archive_path(export)
    try:
        covered = audit_export.plan(export.filters)
        AuditExport.objects.filter(pk=export.pk).update(
            total=covered.total, first_seq=covered.first_seq, last_seq=covered.last_seq
        )
        requested = {
            "export_id": str(export.pk),
            "by": export.requested_by.get_username(),
            "at": audit_export.timestamp(export.requested_at),
            "format": export.format,
            "started_at": audit_export.timestamp(timezone.now()),
        }
        shutil.rmtree(folder, ignore_errors=True)  # a half-written folder from a worker that died
        signed = audit_export.write_export(
            folder,
            fmt=export.format,
            filters=export.filters,
            covered=covered,
            requested=requested,
            progress=lambda n: AuditExport.objects.filter(pk=export.pk).update(written=n),
        )
        manifest_sha256 = hashlib.sha256(audit_export.verify_export.signed_bytes(signed)).hexdigest()
        audit_export.archive(folder, destination)
        with destination.open("rb") as handle:
            archive_sha256, _ = audit_export.verify_export.file_sha256(handle)
    except Exception as exc:
        logger.exception("audit export %s failed", export.pk)
        shutil.rmtree(folder, ignore_errors=True)
        destination.unlink(missing_ok=True)
        with transaction.atomic():
            AuditExport.objects.filter(pk=export.pk).update(
                status=ExportStatus.FAILED, error=f"{exc.__class__.__name__}: {exc}"[:300], finished_at=timezone.now()
            )
            audit.record(None, "audit_export.failed", _target(export), {"error": exc.__class__.__name__})
        return AuditExport.objects.get(pk=export.pk)
    with transaction.atomic():
        AuditExport.objects.filter(pk=export.pk).update(
            status=ExportStatus.DONE,
            written=signed["event_count"],
            archive_name=destination.name,
            archive_sha256=archive_sha256,
            manifest_sha256=manifest_sha256,
            finished_at=timezone.now(),
        )
        audit.record(
            None,
            "audit_export.completed",
            _target(export),
            {
                "events": signed["event_count"],
                "first_seq": covered.first_seq,
                "last_seq": covered.last_seq,
                "key_id": signed["signature"]["key_id"],
                "manifest_sha256": manifest_sha256,
                "archive_sha256": archive_sha256,
            },
        )
    return AuditExport.objects.get(pk=export.pk)


def _target(export: AuditExport) -> tuple[str, str, str]:
    return ("reports.auditexport", str(export.pk), f"audit export {export.pk}")


def record_export_download(actor: Any, export: AuditExport, *, request: HttpRequest | None = None) -> Path:
    """Audit a download of a finished export and return its archive; refuses one that is not ready."""
    path = archive_path(export)
    if path is None:
        raise ActionError("this export has no archive to download (not finished, failed or removed)", field="export")
    with transaction.atomic():
        audit.record(
            actor,
            "audit_export.downloaded",
            _target(export),
            {"archive_sha256": export.archive_sha256},
            request=request,
        )
    return path
