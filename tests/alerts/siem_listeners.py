"""Real listeners for the forwarder's tests: syslog over UDP, TCP and TLS, and an HTTP webhook.

Written from the RFCs, independently of alerts/siem.py: a datagram is one message (RFC 5426); on a stream each
message is ``MSG-LEN SP MSG`` (RFC 6587 octet counting, also inside TLS per RFC 5425).
"""

from __future__ import annotations

import datetime
import http.server
import ipaddress
import json
import re
import socket
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

FRAME = re.compile(
    rb"^<(?P<pri>\d{1,3})>1 (?P<ts>\S+) (?P<host>\S+) (?P<app>\S+) (?P<procid>\S+) (?P<msgid>\S+) "
    rb"(?P<sd>-|\[(?:[^\]\\]|\\.)*\]) \xef\xbb\xbf(?P<msg>.*)$",
    re.DOTALL,
)
SD_PARAM = re.compile(r'(\S+?)="((?:[^"\\]|\\.)*)"')


@dataclass
class Syslog:
    pri: int
    timestamp: str
    hostname: str
    app_name: str
    msgid: str
    structured: dict[str, str]
    payload: dict

    @property
    def facility(self) -> int:
        return self.pri // 8

    @property
    def severity(self) -> int:
        return self.pri % 8


def parse_rfc5424(raw: bytes) -> Syslog:
    match = FRAME.match(raw)
    assert match, f"not an RFC 5424 message: {raw[:120]!r}"
    sd_text = match["sd"].decode()
    structured = {}
    if sd_text != "-":
        sd_id, _, params = sd_text[1:-1].partition(" ")
        assert sd_id == "ztconsole@32473", sd_id
        structured = {key: value for key, value in SD_PARAM.findall(params)}
    return Syslog(
        pri=int(match["pri"]),
        timestamp=match["ts"].decode(),
        hostname=match["host"].decode(),
        app_name=match["app"].decode(),
        msgid=match["msgid"].decode(),
        structured=structured,
        payload=json.loads(match["msg"].decode("utf-8")),
    )


class UdpListener(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.messages: list[Syslog] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                data, _ = self.sock.recvfrom(70_000)
            except TimeoutError:
                continue
            self.messages.append(parse_rfc5424(data))

    def close(self) -> None:
        self.stop.set()
        self.join(timeout=2)
        self.sock.close()


def _read_frames(conn, sink: list[Syslog]) -> None:
    buffer = b""
    while True:
        chunk = conn.recv(65536)
        if not chunk:
            break
        buffer += chunk
        while True:
            length, space, rest = buffer.partition(b" ")
            if not space or not length.isdigit():
                break
            size = int(length)
            if len(rest) < size:
                break
            sink.append(parse_rfc5424(rest[:size]))
            buffer = rest[size:]
    assert buffer == b"", f"trailing bytes outside any frame: {buffer[:80]!r}"


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for localhost / 127.0.0.1 that is its own trust anchor (the client's CA file)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "syslog.pem", directory / "syslog.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


class StreamListener(threading.Thread):
    """TCP, or TLS when given a certificate and key; one thread per connection would be overkill here."""

    def __init__(self, cert: Path | None = None, key: Path | None = None) -> None:
        super().__init__(daemon=True)
        self.server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(8)
        self.server.settimeout(0.2)
        self.port = self.server.getsockname()[1]
        self.context = None
        if cert is not None:
            self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.context.load_cert_chain(cert, key)
        self.messages: list[Syslog] = []
        self.tls_versions: list[str] = []
        self.errors: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.server.accept()
            except TimeoutError:
                continue
            try:
                conn.settimeout(5)
                if self.context is not None:
                    conn = self.context.wrap_socket(conn, server_side=True)
                    self.tls_versions.append(conn.version())
                _read_frames(conn, self.messages)
            except (OSError, AssertionError) as exc:
                self.errors.append(str(exc))
            finally:
                conn.close()

    def close(self) -> None:
        self.stop.set()
        self.join(timeout=2)
        self.server.close()


class WebhookListener(threading.Thread):
    """An HTTP endpoint; ``failing`` makes it answer 503 (an outage) without keeping what it got."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        listener = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                listener.requests += 1
                if listener.failing:
                    self.send_response(503)
                    self.end_headers()
                    return
                listener.bodies.append((dict(self.headers), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.bodies: list[tuple[dict, bytes]] = []
        self.requests = 0
        self.failing = False

    @property
    def messages(self) -> list[dict]:
        return [message for _, body in self.bodies for message in json.loads(body)["messages"]]

    def run(self) -> None:
        self.httpd.serve_forever(poll_interval=0.1)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
