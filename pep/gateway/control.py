"""The control API (docs/pep.md, "Control API"): HTTPS with mutual TLS, the console's certificate only.

Served by the standard library's threading HTTP server on its own thread, so a slow console connection never
stalls the FIX relay; each request's work on the enforced state is handed to the event loop and awaited.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from pep.bundle import BundleError
from pep.gateway.state import ENCODINGS, MAX_DOCUMENT_BYTES, decode_body
from pep.gateway.tls import CONSOLE_URI_PREFIX, read_peer

if TYPE_CHECKING:
    from pep.gateway.server import Gateway

log = logging.getLogger("pep.control")
MAX_BODY = MAX_DOCUMENT_BYTES
_TERMINATE = re.compile(r"^/sessions/([A-Za-z0-9_-]{1,64})/terminate$")


class _Handler(BaseHTTPRequestHandler):
    server: _ControlServer
    protocol_version = "HTTP/1.1"
    server_version = "ztc-pep"
    sys_version = ""
    # Buffered: the status line, the headers and the body leave in one write when the request is done. Written
    # separately (the default), the body waited for the client's delayed ACK of the headers (Nagle): 40 ms
    # added to every answer on Linux.
    wbufsize = 64 << 10

    def setup(self) -> None:
        self.request.settimeout(10)
        try:
            self.request.do_handshake()
        except (OSError, ssl.SSLError) as exc:
            self.server.gateway.counters["control_handshakes_refused"] += 1
            log.info("control handshake refused: %s", exc)
            self.request.close()
            raise
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("control %s " + format, self.client_address[0], *args)

    def _reply(self, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        # RFC 7694: the content codings this server accepts in requests (the console compresses bundles).
        self.send_header("Accept-Encoding", "gzip")
        self.end_headers()
        self.wfile.write(data)

    def _authorized(self) -> bool:
        peer = read_peer(self.request)
        gateway = self.server.gateway
        if peer is None or not any(uri.startswith(CONSOLE_URI_PREFIX) for uri in peer.uris):
            self._reply(403, {"status": "forbidden", "detail": "only the console's certificate may call this API"})
            return False
        enforced = gateway.state.current
        if enforced is not None and peer.fingerprint in enforced.revoked_certificates:
            self._reply(403, {"status": "forbidden", "detail": "certificate revoked"})
            return False
        return True

    def _encoding(self) -> str | None:
        encoding = (self.headers.get("Content-Encoding") or "identity").strip().lower()
        if encoding not in ENCODINGS:
            self._reply(
                415, {"status": "refused", "reason": "malformed", "detail": "Content-Encoding: gzip or identity"}
            )
            return None
        return encoding

    def _body(self) -> bytes | None:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self._reply(411, {"status": "refused", "reason": "malformed", "detail": "Content-Length required"})
            return None
        if int(length) > MAX_BODY:
            self._reply(413, {"status": "refused", "reason": "malformed", "detail": "body too large"})
            return None
        return self.rfile.read(int(length))

    def _call(self, name: str, *args: Any) -> None:
        code, body = self.server.gateway.control_call(name, *args)
        self._reply(code, body)

    def do_GET(self) -> None:
        if not self._authorized():
            return
        if self.path == "/status":
            self._call("status")
        else:
            self._reply(404, {"status": "not_found"})

    def do_PUT(self) -> None:
        if not self._authorized():
            return
        if self.path != "/bundle":
            self._reply(404, {"status": "not_found"})
            return
        encoding = self._encoding()
        body = self._body() if encoding is not None else None
        if body is not None:
            # Passed on still encoded: the process's shared bundles are keyed by the bytes as received.
            self._call("put_bundle", body, encoding)

    def do_POST(self) -> None:
        if not self._authorized():
            return
        encoding = self._encoding()
        body = self._body() if encoding is not None else None
        if body is None:
            return
        try:
            body = decode_body(body, encoding)  # type: ignore[arg-type]
        except BundleError as exc:
            self._reply(422, {"status": "refused", "reason": "malformed", "detail": str(exc)})
            return
        if self.path == "/revocations":
            self._call("post_revocations", body)
            return
        match = _TERMINATE.match(self.path)
        if match is None:
            self._reply(404, {"status": "not_found"})
            return
        try:
            doc = json.loads(body or b"{}")
            reason = doc.get("reason", "") if isinstance(doc, dict) else None
        except ValueError:
            reason = None
        if not isinstance(reason, str) or not reason.strip() or len(reason) > 200:
            self._reply(422, {"status": "refused", "reason": "malformed", "detail": "reason: 1-200 characters"})
            return
        self._call("terminate", match.group(1), reason.strip())


class _ControlServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, gateway: Gateway, address: tuple[str, int], context: ssl.SSLContext) -> None:
        self.gateway = gateway
        self.context = context
        super().__init__(address, _Handler)

    def get_request(self) -> tuple[Any, Any]:
        sock, address = self.socket.accept()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # The handshake runs on the request's thread (see _Handler.setup), not on the accepting one.
        return self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), address

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.info("control request from %s ended with an error", client_address[0])


def start_control(gateway: Gateway, host: str, port: int, context: ssl.SSLContext) -> _ControlServer:
    """Bind and serve on a daemon thread; returns the server (``server_address`` has the bound port)."""
    server = _ControlServer(gateway, (host, port), context)
    threading.Thread(target=server.serve_forever, name="pep-control", daemon=True).start()
    return server
