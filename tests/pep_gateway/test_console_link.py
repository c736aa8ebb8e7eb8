"""The PEP's side of the console link: bundle pull (on start and polled), the event feed and its spool, and
what happens when the console is away (last good bundle, then fail closed)."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.pep_gateway.harness import Client, payload, signed, wait_for


class StandInConsole:
    """The two console endpoints the PEP calls (GET bundle, POST events), over HTTP on loopback."""

    def __init__(self):
        self.bundle: bytes | None = None
        self.sha256 = ""
        self.events: list[dict] = []
        self.authorizations: set[str] = set()
        self.up = True
        console = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, code, body=b"", headers=()):
                self.send_response(code)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                console.authorizations.add(self.headers.get("Authorization", ""))
                if not console.up:
                    return self._send(503)
                if console.bundle is None:
                    return self._send(404)
                if self.headers.get("If-None-Match") == f'"{console.sha256}"':
                    return self._send(304)
                return self._send(200, console.bundle, [("ETag", f'"{console.sha256}"')])

            def do_POST(self):
                console.authorizations.add(self.headers.get("Authorization", ""))
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if not console.up:
                    return self._send(503)
                lines = [json.loads(line) for line in body.splitlines() if line]
                console.events.extend(lines)
                return self._send(202, json.dumps({"accepted": len(lines)}).encode())

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def publish(self, bundle: bytes) -> None:
        from pep.bundle import verify_bundle

        doc = json.loads(bundle)
        import hashlib

        from pep.canonical import canonical_bytes

        self.sha256 = hashlib.sha256(canonical_bytes(doc["payload"])).hexdigest()
        self.bundle = bundle
        assert verify_bundle  # the PEP verifies; the stand-in only serves

    def close(self):
        self.server.shutdown()


@pytest.fixture
def console():
    console = StandInConsole()
    yield console
    console.close()


def test_the_pep_pulls_the_bundle_on_start_and_follows_new_versions(pki, venue, console, start_pep):
    console.publish(signed(pki, payload(pki, 1)))
    pep = start_pep(console=console.url)
    assert pep.ready["status"] == "ok"
    assert pep.status()["version"] == 1
    console.publish(signed(pki, payload(pki, 2)))
    assert wait_for(lambda: pep.status()["version"] == 2)
    assert console.authorizations == {"Bearer pep-token-for-tests"}


def test_events_are_delivered_as_json_lines_and_spooled_in_order_while_the_console_is_down(
    pki, venue, console, start_pep
):
    console.publish(signed(pki, payload(pki, 1)))
    pep = start_pep(console=console.url)
    assert wait_for(lambda: any(e["type"] == "bundle_applied" for e in console.events))
    console.up = False
    client = Client(pki, pep.port)
    client.logon()
    client.receive()
    client.send("D", (11, "O-1"))
    client.receive()
    client.close()
    assert wait_for(lambda: pep.status()["counters"]["events_spooled_bytes"] > 0)
    assert not any(e["type"] == "logon_decision" for e in console.events)
    console.up = True
    assert wait_for(lambda: any(e["type"] == "disconnect" for e in console.events), timeout=15)
    seqs = [e["seq"] for e in console.events]
    assert seqs == list(range(1, len(seqs) + 1))  # in order, nothing lost, nothing twice
    assert wait_for(lambda: pep.status()["counters"]["events_spooled_bytes"] == 0)


def test_console_unreachable_keeps_the_last_good_bundle_then_fails_closed_past_the_maximum_age(
    pki, venue, console, start_pep
):
    console.publish(signed(pki, payload(pki, 1)))
    pep = start_pep(console=console.url, max_age=3)
    live = Client(pki, pep.port)
    live.logon()
    assert live.receive().get(35) == b"A"
    console.up = False
    assert wait_for(lambda: pep.status()["console_reachable"] is False)
    # last good bundle enforced while young enough
    second = Client(pki, pep.port)
    second.logon()
    assert second.receive().get(35) == b"A"
    assert wait_for(lambda: pep.status()["status"] == "fail_closed", timeout=10)
    refused = Client(pki, pep.port)
    refused.logon()
    assert b"fails closed" in refused.receive().get(58)
    # live sessions are not cut by age alone
    live.send("R", (131, "Q-live"))
    assert venue.expect(b"R").get(131) == b"Q-live"
    # back: the next pull confirms the bundle (304) and Logons are served again
    console.up = True
    assert wait_for(lambda: pep.status()["status"] == "ok", timeout=10)
    again = Client(pki, pep.port)
    again.logon()
    assert again.receive().get(35) == b"A"


def test_a_restart_does_not_reset_the_bundle_age(pki, venue, console, start_pep):
    console.publish(signed(pki, payload(pki, 1)))
    first = start_pep(console=console.url, max_age=2)
    assert first.status()["status"] == "ok"
    first.stop()
    console.up = False
    time.sleep(2.5)
    pep = start_pep(console=console.url, max_age=2)
    status = pep.status()
    assert (status["status"], status["version"]) == ("fail_closed", 1)
    assert status["bundle_age_seconds"] > 2


def test_a_restart_without_the_console_enforces_the_stored_bundle(pki, venue, console, start_pep):
    console.publish(signed(pki, payload(pki, 1)))
    first = start_pep(console=console.url)
    assert first.status()["version"] == 1
    first.stop()
    console.up = False
    pep = start_pep(console=console.url)
    status = pep.status()
    assert (status["status"], status["version"]) == ("ok", 1)
    client = Client(pki, pep.port)
    client.logon()
    assert client.receive().get(35) == b"A"
