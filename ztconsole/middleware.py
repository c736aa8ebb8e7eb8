"""Cross-cutting HTTP middleware: request ids and the OTP gate."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import Resolver404, resolve, reverse
from django_otp.middleware import OTPMiddleware

from ztconsole.core.crypto import SecretDecryptionError
from ztconsole.logging import request_id_var

logger = logging.getLogger(__name__)


def session_meets_requirement(user) -> bool:
    from accounts.assurance import session_meets_requirement as meets

    return meets(user)


_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")

# Paths served without an OTP-verified session. Everything under /api/ answers for itself: DRF only
# authenticates API tokens and OTP-verified sessions, and replies 401/403 in JSON.
_OPEN_PREFIXES = ("/static/", "/pki/", "/api/", "/accounts/webauthn/")
_OPEN_PATHS = frozenset({"/healthz"})  # exactly: /healthz/details is for signed-in operators
_PASSWORD_STEP_PATHS = ("accounts:login", "accounts:verify", "accounts:enroll", "accounts:logout")
# Reachable by a verified user whose device is weaker than their role requires: enough to enroll a stronger one.
_UPGRADE_PATHS = (
    "accounts:profile",
    "accounts:hardware_enroll",
    "accounts:yubikey_enroll",
    "accounts:logout",
    "accounts:step_up",
)
# Reporting a device lost must work from any session, whatever it was verified with.
_UPGRADE_URL_NAMES = {"device_suspend", "yubikey_suspend", "webauthn_suspend"}


class ConsoleOTPMiddleware(OTPMiddleware):
    """django-otp's middleware, except that a suspended device no longer verifies any session.

    Suspending a lost token must end what it signed in, not only refuse its next code.
    """

    @staticmethod
    def _finalize_device(request, user, device):
        if device is not None and getattr(device, "suspended_at", None) is not None:
            device = None
        return OTPMiddleware._finalize_device(request, user, device)


class RequestIdMiddleware:
    """Gives every request an id (or keeps a well-formed X-Request-ID), for logs and the audit trail."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        token = request_id_var.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response["X-Request-ID"] = request_id
        return response


class OTPRequiredMiddleware:
    """No page is served to a session that has not verified an OTP device.

    A signed-out visitor goes to sign-in; a visitor who gave only the password goes to the OTP step (or to
    first enrollment when they hold no device yet). Only those steps, health, static files and the public
    PKI files are reachable before that.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self._step_paths: frozenset[str] | None = None
        self._upgrade_paths: frozenset[str] | None = None

    @staticmethod
    def _is_suspend(path: str) -> bool:
        try:
            match = resolve(path)
        except Resolver404:
            return False
        return match.namespace == "accounts" and match.url_name in _UPGRADE_URL_NAMES

    def _password_step_paths(self) -> frozenset[str]:
        if self._step_paths is None:
            self._step_paths = frozenset(reverse(name) for name in _PASSWORD_STEP_PATHS)
            self._upgrade_paths = frozenset(reverse(name) for name in _UPGRADE_PATHS)
        return self._step_paths

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path_info
        if path.startswith(_OPEN_PREFIXES) or path in _OPEN_PATHS or path in self._password_step_paths():
            return self.get_response(request)
        user = request.user
        if user.is_authenticated and user.is_verified():
            if path in (self._upgrade_paths or ()) or session_meets_requirement(user) or self._is_suspend(path):
                return self.get_response(request)
            messages.warning(request, "Your role requires a stronger MFA device: enroll a hardware token to continue.")
            return redirect("accounts:profile")
        if request.headers.get("Accept", "").startswith("application/json"):
            return JsonResponse({"detail": "An OTP-verified session is required."}, status=401)
        if not user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        return redirect("accounts:verify")


class SecretUnavailableMiddleware:
    """A stored secret that the configured key ring cannot open is an operator's problem, not a 500.

    The page (or JSON body) names the missing key id and where keys are configured; nothing secret is shown.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, SecretDecryptionError):
            return None
        logger.error("secret cannot be decrypted: key id %s: %s", exception.key_id, exception)
        body = {"detail": exception.explanation, "code": "secret_unavailable", "key_id": exception.key_id}
        if request.path_info.startswith("/api/") or request.headers.get("Accept", "").startswith("application/json"):
            return JsonResponse(body, status=503)
        return render(request, "secret_unavailable.html", {"error": exception}, status=503)
