"""Sign-in (password, then OTP), first enrollment, step-up, and identity administration pages."""

from __future__ import annotations

import secrets
import time
from urllib.parse import urlencode

import segno
from django.contrib import messages
from django.contrib.auth import get_user_model, login, logout
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.crypto import constant_time_compare
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django_otp import user_has_device
from django_otp_webauthn.models import WebAuthnCredential

from accounts import actions
from accounts.actions import mfa as mfa_actions
from accounts.actions.core import ENROLL_CODE_SESSION_KEY
from accounts.assurance import required_assurance
from accounts.forms import (
    ApiTokenForm,
    ConfirmDeviceForm,
    EnrollmentCodeForm,
    HardwareEnrollForm,
    OTPVerifyForm,
    TwoCodesForm,
    YubikeyEnrollForm,
)
from accounts.models import ApiToken, OathDevice, StaticCodeDevice, YubikeyDevice
from accounts.stepup import StepUpRequiredMixin, pop_pending_post
from ztconsole.core.action_views import ActionView
from ztconsole.core.keyset import Keyset, html_page, query_without_cursor
from ztconsole.core.models import AuditEvent
from ztconsole.core.permissions import PUBLIC, VERIFIED_AT_SESSION_KEY, ConsoleView, is_recently_verified
from ztconsole.core.roles import (
    MANAGE_API_TOKENS,
    VIEW_CONSOLE,
    role_of,
)

User = get_user_model()
ENROLL_DEVICE_SESSION_KEY = "zt_enroll_device_id"
NEXT_SESSION_KEY = "zt_next"
RESUME_SESSION_KEY = "zt_step_up_resume"

_sensitive = method_decorator(sensitive_post_parameters("password", "otp_token", "token", "code"), name="dispatch")
_no_cache = method_decorator(never_cache, name="dispatch")


def webauthn_devices(user) -> list:
    """The user's confirmed security keys, each with its console assurance as ``zt_assurance``."""
    from accounts.webauthn import credential_assurance

    keys = list(WebAuthnCredential.objects.filter(user=user, confirmed=True))
    for key in keys:
        key.zt_assurance = credential_assurance(key)
    return keys


def _safe_next(request: HttpRequest, candidate: str | None) -> str:
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return reverse("core:dashboard")


@_sensitive
@_no_cache
class LoginView(View):
    """Step one: the password. It never grants access by itself; it leads to the OTP step."""

    permission_required = PUBLIC
    template_name = "accounts/login.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated and request.user.is_verified():
            return redirect(_safe_next(request, request.GET.get("next")))
        return render(request, self.template_name, {"form": AuthenticationForm(request)})

    def post(self, request: HttpRequest) -> HttpResponse:
        form = AuthenticationForm(request, data=request.POST)
        if form.is_valid():
            user = form.get_user()
            login(request, user)
            request.session[NEXT_SESSION_KEY] = _safe_next(request, request.GET.get("next"))
            if user_has_device(user, confirmed=True):
                return redirect("accounts:verify")
            return redirect("accounts:enroll")
        username = request.POST.get("username", "")
        locked = bool(getattr(request, "axes_locked_out", False))
        if username or locked:
            actions.record_password_failure(username, request, locked_out=locked)
        status = 429 if locked else 400
        if locked:
            return render(request, "accounts/locked_out.html", status=status)
        return render(request, self.template_name, {"form": form}, status=status)


@_sensitive
@_no_cache
class VerifyView(View):
    """Step two: a code from one of the user's confirmed devices."""

    permission_required = PUBLIC  # needs the password step, checked below
    template_name = "accounts/verify.html"

    def dispatch(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect("accounts:login")
        if request.user.is_verified():
            return redirect(request.session.pop(NEXT_SESSION_KEY, None) or "core:dashboard")
        if not user_has_device(request.user, confirmed=True):
            return redirect("accounts:enroll")
        return super().dispatch(request, *args, **kwargs)

    def get(self, request: HttpRequest) -> HttpResponse:
        context = {"form": OTPVerifyForm(request.user), "has_security_key": bool(webauthn_devices(request.user))}
        return render(request, self.template_name, context)

    def post(self, request: HttpRequest) -> HttpResponse:
        form = OTPVerifyForm(request.user, data=request.POST)
        if form.is_valid():
            next_url = request.session.get(NEXT_SESSION_KEY)
            result = actions.verify_otp_any(request.user, form.cleaned_data["otp_token"], request)
            if result.outcome == actions.OTP_OK:
                messages.success(request, f"Signed in with {result.device.name}.")
                return redirect(next_url or "core:dashboard")
            if result.outcome == actions.OTP_THROTTLED:
                form.add_error("otp_token", "Too many wrong codes: wait a few seconds, then try again.")
            else:
                form.add_error("otp_token", "That code is not valid (wrong, expired or already used).")
        return render(request, self.template_name, {"form": form}, status=400)


@_sensitive
@_no_cache
class EnrollView(View):
    """First enrollment: an administrator's one-time code, then a new authenticator confirmed by a code."""

    permission_required = PUBLIC  # needs the password step and no device yet, checked below

    def dispatch(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect("accounts:login")
        if user_has_device(request.user, confirmed=True):
            return redirect("accounts:verify")
        return super().dispatch(request, *args, **kwargs)

    def _device_step(
        self,
        request: HttpRequest,
        form: ConfirmDeviceForm | None = None,
        status: int = 200,
        hardware_form: HardwareEnrollForm | None = None,
        yubikey_form: YubikeyEnrollForm | None = None,
    ):
        device = actions.start_totp_enrollment(request.user)
        request.session[ENROLL_DEVICE_SESSION_KEY] = device.pk
        uri = device.config_url
        qr_svg = segno.make(uri, error="m").svg_inline(scale=4, dark="#0f172a", light="#ffffff")
        secret = _base32(device.secret())
        return render(
            request,
            "accounts/enroll_device.html",
            {
                "form": form or ConfirmDeviceForm(),
                "hardware_form": hardware_form or HardwareEnrollForm(),
                "yubikey_form": yubikey_form or YubikeyEnrollForm(),
                "qr_svg": qr_svg,
                "secret": secret,
                "otpauth_uri": uri,
            },
            status=status,
        )

    def get(self, request: HttpRequest) -> HttpResponse:
        if request.session.get(ENROLL_CODE_SESSION_KEY):
            return self._device_step(request)
        return render(request, "accounts/enroll_code.html", {"form": EnrollmentCodeForm()})

    def post(self, request: HttpRequest) -> HttpResponse:
        if "code" in request.POST:
            form = EnrollmentCodeForm(request.POST)
            if form.is_valid():
                try:
                    row = actions.check_enrollment_code(request.user, form.cleaned_data["code"], request)
                except actions.ActionError as exc:
                    form.add_error("code", str(exc))
                else:
                    request.session[ENROLL_CODE_SESSION_KEY] = row.pk
                    return self._device_step(request)
            return render(request, "accounts/enroll_code.html", {"form": form}, status=400)
        code_id = request.session.get(ENROLL_CODE_SESSION_KEY)
        if code_id and "serial" in request.POST:
            return self._hardware_step(request, code_id)
        if code_id and "otp" in request.POST:
            return self._yubikey_step(request, code_id)
        device_id = request.session.get(ENROLL_DEVICE_SESSION_KEY)
        if not code_id or not device_id:
            return redirect("accounts:enroll")
        form = ConfirmDeviceForm(request.POST)
        if form.is_valid():
            next_url = request.session.get(NEXT_SESSION_KEY)
            try:
                device = actions.complete_totp_enrollment(
                    request.user, code_id, device_id, form.cleaned_data["token"], request
                )
            except actions.ActionError as exc:
                request.session.pop(ENROLL_CODE_SESSION_KEY, None)
                messages.error(request, str(exc))
                return redirect("accounts:enroll")
            if device is not None:
                messages.success(request, "Your authenticator is enrolled. Welcome to ZT Console.")
                return redirect(next_url or "core:dashboard")
            form.add_error("token", "That code does not match. Check the device's clock and enter the next code.")
        # A failed confirmation shows a new secret: one that was displayed is never displayed twice.
        return self._device_step(request, form, status=400)

    def _hardware_step(self, request: HttpRequest, code_id: int) -> HttpResponse:
        """First enrollment with a hardware token: serial and two consecutive codes instead of an app."""
        form = HardwareEnrollForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            next_url = request.session.get(NEXT_SESSION_KEY)
            try:
                device = mfa_actions.enroll_hardware_token(
                    request.user,
                    serial=data["serial"],
                    code1=data["code1"],
                    code2=data["code2"],
                    request=request,
                    enrollment_code_id=code_id,
                )
            except actions.ActionError as exc:
                form.add_error("serial" if exc.field == "serial" else None, str(exc))
            else:
                if device is not None:
                    messages.success(request, f"{device.name} is enrolled. Welcome to ZT Console.")
                    return redirect(next_url or "core:dashboard")
                form.add_error("code2", "Those are not two consecutive codes of this token. Press the button again.")
        return self._device_step(request, hardware_form=form, status=400)

    def _yubikey_step(self, request: HttpRequest, code_id: int) -> HttpResponse:
        form = YubikeyEnrollForm(request.POST)
        if form.is_valid():
            next_url = request.session.get(NEXT_SESSION_KEY)
            try:
                device = mfa_actions.enroll_yubikey(
                    request.user, otp=form.cleaned_data["otp"], request=request, enrollment_code_id=code_id
                )
            except actions.ActionError as exc:
                form.add_error("otp", str(exc))
            else:
                if device is not None:
                    messages.success(request, f"{device.name} is enrolled. Welcome to ZT Console.")
                    return redirect(next_url or "core:dashboard")
                form.add_error("otp", "That OTP does not verify for this YubiKey (wrong key or already used).")
        return self._device_step(request, yubikey_form=form, status=400)


def _base32(key: bytes) -> str:
    from base64 import b32encode

    return b32encode(key).decode().rstrip("=")


class LogoutView(View):
    permission_required = PUBLIC
    http_method_names = ["post"]

    def post(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            actions.record_sign_out(request.user, request)
        logout(request)
        messages.info(request, "You are signed out.")
        return redirect("accounts:login")


@_sensitive
@_no_cache
class StepUpView(ConsoleView, View):
    """Re-verify an OTP code before a sensitive action; then go back to where the user was."""

    permission_required = VIEW_CONSOLE
    template_name = "accounts/step_up.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        resume = request.GET.get("resume")
        if resume:
            # Back from a security-key step-up: the WebAuthn ceremony ends in a script that follows
            # NEXT_SESSION_KEY here. Go on exactly as after a code (a change waiting for the step-up completes),
            # only with the one-time value this page handed out and a verification made after it: a link from
            # elsewhere cannot replay a kept change.
            expected = request.session.pop(RESUME_SESSION_KEY, None) or {}
            request.session.pop(NEXT_SESSION_KEY, None)
            device = getattr(request.user, "otp_device", None)
            verified_at = float(request.session.get(VERIFIED_AT_SESSION_KEY) or 0)
            if (
                device is not None
                and constant_time_compare(resume, str(expected.get("nonce", "")))
                and verified_at >= float(expected.get("at", 0))
                and is_recently_verified(request)
            ):
                return self._continue(request, device)
        has_security_key = bool(webauthn_devices(request.user))
        if has_security_key:
            nonce = secrets.token_urlsafe(16)
            request.session[RESUME_SESSION_KEY] = {"nonce": nonce, "at": time.time()}
            request.session[NEXT_SESSION_KEY] = f"{request.path}?{urlencode({'resume': nonce, 'next': self._next()})}"
        context = {"form": OTPVerifyForm(request.user), "next": self._next(), "has_security_key": has_security_key}
        return render(request, self.template_name, context)

    def _next(self) -> str:
        return _safe_next(self.request, self.request.GET.get("next") or self.request.POST.get("next"))

    def post(self, request: HttpRequest) -> HttpResponse:
        form = OTPVerifyForm(request.user, data=request.POST)
        if form.is_valid():
            result = actions.verify_otp_any(request.user, form.cleaned_data["otp_token"], request, step_up=True)
            if result.outcome == actions.OTP_OK:
                return self._continue(request, result.device)
            if result.outcome == actions.OTP_THROTTLED:
                form.add_error("otp_token", "Too many wrong codes: wait a few seconds, then try again.")
            else:
                form.add_error("otp_token", "That code is not valid (wrong, expired or already used).")
        return render(request, self.template_name, {"form": form, "next": self._next()}, status=400)

    def _continue(self, request: HttpRequest, device) -> HttpResponse:
        """Complete the change that asked for this code, or go back to where the user was."""
        pending = pop_pending_post(request)
        if pending is None:
            messages.success(request, f"Verified with {device.name}. You can continue.")
            return HttpResponseRedirect(self._next())
        if pending["files"]:
            messages.info(
                request, f"Verified with {device.name}. Choose the file again and submit: a page cannot resend it."
            )
            return HttpResponseRedirect(_safe_next(request, pending.get("return_url")))
        return render(
            request,
            "accounts/step_up_resume.html",
            {
                "action": pending["path"],
                "fields": pending["fields"],
                "device": device,
                "return_url": _safe_next(request, pending.get("return_url")),
            },
        )


class ProfileView(ConsoleView, View):
    """Your identity and your MFA devices: add a hardware token, resync, report one lost, backup codes."""

    permission_required = VIEW_CONSOLE

    def get(self, request: HttpRequest) -> HttpResponse:
        events = AuditEvent.objects.filter(actor=request.user, action__startswith=("auth."))[:10]
        oath = list(OathDevice.objects.filter(user=request.user, confirmed=True).select_related("token"))
        return render(
            request,
            "accounts/profile.html",
            {
                "role": role_of(request.user),
                "oath_devices": oath,
                "static_devices": list(StaticCodeDevice.objects.filter(user=request.user, confirmed=True)),
                "yubikey_devices": list(YubikeyDevice.objects.filter(user=request.user, confirmed=True)),
                "webauthn_devices": webauthn_devices(request.user),
                "yubikey_form": YubikeyEnrollForm(),
                "required_assurance": required_assurance(request.user),
                "events": events,
                "hardware_form": HardwareEnrollForm(),
                "two_codes_form": TwoCodesForm(),
            },
        )


class ApiTokenListView(ConsoleView, View):
    permission_required = MANAGE_API_TOKENS

    def get(self, request: HttpRequest) -> HttpResponse:
        queryset = ApiToken.objects.select_related("user", "created_by")
        page = html_page(request, queryset, Keyset(("-created_at", "-id")))
        return render(request, "accounts/token_list.html", {"page_obj": page, "query": query_without_cursor(request)})


class ApiTokenCreateView(ConsoleView, StepUpRequiredMixin, View):
    permission_required = MANAGE_API_TOKENS

    def get(self, request: HttpRequest) -> HttpResponse:
        return render(request, "accounts/token_create.html", {"form": ApiTokenForm()})

    def post(self, request: HttpRequest) -> HttpResponse:
        form = ApiTokenForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                token, plaintext = actions.create_api_token(
                    request.user,
                    data["user"],
                    name=data["name"],
                    scope=data["scope"],
                    days=data["days"],
                    request=request,
                )
            except actions.ActionError as exc:
                form.add_error(exc.field, str(exc))
            else:
                response = render(request, "accounts/token_created.html", {"token": token, "plaintext": plaintext})
                response["Cache-Control"] = "no-store"
                return response
        return render(request, "accounts/token_create.html", {"form": form}, status=400)


class ApiTokenRevokeView(ConsoleView, StepUpRequiredMixin, ActionView):
    permission_required = MANAGE_API_TOKENS

    def get_object(self) -> ApiToken:
        return get_object_or_404(ApiToken.objects.select_related("user"), pk=self.kwargs["pk"])

    def success_url(self) -> str:
        return "accounts:token_list"

    def act(self) -> str:
        actions.revoke_api_token(self.request.user, self.object, request=self.request)
        return f"Token {self.object.name} revoked."
