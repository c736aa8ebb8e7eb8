"""One Redis connection pool per process for Django's cache.

Django keeps its cache objects per request context under ASGI (``django.core.cache.caches`` is context-local),
and each ``RedisCache`` object opens its own connection pool: every request that touched the cache opened a new
TCP connection to Redis (and resolved the host name) and left it behind. On the PEP event ingestion path that was
one connection per batch, for the alert detectors' wake-up mark (alerts/receivers.py), about a tenth of a web
process's time (docs/sessions.md, "Performance"). ``CACHES["default"]["OPTIONS"]["pool_class"]`` names this class:
every cache object of the process then borrows from one pool (redis-py's pools are thread-safe, and a pool used
after a fork drops its parent's connections).
"""

from __future__ import annotations

import threading
from typing import Any

import redis


class SharedConnectionPool(redis.ConnectionPool):
    _shared: dict[tuple, redis.ConnectionPool] = {}
    _lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> redis.ConnectionPool:  # type: ignore[override]
        key = (url, tuple(sorted((name, repr(value)) for name, value in kwargs.items())))
        with cls._lock:
            pool = cls._shared.get(key)
            if pool is None:
                pool = cls._shared[key] = super().from_url(url, **kwargs)
            return pool
