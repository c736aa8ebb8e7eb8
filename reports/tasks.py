from celery import shared_task

from reports import actions


@shared_task(name="reports.build_audit_export", autoretry_for=(OSError,), retry_backoff=True, max_retries=3)
def build_audit_export(export_id: str) -> str | None:
    """Write, sign and archive one audit export; returns its final status (None when already taken)."""
    export = actions.build_audit_export(export_id)
    return export.status if export else None
