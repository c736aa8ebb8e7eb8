"""The console's live event stream. Later issues add FIX session status and PEP convergence groups."""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from ztconsole.core.audit import AUDIT_GROUP
from ztconsole.core.roles import VIEW_AUDIT, VIEW_CONSOLE, VIEW_ENFORCEMENT_POINTS

ENFORCEMENT_GROUP = "enforcement"  # convergence of the enforcement points (policies.distribution)

CLOSE_UNAUTHENTICATED = 4401


def user_group(user_id: int) -> str:
    return f"user-{user_id}"


CLOSE_FORBIDDEN = 4403


@database_sync_to_async
def _permissions(user) -> tuple[bool, bool, bool]:
    return user.has_perm(VIEW_CONSOLE), user.has_perm(VIEW_AUDIT), user.has_perm(VIEW_ENFORCEMENT_POINTS)


class LiveBatchMixin:
    """Unpacks ``live.batch`` messages (ztconsole.core.live sends a burst to one group as one message)."""

    async def live_batch(self, message) -> None:
        for inner in message.get("messages", ()):
            await self.dispatch(inner)  # type: ignore[attr-defined]


class ConsoleEventsConsumer(LiveBatchMixin, AsyncJsonWebsocketConsumer):
    """Refuses any connection without an OTP-verified session; streams the groups the role may see."""

    permission_required = VIEW_CONSOLE

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or self.scope.get("otp_device") is None:
            await self._refuse(CLOSE_UNAUTHENTICATED)
            return
        may_use, may_audit, may_see_points = await _permissions(user)
        if not may_use:
            await self._refuse(CLOSE_FORBIDDEN)
            return
        self.groups_joined = [AUDIT_GROUP] if may_audit else []
        if may_see_points:
            self.groups_joined.append(ENFORCEMENT_GROUP)
        # Every socket of a user listens on their own group, so sign-out or suspension can close it.
        self.groups_joined.append(user_group(user.pk))
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        streams = [g for g in self.groups_joined if not g.startswith("user-")]
        await self.send_json({"type": "hello", "user": user.get_username(), "streams": streams})

    async def _refuse(self, code: int) -> None:
        # Closing before accepting becomes a bare HTTP 403 at the handshake and the code is lost: accept,
        # then close with the documented code, so a client can tell "sign in" (4401) from "not allowed" (4403).
        await self.accept()
        await self.close(code=code)

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive_json(self, content, **kwargs) -> None:
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong"})

    async def session_end(self, message) -> None:
        await self.close(code=CLOSE_UNAUTHENTICATED)

    async def audit_event(self, message) -> None:
        await self.send_json({"type": "audit", "event": message["event"]})

    async def enforcement_update(self, message) -> None:
        await self.send_json(
            {"type": "enforcement", "environment": message.get("environment", ""), "point": message.get("point")}
        )
