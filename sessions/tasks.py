"""Celery tasks of FIX sessions: thin, take ids, call actions."""

from celery import shared_task
from django.db import OperationalError

from policies.distribution.client import ControlError
from sessions import actions


@shared_task(
    name="sessions.tasks.terminate",
    bind=True,
    acks_late=True,
    max_retries=4,
    default_retry_delay=1,
)
def terminate(self, termination_id: int) -> str:
    """Ask the PEP to end a session; retried with backoff while the PEP cannot be reached, then recorded failed."""
    try:
        return actions.deliver_termination(termination_id)
    except (ControlError, OperationalError) as exc:
        if self.request.retries >= self.max_retries:
            if isinstance(exc, ControlError):
                actions.record_termination_failure(termination_id, exc)
            return "failed"
        raise self.retry(exc=exc, countdown=min(2**self.request.retries, 10)) from exc


@shared_task(name="sessions.tasks.prune")
def prune() -> dict:
    """Beat: delete ended sessions and raw events past their retention (ZT_SESSION_*_RETENTION_DAYS)."""
    return actions.prune()
