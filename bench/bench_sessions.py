"""FIX sessions: ingestion of 10 PEPs' event feeds, then the sessions page and API with what they stored.

Ingestion goes through the real path a PEP uses: ``POST /api/v1/enforcement/events`` with the point's bearer token,
JSON Lines batches of 500 (the PEP's default ``events_batch_size``), validated against the schema, stored and
projected. Ten PEPs post at once, each from its own thread over its own keep-alive connection (a PEP sends its next
batch once the previous one was taken), to uvicorn with one process per core on PostgreSQL (as deployed,
docs/operations.md) and one on SQLite (one writer at a time). The feeds are what a PEP writes
(pep/gateway/events.py's envelope): per session a connection, TLS handshake, Logon decision, venue answer,
heartbeats both ways, a logout and a disconnect, interleaved across sessions as they are on a busy gateway. The
bodies are built before the clock starts. Budget: ≥ 20,000 events/s into stored state on PostgreSQL (on SQLite the
figure is shown, not held to it).

Then the list figures with those sessions stored: page and API, first and deep page, each filter.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from bench.lists import admin_client, deep_cursor, query_count_check, run_cases, settle, steady
from bench.results import Result

LIST_BENCH = True
PEPS = int(os.environ.get("ZT_BENCH_SESSION_PEPS", "10"))
SESSIONS_PER_PEP = int(os.environ.get("ZT_BENCH_SESSIONS_PER_PEP", "1000"))
HEARTBEATS = 5
BATCH = 500
INGEST_BUDGET = 20_000  # events/s on PostgreSQL
WORKERS = int(os.environ.get("ZT_BENCH_INGEST_WORKERS", str(os.cpu_count() or 2)))
BASE = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


def _points():
    from accounts.models import Environment
    from policies.distribution.actions import new_token
    from policies.distribution.models import EnforcementPoint

    points = []
    for n in range(PEPS):
        token, prefix, token_hash = new_token()
        point, _ = EnforcementPoint.objects.update_or_create(
            name=f"bench-pep-{n:02d}",
            defaults={
                "environment": Environment.PROD if n % 2 == 0 else Environment.UAT,
                "control_url": f"https://127.0.0.1:{20000 + n}",
                "pinned_sha256": "00" * 32,
                "token_prefix": prefix,
                "token_hash": token_hash,
            },
        )
        points.append((point, token))
    return points


def _clear(points) -> None:
    from sessions.models import Decision, FixSession, PepEvent

    ids = [p.pk for p, _ in points]
    PepEvent.objects.filter(point_id__in=ids).delete()
    Decision.objects.filter(point_id__in=ids).delete()
    FixSession.objects.filter(point_id__in=ids).delete()


def _feed(point, identities: list[str]) -> list[bytes]:
    """One PEP's events as the lines it sends, interleaved over its sessions, in seq order."""
    boot = secrets.token_hex(6)
    seq = 0
    lines: list[bytes] = []
    sessions = [secrets.token_hex(8) for _ in range(SESSIONS_PER_PEP)]

    def emit(kind: str, moment: datetime, **fields) -> None:
        nonlocal seq
        seq += 1
        record = {
            **fields,
            "format": "ztc-pep-events/1",
            "pep": point.name,
            "environment": point.environment,
            "boot": boot,
            "seq": seq,
            "time": moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "type": kind,
        }
        lines.append(json.dumps(record, separators=(",", ":")).encode())

    # Sessions open in waves of 50, live through their heartbeats, then end: events of many sessions interleave.
    wave = 50
    for start in range(0, len(sessions), wave):
        group = list(enumerate(sessions[start : start + wave], start=start))
        t = BASE + timedelta(seconds=start)
        for n, sid in group:
            identity = identities[n % len(identities)]
            emit("connection", t, session=sid, listener="rfq", source_ip=f"10.0.{n % 250}.{n % 200}", source_port=40000)
            emit(
                "tls_handshake",
                t,
                session=sid,
                tls_version="TLSv1.3",
                cipher="TLS_AES_256_GCM_SHA384",
                peer_fingerprint=secrets.token_hex(32),
                peer_subject=f"CN={identity}",
                peer_identity_uri=f"urn:ztconsole:identity:{identity}",
            )
            outcome = "deny" if n % 20 == 0 else "allow"
            emit(
                "logon_decision",
                t,
                session=sid,
                listener="rfq",
                target="rfq-venue",
                identity=identity,
                device=None,
                certificate_fingerprint=None,
                source_ip="10.0.0.1",
                sender_comp_id=f"C{n:05d}",
                target_comp_id="VENUE",
                begin_string="FIX.4.4",
                msg_seq_num=1,
                heart_bt_int="30",
                reset_seq_num=True,
                username=None,
                outcome=outcome,
                score=15 if outcome == "allow" else 55,
                contributions=[{"rule_id": "rr-ip", "attribute": "network", "condition": "unknown", "score": 15}],
                matched_rule="ar-rfq" if outcome == "allow" else None,
                bundle_version=7,
                reason="allowed" if outcome == "allow" else "score 55 is in the deny band",
            )
            if outcome == "allow":
                emit("session_live", t, session=sid, venue_seq=1, identity=identity)
        for beat in range(HEARTBEATS):
            for n, sid in group:
                if n % 20 == 0:
                    continue
                moment = t + timedelta(seconds=30 * (beat + 1))
                emit("heartbeat", moment, session=sid, direction="client", msg_seq_num=beat + 2, venue_seq=beat + 1)
        for n, sid in group:
            end = t + timedelta(seconds=30 * (HEARTBEATS + 1))
            if n % 20 == 0:
                emit("logout", end, session=sid, initiator="pep", reason="score 55 is in the deny band")
            elif n % 3 != 0:  # a third stay logged on
                emit("logout", end, session=sid, initiator="client", msg_seq_num=HEARTBEATS + 2)
            else:
                continue
            emit(
                "disconnect", end, session=sid, reason="closed", messages_in=HEARTBEATS + 2, messages_out=HEARTBEATS + 1
            )
    return [b"\n".join(lines[i : i + BATCH]) + b"\n" for i in range(0, len(lines), BATCH)]


def _post_feed(port: int, token: str, batches: list[bytes]) -> None:
    """One PEP: its batches in order over one keep-alive connection, the next after the previous was taken."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        for body in batches:
            connection.request(
                "POST",
                "/api/v1/enforcement/events",
                body=body,
                headers={"Content-Type": "application/x-ndjson", "Authorization": f"Bearer {token}"},
            )
            response = connection.getresponse()
            answer = response.read()
            if response.status != 202:
                raise RuntimeError(f"ingestion answered {response.status}: {answer[:300]!r}")
    finally:
        connection.close()


def _ingest(points, identities: list[str], workers: int, postgres: bool) -> tuple[int, float, int]:
    """The ten PEPs post at once, each from its own thread, to ``workers`` uvicorn processes.

    On PostgreSQL the processes keep their connections in psycopg's pool, as deployed (``ZT_DB_POOL`` is on in
    ``ztconsole.settings``; the test settings turn it off for the test runner's own process): without it every
    request opens a connection, a new PostgreSQL backend process, which cost a third of the rate.
    """
    from bench.bench_live_sessions import Server

    bodies = {point.pk: _feed(point, identities) for point, _ in points}
    total = sum(body.count(b"\n") for batches in bodies.values() for body in batches)
    server = Server(workers=workers, env={"ZT_DB_POOL": "1"} if postgres else None)
    try:
        steady()
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=len(points)) as pool:
            done = [pool.submit(_post_feed, server.port, token, bodies[point.pk]) for point, token in points]
            for future in done:
                future.result()
        seconds = time.perf_counter() - started
    finally:
        server.stop()
    return total, seconds, sum(len(b) for b in bodies.values())


def run() -> list[Result]:
    from django.db import connection
    from django.urls import reverse

    from sessions.api import SessionPagination
    from sessions.models import FixSession
    from sessions.views import LIST_ORDER

    points = _points()
    _clear(points)
    # The rows of an earlier run are gone before the clock starts, not vacuumed by autovacuum while it runs.
    settle("fix_sessions_fixsession", "fix_sessions_pepevent", "fix_sessions_decision")
    identities = [f"bench-algo-{n}" for n in range(200)]
    postgres = connection.vendor == "postgresql"
    # One web process per core on PostgreSQL, as deployed (docs/operations.md); SQLite takes one writer at a time.
    workers = WORKERS if postgres else 1
    events, seconds, batches = _ingest(points, identities, workers, postgres)
    rate = events / seconds
    load = os.getloadavg()
    rows = [
        Result(
            f"sessions: ingest {events:,} events from {PEPS} PEPs posting at once over HTTP ({batches} batches of "
            f"≤ {BATCH}) to {workers} uvicorn process{'es' if workers > 1 else ''}",
            f"{rate:,.0f} events/s ({seconds:.1f} s); load {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}",
            f"≥ {INGEST_BUDGET:,} events/s on PostgreSQL",
            rate / INGEST_BUDGET,
            (rate >= INGEST_BUDGET) if postgres else None,
        )
    ]
    settle("fix_sessions_fixsession", "fix_sessions_pepevent", "fix_sessions_decision")
    steady()
    stored = FixSession.objects.count()
    client = admin_client()
    page, api = reverse("sessions:list"), reverse("api-session-list")
    deep = deep_cursor(FixSession.objects.all(), LIST_ORDER, stored // 2)
    api_deep = deep_cursor(FixSession.objects.all(), SessionPagination().keyset(), stored // 2)
    cases = [
        (f"sessions page: first page ({stored:,} sessions)", page, {}),
        ("sessions page: deep page", page, {"cursor": deep}),
        ("sessions page: live", page, {"state": "live"}),
        ("sessions page: refused", page, {"state": "refused"}),
        ("sessions page: one PEP", page, {"pep": points[3][0].name}),
        ("sessions page: one identity", page, {"identity": identities[7]}),
        ("sessions page: outcome deny", page, {"outcome": "deny"}),
        ("sessions API: first page (50)", api, {}),
        ("sessions API: page_size=200", api, {"page_size": 200}),
        ("sessions API: deep page", api, {"cursor": api_deep}),
        ("decisions API: deny", reverse("api-decision-list"), {"outcome": "deny"}),
    ]
    timed = run_cases(client, cases)
    groups = {
        "pages": [cases[0][0], "sessions page: deep page"],
        "API": ["sessions API: first page (50)", "sessions API: page_size=200", "sessions API: deep page"],
    }
    return rows + timed + [query_count_check("sessions", timed, groups)]
