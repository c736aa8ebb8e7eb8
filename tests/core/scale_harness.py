"""Real Celery processes for the scale-out test, with a line written to a file per task sent or run.

``python -m tests.core.scale_harness worker NAME LOG`` runs a worker (solo pool) named NAME;
``python -m tests.core.scale_harness beat SCHEDULE_FILE LOG ENTRY SECONDS`` runs the one beat with the
settings' beat entry ENTRY every SECONDS (the real task; only the interval is shortened for the test).
Lines are ``<event> <task id> <task name> <process>``, appended and flushed one by one, so a killed
process leaves every line it wrote.
"""

from __future__ import annotations

import os
import sys


def _log(path: str):
    handle = open(path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - open for the process lifetime

    def write(event: str, task_id: str, name: str) -> None:
        handle.write(f"{event} {task_id} {name} {os.getpid()}\n")
        handle.flush()
        os.fsync(handle.fileno())

    return write


def worker(name: str, log: str) -> None:
    import django

    django.setup()
    from celery.signals import task_postrun, task_prerun

    from ztconsole.celery import app

    write = _log(log)
    task_prerun.connect(lambda task_id, task, **_: write("start", task_id, task.name), weak=False)
    task_postrun.connect(lambda task_id, task, **_: write("done", task_id, task.name), weak=False)
    app.worker_main(["worker", "--pool=solo", f"--hostname={name}@%h", "--loglevel=WARNING", "--without-gossip"])


def beat(schedule_file: str, log: str, entry: str, seconds: str) -> None:
    import django

    django.setup()
    from celery.signals import after_task_publish
    from django.conf import settings

    from ztconsole.celery import app

    write = _log(log)
    after_task_publish.connect(lambda headers, **_: write("sent", headers["id"], headers["task"]), weak=False)
    app.conf.beat_schedule = {entry: {**settings.CELERY_BEAT_SCHEDULE[entry], "schedule": float(seconds)}}
    app.start(["beat", f"--schedule={schedule_file}", "--loglevel=WARNING"])


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    {"worker": worker, "beat": beat}[command](*args)
