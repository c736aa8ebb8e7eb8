from celery import shared_task

from policies import actions


@shared_task(name="policies.tasks.expire_publications", autoretry_for=(Exception,), retry_backoff=True, max_retries=3)
def expire_publications() -> int:
    """Pending publication requests older than ZT_PUBLICATION_TTL_HOURS become expired; returns how many."""
    return actions.expire_publications()
