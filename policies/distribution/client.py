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
    def __init__(
        self,
        host: str,
        port: int,
        *,
        context: ssl.SSLContext,
        timeout: float,
        pinned: str,
        session: ssl.SSLSession | None = None,
    ) -> None:
        super().__init__(host, port, context=context, timeout=timeout)
        self._pinned = pinned.lower()
        self._session = session
        self.resumed = False

    def connect(self) -> None:
        # HTTPSConnection.connect, offering the session this point gave us last time (an abbreviated handshake:
        # no certificates sent, signed or verified again). The pin is checked either way: a resumed session
        # carries the certificate the point presented when it was made.
        http.client.HTTPConnection.connect(self)
        self.sock = self._context.wrap_socket(self.sock, server_hostname=self.host, session=self._session)
        self.resumed = self.sock.session_reused
        presented = hashlib.sha256(self.sock.getpeercert(binary_form=True) or b"").hexdigest()
        if not hmac.compare_digest(presented, self._pinned):
            self.sock.close()
            raise PinMismatch(presented, self._pinned)


class ControlClient:
    """One client per process and console credential; thread-safe (a connection per request).

    It keeps the last TLS session of each point (control URL and pin) and offers it on the next connection, so a
    burst of deliveries to a fleet pays one full handshake per point, not one per delivery."""

    SESSIONS = 4096

    def __init__(self, context: ssl.SSLContext, *, timeout: float = 10.0) -> None:
        self.context = context
        self.timeout = timeout
        self._sessions: dict[tuple[str, int, str], ssl.SSLSession] = {}
        self._lock = threading.Lock()
        self.resumptions = 0  # connections that resumed a session (abbreviated handshakes), for tests and profiles

    def _session(self, key: tuple[str, int, str]) -> ssl.SSLSession | None:
        with self._lock:
            return self._sessions.get(key)

    def _keep(self, key: tuple[str, int, str], connection: http.client.HTTPSConnection) -> None:
        session = getattr(connection.sock, "session", None)
        with self._lock:
            self.resumptions += bool(getattr(connection, "resumed", False))
            if session is None:
                self._sessions.pop(key, None)
                return
            if len(self._sessions) >= self.SESSIONS and key not in self._sessions:
                self._sessions.pop(next(iter(self._sessions)))
            self._sessions[key] = session

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
        key = (parts.hostname, parts.port or 443, pinned.lower())
        connection = _PinnedConnection(
            key[0], key[1], context=self.context, timeout=self.timeout, pinned=pinned, session=self._session(key)
        )
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if content_encoding:
            headers["Content-Encoding"] = content_encoding
        try:
            connection.request(method, parts.path.rstrip("/") + path, body=body, headers=headers)
            response = connection.getresponse()
            raw = response.read()
            self._keep(key, connection)
        except PinMismatch:
            with self._lock:
                self._sessions.pop(key, None)
            raise
        except (OSError, http.client.HTTPException, ssl.SSLError) as exc:
            with self._lock:
                self._sessions.pop(key, None)
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
