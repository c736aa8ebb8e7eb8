import socket

from celery import shared_task


@shared_task(name="core.ping", acks_late=False, ignore_result=False)
def ping() -> dict:
    """Answers /healthz's round trip: proves a worker consumes the queue and can write results."""
    return {"pong": True, "worker": socket.gethostname()}
