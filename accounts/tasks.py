from celery import shared_task
from django.conf import settings

from accounts import actions


@shared_task(
    name="accounts.tasks.purge_expired_credentials",
    autoretry_for=(Exception,),
    retry_backoff=True,
    max_retries=3,
)
def purge_expired_credentials() -> int:
    return actions.purge_expired_credentials()


@shared_task(
    name="accounts.tasks.mark_stale_device_posture",
    autoretry_for=(Exception,),
    retry_backoff=True,
    max_retries=3,
)
def mark_stale_device_posture() -> int:
    """Devices without a fresh posture report become of unknown compliance; returns how many changed."""
    return actions.mark_stale_devices_unknown(settings.ZT_POSTURE_TTL_SECONDS)
