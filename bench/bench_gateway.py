"""The enforcement point on the wire: Logon decision cost, per-message latency added, relay throughput.

Real processes and sockets: ``python -m pep serve`` with certificates from the console's CA, a venue and a
client over TLS on loopback. Latency is one-way, client -> venue, taken with the monotonic clock both ends share
(client and venue live in this process; the PEP in its own): each message carries its send time, the venue
stamps its arrival. The client waits for each message to arrive before sending the next, so no queueing is
measured. The same client, the same venue and the same TLS settings are measured directly and through the PEP,
in alternating rounds of the same run; the PEP's figure is the difference.

Logon decision: measured inside the PEP (from the Logon frame read to the decision, TLS excluded), reported by
its /status, over real Logons on fresh TLS connections.
"""

from __future__ import annotations

import os
import socket
import ssl
import tempfile
import threading
import time
from pathlib import Path

from bench.results import Result

ROUNDS = 6
PER_ROUND = 1500
THROUGHPUT_MESSAGES = 60_000
BATCH = 50
LOGONS = 400
CODEC_MESSAGES = 20_000


class _TimingVenue:
    """TLS acceptor that stamps each message's arrival and answers a Logon (the PEP waits for nothing else)."""

    def __init__(self, pki) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(pki.venue.cert), str(pki.venue.key))
        context.load_verify_locations(str(pki.chain))
        context.verify_mode = ssl.CERT_REQUIRED
        self.context = context
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.latencies: list[int] = []
        self.count = 0
        self.arrived = threading.Event()
        self.last_arrival = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                raw, _ = self.sock.accept()
                conn = self.context.wrap_socket(raw, server_side=True)
            except (OSError, ssl.SSLError):
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: ssl.SSLSocket) -> None:
        # Kept to C-level byte searches so that the venue is never what limits a measurement.
        from pep.gateway import fix

        buf = b""
        logon_reply = fix.encode("FIX.4.4", "A", [(49, "VENUE"), (56, "X"), (34, 1), (52, "x"), (98, 0), (108, 30)])
        while True:
            try:
                data = conn.recv(262144)
            except (OSError, ssl.SSLError):
                return
            now = time.perf_counter_ns()
            if not data:
                return
            buf += data
            end = buf.rfind(b"\x0110=")
            if end < 0 or len(buf) < end + 8:
                continue
            complete, buf = buf[: end + 8], buf[end + 8 :]
            if b"\x0135=A\x01" in complete:
                conn.sendall(logon_reply)
            self.count += complete.count(b"\x0110=")
            at = complete.find(b"\x019999=")
            while at >= 0:
                stop = complete.index(b"\x01", at + 6)
                self.latencies.append(now - int(complete[at + 6 : stop]))
                at = complete.find(b"\x019999=", stop)
            self.last_arrival = now
            self.arrived.set()


def _percentile(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000


class _Sender:
    def __init__(self, pki, port: int, comp: str) -> None:
        from tests.pep_gateway.harness import Client

        self.client = Client(pki, port)
        self.comp = comp
        self.client.logon()
        self.client.receive()
        self.seq = self.client.seq

    def plain(self) -> bytes:
        """A QuoteRequest as a client sends it."""
        return self._quote_request([])

    def message(self) -> bytes:
        """The same QuoteRequest carrying its send time (tag 9999) for the venue to stamp the latency."""
        return self._quote_request([(9999, time.perf_counter_ns())])

    def _quote_request(self, extra: list[tuple[int, object]]) -> bytes:
        from pep.gateway import fix

        self.seq += 1
        fields = [
            (49, self.comp),
            (56, "VENUE"),
            (34, self.seq),
            (52, "20261130-12:00:00.000"),
            (131, f"Q{self.seq}"),
            (55, "EUR/USD"),
            (38, 1000000),
        ]
        return fix.encode("FIX.4.4", "R", fields + extra)


def _latency_round(venue: _TimingVenue, sender: _Sender, count: int) -> list[int]:
    start = len(venue.latencies)
    for _ in range(count):
        venue.arrived.clear()
        sender.client.sock.sendall(sender.message())
        venue.arrived.wait(2)
        time.sleep(0.0002)
    return venue.latencies[start:]


def _throughput(venue: _TimingVenue, sender: _Sender, total: int) -> float:
    # Built before the clock starts: the client must not be what limits the rate.
    batches = [b"".join(sender.plain() for _ in range(BATCH)) for _ in range(total // BATCH)]
    target = venue.count + total
    started = time.perf_counter_ns()
    for batch in batches:
        sender.client.sock.sendall(batch)
    deadline = time.monotonic() + 60
    while venue.count < target and time.monotonic() < deadline:
        time.sleep(0.001)
    return total / ((venue.last_arrival - started) / 1e9)


def _codec() -> list[Result]:
    import simplefix

    from pep.gateway import fix

    one = fix.encode(
        "FIX.4.4",
        "R",
        [
            (49, "ALPHA1"),
            (56, "VENUE"),
            (34, 12),
            (52, "20261130-12:00:00.000"),
            (131, "Q-1"),
            (55, "EUR/USD"),
            (38, 1000000),
        ],
    )
    stream = one * CODEC_MESSAGES
    started = time.perf_counter()
    buf = bytearray(stream)
    frames = fix.read_frames(buf, 4096)
    ours = (time.perf_counter() - started) / len(frames) * 1e6
    # simplefix is fed message by message (its buffer handling is quadratic on one large append).
    parser = simplefix.FixParser()
    started = time.perf_counter()
    count = 0
    for _ in range(CODEC_MESSAGES):
        parser.append_buffer(one)
        if parser.get_message() is not None:
            count += 1
    theirs = (time.perf_counter() - started) / count * 1e6
    return [
        Result(
            "gateway: FIX framing + checks per message (ours vs simplefix parse)",
            f"{ours:.2f} us vs {theirs:.2f} us",
            "anchor: simplefix",
            ratio=theirs / ours,
        )
    ]


def run() -> list[Result]:
    from django.contrib.auth import get_user_model

    from accounts.models import Identity
    from tests.pep_gateway.harness import PepProcess, payload, signed, write_config

    root = Path(tempfile.mkdtemp(prefix="zt-bench-gateway-"))
    User = get_user_model()
    sponsor_user, _ = User.objects.get_or_create(username="bench-gateway-sponsor")
    Identity.objects.get_or_create(user=sponsor_user, defaults={"display_name": "Bench gateway sponsor"})
    from tests.pep_gateway.harness import issue_pki

    tag = f"-b{int(time.time()) % 100000}"
    pki = issue_pki(root / "pki", User.objects.get(pk=sponsor_user.pk), tag=tag)
    venue = _TimingVenue(pki)
    pep = PepProcess(write_config(pki, venue.port, max_body=8192), pki)
    try:
        code, body = pep.push(signed(pki, payload(pki, 1)))
        assert code == 200, body
        comp = pki.client.comp_ids[0]
        direct = _Sender(pki, venue.port, comp)
        through = _Sender(pki, pep.port, comp)
        lat_direct: list[int] = []
        lat_pep: list[int] = []
        _latency_round(venue, direct, 200)  # warm both paths
        _latency_round(venue, through, 200)
        for _ in range(ROUNDS):
            lat_direct += _latency_round(venue, direct, PER_ROUND)
            lat_pep += _latency_round(venue, through, PER_ROUND)
        rate_direct = _throughput(venue, direct, THROUGHPUT_MESSAGES // 2)
        rate_pep = _throughput(venue, through, THROUGHPUT_MESSAGES)
        from tests.pep_gateway.harness import Client

        for _ in range(LOGONS):
            client = Client(pki, pep.port)
            client.logon()
            client.receive()
            client.close()
        counters = pep.status()["counters"]
    finally:
        pep.stop()
    d50, d99 = _percentile(lat_direct, 0.5), _percentile(lat_direct, 0.99)
    p50, p99 = _percentile(lat_pep, 0.5), _percentile(lat_pep, 0.99)
    add50, add99 = p50 - d50, p99 - d99
    logon50 = counters["logon_decision_p50_ns"] / 1000
    logon99 = counters["logon_decision_p99_ns"] / 1000
    cpu50 = counters["logon_decision_cpu_p50_ns"] / 1000
    cpu99 = counters["logon_decision_cpu_p99_ns"] / 1000
    return [
        Result(
            f"gateway: Logon decision added, TLS excluded ({counters['logon_decisions_measured']} Logons), p50 / p99",
            f"{logon50:.1f} us / {logon99:.1f} us",
            "p99 <= 50 us",
            ratio=logon99 / 50,
            ok=logon99 <= 50,
        ),
        Result(
            "gateway: Logon decision, CPU time of the PEP's thread (same window plus one clock read), p50 / p99",
            f"{cpu50:.1f} us / {cpu99:.1f} us",
            "-",
        ),
        Result(
            "gateway: engine session opened at the handshake, before the Logon arrives (off its path), p50 / p99",
            f"{(counters['logon_prepared_p50_ns'] or 0) / 1000:.1f} us"
            f" / {(counters['logon_prepared_p99_ns'] or 0) / 1000:.1f} us",
            "-",
        ),
        Result(
            f"gateway: client -> venue latency direct vs through the PEP ({len(lat_pep)} msgs), p50 / p99",
            f"direct {d50:.1f} / {d99:.1f} us; PEP {p50:.1f} / {p99:.1f} us",
            "-",
        ),
        Result(
            "gateway: latency added by the PEP, p50", f"{add50:.1f} us", "<= 60 us", ratio=add50 / 60, ok=add50 <= 60
        ),
        Result(
            "gateway: latency added by the PEP, p99", f"{add99:.1f} us", "<= 250 us", ratio=add99 / 250, ok=add99 <= 250
        ),
        Result(
            "gateway: relay throughput, one PEP process (direct for reference)",
            f"{rate_pep:,.0f} msg/s (direct {rate_direct:,.0f} msg/s)",
            ">= 20,000 msg/s",
            ratio=rate_pep / 20000,
            ok=rate_pep >= 20000,
        ),
        *_codec(),
        Result(
            "gateway: machine load average (1 min) during this benchmark",
            f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs",
            "-",
        ),
    ]
