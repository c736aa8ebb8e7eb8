"""Hook receivers (docs/architecture.md, "Layers"): thin, they enqueue work after the firing action commits."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

from alerts import forwarding

logger = logging.getLogger(__name__)


def _scan_now() -> None:
    from alerts import tasks

    try:
        tasks.scan_sign_in_failures.apply_async(retry=False)
    except Exception:  # a broker error must not fail a sign-in; beat scans every few seconds
        logger.warning("sign-in failure scan not enqueued; the periodic scan will see it", exc_info=True)


def sign_in_failed(actor: Any, subject: str, *, request: Any = None) -> None:
    """A failed sign-in was audited: wake the burst detectors once it commits (no waiting for beat)."""
    transaction.on_commit(_scan_now)


def audit_checkpoint_signed(actor: Any, subject: Any, *, request: Any = None) -> None:
    """A checkpoint was signed: it goes to the SIEM outbox in the same transaction (sent after the commit)."""
    forwarding.checkpoint_signed(actor, subject, request=request)
