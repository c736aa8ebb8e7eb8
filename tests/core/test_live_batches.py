"""ztconsole.core.live: one background publisher; a burst to one group travels as few messages, arrives whole
and in order; a Redis failure is one log line per drain, not one per message."""

from __future__ import annotations

import asyncio
import json
import logging
from urllib.parse import urlparse

import pytest
import websockets
from django.db import transaction
from django.test import Client

from tests.conftest import run_async, verify_session
from ztconsole.core import audit, live

pytestmark = pytest.mark.django_db(transaction=True)


def test_messages_for_one_group_are_sent_as_batches_in_order():
    batch = (
        [("a", {"type": "x", "n": i}) for i in range(450)] + [("b", {"type": "y"})] + [("a", {"type": "x", "n": 450})]
    )
    sends = live._batched(batch)
    assert [group for group, _ in sends] == ["a", "a", "a", "b"]
    unpacked = [m for group, message in sends if group == "a" for m in message["messages"]]
    assert [m["n"] for m in unpacked] == list(range(451))
    assert sends[-1] == ("b", {"type": "y"})  # a lone message is sent as itself


def test_a_burst_of_audit_events_reaches_the_socket_whole_and_in_order(asgi_server, personas):
    client = verify_session(Client(), personas["compliance"])
    url = f"ws://{urlparse(asgi_server).netloc}/ws/events/"

    async def scenario():
        socket = await websockets.connect(
            url, additional_headers={"Origin": asgi_server, "Cookie": f"sessionid={client.cookies['sessionid'].value}"}
        )
        try:
            assert json.loads(await socket.recv())["type"] == "hello"

            def burst():
                for n in range(300):
                    with transaction.atomic():
                        audit.record(personas["admin"].user, "test.burst", None, {"n": n})

            await asyncio.to_thread(burst)
            seen = []
            while len(seen) < 300:
                message = json.loads(await asyncio.wait_for(socket.recv(), timeout=20))
                if message["type"] == "audit" and message["event"]["action"] == "test.burst":
                    seen.append(message["event"]["seq"])
            return seen
        finally:
            await socket.close()

    seen = run_async(scenario)
    assert seen == sorted(seen) and len(set(seen)) == 300


def test_an_unreachable_channel_layer_is_one_warning_per_drain(monkeypatch, caplog):
    from channels.layers import get_channel_layer

    layer = get_channel_layer()

    async def refuse(group, message):
        raise ConnectionError("redis is away")

    monkeypatch.setattr(layer, "group_send", refuse)
    with caplog.at_level(logging.WARNING, logger="ztconsole.core.live"):
        live.publish("nobody", *({"type": "x", "n": i} for i in range(500)))
        live.publish_latest("nobody-latest", "y", [(i, {"id": i}) for i in range(50)])
        live.wait_idle()
    warnings = [r for r in caplog.records if "not delivered" in r.getMessage()]
    assert 1 <= len(warnings) <= 2, [r.getMessage() for r in warnings]


def test_a_latest_state_feed_past_its_bound_keeps_the_newest_and_asks_for_a_resync(monkeypatch):
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    sent = []

    async def capture(group, message):
        sent.append((group, message))

    monkeypatch.setattr(layer, "group_send", capture)
    monkeypatch.setattr(live, "LATEST_MAX_KEYS", 10)
    for rev in (1, 2):
        live.publish_latest("feed", "feed.update", [(k, {"id": k, "rev": rev}) for k in range(20)])
    live.wait_idle()
    items = [item for _, message in sent for item in message["items"]]
    latest = {item["id"]: item["rev"] for item in items}
    assert latest.get(19) == 2  # the newest state of a key that was kept
    if len(sent) == 1:  # both publishes merged before the drain: the oldest ten keys were dropped
        assert sent[0][1]["resync"] is True and sorted(latest) == list(range(10, 20))
    assert any(message["resync"] for _, message in sent)
