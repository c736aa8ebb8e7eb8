"""Sending JSON to a SIEM: syslog (RFC 5424 over UDP, TCP or TLS) and an HTTPS webhook.

No Django models here: the forwarder (alerts/forwarding.py) decides what to send and when; this module only
frames and sends. The RFC 5424 formatter is ours (Python's SysLogHandler writes the older BSD format);
docs/dependencies.md says why.

Framing:

- UDP (RFC 5426): one message per datagram, nothing else; no acknowledgement exists, so a message that
  leaves the socket counts as sent.
- TCP (RFC 6587, octet counting) and TLS (RFC 5425, the same framing inside TLS): ``MSG-LEN SP SYSLOG-MSG``.
  A batch counts as sent once every frame was written and the connection was closed in order (our FIN or
  TLS close_notify, then the server's end of the connection or a quiet timeout), never by a reset.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

NILVALUE = "-"
# The private enterprise number RFC 5612 reserves for examples; SIEM parsers key on the SD-ID's name part.
SD_ID = "ztconsole@32473"
FACILITY_LOG_AUDIT = 13
SEVERITY_CODES = {"critical": 2, "error": 3, "warning": 4, "notice": 5, "info": 6}
MAX_UDP_PAYLOAD = 65_000


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """The webhook is never followed elsewhere: a redirect would carry its token and signature to another host
    (perhaps over plain http). A 3xx answer is a failed send (HTTPError below)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


class SendError(Exception):
    """The destination did not take the messages; the forwarder retries later."""


def _printable(value: str, limit: int) -> str:
    """RFC 5424 header fields: PRINTUSASCII (33-126), no spaces, bounded; NILVALUE when empty."""
    cleaned = "".join(ch for ch in value if 33 <= ord(ch) <= 126)[:limit]
    return cleaned or NILVALUE


def _sd_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def format_rfc5424(
    payload: dict[str, Any],
    *,
    hostname: str,
    app_name: str = "ztconsole",
    msgid: str = NILVALUE,
    severity: str = "info",
    facility: int = FACILITY_LOG_AUDIT,
    procid: str = NILVALUE,
    timestamp: datetime | None = None,
    structured: dict[str, str] | None = None,
) -> bytes:
    """One syslog message: ``<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD] BOM JSON``.

    The MSG part is the payload as compact JSON in UTF-8, announced by the BOM as RFC 5424 section 6.4 asks.
    ``structured`` becomes one SD-ELEMENT (``[ztconsole@32473 key="value" ...]``) so a SIEM can route on the
    message type and sequence without parsing the JSON.
    """
    pri = facility * 8 + SEVERITY_CODES.get(severity, 6)
    when = (timestamp or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if structured:
        params = " ".join(f'{_printable(k, 32)}="{_sd_escape(str(v))}"' for k, v in structured.items())
        sd = f"[{SD_ID} {params}]"
    else:
        sd = NILVALUE
    header = " ".join(
        (
            f"<{pri}>1",
            when,
            _printable(hostname, 255),
            _printable(app_name, 48),
            _printable(procid, 128),
            _printable(msgid, 32),
            sd,
        )
    )
    body = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return header.encode("ascii") + b" \xef\xbb\xbf" + body.encode("utf-8")


def octet_frame(message: bytes) -> bytes:
    """RFC 6587 section 3.4.1 octet counting: the length in decimal, a space, the message."""
    return str(len(message)).encode("ascii") + b" " + message


def _close_gracefully(raw: socket.socket) -> None:
    """Wait for the server's end of the connection, so closing never resets it with data unread.

    Closing a socket whose receive buffer holds bytes sends a reset, and the server may then drop what it had
    not read yet. A server that keeps the connection open past the timeout has still taken every byte.
    A reset here raises (the batch is sent again: at least once, never lost).
    """
    try:
        while raw.recv(4096):
            pass
    except (TimeoutError, ssl.SSLError):
        pass


@dataclass(frozen=True)
class SyslogTarget:
    """Where syslog goes: ``udp://host:514``, ``tcp://host:601`` or ``tls://host:6514``."""

    transport: str
    host: str
    port: int
    ca_file: str = ""
    client_cert_file: str = ""
    client_key_file: str = ""
    server_name: str = ""
    timeout: float = 5.0

    @classmethod
    def parse(cls, url: str, **options: Any) -> SyslogTarget:
        parts = urlsplit(url)
        default_ports = {"udp": 514, "tcp": 601, "tls": 6514}
        if parts.scheme not in default_ports:
            raise ValueError("the scheme must be udp, tcp or tls")
        if not parts.hostname:
            raise ValueError("a host is required")
        try:
            port = parts.port or default_ports[parts.scheme]
        except ValueError:
            raise ValueError("the port is not a number between 0 and 65535") from None
        return cls(parts.scheme, parts.hostname, port, **options)

    def tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=self.ca_file or None)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if self.client_cert_file:
            context.load_cert_chain(self.client_cert_file, self.client_key_file or None)
        return context

    def send(self, messages: list[bytes]) -> int:
        """Send every message, in order, over one connection; returns how many left. Raises SendError."""
        try:
            if self.transport == "udp":
                family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
                with socket.socket(family, socket.SOCK_DGRAM) as sock:
                    sock.settimeout(self.timeout)
                    for message in messages:
                        sock.sendto(message[:MAX_UDP_PAYLOAD], (self.host, self.port))
                return len(messages)
            with socket.create_connection((self.host, self.port), timeout=self.timeout) as raw:
                if self.transport == "tls":
                    tls = self.tls_context().wrap_socket(raw, server_hostname=self.server_name or self.host)
                    for message in messages:
                        tls.sendall(octet_frame(message))
                    try:
                        plain = tls.unwrap()  # close_notify; reads what the server sent (TLS 1.3 session tickets)
                    except (ssl.SSLEOFError, ssl.SSLZeroReturnError, TimeoutError):
                        tls.close()  # the server closed after reading everything, without a close_notify
                    else:
                        with plain:
                            _close_gracefully(plain)
                else:
                    for message in messages:
                        raw.sendall(octet_frame(message))
                    raw.shutdown(socket.SHUT_WR)
                    _close_gracefully(raw)
            return len(messages)
        except (OSError, ssl.SSLError) as exc:
            raise SendError(f"syslog {self.transport}://{self.host}:{self.port}: {exc}") from exc


@dataclass(frozen=True)
class WebhookTarget:
    """An HTTPS endpoint that takes ``{"messages": [...]}`` by POST and answers 2xx once it has them."""

    url: str
    secret: str = ""
    bearer_token: str = ""
    ca_file: str = ""
    timeout: float = 10.0

    @staticmethod
    def validate(url: str) -> None:
        parts = urlsplit(url)
        loopback = parts.hostname in ("127.0.0.1", "::1", "localhost")
        if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
            raise ValueError("the webhook must be https:// (plain http only to a loopback address)")
        if not parts.hostname:
            raise ValueError("a host is required")

    def send(self, payloads: list[dict[str, Any]]) -> int:
        body = json.dumps({"messages": payloads}, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "ztconsole-siem/1"}
        if self.secret:
            digest = hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
            headers["X-ZT-Signature"] = f"sha256={digest}"
        if self.bearer_token:
            headers["Authorization"] = f"Bearer {self.bearer_token}"
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")  # noqa: S310
        context = None
        if self.url.startswith("https://"):
            context = ssl.create_default_context(cafile=self.ca_file or None)
            context.minimum_version = ssl.TLSVersion.TLSv1_2
        opener = urllib.request.build_opener(
            _NoRedirect(), urllib.request.HTTPSHandler(context=context) if context else urllib.request.HTTPHandler()
        )
        try:
            with opener.open(request, timeout=self.timeout) as response:
                response.read(1024)
                status = response.status
        except urllib.error.HTTPError as exc:
            raise SendError(f"webhook answered HTTP {exc.code}") from exc
        except (OSError, ssl.SSLError) as exc:
            raise SendError(f"webhook: {exc}") from exc
        if not 200 <= status < 300:
            raise SendError(f"webhook answered HTTP {status}")
        return len(payloads)


def webhook_signature(secret: str, body: bytes) -> str:
    """What a receiver compares ``X-ZT-Signature`` with."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
