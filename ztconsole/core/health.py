"""Health checks with a real round trip to each dependency."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.db import connection

CELERY_TIMEOUT_SECONDS = 3.0


def _timed(check) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        detail = check()
    except Exception as exc:  # each failure is reported, not raised: health must always answer
        return {"status": "fail", "error": f"{type(exc).__name__}: {exc}"[:300]}
    result = {"status": "ok", "ms": round((time.perf_counter() - started) * 1000, 1)}
    if detail:
        result.update(detail)
    return result


def check_database() -> dict[str, Any] | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"vendor": connection.vendor}


def check_redis() -> dict[str, Any] | None:
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
        info = client.info("server")
    finally:
        client.close()
    kind = "valkey" if "valkey_version" in info else "redis"
    return {"server": f"{kind} {info.get('valkey_version') or info.get('redis_version')}"}


def check_celery() -> dict[str, Any] | None:
    from ztconsole.core.tasks import ping

    result = ping.apply_async(expires=CELERY_TIMEOUT_SECONDS, retry=False)
    try:
        answer = result.get(timeout=CELERY_TIMEOUT_SECONDS)
    finally:
        result.forget()
    return {"worker": answer["worker"]}


def run_checks() -> tuple[bool, dict[str, Any]]:
    checks = {
        "database": _timed(check_database),
        "redis": _timed(check_redis),
        "celery": _timed(check_celery),
    }
    return all(c["status"] == "ok" for c in checks.values()), checks
