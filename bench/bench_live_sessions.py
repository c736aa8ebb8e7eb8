"""Live FIX sessions: lag from a PEP's event to the browser frame that carries it, over real websockets.

One uvicorn process serves the console (a subprocess, as deployed: ``uvicorn ztconsole.asgi:application``), on
the bench's database and the real Redis channel layer. For each size N (1,000, then 2,000 and 5,000):

- N sessions are brought to ``logged_on`` through the real ingestion endpoint (not timed);
- 20 websocket clients, each a signed-in, OTP-verified administrator session, open ``/ws/sessions/``;
- for ``SECONDS`` seconds every session sends one heartbeat a second: a PEP posting a JSON Lines batch every
  100 ms holding a tenth of the sessions (``POST /api/v1/enforcement/events``, bearer token), as
  pep/gateway/events.py batches them;
- lag is measured per row a client receives: from the moment the POST carrying that event (its ``seq`` is the
  row's ``rev``) was started, to the moment the frame holding the row was read by the client. Rows superseded
  before a frame left (the console sends the latest state, never a backlog) are counted, not timed;
- then every session sends a final heartbeat, and every client must end holding that final ``rev`` of every
  session: a session whose final state a client never got is a lost latest state.

Budget (issue 11): p99 ≤ 250 ms at 1,000 sessions with nothing lost; 2,000 and 5,000 are reported, with where it
breaks (p99 over budget, a lost state, or the console not taking the offered rate). The sizes run at the default
frame interval (100 ms), the budget size again at the former 250 ms, and then the sizes again with the PEP posting
to a second uvicorn process (``ZT_BENCH_LIVE_SPLIT=0`` skips it): the layout docs/operations.md recommends when
many PEPs report, in which the websockets' process only reads the channel layer and writes frames.

The clients run in this process on one event loop: at the larger sizes their own JSON parsing competes for the
machine's two cores with the server's, which is part of the figure.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.results import Result

# Run on SQLite and, where it is reachable, on PostgreSQL (production's database), printed side by side: the
# lag includes the ingestion POST, which differs between the two.
LIST_BENCH = True
SIZES = [int(n) for n in os.environ.get("ZT_BENCH_LIVE_SIZES", "1000,2000,5000").split(",")]
SECONDS = int(os.environ.get("ZT_BENCH_LIVE_SECONDS", "10"))
CLIENTS = int(os.environ.get("ZT_BENCH_LIVE_CLIENTS", "20"))
TICKS_PER_SECOND = 10
BUDGET_MS = 250.0
BUDGET_SIZE = 1000
# The frame interval is a setting (ZT_SESSION_FRAME_MS, default 100 ms): a row waits up to one interval for its
# view's next frame. The budget size is measured again at the former default, 250 ms, which alone spends the
# whole budget at the tail.
FRAME_MS = int(os.environ.get("ZT_BENCH_LIVE_FRAME_MS", "100"))
SHORT_FRAME_MS = int(os.environ.get("ZT_BENCH_LIVE_ALT_FRAME_MS", "250"))
# Also measured with ingestion in a second web process (0 to skip).
SPLIT = os.environ.get("ZT_BENCH_LIVE_SPLIT", "1") != "0"
SEED_BATCH = 500
FINAL_WAIT = 15.0
ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _point():
    from accounts.models import Environment
    from policies.distribution.actions import new_token
    from policies.distribution.models import EnforcementPoint

    token, prefix, token_hash = new_token()
    point, _ = EnforcementPoint.objects.update_or_create(
        name="bench-live-pep",
        defaults={
            "environment": Environment.PROD,
            "control_url": "https://127.0.0.1:20999",
            "pinned_sha256": "00" * 32,
            "token_prefix": prefix,
            "token_hash": token_hash,
        },
    )
    return point, token


def _cookies(count: int) -> list[str]:
    from bench.lists import admin_client

    return [f"sessionid={admin_client().cookies['sessionid'].value}" for _ in range(count)]


class Server:
    """``uvicorn ztconsole.asgi:application``, one process (or ``workers``), on the bench's database and Redis."""

    def __init__(self, frame_ms: int = 250, workers: int = 1, env: dict[str, str] | None = None) -> None:
        self.port = _free_port()
        self.log = open(Path(tempfile.gettempdir()) / f"zt-bench-live-{self.port}.log", "wb")  # noqa: SIM115
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
            "ZT_REDIS_PREFIX": f"zt-bench-live-{os.getpid()}",
            "ZT_SESSION_FRAME_MS": str(frame_ms),
            **(env or {}),
        }
        self.process = subprocess.Popen(
            [
                *(sys.executable, "-m", "uvicorn", "ztconsole.asgi:application"),
                *("--host", "127.0.0.1", "--port", str(self.port), "--lifespan", "off"),
                *("--ws", "websockets-sansio", "--log-level", "warning"),
                *(("--workers", str(workers)) if workers > 1 else ()),
            ],
            env=env,
            cwd=ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                connection.request("GET", "/accounts/login/")
                connection.getresponse().read()
                connection.close()
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"uvicorn did not start (see {self.log.name})") from None
                time.sleep(0.2)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


class Feed:
    """One PEP run (boot, gap-free seq) posting through one keep-alive HTTP connection."""

    def __init__(self, point, token: str, port: int) -> None:
        self.point, self.token, self.port = point, token, port
        self.boot = secrets.token_hex(6)
        self.seq = 0
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def event(self, kind: str, **fields) -> bytes:
        self.seq += 1
        now = time.time()
        record = {
            **fields,
            "format": "ztc-pep-events/1",
            "pep": self.point.name,
            "environment": self.point.environment,
            "boot": self.boot,
            "seq": self.seq,
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1e6):06d}Z",
            "type": kind,
        }
        return json.dumps(record, separators=(",", ":")).encode()

    def post(self, lines: list[bytes]) -> None:
        self.connection.request(
            "POST",
            "/api/v1/enforcement/events",
            body=b"\n".join(lines) + b"\n",
            headers={"Content-Type": "application/x-ndjson", "Authorization": f"Bearer {self.token}"},
        )
        response = self.connection.getresponse()
        body = response.read()
        if response.status != 202:
            raise RuntimeError(f"ingestion answered {response.status}: {body[:300]!r}")

    def logged_on(self, sid: str, n: int) -> list[bytes]:
        identity = f"bench-live-algo-{n % 50}"
        return [
            self.event("connection", session=sid, listener="rfq", source_ip="10.0.0.1", source_port=40000 + n % 20000),
            self.event(
                "tls_handshake",
                session=sid,
                tls_version="TLSv1.3",
                cipher="TLS_AES_256_GCM_SHA384",
                peer_fingerprint="ab" * 32,
                peer_subject=f"CN={identity}",
                peer_identity_uri=f"urn:ztconsole:identity:{identity}",
            ),
            self.event(
                "logon_decision",
                session=sid,
                listener="rfq",
                target="rfq-venue",
                identity=identity,
                device=None,
                certificate_fingerprint=None,
                source_ip="10.0.0.1",
                sender_comp_id=f"L{n:05d}",
                target_comp_id="VENUE",
                begin_string="FIX.4.4",
                msg_seq_num=1,
                heart_bt_int="1",
                reset_seq_num=True,
                username=None,
                outcome="allow",
                score=15,
                contributions=[{"rule_id": "rr-ip", "attribute": "network", "condition": "unknown", "score": 15}],
                matched_rule="ar-rfq",
                bundle_version=7,
                reason="allowed",
            ),
            self.event("session_live", session=sid, venue_seq=1, identity=identity),
        ]


@dataclass
class Watcher:
    """One browser: the newest rev it holds per session, and the lag of every row it received while timed."""

    latest: dict[str, int] = field(default_factory=dict)
    lags: list[float] = field(default_factory=list)
    frames: int = 0
    rows: int = 0
    resyncs: int = 0


async def _watch(url: str, origin: str, cookie: str, watcher: Watcher, sent_at: dict[int, float], ready, stop):
    import websockets

    async with websockets.connect(
        url, additional_headers={"Origin": origin, "Cookie": cookie}, open_timeout=30, max_size=2**26
    ) as ws:
        hello = json.loads(await ws.recv())
        assert hello["type"] == "hello", hello
        ready.set_result(None) if not ready.done() else None
        while not stop.is_set():
            try:
                raw = await asyncio.wait_for(ws.recv(), timeout=0.5)
            except TimeoutError:
                continue
            received = time.perf_counter()
            frame = json.loads(raw)
            if frame.get("type") != "sessions":
                continue
            watcher.frames += 1
            watcher.resyncs += bool(frame.get("resync"))
            for row in frame["sessions"]:
                rev = row["rev"]
                watcher.rows += 1
                if rev > watcher.latest.get(row["session_id"], -1):
                    watcher.latest[row["session_id"]] = rev
                started = sent_at.get(rev)
                if started is not None:
                    watcher.lags.append(received - started)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def _one_size(size: int, server: Server, ingest: Server, point, token: str, cookies: list[str]) -> dict:
    feed = Feed(point, token, ingest.port)
    sessions = [secrets.token_hex(8) for _ in range(size)]
    # Brought to logged_on before the clients connect: the clients measure heartbeats only.
    lines = [line for n, sid in enumerate(sessions) for line in feed.logged_on(sid, n)]
    for i in range(0, len(lines), SEED_BATCH):
        await asyncio.to_thread(feed.post, lines[i : i + SEED_BATCH])
    await asyncio.sleep(1.0)  # the seed's frames leave before the clients join

    sent_at: dict[int, float] = {}
    watchers = [Watcher() for _ in cookies]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    readies = [loop.create_future() for _ in cookies]
    origin = f"http://127.0.0.1:{server.port}"
    url = f"ws://127.0.0.1:{server.port}/ws/sessions/"
    tasks = [
        asyncio.create_task(_watch(url, origin, cookie, watcher, sent_at, ready, stop))
        for cookie, watcher, ready in zip(cookies, watchers, readies, strict=True)
    ]
    await asyncio.wait_for(asyncio.gather(*readies), timeout=60)

    beats: dict[str, int] = {}

    def heartbeats(group: list[str]) -> list[bytes]:
        out = []
        for sid in group:
            beats[sid] = beats.get(sid, 1) + 1
            out.append(feed.event("heartbeat", session=sid, direction="client", msg_seq_num=beats[sid], venue_seq=1))
        return out

    posts: list[float] = []  # each timed POST's duration: the ingestion part of the lag

    def post_timed(batch: list[bytes], first_seq: int) -> None:
        started = time.perf_counter()
        for seq in range(first_seq, first_seq + len(batch)):
            sent_at[seq] = started
        feed.post(batch)
        posts.append(time.perf_counter() - started)

    slices = [sessions[k::TICKS_PER_SECOND] for k in range(TICKS_PER_SECOND)]
    ticks = SECONDS * TICKS_PER_SECOND
    tick = 1 / TICKS_PER_SECOND
    behind = 0
    began = time.perf_counter()
    for t in range(ticks):
        first = feed.seq + 1
        batch = heartbeats(slices[t % TICKS_PER_SECOND])
        await asyncio.to_thread(post_timed, batch, first)
        wait = began + (t + 1) * tick - time.perf_counter()
        if wait > 0:
            await asyncio.sleep(wait)
        else:
            behind += 1
    offered_seconds = time.perf_counter() - began
    achieved = ticks * size / TICKS_PER_SECOND / offered_seconds

    # The final state: one more heartbeat of every session; every client must end holding it.
    final_lines = heartbeats(sessions)
    final_first = feed.seq - len(final_lines) + 1
    for i in range(0, len(final_lines), SEED_BATCH):
        await asyncio.to_thread(post_timed, final_lines[i : i + SEED_BATCH], final_first + i)
    final = {sid: final_first + n for n, sid in enumerate(sessions)}
    deadline = time.perf_counter() + FINAL_WAIT
    while time.perf_counter() < deadline:
        if all(w.latest.get(s, -1) >= rev for w in watchers for s, rev in final.items()):
            break
        await asyncio.sleep(0.1)
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    feed.connection.close()

    lags = [lag for w in watchers for lag in w.lags]
    lost = sum(1 for w in watchers for s, rev in final.items() if w.latest.get(s, -1) < rev)
    expected_rows = (ticks * size // TICKS_PER_SECOND + size) * len(watchers)
    return {
        "p50": _percentile(lags, 0.50) * 1000,
        "p99": _percentile(lags, 0.99) * 1000,
        "max": max(lags, default=float("nan")) * 1000,
        "lost": lost,
        "achieved": achieved,
        "behind": behind,
        "frames": sum(w.frames for w in watchers),
        "superseded": max(0, expected_rows - len(lags)),
        "resyncs": sum(w.resyncs for w in watchers),
        "post_p50": _percentile(posts, 0.50) * 1000,
        "post_p99": _percentile(posts, 0.99) * 1000,
    }


def _measure(
    frame_ms: int, sizes: list[int], point, token: str, cookies: list[str], *, split: bool = False
) -> list[tuple[int, dict]]:
    """``split``: the PEP posts to a second web process (as a deployment routes ``/api/v1/enforcement/`` to its
    own uvicorn processes, docs/operations.md), so the websockets' process only reads the channel layer and
    writes frames."""
    server = Server(frame_ms)
    ingest = Server(frame_ms) if split else server
    try:
        return [(size, asyncio.run(_one_size(size, server, ingest, point, token, cookies))) for size in sizes]
    finally:
        server.stop()
        if ingest is not server:
            ingest.stop()


def _row(size: int, frame_ms: int, m: dict, *, split: bool = False) -> Result:
    load = os.getloadavg()
    held = size == BUDGET_SIZE
    where = "1 ASGI process for the websockets, ingestion in a 2nd web process" if split else "1 ASGI process"
    return Result(
        f"live sessions: {size:,} sessions x 1 update/s, {CLIENTS} websockets, {where}, frames every "
        f"{frame_ms} ms ({SECONDS} s): PEP POST → browser frame",
        f"p50 {m['p50']:.0f} ms, p99 {m['p99']:.0f} ms (max {m['max']:.0f}); final states lost "
        f"{m['lost']}; {m['achieved']:,.0f} of {size:,} updates/s taken ({m['behind']} late ticks); "
        f"{m['frames']:,} frames, {m['superseded']:,} rows coalesced, {m['resyncs']} resyncs; "
        f"ingestion POST p50 {m['post_p50']:.0f} ms, p99 {m['post_p99']:.0f} ms; "
        f"load {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}",
        f"p99 ≤ {BUDGET_MS:.0f} ms, none lost" if held else "reported",
        m["p99"] / BUDGET_MS,
        (m["p99"] <= BUDGET_MS and m["lost"] == 0) if held else None,
        p50=round(m["p50"], 1),
    )


def run() -> list[Result]:
    point, token = _point()
    cookies = _cookies(CLIENTS)
    rows: list[Result] = []
    breaks_at = None
    for size, m in _measure(FRAME_MS, SIZES, point, token, cookies):
        rows.append(_row(size, FRAME_MS, m))
        held = m["p99"] <= BUDGET_MS and m["lost"] == 0 and m["achieved"] >= 0.95 * size
        if not held and breaks_at is None:
            breaks_at = size
    if SHORT_FRAME_MS and SHORT_FRAME_MS != FRAME_MS and BUDGET_SIZE in SIZES:
        for size, m in _measure(SHORT_FRAME_MS, [BUDGET_SIZE], point, token, cookies):
            rows.append(_row(size, SHORT_FRAME_MS, m))
    if SPLIT:
        for size, m in _measure(FRAME_MS, SIZES, point, token, cookies, split=True):
            rows.append(_row(size, FRAME_MS, m, split=True))
    rows.append(
        Result(
            f"live sessions: where it breaks at {FRAME_MS} ms frames (p99 over budget, a state lost, or the offered "
            "rate not taken)",
            f"at {breaks_at:,} sessions" if breaks_at else f"holds up to {max(SIZES):,} sessions",
        )
    )
    return rows
