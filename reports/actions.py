"""Verbs of the compliance officer's exports; each writes its audit event in the same transaction."""

from __future__ import annotations

import hashlib
import logging
import shutil
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from reports import audit_export, report_export
from reports.catalogue import Period, access, kinds
from reports.models import AccessAttestation, AuditExport, ExportFormat, ExportStatus, ReviewDecision
from ztconsole.core import audit
from ztconsole.core.errors import ActionError
from ztconsole.core.validators import plausible_date

logger = logging.getLogger(__name__)
FILTER_KEYS = ("since", "until", "actor", "action_prefix")
AUDIT_FORMATS = (ExportFormat.JSONL, ExportFormat.CSV)


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
    if fmt not in AUDIT_FORMATS:
        raise ActionError(f"one of {', '.join(AUDIT_FORMATS)}", field="format")
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


def _stem(export: AuditExport) -> str:
    return f"report-{export.report}-{export.pk}" if export.report else f"audit-export-{export.pk}"


def _archive_path(export: AuditExport) -> Path:
    return Path(settings.ZT_EXPORT_DIR) / f"{_stem(export)}.zip"


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
    if export.report:
        return _build_report_export(export)
    planned: dict[str, Any] = {}

    def write(folder: Path, requested: dict[str, Any]) -> dict[str, Any]:
        covered = planned["covered"] = audit_export.plan(export.filters)
        AuditExport.objects.filter(pk=export.pk).update(
            total=covered.total, first_seq=covered.first_seq, last_seq=covered.last_seq
        )
        return audit_export.write_export(
            folder,
            fmt=export.format,
            filters=export.filters,
            covered=covered,
            requested=requested,
            progress=_progress(export),
        )

    done = _write_signed_archive(export, "audit_export", write)
    if done is not None:
        signed, hashes = done
        covered = planned["covered"]
        _finish(
            export,
            "audit_export",
            written=signed["event_count"],
            hashes=hashes,
            details={
                "events": signed["event_count"],
                "first_seq": covered.first_seq,
                "last_seq": covered.last_seq,
                "key_id": signed["signature"]["key_id"],
            },
        )
    return AuditExport.objects.get(pk=export.pk)


def _progress(export: AuditExport):
    return lambda n: AuditExport.objects.filter(pk=export.pk).update(written=n)


def _write_signed_archive(export: AuditExport, verb: str, write) -> tuple[dict[str, Any], dict[str, str]] | None:
    """The one path of every export: ``write(folder, requested)`` writes and signs the folder, which is then
    archived and hashed; a failure is recorded on the export and audited (``<verb>.failed``) and gives None."""
    folder = Path(settings.ZT_EXPORT_DIR) / _stem(export)
    destination = _archive_path(export)
    try:
        requested = {
            "export_id": str(export.pk),
            "by": export.requested_by.get_username(),
            "at": audit_export.timestamp(export.requested_at),
            "format": export.format,
            "started_at": audit_export.timestamp(timezone.now()),
        }
        shutil.rmtree(folder, ignore_errors=True)  # a half-written folder from a worker that died
        signed = write(folder, requested)
        manifest_sha256 = hashlib.sha256(audit_export.verify_export.signed_bytes(signed)).hexdigest()
        audit_export.archive(folder, destination)
        with destination.open("rb") as handle:
            archive_sha256, _ = audit_export.verify_export.file_sha256(handle)
    except Exception as exc:
        logger.exception("%s %s failed", verb.replace("_", " "), export.pk)
        shutil.rmtree(folder, ignore_errors=True)
        destination.unlink(missing_ok=True)
        with transaction.atomic():
            AuditExport.objects.filter(pk=export.pk).update(
                status=ExportStatus.FAILED, error=f"{exc.__class__.__name__}: {exc}"[:300], finished_at=timezone.now()
            )
            audit.record(None, f"{verb}.failed", _target(export), {"error": exc.__class__.__name__})
        return None
    hashes = {"archive_name": destination.name, "archive_sha256": archive_sha256, "manifest_sha256": manifest_sha256}
    return signed, hashes


def _finish(
    export: AuditExport, verb: str, *, written: int, hashes: dict[str, str], details: dict[str, Any], **fields
) -> None:
    with transaction.atomic():
        AuditExport.objects.filter(pk=export.pk).update(
            status=ExportStatus.DONE, written=written, finished_at=timezone.now(), **hashes, **fields
        )
        audit.record(
            None,
            f"{verb}.completed",
            _target(export),
            {
                **details,
                "manifest_sha256": hashes["manifest_sha256"],
                "archive_sha256": hashes["archive_sha256"],
            },
        )


def _target(export: AuditExport) -> tuple[str, str, str]:
    return ("reports.auditexport", str(export.pk), f"{export.kind_label} {export.pk}")


def record_export_download(actor: Any, export: AuditExport, *, request: HttpRequest | None = None) -> Path:
    """Audit a download of a finished export and return its archive; refuses one that is not ready."""
    path = archive_path(export)
    if path is None:
        raise ActionError("this export has no archive to download (not finished, failed or removed)", field="export")
    with transaction.atomic():
        audit.record(
            actor,
            "report_export.downloaded" if export.report else "audit_export.downloaded",
            _target(export),
            {"archive_sha256": export.archive_sha256},
            request=request,
        )
    return path


# --- report exports -------------------------------------------------------------------------------------


def parse_period(since: str, until: str) -> Period:
    """A report period from two ISO dates (``until`` included by the officer, so the period ends the day after)."""
    try:
        first = date.fromisoformat(since)
    except ValueError:
        raise ActionError("a date as YYYY-MM-DD", field="since") from None
    try:
        last = date.fromisoformat(until)
    except ValueError:
        raise ActionError("a date as YYYY-MM-DD", field="until") from None
    for name, day in (("since", first), ("until", last)):
        try:
            plausible_date(day)
        except ValueError as exc:
            raise ActionError(str(exc), field=name) from None
    if last < first:
        raise ActionError("must not be before the start of the period", field="until")
    if (last - first).days > 3660:
        raise ActionError("at most ten years", field="until")
    return Period.of_days(first, last + timedelta(days=1))


def request_report_export(
    actor: Any, *, report: str, fmt: str, period: Period, request: HttpRequest | None = None
) -> AuditExport:
    """Record the request of a signed report export (audited) and queue the task that writes it."""
    if report not in kinds():
        raise ActionError("not a report of this console", field="report")
    if fmt not in ExportFormat.values:
        raise ActionError(f"one of {', '.join(ExportFormat.values)}", field="format")
    filters = period.as_text()
    with transaction.atomic():
        export = AuditExport.objects.create(requested_by=actor, format=fmt, report=report, filters=filters)
        audit.record(
            actor,
            "report_export.requested",
            _target(export),
            {"report": report, "format": fmt, "period": filters},
            request=request,
        )
        transaction.on_commit(lambda: _enqueue(export.pk))
    return export


def _build_report_export(export: AuditExport) -> AuditExport:
    totals: dict[str, int] = {}

    def write(folder: Path, requested: dict[str, Any]) -> dict[str, Any]:
        period = Period.of_days(
            date.fromisoformat(export.filters["since"]), date.fromisoformat(export.filters["until"])
        )
        built = kinds()[export.report].build(period)
        total = totals["rows"] = sum(len(t.rows) for t in report_export.data_tables(built))
        AuditExport.objects.filter(pk=export.pk).update(total=total)
        return report_export.write_report_export(
            folder, report=built, fmt=export.format, requested=requested, progress=_progress(export)
        )

    done = _write_signed_archive(export, "report_export", write)
    if done is not None:
        signed, hashes = done
        _finish(
            export,
            "report_export",
            written=totals["rows"],
            total=totals["rows"],
            hashes=hashes,
            details={
                "report": export.report,
                "format": export.format,
                "rows": totals["rows"],
                "files": [entry["name"] for entry in signed["files"]],
                "key_id": signed["signature"]["key_id"],
            },
        )
    return AuditExport.objects.get(pk=export.pk)


# --- access review --------------------------------------------------------------------------------------


def attest_access_line(
    actor: Any, *, line_key: str, decision: str, comment: str = "", request: HttpRequest | None = None
) -> AccessAttestation:
    """A reviewer attests (the access is right) or flags (it is not) one line of the access review; audited.

    The line must be one the policy in force grants now; nobody reviews their own access; a flag needs a comment.
    """
    if decision not in ReviewDecision.values:
        raise ActionError(f"one of {', '.join(ReviewDecision.values)}", field="decision")
    comment = (comment or "").strip()
    if len(comment) > 500:
        raise ActionError("at most 500 characters", field="comment")
    if decision == ReviewDecision.FLAG and not comment:
        raise ActionError("say what is wrong with this access", field="comment")
    found = access.find_line(line_key, timezone.now() + timedelta(seconds=1))
    if found is None:
        raise ActionError("this line is not in the policy in force (it changed since the page was shown)", field="line")
    line, version = found
    if line.identity == actor.get_username():
        raise ActionError("nobody reviews their own access: another reviewer must decide this line", field="line")
    with transaction.atomic():
        attestation = AccessAttestation.objects.create(
            line_key=line.key,
            environment=line.environment,
            policy_version=version.version,
            identity=line.identity,
            rule=line.rule,
            via=line.via,
            decision=decision,
            comment=comment,
            reviewer=actor,
        )
        audit.record(
            actor,
            "access_review.attested" if decision == ReviewDecision.ATTEST else "access_review.flagged",
            ("reports.accessattestation", str(attestation.pk), f"{line.identity} via {line.via}: {line.rule}"),
            {
                "line": line.key,
                "environment": line.environment,
                "policy_version": version.version,
                "identity": line.identity,
                "rule": line.rule,
                "via": line.via,
                "target": line.target,
                "message_types": line.message_types,
                "comment": comment,
            },
            request=request,
        )
    return attestation
