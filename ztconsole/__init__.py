"""ZT Console project package: settings, URLs, ASGI, the Celery app and the cross-cutting core."""

from ztconsole.celery import app as celery_app

__all__ = ["celery_app"]
