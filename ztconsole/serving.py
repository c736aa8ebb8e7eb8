"""How uvicorn serves the console: which forwarding headers it may believe. No Django here.

uvicorn believes ``X-Forwarded-For`` and ``X-Forwarded-Proto`` from loopback by default, so a client
on the same host could claim any address, and that address lands in the audit log and in django-axes'
lockouts. The console declares its proxies with ``ZT_PROXY_COUNT``; with none, the headers are ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def proxy_count(environ: Mapping[str, str]) -> int:
    raw = environ.get("ZT_PROXY_COUNT", "0").strip() or "0"
    if not raw.isascii() or not raw.isdigit():
        raise ValueError(f"ZT_PROXY_COUNT must be a whole number >= 0, not {raw!r}")
    return int(raw)


def uvicorn_proxy_options(count: int, allow_ips: str = "127.0.0.1") -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.Config``: forwarding headers only when a proxy is declared."""
    if count <= 0:
        return {"proxy_headers": False}
    return {"proxy_headers": True, "forwarded_allow_ips": allow_ips}


def uvicorn_proxy_args(count: int, allow_ips: str = "127.0.0.1") -> list[str]:
    """The same as command-line arguments."""
    if count <= 0:
        return ["--no-proxy-headers"]
    return ["--proxy-headers", "--forwarded-allow-ips", allow_ips]
