"""ZT Console project package: settings, URLs, ASGI, the Celery app and the cross-cutting core.

Importing the package imports nothing else, so its Django-free modules (``ztconsole.auditverify``) run where
Django is not installed. The Celery app is loaded by ``ztconsole.core`` when Django starts (so shared tasks
bind to it) and found by ``celery -A ztconsole`` in ``ztconsole.celery``.
"""
