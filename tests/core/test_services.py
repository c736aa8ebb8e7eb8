"""Real services: a Celery round trip through the broker, /healthz, and the live websocket."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import urlparse

import pytest
import websockets
from django.db import transaction
from django.test import Client
from django.urls import reverse

from tests.conftest import run_async, verify_session
from ztconsole.core import audit
from ztconsole.core.tasks import ping

pytestmark = pytest.mark.django_db(transaction=True)


def test_celery_task_round_trip_through_the_broker(celery_worker_thread, settings):
    result = ping.delay()
    assert result.get(timeout=20) == {"pong": True, "worker": result.get()["worker"]}
    assert settings.CELERY_BROKER_URL.startswith("redis://")
    assert celery_worker_thread.conf.task_always_eager is False


def test_healthz_tells_the_public_only_ok(celery_worker_thread):
    response = Client().get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_health_details_report_every_dependency_to_operators(celery_worker_thread, personas, verified_client):
    assert Client().get("/healthz/details").status_code == 302  # to sign-in: details are not public
    assert verified_client(personas["trader"]).get("/healthz/details").status_code == 403
    response = verified_client(personas["security"]).get("/healthz/details")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok"
    assert {name: check["status"] for name, check in body["checks"].items()} == {
        "database": "ok",
        "redis": "ok",
        "celery": "ok",
    }


def test_healthz_fails_loudly_but_says_why_only_to_operators(settings, celery_worker_thread, personas, verified_client):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = Client().get("/healthz")
    assert response.status_code == 503 and response.json() == {"status": "fail"}
    details = verified_client(personas["admin"]).get("/healthz/details")
    assert details.status_code == 503
    assert details.json()["checks"]["redis"]["status"] == "fail"


# --- websockets ------------------------------------------------------------------------------------


def _ws_url(base: str) -> str:
    return f"ws://{urlparse(base).netloc}/ws/events/"


async def _connect(base: str, cookie: str | None):
    headers = {"Origin": base}
    if cookie:
        headers["Cookie"] = cookie
    return await websockets.connect(_ws_url(base), additional_headers=headers, open_timeout=10)


def _session_cookie(client: Client) -> str:
    return f"sessionid={client.cookies['sessionid'].value}"


async def _close_code(base: str, cookie: str | None) -> int:
    """The documented refusal: the handshake completes, then the server closes with 4401 or 4403."""
    socket = await _connect(base, cookie)
    with pytest.raises(websockets.exceptions.ConnectionClosed) as info:
        await asyncio.wait_for(socket.recv(), timeout=5)
    return info.value.rcvd.code


def test_websocket_refused_without_a_session(asgi_server):
    assert run_async(_close_code, asgi_server, None) == 4401


def test_websocket_refused_with_a_password_only_session(asgi_server, personas):
    client = Client()
    client.force_login(personas["admin"].user)
    assert run_async(_close_code, asgi_server, _session_cookie(client)) == 4401


def test_websocket_refused_to_a_verified_user_without_a_role(asgi_server, personas):
    client = verify_session(Client(), personas["outsider"])
    assert run_async(_close_code, asgi_server, _session_cookie(client)) == 4403


def test_websocket_from_a_foreign_origin_is_refused_at_the_handshake(asgi_server):
    async def scenario():
        with pytest.raises(websockets.exceptions.InvalidStatus) as info:
            await websockets.connect(_ws_url(asgi_server), additional_headers={"Origin": "https://evil.example"})
        return info.value.response.status_code

    assert run_async(scenario) == 403


def test_websocket_accepted_with_a_verified_session_and_streams_audit_events(asgi_server, personas):
    client = verify_session(Client(), personas["compliance"])

    async def scenario():
        socket = await _connect(asgi_server, _session_cookie(client))
        try:
            hello = json.loads(await asyncio.wait_for(socket.recv(), timeout=10))
            assert hello == {"type": "hello", "user": "carla", "streams": ["audit", "enforcement"]}

            def write_event():
                with transaction.atomic():
                    audit.record(personas["admin"].user, "test.live", None, {"n": 1})

            await asyncio.to_thread(write_event)
            message = json.loads(await asyncio.wait_for(socket.recv(), timeout=10))
            assert message["type"] == "audit"
            assert message["event"]["action"] == "test.live" and message["event"]["actor"] == "alice"
        finally:
            await socket.close()

    run_async(scenario)


def test_trader_websocket_gets_no_audit_stream(asgi_server, personas):
    client = verify_session(Client(), personas["trader"])

    async def scenario():
        socket = await _connect(asgi_server, _session_cookie(client))
        try:
            hello = json.loads(await asyncio.wait_for(socket.recv(), timeout=10))
            assert hello["streams"] == []
        finally:
            await socket.close()

    run_async(scenario)


def test_websocket_from_a_foreign_origin_is_refused(asgi_server, personas):
    client = verify_session(Client(), personas["admin"])

    async def scenario():
        headers = {"Origin": "https://evil.example", "Cookie": _session_cookie(client)}
        with pytest.raises(websockets.exceptions.InvalidStatus):
            await websockets.connect(_ws_url(asgi_server), additional_headers=headers, open_timeout=10)

    run_async(scenario)


def test_served_pages_carry_security_headers(asgi_server, personas):
    import urllib.request

    with urllib.request.urlopen(f"{asgi_server}{reverse('accounts:login')}", timeout=10) as response:  # noqa: S310
        headers = response.headers
    assert headers["X-Frame-Options"] == "DENY"
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert len(headers["X-Request-ID"]) >= 8
