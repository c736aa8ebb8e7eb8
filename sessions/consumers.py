"""``/ws/sessions/``: the live state of FIX sessions, coalesced per browser, encoded once per view.

One reader per process (``_Hub``) takes the published updates from the channel layer and merges them into the
pending map of each *view*: the sockets of this process that see the same sessions (every session for officers,
a set of identities for a trader). A view sends at most one frame per ``ZT_SESSION_FRAME_MS``: at once when its
last frame is older than that, else at the interval's end (a send deadline, not a fixed tick), so a row waits at
most one interval and usually much less. The frame is encoded once and handed to every socket of the view:
twenty officers' browsers cost one JSON encoding, and the channel layer carries each update to the process once,
not once per socket.

Per browser the guarantees stay: at most one frame per interval, the newest state of each session, never a
backlog. A socket still writing its previous frame (a slow browser) does not take the shared frame: its rows
are merged into that socket's own pending map (one entry per session), which it sends as its own frame when it
can, no sooner than an interval after its last one. So a slow socket slows no one, the view never waits for it,
and it catches up on the latest state.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import weakref
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import get_channel_layer
from django.conf import settings

from sessions import selectors
from ztconsole.core.consumers import CLOSE_FORBIDDEN, CLOSE_UNAUTHENTICATED, LiveBatchMixin, user_group
from ztconsole.core.roles import VIEW_CONSOLE, VIEW_SESSIONS

logger = logging.getLogger(__name__)

ViewKey = frozenset[int] | None


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
# needs too). A frame reuses a count only if it was started after the newest transition it carries, so the
# counts it shows are never older than the states beside them.
_shared: dict[ViewKey, tuple[float, dict[str, int]]] = {}
_locks: dict[tuple[int, ViewKey], asyncio.Lock] = {}


async def _counts(key: ViewKey, not_before: float) -> dict[str, int]:
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


def _merge(pending: dict[int, dict[str, Any]], item: dict[str, Any]) -> bool:
    """Put ``item`` in ``pending`` unless an equal or newer state of its session is there; True if it went in."""
    key = item["id"]
    old = pending.get(key)
    if old is not None:
        if old["rev"] > item["rev"]:
            return False
        if old.get("transition") and not item.get("transition"):
            item = {**item, "transition": True}
    pending[key] = item
    return True


def _encode(frame: dict[str, Any]) -> str:
    return json.dumps(frame, separators=(",", ":"))


class _View:
    """The sockets of this process that see the same sessions, and what is pending for them."""

    def __init__(self, key: ViewKey, interval: float) -> None:
        self.key = key
        self.interval = interval
        self.sockets: set[SessionsConsumer] = set()
        self.pending: dict[int, dict[str, Any]] = {}
        self.sent: dict[int, int] = {}  # newest rev sent per session: a frame never goes back in time
        self.resync = False
        self.transition_at = 0.0  # when the newest transition (or resync) reached this view
        self.last_frame = 0.0
        self.flusher: asyncio.Task | None = None
        self.frames = 0

    def merge(self, items: list[dict[str, Any]], resync: bool) -> None:
        restrict, sent, pending = self.key, self.sent, self.pending
        for item in items:
            if restrict is not None and item.get("identity_id") not in restrict:
                continue
            if sent.get(item["id"], -1) > item["rev"]:
                continue
            if _merge(pending, item) and item.get("transition"):
                self.transition_at = time.monotonic()
        if resync:
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
                    frame["counts"] = await _counts(self.key, self.transition_at)
                text = _encode(frame)
                self.last_frame = time.monotonic()
                self.frames += 1
                for socket in list(self.sockets):
                    socket.offer(text, items, resync, self.last_frame)
        finally:
            self.flusher = None


class _Hub:
    """This process's one reader of the sessions group, and its views (one hub per event loop)."""

    def __init__(self) -> None:
        self.views: dict[ViewKey, _View] = {}
        self.reader: asyncio.Task | None = None
        self.ready = asyncio.Event()

    async def join(self, socket: SessionsConsumer) -> _View:
        if self.reader is None:
            self.reader = asyncio.ensure_future(self._read())
        await self.ready.wait()
        view = self.views.get(socket.view_key)
        if view is None:
            view = self.views[socket.view_key] = _View(socket.view_key, socket.interval)
        view.sockets.add(socket)
        return view

    def leave(self, socket: SessionsConsumer) -> None:
        view = self.views.get(socket.view_key)
        if view is not None:
            view.sockets.discard(socket)
            if not view.sockets:  # a flush under way finishes harmlessly with no one to send to
                self.views.pop(socket.view_key, None)

    async def _read(self) -> None:
        layer = get_channel_layer()
        channel = await layer.new_channel()
        joined: float | None = None
        while True:
            try:
                # Group membership expires (channels-redis: a day): renew it well before.
                if joined is None or time.monotonic() - joined > 3600:
                    await layer.group_add(selectors.LIVE_GROUP, channel)
                    joined = time.monotonic()
                    self.ready.set()
                message = await layer.receive(channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                # Redis away: updates may have been missed; the pages reload from the stored state.
                logger.warning("live sessions: channel layer read failed", exc_info=True)
                for view in list(self.views.values()):
                    view.merge([], resync=True)
                self.ready.set()  # sockets still connect; they get what arrives once the layer is back
                await asyncio.sleep(1.0)
                joined = None
                continue
            self.dispatch(message)

    def dispatch(self, message: dict[str, Any]) -> None:
        if message.get("type") == "live.batch":
            for inner in message.get("messages", ()):
                self.dispatch(inner)
            return
        if message.get("type") != selectors.LIVE_MESSAGE:
            return
        items, resync = message.get("items", ()), bool(message.get("resync"))
        for view in list(self.views.values()):
            view.merge(items, resync)


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Hub] = weakref.WeakKeyDictionary()


def _hub() -> _Hub:
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = _hubs[loop] = _Hub()
    return hub


class SessionsConsumer(LiveBatchMixin, AsyncJsonWebsocketConsumer):
    """Same authorization as the sessions page: an OTP-verified session, ``fix_sessions.view_sessions``, and for
    a trader only the sessions of identities they are or sponsor. Closed on sign-out (4401) as /ws/events/ is."""

    view: _View | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or self.scope.get("otp_device") is None:
            await self._refuse(CLOSE_UNAUTHENTICATED)
            return
        allowed, identity_ids = await _scope_of(user)
        if not allowed:
            await self._refuse(CLOSE_FORBIDDEN)
            return
        self.view_key: ViewKey = None if identity_ids is None else frozenset(identity_ids)
        self.interval = settings.ZT_SESSION_FRAME_MS / 1000
        # This socket's own pending rows: only while it is behind (still writing its last frame).
        self.backlog: dict[int, dict[str, Any]] = {}
        self.backlog_resync = False
        self.transition_at = 0.0
        self.last_frame = float("-inf")
        self.sender: asyncio.Task | None = None
        self.frames = 0
        self.greeted = False
        self.groups_joined = [user_group(user.pk)]
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        # Joined before the hello, so nothing committed after the page's (re)load is missed; what arrives
        # before the hello is out waits in this socket's own pending rows.
        self.view = await _hub().join(self)
        await self.send_json(
            {
                "type": "hello",
                "user": user.get_username(),
                "streams": ["sessions"],
                "interval_ms": int(self.interval * 1000),
            }
        )
        self.greeted = True
        if (self.backlog or self.backlog_resync) and self.sender is None:
            self.sender = asyncio.ensure_future(self._send_backlog())

    async def _refuse(self, code: int) -> None:
        await self.accept()
        await self.close(code=code)

    async def disconnect(self, code: int) -> None:
        if self.view is not None:
            _hub().leave(self)
            self.view = None
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)
        sender = getattr(self, "sender", None)
        if sender is not None:
            sender.cancel()

    async def receive_json(self, content, **kwargs) -> None:
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong"})

    async def session_end(self, message) -> None:
        await self.close(code=CLOSE_UNAUTHENTICATED)

    async def step_up_requested(self, message) -> None:
        """A held Logon of an identity this user sponsors: only the sponsor's own group receives it."""
        await self.send_json({"type": "step_up", "request": message["request"]})

    def offer(self, text: str, items: list[dict[str, Any]], resync: bool, at: float) -> None:
        """The view's frame: sent as it is when this socket is free and its last frame is an interval old, else
        merged into its own pending rows."""
        free = self.greeted and self.sender is None
        if free and not self.backlog and at - self.last_frame >= self.interval * 0.999:
            self.last_frame = at
            self.sender = asyncio.ensure_future(self._send_shared(text))
            return
        for item in items:
            if _merge(self.backlog, item) and item.get("transition"):
                self.transition_at = time.monotonic()
        if resync:
            self.backlog_resync = True
            self.transition_at = time.monotonic()
        if free:
            self.sender = asyncio.ensure_future(self._send_backlog())

    async def _send_shared(self, text: str) -> None:
        try:
            self.frames += 1
            await self.send(text_data=text)
            await self._drain_backlog()
        except Exception:  # the browser went away mid-frame: disconnect() follows
            logger.debug("live sessions: frame not sent", exc_info=True)
        finally:
            self.sender = None

    async def _send_backlog(self) -> None:
        try:
            await self._drain_backlog()
        except Exception:
            logger.debug("live sessions: frame not sent", exc_info=True)
        finally:
            self.sender = None

    async def _drain_backlog(self) -> None:
        while self.backlog or self.backlog_resync:
            wait = self.last_frame + self.interval - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            items, self.backlog = list(self.backlog.values()), {}
            resync, self.backlog_resync = self.backlog_resync, False
            frame: dict[str, Any] = {"type": "sessions", "sessions": items, "resync": resync}
            if resync or any(item.get("transition") for item in items):
                frame["counts"] = await _counts(self.view_key, self.transition_at)
            self.last_frame = time.monotonic()
            self.frames += 1
            await self.send(text_data=_encode(frame))
