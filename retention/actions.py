"""Audit retention: events older than ZT_AUDIT_RETENTION_DAYS are archived, signed, then deleted (docs/audit.md).

The order is what keeps the chain verifiable across the cut:

1. the events up to the cut are verified and the cut is signed as a ``retention`` checkpoint (also written
   outside the database, like every checkpoint);
2. they are written to a signed archive in the export format (``reports.audit_export``: events, chain.csv,
   manifest signed with the export key), whose last hash is the checkpoint's hash;
3. the archive is read back and verified as an examiner would (``ztconsole.verify_export``);
4. only then are the events deleted, and the retention itself audited, in one transaction.

The live chain then starts at the event after the cut; its ``prev_hash`` is the archive's last hash and the
retention checkpoint's hash, which is the anchor every verifier starts from.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import zipfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Max, Min
from django.utils import timezone

from alerts import forwarding
from alerts.models import SiemCursor
from reports import audit_export
from ztconsole import verify_export
from ztconsole.auditverify import load_public_keys
from ztconsole.core import audit
from ztconsole.core.models import AuditEvent

logger = logging.getLogger(__name__)
LOCK_KEY = "retention:audit"


class RetentionFailed(Exception):
    """The archive did not verify: nothing was deleted."""


@dataclass(frozen=True)
class RetentionResult:
    first_seq: int
    last_seq: int
    deleted: int
    archive: Path
    manifest_sha256: str


def archive_dir() -> Path:
    return Path(settings.ZT_AUDIT_ARCHIVE_DIR)


def _cut(now: datetime) -> tuple[int, int] | None:
    """(first seq, last seq) of the events to archive now, or None."""
    cutoff = now - timedelta(days=settings.ZT_AUDIT_RETENTION_DAYS)
    bounds = AuditEvent.objects.aggregate(first=Min("seq"), head=Max("seq"))
    last = AuditEvent.objects.filter(created_at__lt=cutoff).aggregate(last=Max("seq"))["last"]
    if last is None or bounds["first"] is None:
        return None
    if settings.ZT_SIEM_FORWARD_AUDIT:
        # Never delete what a SIEM destination has not acknowledged yet (one that never sent: nothing at all).
        acknowledged = dict(SiemCursor.objects.values_list("destination", "last_seq"))
        for destination in forwarding.configured():
            last = min(last, acknowledged.get(destination, 0))
    if last < bounds["first"]:
        return None
    return bounds["first"], last


def apply_retention(now: datetime | None = None) -> RetentionResult | None:
    """Archive then delete the events older than the retention; None when retention is off or nothing is due."""
    if not settings.ZT_AUDIT_RETENTION_DAYS:
        return None
    now = now or timezone.now()
    token = secrets.token_hex(8)
    if not cache.add(LOCK_KEY, token, 3600):
        return None  # another worker is at it
    try:
        return _apply(now)
    finally:
        if cache.get(LOCK_KEY) == token:
            cache.delete(LOCK_KEY)


def _apply(now: datetime) -> RetentionResult | None:
    cut = _cut(now)
    if cut is None:
        return None
    first, last = cut
    signed = audit.retention_checkpoint(last)
    directory = archive_dir()
    directory.mkdir(parents=True, exist_ok=True)
    name = f"audit-archive-{first:012d}-{last:012d}"
    folder = directory / f".{name}-{secrets.token_hex(4)}"
    covered = audit_export.Plan(head_seq=last, first_seq=first, last_seq=last, total=last - first + 1)
    requested = {
        "by": "retention",
        "at": audit_export.timestamp(now),
        "retention_days": settings.ZT_AUDIT_RETENTION_DAYS,
        "checkpoint": {"seq": signed.seq, "hash": signed.hash, "reason": signed.reason, "key_id": signed.key_id},
    }
    manifest = audit_export.write_export(
        folder, fmt="jsonl", filters={}, covered=covered, requested=requested, progress=lambda _count: None
    )
    partial = directory / f".{name}.zip.partial"
    audit_export.archive(folder, partial)
    with partial.open("rb") as handle:
        os.fsync(handle.fileno())
    target = directory / f"{name}.zip"
    os.replace(partial, target)

    report = verify_export.verify_export(target, load_public_keys(audit_export.public_keys_pem()))
    if not report.ok or manifest["range"]["last_hash"] != signed.hash:
        logger.error("audit retention: archive %s does not verify: %s", target, report.problems)
        raise RetentionFailed(f"{target.name}: {'; '.join(report.problems) or 'last hash differs from the cut'}")
    manifest_sha256 = member_sha256(target, verify_export.MANIFEST)

    with transaction.atomic():
        deleted = audit.delete_through(last)
        audit.record(
            None,
            "audit.retention_applied",
            ("retention.archive", name, f"{name}.zip"),
            {
                "first_seq": first,
                "last_seq": last,
                "last_hash": signed.hash,
                "deleted": deleted,
                "archive": f"{name}.zip",
                "manifest_sha256": manifest_sha256,
                "retention_days": settings.ZT_AUDIT_RETENTION_DAYS,
            },
        )
    logger.info("audit retention: %s events up to seq %s archived to %s and deleted", deleted, last, target)
    return RetentionResult(first, last, deleted, target, manifest_sha256)


def member_sha256(archive: Path, member: str) -> str:
    """SHA-256 of one file of the archive's single top folder (the manifest: what the audit event names)."""
    with zipfile.ZipFile(archive) as bundle:
        top = bundle.namelist()[0].split("/", 1)[0]
        with bundle.open(f"{top}/{member}") as handle:
            return verify_export.file_sha256(handle)[0]


def describe(result: RetentionResult) -> str:
    return json.dumps(
        {"first_seq": result.first_seq, "last_seq": result.last_seq, "archive": result.archive.name}, sort_keys=True
    )
