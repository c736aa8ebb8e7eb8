"""Real parties for gateway tests and the gateway bench: a console CA, a PEP subprocess, a venue, a client.

The venue and the client are not ours: both speak FIX through simplefix over Python's ssl. Certificates come
from the console's CA through the certificates app's actions (CSRs made locally, as a counterparty would).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import queue
import socket
import ssl
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import simplefix
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from pep.builder import build_payload
from pep.bundle import bundle_bytes, generate_private_key, public_key_pem, sign_payload

ROOT = Path(__file__).resolve().parents[2]
ENVIRONMENT = "uat"
TARGET = "rfq-venue"
VENUE_COMP = "VENUE"


def _key_pem(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@dataclass
class Party:
    """A certificate and key on disk."""

    cert: Path
    key: Path
    sha256: str
    username: str = ""
    comp_ids: tuple[str, ...] = ()


@dataclass
class Pki:
    """Everything issued by the console's CA for one test, written under ``root``."""

    root: Path
    chain: Path
    client: Party
    other_client: Party
    pep: Party
    venue: Party
    console: Party
    signing_key: Any
    public_key: Path
    extra: dict[str, Party] = field(default_factory=dict)


def issue_pki(root: Path, sponsor_user, tag: str = "") -> Pki:
    """Init the console CA (or use the one there is) and issue: two FIX clients, the PEP, the venue and the
    console's client certificate. ``tag`` suffixes names and CompIDs so that several sets can share a database."""
    from accounts.actions import create_non_person_identity
    from certificates import actions, pki
    from tests.certificates.helpers import ec_key, make_csr

    root.mkdir(parents=True, exist_ok=True)
    from certificates.models import CertificateAuthority

    ca = actions.issuing_ca() if CertificateAuthority.objects.filter(active=True).exists() else actions.init_ca(None)
    chain = root / "chain.pem"
    chain.write_text(actions.chain_pem())

    def party(name: str, kind: str, profile: str, comp_ids=(), dns=(), ips=()) -> Party:
        name, comp_ids = f"{name}{tag}", tuple(f"{c}{tag.upper().replace('-', '')}" for c in comp_ids)
        identity = create_non_person_identity(
            None,
            name=name,
            kind=kind,
            display_name=name.title(),
            sponsor=sponsor_user.identity,
            environment=ENVIRONMENT,
            sender_comp_ids=list(comp_ids),
        )
        key = ec_key()
        cert = actions.issue_from_csr(
            None,
            identity=identity,
            profile=actions.profile_by_name(profile),
            csr_pem=make_csr(key, cn=name, dns=dns, ips=ips),
        )
        (root / f"{name}.pem").write_text(cert.pem)
        (root / f"{name}.key").write_bytes(_key_pem(key))
        return Party(root / f"{name}.pem", root / f"{name}.key", cert.sha256, name, tuple(comp_ids))

    client = party("algo-alpha", "algorithm", "fix-client", comp_ids=("ALPHA1", "ALPHA2"))
    other = party("algo-beta", "algorithm", "fix-client", comp_ids=("BETA1",))
    pep = party("pep-ldn", "fix_gateway", "pep", comp_ids=("PEPLDN",), dns=("localhost",), ips=("127.0.0.1",))
    venue = party("venue-rfq", "fix_gateway", "fix-server", comp_ids=("VENUE",), dns=("localhost",))
    # The console's client certificate: signed by the same issuing CA with the console URI and clientAuth, as
    # the distribution's `console` profile issues it.
    console_key = ec_key()
    now = datetime.now(UTC)
    console_cert = pki.build_leaf_certificate(
        public_key=console_key.public_key(),
        subject=x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "ZT Console")]),
        sans=[x509.UniformResourceIdentifier("urn:ztconsole:console:test")],
        ekus=["serverAuth", "clientAuth"],
        not_before=now - timedelta(minutes=1),
        not_after=now + timedelta(days=1),
        serial=x509.random_serial_number(),
        issuer_cert=ca.load_certificate(),
        issuer_key=ca.load_private_key(),
        crl_url="",
    )
    (root / "console.pem").write_text(pki.certificate_pem(console_cert))
    (root / "console.key").write_bytes(_key_pem(console_key))
    console = Party(root / "console.pem", root / "console.key", pki.certificate_sha256(console_cert), "console")
    signing_key = generate_private_key()
    public_key = root / "policy-signing.pub.pem"
    public_key.write_bytes(public_key_pem(signing_key.public_key()))
    return Pki(root, chain, client, other, pep, venue, console, signing_key, public_key)


# -- bundles ----------------------------------------------------------------------------------------------------


def payload(pki: Pki, version: int = 1, *, message_types=("A", "R"), grant: bool = True, **extra: Any) -> dict:
    """A policy granting the client (not the other client) the venue for ``message_types``."""
    clients = [pki.client, pki.other_client]
    return build_payload(
        environment=ENVIRONMENT,
        version=version,
        issued_at="2026-11-30T12:00:00Z",
        identities=[{"id": c.username, "certificates": [c.sha256]} for c in clients],
        segments=[{"id": "fx-venues", "resources": [{"id": TARGET, "address": "127.0.0.1:0"}]}],
        access_rules=[
            {
                "id": "ar-rfq",
                "subject": {"kind": "identity", "id": pki.client.username},
                "target": {"kind": "resource", "id": TARGET},
                "message_types": list(message_types),
            }
        ]
        if grant
        else [],
        network_zones={"loopback": ["127.0.0.0/8"]},
        tls_profile=extra.pop(
            "tls_profile",
            {
                "min_version": "TLSv1.2",
                "ciphers_tls12": ["ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-ECDSA-AES128-GCM-SHA256"],
                "ciphersuites_tls13": ["TLS_AES_256_GCM_SHA384", "TLS_AES_128_GCM_SHA256"],
                "groups": ["X25519", "prime256v1"],
            },
        ),
        revocations=extra.pop("revocations", {"sequence": 0}),
        certificates=[
            {"sha256": c.sha256, "identity": c.username, "device": None, "authentication": "hardware"} for c in clients
        ],
        **extra,
    )


def signed(pki: Pki, body: dict) -> bytes:
    return bundle_bytes(sign_payload(body, pki.signing_key))


def revocation_delta(pki: Pki, sequence: int, *, certificates=(), identities=(), devices=(), key=None) -> bytes:
    body = {
        "format": "ztconsole-revocations/1",
        "environment": ENVIRONMENT,
        "sequence": sequence,
        "issued_at": "2026-11-30T12:00:00Z",
        "certificates": list(certificates),
        "identities": list(identities),
        "devices": list(devices),
    }
    return bundle_bytes(sign_payload(body, key or pki.signing_key))


# -- the PEP process --------------------------------------------------------------------------------------------


def write_config(pki: Pki, venue_port: int, *, state: Path | None = None, **overrides: Any) -> Path:
    state = state or pki.root / "state"
    console = overrides.pop("console", None)
    lines = [
        "[pep]",
        'name = "pep-ldn-1"',
        f'environment = "{ENVIRONMENT}"',
        f'state_dir = "{state}"',
        f"max_bundle_age_seconds = {overrides.pop('max_age', 3600)}",
        f'public_keys = ["{pki.public_key}"]',
        "[tls]",
        f'ca_chain = "{pki.chain}"',
        f'certificate = "{pki.pep.cert}"',
        f'private_key = "{pki.pep.key}"',
        "[control]",
        'listen = "127.0.0.1:0"',
    ]
    if console:
        token = pki.root / "token"
        token.write_text("pep-token-for-tests\n")
        lines += [
            "[console]",
            f'url = "{console}"',
            f'token_file = "{token}"',
            f"poll_interval_seconds = {overrides.pop('poll', 0.2)}",
            "request_timeout_seconds = 1",
            "events_flush_interval_ms = 50",
        ]
        if "step_up_approval" in overrides:
            lines.append(f"step_up_approval_seconds = {overrides.pop('step_up_approval')}")
    lines += [
        "[[listeners]]",
        'name = "rfq"',
        'listen = "127.0.0.1:0"',
        f'target = "{TARGET}"',
        f'upstream = "127.0.0.1:{venue_port}"',
        'upstream_server_name = "localhost"',
        f"logon_timeout_seconds = {overrides.pop('logon_timeout', 5)}",
        f"max_body_length = {overrides.pop('max_body', 4096)}",
    ]
    assert not overrides, overrides
    path = pki.root / "pep.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


class PepProcess:
    """``python -m pep serve`` as a subprocess; ports learned from its ready line."""

    def __init__(self, config: Path, pki: Pki) -> None:
        self.pki = pki
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pep", "serve", "--config", str(config)],
            stdout=subprocess.PIPE,
            stderr=open(config.with_suffix(".log"), "ab"),  # noqa: SIM115 - lives as long as the process
            env=env,
            cwd=ROOT,
        )
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"pep serve exited: {config.with_suffix('.log').read_text()[-2000:]}")
        ready = json.loads(line)
        self.port = ready["listeners"]["rfq"]
        self.control_port = ready["control"]
        self.ready = ready

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def control(self, method: str, path: str, body: bytes | dict | None = None, party: Party | None = None):
        party = party or self.pki.console
        context = ssl.create_default_context(cafile=str(self.pki.chain))
        context.load_cert_chain(str(party.cert), str(party.key))
        context.check_hostname = False
        conn = http.client.HTTPSConnection("127.0.0.1", self.control_port, context=context, timeout=10)
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
        reply = conn.getresponse()
        result = reply.status, json.loads(reply.read())
        conn.close()
        return result

    def status(self) -> dict:
        return self.control("GET", "/status")[1]

    def push(self, bundle: bytes):
        return self.control("PUT", "/bundle", bundle)


# -- the venue: a FIX acceptor on simplefix over ssl ---------------------------------------------------------------


class Venue:
    """Accepts TLS from the PEP (client certificate required), answers Logon and Logout, records every message."""

    def __init__(self, pki: Pki, *, record_raw: bool = False) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(pki.venue.cert), str(pki.venue.key))
        context.load_verify_locations(str(pki.chain))
        context.verify_mode = ssl.CERT_REQUIRED
        self.context = context
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.messages: queue.Queue = queue.Queue()
        self.peers: list[bytes] = []
        self.connections: list[ssl.SSLSocket] = []
        self.on_message = None
        self.closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                raw, _ = self.sock.accept()
            except OSError:
                return
            try:
                conn = self.context.wrap_socket(raw, server_side=True)
            except (OSError, ssl.SSLError):
                continue
            self.peers.append(conn.getpeercert(binary_form=True))
            self.connections.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: ssl.SSLSocket) -> None:
        parser = simplefix.FixParser()
        seq = 0
        while True:
            try:
                data = conn.recv(65536)
            except (OSError, ssl.SSLError):
                break
            if not data:
                break
            parser.append_buffer(data)
            while (msg := parser.get_message()) is not None:
                self.messages.put(msg)
                if self.on_message is not None:
                    self.on_message(msg)
                kind = msg.get(35)
                if kind in (b"A", b"5"):
                    seq += 1
                    reply = simplefix.FixMessage()
                    reply.append_pair(8, msg.get(8))
                    reply.append_pair(35, kind)
                    reply.append_pair(49, msg.get(56))
                    reply.append_pair(56, msg.get(49))
                    reply.append_pair(34, seq)
                    reply.append_utc_timestamp(52, precision=3)
                    if kind == b"A":
                        reply.append_pair(98, 0)
                        reply.append_pair(108, msg.get(108))
                    try:
                        conn.sendall(reply.encode())
                    except OSError:
                        break
        conn.close()

    def expect(self, msg_type: bytes, timeout: float = 5) -> simplefix.FixMessage:
        deadline = time.monotonic() + timeout
        while True:
            msg = self.messages.get(timeout=max(0.01, deadline - time.monotonic()))
            if msg.get(35) == msg_type:
                return msg

    def close(self) -> None:
        self.closed.set()
        self.sock.close()
        for conn in self.connections:
            with contextlib.suppress(OSError):
                conn.close()


# -- the client: FIX initiator on simplefix over ssl ------------------------------------------------------------------


class Client:
    """A counterparty: TLS with its certificate, FIX through simplefix."""

    def __init__(self, pki: Pki, port: int, party: Party | None = None, *, context: ssl.SSLContext | None = None):
        party = party or pki.client
        if context is None:
            context = ssl.create_default_context(cafile=str(pki.chain))
            context.load_cert_chain(str(party.cert), str(party.key))
        self.party = party
        self.sock = context.wrap_socket(
            socket.create_connection(("127.0.0.1", port), timeout=5), server_hostname="localhost"
        )
        self.parser = simplefix.FixParser()
        self.seq = 0
        self.comp = party.comp_ids[0] if party.comp_ids else "NONE"

    def message(self, msg_type: str | bytes, *fields: tuple[int, Any], comp: str | None = None) -> bytes:
        self.seq += 1
        msg = simplefix.FixMessage()
        msg.append_pair(8, "FIX.4.4")
        msg.append_pair(35, msg_type)
        msg.append_pair(49, comp or self.comp)
        msg.append_pair(56, VENUE_COMP)
        msg.append_pair(34, self.seq)
        msg.append_utc_timestamp(52, precision=3)
        for tag, value in fields:
            msg.append_pair(tag, value)
        return msg.encode()

    def send(self, msg_type: str, *fields: tuple[int, Any], comp: str | None = None) -> bytes:
        data = self.message(msg_type, *fields, comp=comp)
        self.sock.sendall(data)
        return data

    def logon(self, comp: str | None = None) -> bytes:
        return self.send("A", (98, 0), (108, 30), (141, "Y"), comp=comp)

    def receive(self, timeout: float = 5) -> simplefix.FixMessage | None:
        """The next message, or None when the PEP closed the connection."""
        self.sock.settimeout(timeout)
        while (msg := self.parser.get_message()) is None:
            try:
                data = self.sock.recv(65536)
            except (ConnectionResetError, ssl.SSLError, BrokenPipeError):
                return None
            if not data:
                return None
            self.parser.append_buffer(data)
        return msg

    def closed(self, timeout: float = 5) -> bool:
        """True when the connection ends (after any messages still in flight)."""
        while True:
            try:
                if self.receive(timeout) is None:
                    return True
            except TimeoutError:
                return False

    def close(self) -> None:
        self.sock.close()


def fingerprint(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


def tamper(bundle: bytes) -> bytes:
    doc = json.loads(bundle)
    doc["payload"]["access_rules"][0]["message_types"] = ["*"]
    return json.dumps(doc).encode()


def wait_for(predicate, timeout: float = 5, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()


def spooled_events(state: Path) -> list[dict]:
    events = []
    for path in sorted((state / "spool").glob("*.jsonl"), key=lambda p: int(p.stem)):
        events += [json.loads(line) for line in path.read_text().splitlines() if line]
    return events
