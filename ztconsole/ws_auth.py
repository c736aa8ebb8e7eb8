"""Websocket authentication: the same session as the pages, and the same OTP-verified requirement."""

from __future__ import annotations

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.models import Device


@database_sync_to_async
def _verified_device(user, session):
    if not user.is_authenticated or not user.is_active:
        return None
    persistent_id = session.get(DEVICE_ID_SESSION_KEY)
    if not persistent_id:
        return None
    device = Device.from_persistent_id(persistent_id)
    if device is None or device.user_id != user.pk or not device.confirmed:
        return None
    if getattr(device, "suspended_at", None) is not None:
        return None
    from accounts.assurance import session_meets_requirement

    user.otp_device = device
    if not session_meets_requirement(user):
        return None  # the role demands a stronger device than the one that verified this session
    return device


class OTPVerifiedMiddleware(BaseMiddleware):
    """Sets ``scope["otp_device"]`` to the device that verified this session, or None."""

    async def __call__(self, scope, receive, send):
        user = scope.get("user")
        session = scope.get("session")
        scope["otp_device"] = await _verified_device(user, session) if user is not None and session else None
        return await super().__call__(scope, receive, send)


def OTPAuthMiddlewareStack(inner):
    return AuthMiddlewareStack(OTPVerifiedMiddleware(inner))
