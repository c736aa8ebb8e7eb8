"""/ws/sessions/: the same authorization as the page, closed on sign-out, and coalesced frames per browser."""

from __future__ import annotations

import asyncio
import json
import time
from urllib.parse import urlparse

import pytest
import websockets
from django.test import Client

from accounts.actions import create_non_person_identity
from sessions.selectors import LIVE_GROUP, LIVE_MESSAGE
from tests.conftest import run_async, verify_session
from tests.sessions.helpers import Feed, post_events, session_id

pytestmark = pytest.mark.django_db(transaction=True)


def _cookie(client: Client) -> str:
    return f"sessionid={client.cookies['sessionid'].value}"


async def _connect(base: str, cookie: str | None):
    headers = {"Origin": base}
    if cookie:
        headers["Cookie"] = cookie
    url = f"ws://{urlparse(base).netloc}/ws/sessions/"
    return await websockets.connect(url, additional_headers=headers, open_timeout=10, max_size=2**24)


async def _recv(socket, timeout: float = 10) -> dict:
    return json.loads(await asyncio.wait_for(socket.recv(), timeout=timeout))


async def _close_code(base: str, cookie: str | None) -> int:
    socket = await _connect(base, cookie)
    with pytest.raises(websockets.exceptions.ConnectionClosed) as info:
        await asyncio.wait_for(socket.recv(), timeout=5)
    return info.value.rcvd.code


def test_the_socket_refuses_anonymous_password_only_and_roleless_users(asgi_server, personas):
    assert run_async(_close_code, asgi_server, None) == 4401
    password_only = Client()
    password_only.force_login(personas["admin"].user)
    assert run_async(_close_code, asgi_server, _cookie(password_only)) == 4401
    outsider = verify_session(Client(), personas["outsider"])
    assert run_async(_close_code, asgi_server, _cookie(outsider)) == 4403


def test_a_foreign_origin_is_refused_at_the_handshake(asgi_server, personas):
    client = verify_session(Client(), personas["admin"])

    async def scenario():
        url = f"ws://{urlparse(asgi_server).netloc}/ws/sessions/"
        headers = {"Origin": "https://evil.example", "Cookie": _cookie(client)}
        with pytest.raises(websockets.exceptions.InvalidStatus):
            await websockets.connect(url, additional_headers=headers, open_timeout=10)

    run_async(scenario)


def test_ingested_events_reach_officers_and_only_the_traders_whose_identities_they_are(asgi_server, point, personas):
    trader = personas["trader"].user.identity
    algo = create_non_person_identity(
        None,
        name="algo-tina",
        kind="algorithm",
        display_name="Tina's algo",
        sponsor=trader,
        environment="prod",
        sender_comp_ids=["TINA1"],
    )
    officer = verify_session(Client(), personas["security"])
    trader_client = verify_session(Client(), personas["trader"])
    feed, mine, theirs = Feed("pep-ldn"), session_id(), session_id()

    async def scenario():
        sockets = [await _connect(asgi_server, _cookie(c)) for c in (officer, trader_client)]
        try:
            for socket in sockets:
                assert (await _recv(socket))["type"] == "hello"
            # The stranger's session first, then the trader's algorithm's: the trader's socket must see only the latter.
            for events in (
                feed.logged_on(theirs, identity="someone-else"),
                feed.logged_on(mine, identity=algo.username),
            ):
                response = await asyncio.to_thread(post_events, point.token, events)
                assert response.status_code == 202
            seen = {0: {}, 1: {}}
            for index, socket in enumerate(sockets):
                want = {mine, theirs} if index == 0 else {mine}
                while not all(seen[index].get(s, {}).get("state") == "logged_on" for s in want):
                    frame = await _recv(socket)
                    assert frame["type"] == "sessions"
                    for item in frame["sessions"]:
                        seen[index][item["session_id"]] = item
                    if frame.get("counts"):
                        seen[index]["counts"] = frame["counts"]
            assert set(seen[1]) - {"counts"} == {mine}
            assert seen[1][mine]["identity"] == "algo-tina" and seen[1][mine]["tls_version"] == "TLSv1.3"
            assert seen[0]["counts"]["logged_on"] >= 1
        finally:
            for socket in sockets:
                await socket.close()

    run_async(scenario)


def test_signing_out_closes_the_socket(asgi_server, personas):
    client = verify_session(Client(), personas["compliance"])

    async def scenario():
        socket = await _connect(asgi_server, _cookie(client))
        assert (await _recv(socket))["type"] == "hello"
        await asyncio.to_thread(client.post, "/accounts/logout/")
        with pytest.raises(websockets.exceptions.ConnectionClosed) as info:
            while True:
                await _recv(socket)
        return info.value.rcvd.code

    assert run_async(scenario) == 4401


def test_a_burst_of_ten_thousand_updates_reaches_the_browser_as_few_frames_with_the_latest_state(
    asgi_server, personas, settings
):
    """100 sessions x 100 revisions each, sent straight to the group (no publisher-side merging), ten updates per
    message as an ingested batch carries them: the socket must coalesce them into at most one frame per interval,
    ending on revision 100 of every session."""
    from channels.layers import get_channel_layer

    client = verify_session(Client(), personas["admin"])
    sessions, revisions = 100, 100

    def item(n: int, rev: int) -> dict:
        return {
            "id": n,
            "rev": rev,
            "session_id": f"{n:016x}",
            "state": "logged_on",
            "identity_id": None,
            "transition": False,
        }

    async def scenario():
        socket = await _connect(asgi_server, _cookie(client))
        try:
            hello = await _recv(socket)
            interval = hello["interval_ms"] / 1000
            layer = get_channel_layer()
            started = time.monotonic()
            for rev in range(1, revisions + 1):
                for first in range(1, sessions + 1, 10):
                    items = [item(n, rev) for n in range(first, first + 10)]
                    await layer.group_send(LIVE_GROUP, {"type": LIVE_MESSAGE, "items": items, "resync": False})
            sent = time.monotonic()
            latest: dict[int, int] = {}
            frames = 0
            while len(latest) < sessions or min(latest.values()) < revisions:
                frame = await _recv(socket, timeout=30)
                frames += 1
                for entry in frame["sessions"]:
                    assert entry["rev"] >= latest.get(entry["id"], 0), "a frame went back in time"
                    latest[entry["id"]] = entry["rev"]
            finished = time.monotonic()
            return frames, finished - started, sent - started, interval
        finally:
            await socket.close()

    frames, elapsed, sending, interval = run_async(scenario)
    # One frame per interval at most (plus the first, sent at once), whatever the machine's speed ...
    assert frames <= 2 + elapsed / interval, (frames, elapsed)
    # ... which is a handful against ten thousand updates.
    assert frames < 100, (frames, elapsed, sending)


def test_the_publisher_merges_updates_of_one_session_before_they_leave_the_process(asgi_server, personas):
    """live.publish_latest: 10,000 updates of 10 sessions published in a burst arrive in order, latest last."""
    from ztconsole.core import live

    client = verify_session(Client(), personas["admin"])

    async def scenario():
        socket = await _connect(asgi_server, _cookie(client))
        try:
            await _recv(socket)
            for rev in range(1, 1001):
                live.publish_latest(
                    LIVE_GROUP,
                    LIVE_MESSAGE,
                    [(n, {"id": n, "rev": rev, "session_id": f"{n:016x}", "identity_id": None}) for n in range(10)],
                )
            latest: dict[int, int] = {}
            frames = 0
            while len(latest) < 10 or min(latest.values()) < 1000:
                frame = await _recv(socket, timeout=30)
                frames += 1
                for entry in frame["sessions"]:
                    latest[entry["id"]] = max(latest.get(entry["id"], 0), entry["rev"])
            return frames
        finally:
            await socket.close()

    assert run_async(scenario) < 100


def test_a_stalled_browser_holds_back_no_one_and_still_ends_on_the_latest_state(asgi_server, personas):
    """One socket stops reading while fat updates pour in; another keeps reading. The reader gets the latest state
    of every session without waiting for the stalled one; once the stalled one reads again it gets the latest
    state too, in a few frames (its pending updates were merged, not queued)."""
    from channels.layers import get_channel_layer

    admin = verify_session(Client(), personas["admin"])
    officer = verify_session(Client(), personas["security"])
    sessions, revisions, padding = 200, 30, "x" * 4000

    async def scenario():
        url = f"ws://{urlparse(asgi_server).netloc}/ws/sessions/"
        stalled = await websockets.connect(
            url, additional_headers={"Origin": asgi_server, "Cookie": _cookie(admin)}, max_queue=1, max_size=2**26
        )
        reader = await _connect(asgi_server, _cookie(officer))
        try:
            hello = await _recv(stalled)
            await _recv(reader)
            layer = get_channel_layer()
            started = time.monotonic()
            for rev in range(1, revisions + 1):
                for first in range(1, sessions + 1, 20):
                    items = [
                        {"id": n, "rev": rev, "session_id": f"{n:016x}", "identity_id": None, "end_reason": padding}
                        for n in range(first, first + 20)
                    ]
                    await layer.group_send(LIVE_GROUP, {"type": LIVE_MESSAGE, "items": items, "resync": False})
            latest: dict[int, int] = {}
            while len(latest) < sessions or min(latest.values()) < revisions:
                for entry in (await _recv(reader, timeout=30))["sessions"]:
                    latest[entry["id"]] = max(latest.get(entry["id"], 0), entry["rev"])
            # Now the stalled socket reads what is waiting for it.
            stalled_latest: dict[int, int] = {}
            frames = 0
            while len(stalled_latest) < sessions or min(stalled_latest.values()) < revisions:
                frame = await _recv(stalled, timeout=30)
                frames += 1
                for entry in frame["sessions"]:
                    stalled_latest[entry["id"]] = max(stalled_latest.get(entry["id"], 0), entry["rev"])
            return frames, time.monotonic() - started, hello["interval_ms"] / 1000
        finally:
            await stalled.close()
            await reader.close()

    frames, elapsed, interval = run_async(scenario)
    assert frames <= 2 + elapsed / interval, (frames, elapsed)
    assert frames < revisions * sessions / 20  # far fewer than the messages published: merged, not queued
