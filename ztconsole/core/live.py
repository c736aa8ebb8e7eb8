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
from typing import Any

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_loop_pid: int | None = None


def _background_loop() -> asyncio.AbstractEventLoop:
    global _loop, _loop_pid
    with _lock:
        if _loop is None or _loop_pid != os.getpid():  # a forked worker needs its own thread
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="zt-live-publisher", daemon=True).start()
            _loop, _loop_pid = loop, os.getpid()
        return _loop


async def _send(group: str, messages: list[dict[str, Any]]) -> None:
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    if layer is None:
        return
    for message in messages:
        await layer.group_send(group, message)


def _log_failure(future) -> None:
    exc = future.exception()
    if exc is not None:
        logger.warning("live event not delivered: %s", type(exc).__name__, exc_info=exc)


def publish(group: str, *messages: dict[str, Any]) -> None:
    """Send ``messages`` to ``group`` in the background; returns at once."""
    future = asyncio.run_coroutine_threadsafe(_send(group, list(messages)), _background_loop())
    future.add_done_callback(_log_failure)


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
