"""The Celery application: JSON only, tasks autodiscovered from every app, configured from settings."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ztconsole.settings")

app = Celery("ztconsole")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
