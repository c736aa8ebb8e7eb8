"""Hook receivers (docs/architecture.md, "Layers"): thin, they enqueue work after the firing action commits."""

from __future__ import annotations

import logging
from typing import Any

from django.core.cache import cache
from django.db import transaction

from alerts import forwarding

logger = logging.getLogger(__name__)
# At most one scan waits in the queue, however fast failures arrive (a password-spraying flood must not become a
# flood of tasks): the task clears the mark when it starts; the mark expires on its own if the message is lost.
SCAN_PENDING_KEY = "alerts:scan-pending"
SCAN_PENDING_SECONDS = 5


def _scan_now() -> None:
    from alerts import tasks

    try:
        if not cache.add(SCAN_PENDING_KEY, 1, SCAN_PENDING_SECONDS):
            return  # a scan is already queued: it will read this failure too
        tasks.scan_sign_in_failures.apply_async(retry=False)
    except Exception:  # a broker error must not fail a sign-in; beat scans every few seconds
        logger.warning("sign-in failure scan not enqueued; the periodic scan will see it", exc_info=True)


def sign_in_failed(actor: Any, subject: str, *, request: Any = None) -> None:
    """A failed sign-in was audited: wake the burst detectors once it commits (no waiting for beat)."""
    transaction.on_commit(_scan_now)


DECISION_SCAN_PENDING_KEY = "alerts:decision-scan-pending"


def _scan_decisions_now() -> None:
    from alerts import tasks

    try:
        if not cache.add(DECISION_SCAN_PENDING_KEY, 1, SCAN_PENDING_SECONDS):
            return  # a scan is already queued: it will read these decisions too
        tasks.scan_decisions.apply_async(retry=False)
    except Exception:  # a broker error must not fail ingestion; beat scans every few seconds
        logger.warning("decision scan not enqueued; the periodic scan will see it", exc_info=True)


def fix_logons_flagged(actor: Any, subject: Any, *, request: Any = None) -> None:
    """A PEP's batch stored a denied Logon or one from an unexpected country: wake the decision-log detectors
    once it commits (no waiting for beat)."""
    transaction.on_commit(_scan_decisions_now)


def audit_checkpoint_signed(actor: Any, subject: Any, *, request: Any = None) -> None:
    """A checkpoint was signed: it goes to the SIEM outbox in the same transaction (sent after the commit)."""
    forwarding.checkpoint_signed(actor, subject, request=request)
