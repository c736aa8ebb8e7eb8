"""The console's side of the PEP control API: HTTPS with mutual TLS and a pinned server certificate.

Plain standard library, no Django: the delivery actions pass in the files and the pin. The pin is checked
right after the handshake and before a single byte of the request is written, so a PEP presenting any
other certificate (even one our CA issued) receives nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import os
import ssl
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


class ControlError(Exception):
    """The PEP could not be reached or answered something that is not the control API."""


class PinMismatch(ControlError):
    """The PEP presented a certificate other than the one pinned at registration."""

    def __init__(self, presented: str, pinned: str) -> None:
        super().__init__(f"the PEP presented certificate sha256 {presented}, pinned {pinned}")
        self.presented = presented


@dataclass(frozen=True)
class ControlAnswer:
    http_status: int
    body: dict[str, Any]
    latency_ms: int


def client_context(*, ca_pem: str, cert_pem: str, key_pem: bytes) -> ssl.SSLContext:
    """A TLS client context presenting the console certificate and trusting only our CA chain.

    Host names are not checked: the pinned certificate hash is stronger, and control URLs are often
    addresses. The private key touches disk only for the instant ``load_cert_chain`` needs a path.
    """
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cadata=ca_pem)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_REQUIRED
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    descriptor, path = tempfile.mkstemp(prefix="zt-console-", suffix=".pem")
    try:
        os.fchmod(descriptor, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(cert_pem.encode() + b"\n" + key_pem)
        context.load_cert_chain(path)
    finally:
        os.unlink(path)
    return context


class _PinnedConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, *, context: ssl.SSLContext, timeout: float, pinned: str) -> None:
        super().__init__(host, port, context=context, timeout=timeout)
        self._pinned = pinned.lower()

    def connect(self) -> None:
        super().connect()
        presented = hashlib.sha256(self.sock.getpeercert(binary_form=True)).hexdigest()
        if not hmac.compare_digest(presented, self._pinned):
            self.sock.close()
            raise PinMismatch(presented, self._pinned)


class ControlClient:
    """One client per process and console credential; thread-safe (a connection per request)."""

    def __init__(self, context: ssl.SSLContext, *, timeout: float = 10.0) -> None:
        self.context = context
        self.timeout = timeout

    def call(
        self,
        control_url: str,
        method: str,
        path: str,
        body: bytes | None,
        *,
        pinned: str,
        content_encoding: str | None = None,
    ) -> ControlAnswer:
        parts = urlsplit(control_url)
        if parts.scheme != "https" or not parts.hostname:
            raise ControlError(f"the control URL must be https://host:port, not {control_url!r}")
        started = time.monotonic()
        connection = _PinnedConnection(
            parts.hostname, parts.port or 443, context=self.context, timeout=self.timeout, pinned=pinned
        )
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if content_encoding:
            headers["Content-Encoding"] = content_encoding
        try:
            connection.request(method, parts.path.rstrip("/") + path, body=body, headers=headers)
            response = connection.getresponse()
            raw = response.read()
        except PinMismatch:
            raise
        except (OSError, http.client.HTTPException, ssl.SSLError) as exc:
            raise ControlError(f"{type(exc).__name__}: {exc}") from None
        finally:
            connection.close()
        latency_ms = int((time.monotonic() - started) * 1000)
        try:
            answer = json.loads(raw or b"{}")
        except ValueError:
            raise ControlError(f"HTTP {response.status} with a body that is not JSON") from None
        if not isinstance(answer, dict) or "status" not in answer:
            raise ControlError(f"HTTP {response.status} without a status field")
        return ControlAnswer(response.status, answer, latency_ms)


_cache_lock = threading.Lock()
_cache: dict[str, ControlClient] = {}


def cached_client(key: str, factory) -> ControlClient:
    """The process's client for one console credential (``key``: its SHA-256); built once."""
    with _cache_lock:
        client = _cache.get(key)
        if client is None:
            client = _cache[key] = factory()
        return client
