from celery import shared_task

from certificates import actions


@shared_task(name="certificates.tasks.refresh_crl", autoretry_for=(Exception,), retry_backoff=True, max_retries=3)
def refresh_crl() -> int | None:
    """Re-sign the CRL before its nextUpdate; returns the new CRL number, or None when it was not due."""
    state = actions.refresh_crl_if_due()
    return state.number if state else None


@shared_task(
    name="certificates.tasks.watch_certificate_expiry", autoretry_for=(Exception,), retry_backoff=True, max_retries=3
)
def watch_certificate_expiry() -> int:
    """Expiry notices for certificates within 30 / 7 / 1 days of notAfter; returns how many were raised."""
    return actions.watch_certificate_expiry()
