"""How views declare what they need.

HTML views inherit ``ConsoleView`` and set ``permission_required``; API views set ``required_permission``
and rely on ``DeclaredPermission`` (the DRF default). A view that declares nothing is refused, so a
forgotten declaration fails closed.
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.core.exceptions import ImproperlyConfigured
from rest_framework.permissions import SAFE_METHODS, BasePermission

from ztconsole.core.roles import VIEW_CONSOLE

PUBLIC = "public"  # a marker for the few views anyone may reach (sign-in steps, health, CRLs)
AUTHENTICATED = "authenticated"  # any caller with a verified session or a valid token, no permission needed
# When the session last verified a one-time code (set by accounts.actions.verify_otp); step-up reads it.
VERIFIED_AT_SESSION_KEY = "zt_otp_verified_at"


def is_recently_verified(request: Any) -> bool:
    verified_at = request.session.get(VERIFIED_AT_SESSION_KEY)
    return verified_at is not None and time.time() - float(verified_at) <= settings.ZT_STEP_UP_MAX_AGE_SECONDS


class ConsoleView(PermissionRequiredMixin):
    """Mixin for every console page: requires an OTP-verified user holding ``permission_required``."""

    permission_required: str | tuple[str, ...] = ""
    raise_exception = True

    def get_permission_required(self) -> tuple[str, ...]:
        if not self.permission_required:
            raise ImproperlyConfigured(f"{type(self).__name__} declares no permission_required")
        return super().get_permission_required()

    def has_permission(self) -> bool:
        user = self.request.user  # type: ignore[attr-defined]
        return bool(user.is_authenticated and user.is_verified() and super().has_permission())


def _handles(view: Any, method: str) -> bool:
    name = method.lower()
    return name in getattr(view, "http_method_names", ()) and hasattr(view, name) and name != "options"


class DeclaredPermission(BasePermission):
    """DRF default: the view's ``required_permission`` (per method if a dict), scoped tokens honoured."""

    message = "You do not have permission to perform this action."

    def _required(self, view: Any, method: str) -> str:
        by_action = getattr(view, "required_permission_by_action", None) or {}
        declared = by_action.get(getattr(view, "action", None)) or getattr(view, "required_permission", None)
        if isinstance(declared, dict):
            # HEAD and OPTIONS read: they need what GET needs.
            fallback = declared.get("GET") if method in ("HEAD", "OPTIONS") else None
            declared = declared.get(method) or declared.get("*") or fallback
        if not declared and not _handles(view, method):
            # A method the view does not serve: any authenticated caller then gets 405 from the view, an
            # anonymous one 401/403, never the 500 of a missing declaration.
            return AUTHENTICATED
        if not declared:
            raise ImproperlyConfigured(f"{type(view).__name__} declares no required_permission")
        return declared

    def has_permission(self, request: Any, view: Any) -> bool:
        required = self._required(view, request.method)
        if required == PUBLIC:
            return True
        user = request.user
        if not (user and user.is_authenticated):
            return False
        token = request.auth if hasattr(request.auth, "allows") else None
        if token is not None:
            if getattr(token, "device_id", None) is not None:
                # A device-scoped token only reports posture, through a view with its own permission class.
                self.message = "This API token is scoped to one device and may only report its posture."
                return False
            if not token.allows(write=request.method not in SAFE_METHODS):
                self.message = "This API token's scope does not allow this method."
                return False
        elif not user.is_verified():
            return False
        if required == AUTHENTICATED:
            return True
        return user.has_perm(required) and user.has_perm(VIEW_CONSOLE)


class StepUpForSessions(BasePermission):
    """Sensitive API actions by a console session need a recent OTP verification, as the pages do.

    API tokens are non-interactive and carry their own scope; they pass this check.
    """

    message = "This action needs a fresh one-time code: verify again at /accounts/step-up/ and retry."

    def has_permission(self, request: Any, view: Any) -> bool:
        sensitive = getattr(view, "step_up_actions", ())
        if getattr(view, "action", None) not in sensitive or hasattr(request.auth, "allows"):
            return True
        return is_recently_verified(request._request)
