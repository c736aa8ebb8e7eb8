"""Publishing live events to websocket groups without blocking the caller.

Actions publish after their transaction commits; the message goes through the channel layer (Redis) from
one background event loop per process, so a request or a bulk import never waits on Redis, and a Redis
outage never fails the action (the database already holds the truth).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections import deque
from typing import Any

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_loop_pid: int | None = None


def _background_loop() -> asyncio.AbstractEventLoop:
    global _loop, _loop_pid, _draining
    with _lock:
        if _loop is None or _loop_pid != os.getpid():  # a forked worker needs its own thread
            _pending.clear()  # what the parent had not sent is the parent's
            _latest.clear()
            _draining = False
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="zt-live-publisher", daemon=True).start()
            _loop, _loop_pid = loop, os.getpid()
        return _loop


# Messages waiting for the background loop, and whether a drain is already scheduled there. A burst of
# publishes (a bulk import, a thousand audit appends) wakes the loop once and is sent in order over one
# connection, instead of one coroutine and one Redis connection per message. Bounded: the feed is best effort.
_pending: deque[tuple[str, dict[str, Any]]] = deque(maxlen=10_000)
_draining = False
_dropped = [0]  # messages pushed out of the full deque since the last drain (logged once per drain)

# Latest-state feeds (FIX sessions): per group, the newest item of each key waiting to be sent, in the order
# keys last changed. A thousand updates of one session before the loop wakes become one item; the group gets
# one message of up to LATEST_CHUNK items per drain. Bounded: past LATEST_MAX_KEYS the oldest keys are dropped
# and the next message says ``resync`` so that clients reload from the stored state, which is the truth.
LATEST_MAX_KEYS = 50_000
LATEST_CHUNK = 500
_latest: dict[str, _LatestFeed] = {}


class _LatestFeed:
    __slots__ = ("items", "message_type", "resync")

    def __init__(self, message_type: str) -> None:
        self.message_type = message_type
        self.items: dict[Any, dict[str, Any]] = {}
        self.resync = False

    def messages(self) -> list[dict[str, Any]]:
        items = list(self.items.values())
        chunks = [items[i : i + LATEST_CHUNK] for i in range(0, len(items), LATEST_CHUNK)] or [[]]
        out = [{"type": self.message_type, "items": chunk, "resync": False} for chunk in chunks]
        out[0]["resync"] = self.resync
        return out


async def _drain() -> None:
    global _draining
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    while True:
        # Let a burst gather first: audit events appended one per transaction arrive a millisecond apart, and one
        # channel-layer send per event (a Redis script run, in this process's publisher thread) cost the
        # appending threads about a quarter of their rate. A few milliseconds later to the browser, one send.
        await asyncio.sleep(COALESCE_SECONDS)
        with _lock:
            if (not _pending and not _latest) or layer is None:
                _pending.clear()
                _latest.clear()
                _draining = False
                return
            batch = list(_pending)
            _pending.clear()
            feeds = list(_latest.items())
            _latest.clear()
            dropped, _dropped[0] = _dropped[0], 0
        if dropped:
            logger.warning("live feed: %d messages dropped (more than %d waiting)", dropped, _pending.maxlen)
        sends = _batched(batch) + [(group, message) for group, feed in feeds for message in feed.messages()]
        failures: list[Exception] = []
        for group, message in sends:
            try:
                await layer.group_send(group, message)
            except Exception as exc:
                failures.append(exc)
        if failures:
            # One line per drain, not one per message: a Redis outage during a burst is one event in the log.
            logger.warning(
                "live feed: %d of %d messages not delivered: %s",
                len(failures),
                len(sends),
                type(failures[0]).__name__,
                exc_info=failures[0],
            )


BATCH_MESSAGES = 200
COALESCE_SECONDS = 0.005


def _batched(batch: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    """The drain's messages per group, in order: several for one group travel as one ``live.batch`` message
    (one Redis round trip for a burst of audit events); consumers unpack it (``LiveBatchMixin``)."""
    by_group: dict[str, list[dict[str, Any]]] = {}
    for group, message in batch:
        by_group.setdefault(group, []).append(message)
    out: list[tuple[str, dict[str, Any]]] = []
    for group, messages in by_group.items():
        for i in range(0, len(messages), BATCH_MESSAGES):
            chunk = messages[i : i + BATCH_MESSAGES]
            out.append((group, chunk[0] if len(chunk) == 1 else {"type": "live.batch", "messages": chunk}))
    return out


def publish(group: str, *messages: dict[str, Any]) -> None:
    """Send ``messages`` to ``group`` in the background, in order; returns at once."""
    global _draining
    loop = _background_loop()
    with _lock:
        overflow = len(_pending) + len(messages) - (_pending.maxlen or 0)
        if overflow > 0:
            _dropped[0] += min(overflow, len(messages) + len(_pending))
        _pending.extend((group, message) for message in messages)
        if _draining:
            return
        _draining = True
    asyncio.run_coroutine_threadsafe(_drain(), loop)


def publish_latest(group: str, message_type: str, items: list[tuple[Any, dict[str, Any]]]) -> None:
    """Queue the latest state of each ``(key, item)`` for ``group``; older unsent states of a key are replaced.

    Receivers get ``{"type": message_type, "items": [...], "resync": bool}``. An item whose ``transition`` is
    true keeps that flag when a newer state of the same key replaces it before it was sent.
    """
    global _draining
    if not items:
        return
    loop = _background_loop()
    with _lock:
        feed = _latest.get(group)
        if feed is None:
            feed = _latest[group] = _LatestFeed(message_type)
        for key, item in items:
            old = feed.items.pop(key, None)
            if old is not None and old.get("transition") and not item.get("transition"):
                item = {**item, "transition": True}
            feed.items[key] = item
        while len(feed.items) > LATEST_MAX_KEYS:
            feed.items.pop(next(iter(feed.items)))
            feed.resync = True
        if _draining:
            return
        _draining = True
    asyncio.run_coroutine_threadsafe(_drain(), loop)


async def _idle() -> None:
    others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    await asyncio.gather(*others, return_exceptions=True)


def wait_idle(timeout: float = 60.0) -> None:
    """Block until every message published so far has been handed to the channel layer (tests, benches)."""
    if _loop is not None and _loop_pid == os.getpid():
        asyncio.run_coroutine_threadsafe(_idle(), _loop).result(timeout)


def end_sessions(user_id: int) -> None:
    """After the transaction commits, close the user's open websockets (sign-out, suspension, lost device)."""
    from django.db import transaction

    from ztconsole.core.consumers import user_group

    transaction.on_commit(lambda: publish(user_group(user_id), {"type": "session.end"}))
