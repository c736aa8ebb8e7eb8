import logging

from celery import shared_task
from celery.signals import worker_ready
from django.db import OperationalError, connection

from policies import actions
from policies.distribution import actions as distribution

logger = logging.getLogger(__name__)


@worker_ready.connect
def warm_control_client(**_) -> None:
    """Build the console's mutual-TLS client when the worker starts (the credential's key is decrypted and the CA
    chain loaded once), not inside the first fan-out after a restart."""
    try:
        distribution.control_client()
    except Exception as exc:  # no credential yet, database not there: the first delivery builds it or says why
        logger.info("control client not built at worker start: %s", exc)
    finally:
        connection.close()


@shared_task(name="policies.tasks.expire_publications", autoretry_for=(Exception,), retry_backoff=True, max_retries=3)
def expire_publications() -> int:
    """Pending publication requests older than ZT_PUBLICATION_TTL_HOURS become expired; returns how many."""
    return actions.expire_publications()


@shared_task(name="policies.tasks.deliver", acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True)
def deliver(delivery_id: int) -> str:
    """Send one outbox row to its enforcement point (idempotent: claimed, then recorded by its outcome)."""
    return distribution.deliver(delivery_id)


@shared_task(name="policies.tasks.deliver_batch", acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True)
def deliver_batch(delivery_ids: list[int]) -> dict:
    """Fan one publication's (or revocation delta's) deliveries out concurrently; answers recorded in batches."""
    return distribution.deliver_batch(delivery_ids)


@shared_task(name="policies.tasks.reconcile_enforcement_points")
def reconcile_enforcement_points() -> dict:
    """Beat: bring every active enforcement point to the version in force and the latest revocations."""
    return distribution.reconcile()


@shared_task(name="policies.tasks.probe_point")
def probe_point(point_id: int) -> str:
    """Ask one enforcement point for its status (a point that has been silent too long)."""
    return distribution.probe(point_id)
