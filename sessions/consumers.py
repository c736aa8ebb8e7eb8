"""``/ws/sessions/``: the live state of FIX sessions, coalesced per browser.

Every update a browser may see is merged into this socket's pending map (one entry per session, the newest
``rev`` wins); at most one frame per ``ZT_SESSION_FRAME_MS`` carries everything pending, so a burst of ten
thousand updates reaches the browser as a handful of frames holding the latest state of each session. The
frame is written by a task of its own: a slow browser makes only its own frames rarer, its pending map stays
one entry per session (never a backlog), and the channel layer keeps being read at full speed.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from sessions import selectors
from ztconsole.core.consumers import CLOSE_FORBIDDEN, CLOSE_UNAUTHENTICATED, LiveBatchMixin, user_group
from ztconsole.core.roles import VIEW_CONSOLE, VIEW_SESSIONS


@database_sync_to_async
def _scope_of(user) -> tuple[bool, set[int] | None]:
    """(may watch, identity ids to restrict to or None for every session)."""
    if not (user.has_perm(VIEW_CONSOLE) and user.has_perm(VIEW_SESSIONS)):
        return False, None
    if selectors.sees_everything(user):
        return True, None
    return True, set(selectors.own_identity_ids(user))


@database_sync_to_async
def _count(identity_ids: frozenset[int] | None) -> dict[str, int]:
    from sessions.models import FixSession

    queryset = (
        FixSession.objects.all() if identity_ids is None else FixSession.objects.filter(identity__in=identity_ids)
    )
    return selectors.counts(queryset)


# Counts shared by the sockets of this process that watch the same sessions: twenty officers' browsers cost one
# query per interval, not twenty (the queries run on the one thread Django gives sync code, which ingestion
# needs too). A socket reuses a count only if it was started after the newest transition it has received, so
# the counts it shows are never older than the states beside them.
_shared: dict[frozenset[int] | None, tuple[float, dict[str, int]]] = {}
_locks: dict[tuple[int, frozenset[int] | None], asyncio.Lock] = {}


async def _counts(identity_ids: set[int] | None, not_before: float) -> dict[str, int]:
    key = None if identity_ids is None else frozenset(identity_ids)
    lock = _locks.setdefault((id(asyncio.get_running_loop()), key), asyncio.Lock())
    async with lock:
        cached = _shared.get(key)
        if cached is not None and cached[0] >= not_before:
            return cached[1]
        started = time.monotonic()
        value = await _count(key)
        _shared[key] = (started, value)
        if len(_shared) > 1000:  # traders' scopes come and go: keep the cache small
            _shared.pop(next(iter(_shared)))
            _locks.pop(next(iter(_locks)))
        return value


class SessionsConsumer(LiveBatchMixin, AsyncJsonWebsocketConsumer):
    """Same authorization as the sessions page: an OTP-verified session, ``fix_sessions.view_sessions``, and for
    a trader only the sessions of identities they are or sponsor. Closed on sign-out (4401) as /ws/events/ is."""

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or self.scope.get("otp_device") is None:
            await self._refuse(CLOSE_UNAUTHENTICATED)
            return
        allowed, identity_ids = await _scope_of(user)
        if not allowed:
            await self._refuse(CLOSE_FORBIDDEN)
            return
        self.identity_ids = identity_ids
        self.interval = settings.ZT_SESSION_FRAME_MS / 1000
        self.pending: dict[int, dict[str, Any]] = {}
        self.sent: dict[int, int] = {}  # newest rev sent per session: a frame never goes back in time
        self.resync = False
        self.transition_at = 0.0  # when the newest transition (or resync) reached this socket
        self.last_frame = 0.0
        self.flusher: asyncio.Task | None = None
        self.frames = 0
        self.groups_joined = [selectors.LIVE_GROUP, user_group(user.pk)]
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        await self.send_json(
            {
                "type": "hello",
                "user": user.get_username(),
                "streams": ["sessions"],
                "interval_ms": int(self.interval * 1000),
            }
        )

    async def _refuse(self, code: int) -> None:
        await self.accept()
        await self.close(code=code)

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)
        flusher = getattr(self, "flusher", None)
        if flusher is not None:
            flusher.cancel()

    async def receive_json(self, content, **kwargs) -> None:
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong"})

    async def session_end(self, message) -> None:
        await self.close(code=CLOSE_UNAUTHENTICATED)

    async def step_up_requested(self, message) -> None:
        """A held Logon of an identity this user sponsors: only the sponsor's own group receives it."""
        await self.send_json({"type": "step_up", "request": message["request"]})

    async def fix_sessions_update(self, message) -> None:
        """Merge a published batch into this socket's pending map; schedule a frame if none is."""
        restrict = self.identity_ids
        pending = self.pending
        for item in message.get("items", ()):
            if restrict is not None and item.get("identity_id") not in restrict:
                continue
            key = item["id"]
            if self.sent.get(key, -1) > item["rev"]:
                continue
            old = pending.get(key)
            if old is not None:
                if old["rev"] > item["rev"]:
                    continue
                if old.get("transition") and not item.get("transition"):
                    item = {**item, "transition": True}
            if item.get("transition"):
                self.transition_at = time.monotonic()
            pending[key] = item
        if message.get("resync"):
            self.resync = True
            self.transition_at = time.monotonic()
        if (pending or self.resync) and self.flusher is None:
            self.flusher = asyncio.ensure_future(self._flush())

    async def _flush(self) -> None:
        try:
            while self.pending or self.resync:
                wait = self.last_frame + self.interval - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                items, self.pending = list(self.pending.values()), {}
                for item in items:
                    self.sent[item["id"]] = item["rev"]
                resync, self.resync = self.resync, False
                frame: dict[str, Any] = {"type": "sessions", "sessions": items, "resync": resync}
                if resync or any(item.get("transition") for item in items):
                    frame["counts"] = await _counts(self.identity_ids, self.transition_at)
                self.last_frame = time.monotonic()
                self.frames += 1
                await self.send_json(frame)
        finally:
            self.flusher = None
