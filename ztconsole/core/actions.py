"""Verbs of the core app: a verification of the whole audit chain, asked for from the browser.

The request and the result are audit events themselves (``audit.verification_requested``, then
``audit.verified`` or ``audit.verification_failed``), written in the transaction that records them.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from typing import Any

from django.db import connection, transaction
from django.http import HttpRequest
from django.utils import timezone

from ztconsole.core import audit
from ztconsole.core.errors import ActionError
from ztconsole.core.models import AuditHead, AuditVerification, VerificationStatus

logger = logging.getLogger(__name__)
PROGRESS_EVERY_SECONDS = 0.5
# A whole-chain verification of 1M events takes seconds; one without a result after this was lost.
ABANDONED_AFTER = timedelta(minutes=15)


def _target(run: AuditVerification) -> tuple[str, str, str]:
    return ("core.auditverification", str(run.pk), f"audit verification {run.pk}")


def request_chain_verification(actor: Any, *, request: HttpRequest | None = None) -> AuditVerification:
    """Record the request (audited) and queue the Celery task that walks the whole chain.

    One run at a time; a run with no result after ``ABANDONED_AFTER`` (its task lost with the broker, its worker
    killed) is marked failed, audited, and no longer blocks a new one. The check and the new run are one
    transaction holding the chain's head, so two officers asking at once get one run.
    """
    with transaction.atomic():
        head = AuditHead.objects.select_for_update().filter(pk=1).values_list("seq", flat=True).first() or 0
        active = AuditVerification.objects.filter(status__in=(VerificationStatus.QUEUED, VerificationStatus.RUNNING))
        for stale in active.filter(requested_at__lt=timezone.now() - ABANDONED_AFTER):
            AuditVerification.objects.filter(pk=stale.pk).update(
                status=VerificationStatus.FAILED,
                summary=f"abandoned: no result within {int(ABANDONED_AFTER.total_seconds() // 60)} minutes",
                finished_at=timezone.now(),
            )
            audit.record(None, "audit.verification_failed", _target(stale), {"error": "abandoned"})
        if active.exists():
            raise ActionError(
                "a verification is already running: follow it, or wait until it ends", field="verification"
            )
        run = AuditVerification.objects.create(requested_by=actor, total=head)
        audit.record(actor, "audit.verification_requested", _target(run), {"head_seq": head}, request=request)
        transaction.on_commit(lambda: _enqueue(run.pk))
    return run


def _enqueue(run_id: Any) -> None:
    from ztconsole.core.tasks import verify_audit_chain

    verify_audit_chain.delay(str(run_id))


def save_progress(run_id: str, checked: int, total: int) -> None:
    """Record how far a run is, visible to the page at once.

    On PostgreSQL the walk reads the chain through a server-side cursor inside a transaction; an update on that
    connection would only show when the walk ends. It is written, committed, from a connection of its own.
    """
    if not connection.in_atomic_block:
        AuditVerification.objects.filter(pk=run_id).update(checked=checked, total=total)
        return

    def write() -> None:
        try:
            AuditVerification.objects.filter(pk=run_id).update(checked=checked, total=total)
        finally:
            connection.close()

    writer = threading.Thread(target=write, name="verification-progress")
    writer.start()
    writer.join()


def run_chain_verification(run_id: str) -> AuditVerification | None:
    """Walk the chain against every signed checkpoint, saving progress; idempotent (only a queued run starts)."""
    started = AuditVerification.objects.filter(pk=run_id, status=VerificationStatus.QUEUED).update(
        status=VerificationStatus.RUNNING
    )
    if not started:
        return None
    last_saved = [0.0]

    def progress(checked: int, total: int) -> None:
        now = time.monotonic()
        if now - last_saved[0] >= PROGRESS_EVERY_SECONDS:
            last_saved[0] = now
            save_progress(run_id, checked, total)

    run = AuditVerification.objects.get(pk=run_id)
    try:
        report = audit.verify_chain(progress=progress)
    except Exception as exc:
        logger.exception("audit verification %s could not run", run_id)
        with transaction.atomic():
            AuditVerification.objects.filter(pk=run_id).update(
                status=VerificationStatus.FAILED,
                summary=f"could not run: {exc.__class__.__name__}: {exc}"[:500],
                finished_at=timezone.now(),
            )
            audit.record(None, "audit.verification_failed", _target(run), {"error": exc.__class__.__name__})
        return AuditVerification.objects.get(pk=run_id)
    with transaction.atomic():
        AuditVerification.objects.filter(pk=run_id).update(
            status=VerificationStatus.DONE,
            checked=report.checked,
            total=max(report.checked, run.total),
            intact=report.ok,
            first_broken_seq=report.first_broken_seq,
            summary=report.summary()[:500],
            warnings=list(report.warnings),
            finished_at=timezone.now(),
        )
        audit.record(
            None,
            "audit.verified" if report.ok else "audit.verification_failed",
            _target(run),
            {
                "intact": report.ok,
                "checked": report.checked,
                "first_broken_seq": report.first_broken_seq,
                "checkpoints_verified": report.checkpoints_verified,
                "covered_seq": report.covered_seq,
                "summary": report.summary()[:300],
            },
        )
    return AuditVerification.objects.get(pk=run_id)
