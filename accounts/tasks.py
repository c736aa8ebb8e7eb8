from celery import shared_task

from accounts import actions


@shared_task(
    name="accounts.tasks.purge_expired_credentials",
    autoretry_for=(Exception,),
    retry_backoff=True,
    max_retries=3,
)
def purge_expired_credentials() -> int:
    return actions.purge_expired_credentials()
