import socket

from celery import shared_task


@shared_task(name="core.ping", acks_late=False, ignore_result=False)
def ping() -> dict:
    """Answers /healthz's round trip: proves a worker consumes the queue and can write results."""
    return {"pong": True, "worker": socket.gethostname()}


@shared_task(name="core.audit_checkpoint", ignore_result=False)
def audit_checkpoint() -> int | None:
    """Beat, every ZT_AUDIT_CHECKPOINT_MINUTES: sign the audit chain's head when it moved (docs/audit.md)."""
    from ztconsole.core import audit
    from ztconsole.core.models import CheckpointReason

    made = audit.checkpoint(CheckpointReason.SCHEDULE)
    return made.seq if made else None


@shared_task(name="core.verify_audit_chain", ignore_result=False)
def verify_audit_chain(run_id: str) -> str | None:
    """Verify the whole audit chain for a request made in the browser; returns the run's final status."""
    from ztconsole.core import actions

    run = actions.run_chain_verification(run_id)
    return run.status if run else None
