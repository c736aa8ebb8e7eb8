"""WebAuthn / FIDO2 security keys through django-otp-webauthn, wrapped in the console's own rules.

What we add to the library: registration needs an OTP-verified session, or (first enrollment) the one-time
enrollment code; every registration and sign-in is audited in the same transaction; an optional AAGUID
allowlist says which authenticator models count as hardware-bound (and, when required, which may register
at all); passwordless sign-in is off: a security key is the second factor after the password.
"""

from __future__ import annotations

import json
import time
from typing import Any

from django.conf import settings
from django.db import transaction
from django.http import JsonResponse
from django_otp_webauthn import exceptions as wa_exceptions
from django_otp_webauthn.helpers import WebAuthnHelper
from django_otp_webauthn.views import (
    BeginCredentialAuthenticationView,
    BeginCredentialRegistrationView,
    CompleteCredentialAuthenticationView,
    CompleteCredentialRegistrationView,
)
from webauthn.helpers.structs import AttestationConveyancePreference

from accounts.actions.core import ENROLL_CODE_SESSION_KEY, VERIFIED_AT_SESSION_KEY, spend_enrollment_code
from accounts.models import Assurance
from ztconsole.core import audit, hooks


def rp_id(request) -> str:
    """The relying party id: the configured one, else the host the console is served on (no port)."""
    return settings.ZT_WEBAUTHN_RP_ID or request.get_host().rsplit(":", 1)[0].strip("[]")


def rp_name(request) -> str:
    return "ZT Console"


def normalize_aaguid(value: str) -> str:
    return value.strip().lower().replace("-", "")


def credential_assurance(credential: Any) -> str:
    """Hardware-bound when the authenticator's AAGUID is on the allowlist; software otherwise."""
    allowlist = {normalize_aaguid(a) for a in settings.ZT_WEBAUTHN_HARDWARE_AAGUIDS}
    aaguid = normalize_aaguid(str(getattr(credential, "aaguid", "") or ""))
    return Assurance.HARDWARE if aaguid and aaguid in allowlist else Assurance.SOFTWARE


class AaguidNotAllowed(wa_exceptions.OTPWebAuthnApiError):
    status_code = 403
    default_detail = "This security key model is not on the organisation's allowlist of hardware-bound keys."
    default_code = "aaguid_not_allowed"


class EnrollmentCodeRequired(wa_exceptions.OTPWebAuthnApiError):
    status_code = 403
    default_detail = "Enter your enrollment code first: a password alone cannot enroll a device."
    default_code = "enrollment_code_required"


class ConsoleWebAuthnHelper(WebAuthnHelper):
    def get_attestation_conveyance_preference(self) -> AttestationConveyancePreference:
        # Ask for attestation so the AAGUID is the authenticator's real model id, not zeros.
        return AttestationConveyancePreference.DIRECT

    def get_allowed_origins(self) -> list[str]:
        if settings.ZT_WEBAUTHN_ORIGINS:
            return list(settings.ZT_WEBAUTHN_ORIGINS)
        # The host header has already passed ALLOWED_HOSTS validation.
        return [f"{self.request.scheme}://{self.request.get_host()}"]

    def register_complete(self, user, state, data):
        device = super().register_complete(user=user, state=state, data=data)
        if settings.ZT_WEBAUTHN_REQUIRE_ALLOWLISTED and credential_assurance(device) != Assurance.HARDWARE:
            raise AaguidNotAllowed()
        return device


def _audit_failure(request, action: str, exc: Exception) -> None:
    user = request.user if request.user.is_authenticated else None
    with transaction.atomic():
        audit.record(user, action, user, {"error": getattr(exc, "code", type(exc).__name__)}, request=request)
        if action == "auth.otp_failed" and user is not None:
            hooks.sign_in_failed.fire(user, user.get_username(), request=request)


class StepUpRequired(wa_exceptions.OTPWebAuthnApiError):
    status_code = 403
    default_detail = "Adding a security key needs a fresh one-time code: verify again, then retry."
    default_code = "step_up_required"


def _require_verified_or_enrollment_code(request) -> None:
    from accounts.stepup import is_recently_verified

    if request.user.is_verified():
        if not is_recently_verified(request):
            raise StepUpRequired()
    elif not request.session.get(ENROLL_CODE_SESSION_KEY):
        raise EnrollmentCodeRequired()


def _require_password_step(request) -> None:
    if not request.user.is_authenticated:
        raise wa_exceptions.NotAuthenticated()


class RegistrationBeginView(BeginCredentialRegistrationView):
    """Start registering a security key: verified session, or first enrollment with the enrollment code."""

    permission_required = "public"  # the password step at least; checked in check_can_register

    def check_can_register(self):
        _require_verified_or_enrollment_code(self.request)


class RegistrationCompleteView(CompleteCredentialRegistrationView):
    permission_required = "public"

    def check_can_register(self):
        _require_verified_or_enrollment_code(self.request)

    def post(self, *args, **kwargs):
        request = self.request
        first_enrollment = not request.user.is_verified()
        code_id = request.session.get(ENROLL_CODE_SESSION_KEY)
        try:
            with transaction.atomic():
                response = super().post(*args, **kwargs)
                device = request.user.webauthncredential_set.get(pk=json.loads(response.content)["id"])
                if first_enrollment:
                    spend_enrollment_code(request.user, code_id)
                assurance = credential_assurance(device)
                audit.record(
                    request.user,
                    "mfa.device_enrolled",
                    device,
                    {"type": "webauthn", "aaguid": str(device.aaguid), "assurance": assurance},
                    request=request,
                )
                if first_enrollment:
                    audit.record(
                        request.user,
                        "auth.login",
                        request.user,
                        {"device": device.persistent_id, "first_enrollment": True},
                        request,
                    )
        except Exception as exc:
            _audit_failure(request, "mfa.enrollment_failed", exc)
            if isinstance(exc, wa_exceptions.OTPWebAuthnApiError):
                return self.handle_exception(exc)
            if exc.__class__.__name__ == "ActionError":
                return JsonResponse({"detail": str(exc), "code": "enrollment_code_invalid"}, status=403)
            raise
        if first_enrollment:
            request.session.cycle_key()
        request.session[VERIFIED_AT_SESSION_KEY] = time.time()
        request.session.pop(ENROLL_CODE_SESSION_KEY, None)
        return response


class AuthenticationBeginView(BeginCredentialAuthenticationView):
    """Second factor only: the password step must be done (passwordless sign-in is off)."""

    permission_required = "public"

    def check_can_authenticate(self):
        _require_password_step(self.request)
        super().check_can_authenticate()


class AuthenticationCompleteView(CompleteCredentialAuthenticationView):
    permission_required = "public"

    def check_can_authenticate(self):
        _require_password_step(self.request)
        super().check_can_authenticate()

    def get_success_url(self):
        return self.request.session.get("zt_next") or super().get_success_url()

    def post(self, *args, **kwargs):
        request = self.request
        step_up = request.user.is_authenticated and request.user.is_verified()
        try:
            with transaction.atomic():
                response = super().post(*args, **kwargs)
                payload = json.loads(response.content)
                device = request.user.webauthncredential_set.get(pk=payload["id"])
                audit.record(
                    request.user,
                    "auth.step_up" if step_up else "auth.login",
                    request.user,
                    {"device": device.persistent_id, "method": "webauthn"},
                    request,
                )
        except wa_exceptions.OTPWebAuthnApiError as exc:
            _audit_failure(request, "auth.otp_failed", exc)
            return self.handle_exception(exc)
        if not step_up:
            request.session.cycle_key()
        request.session[VERIFIED_AT_SESSION_KEY] = time.time()
        return response
