from celery import shared_task

from retention import actions


@shared_task(name="retention.apply_audit_retention")
def apply_audit_retention() -> str | None:
    """Beat (hourly): a no-op unless ZT_AUDIT_RETENTION_DAYS is set and events older than it exist."""
    result = actions.apply_retention()
    return actions.describe(result) if result else None
