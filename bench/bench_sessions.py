"""FIX sessions: ingestion of 10 PEPs' event feeds, then the sessions page and API with what they stored.

Ingestion goes through the real path a PEP uses: ``POST /api/v1/enforcement/events`` with the point's bearer
token, JSON Lines batches of 500 (the PEP's default ``events_batch_size``), validated against the schema, stored
and projected, one console process. The feeds are what a PEP writes (pep/gateway/events.py's envelope): per
session a connection, TLS handshake, Logon decision, venue answer, heartbeats both ways, a logout and a
disconnect, interleaved across sessions as they are on a busy gateway. The bodies are built before the clock
starts. Budget: ≥ 20,000 events/s into stored state on PostgreSQL (on SQLite the figure is shown, not held to it).

Then the list figures with those sessions stored: page and API, first and deep page, each filter.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from datetime import UTC, datetime, timedelta

from bench.lists import admin_client, deep_cursor, query_count_check, run_cases, settle, steady
from bench.results import Result

LIST_BENCH = True
PEPS = int(os.environ.get("ZT_BENCH_SESSION_PEPS", "10"))
SESSIONS_PER_PEP = int(os.environ.get("ZT_BENCH_SESSIONS_PER_PEP", "1000"))
HEARTBEATS = 5
BATCH = 500
INGEST_BUDGET = 20_000  # events/s on PostgreSQL
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


def _ingest(points, identities: list[str]) -> tuple[int, float, int]:
    from django.test import Client

    bodies = {point.pk: _feed(point, identities) for point, _ in points}
    tokens = {point.pk: token for point, token in points}
    total = sum(body.count(b"\n") for batches in bodies.values() for body in batches)
    # The ten feeds interleave batch by batch, as ten PEPs posting to one console would.
    order = []
    for i in range(max(len(b) for b in bodies.values())):
        for point, _ in points:
            if i < len(bodies[point.pk]):
                order.append((point.pk, bodies[point.pk][i]))
    client = Client()
    steady()
    started = time.perf_counter()
    for pk, body in order:
        response = client.post(
            "/api/v1/enforcement/events",
            data=body,
            content_type="application/x-ndjson",
            HTTP_AUTHORIZATION=f"Bearer {tokens[pk]}",
        )
        assert response.status_code == 202, response.content[:300]
    seconds = time.perf_counter() - started
    return total, seconds, len(order)


def run() -> list[Result]:
    from django.db import connection
    from django.urls import reverse

    from sessions.api import SessionPagination
    from sessions.models import FixSession
    from sessions.views import LIST_ORDER

    points = _points()
    _clear(points)
    identities = [f"bench-algo-{n}" for n in range(200)]
    events, seconds, batches = _ingest(points, identities)
    rate = events / seconds
    postgres = connection.vendor == "postgresql"
    rows = [
        Result(
            f"sessions: ingest {events:,} events from {PEPS} PEPs ({batches} batches of ≤ {BATCH})",
            f"{rate:,.0f} events/s ({seconds:.1f} s)",
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
