"""Sign-in, first enrollment, people and roles, API tokens."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group
from django.core.cache import cache
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django_otp import devices_for_user
from django_otp import login as otp_login

from accounts.models import (
    ApiToken,
    ApiTokenScope,
    Assurance,
    Desk,
    DeviceRegistration,
    EmploymentStatus,
    EnrollmentCode,
    Identity,
    IdentityKind,
    OathDevice,
    OathKind,
    digest,
    new_enrollment_code,
    normalize_enrollment_code,
)
from ztconsole.core import audit, hooks, live
from ztconsole.core.countries import is_country_code
from ztconsole.core.errors import ActionError
from ztconsole.core.permissions import VERIFIED_AT_SESSION_KEY
from ztconsole.core.roles import ADMINISTRATOR, MANAGE_API_TOKENS, PRIVILEGED_ROLES, ROLES

User = get_user_model()
# Set by the first-enrollment page once the enrollment code checks out; every enrollment method reads it.
ENROLL_CODE_SESSION_KEY = "zt_enroll_code_id"


# --- identities ------------------------------------------------------------------------------------


@transaction.atomic
def create_identity(
    actor: Any,
    *,
    username: str,
    email: str,
    full_name: str,
    role: str,
    password: str,
    desk: Desk | None = None,
    expected_countries: list[str] | None = None,
    employment_status: str = EmploymentStatus.EMPLOYEE,
    request: HttpRequest | None = None,
) -> AbstractBaseUser:
    """Create a person with a role; they enroll MFA with an enrollment code before first use."""
    if role not in ROLES:
        raise ActionError(f"unknown role {role!r}", field="role")
    if User.objects.filter(username__iexact=username).exists():
        raise ActionError(f"an identity named {username!r} already exists", field="username")
    countries = normalize_countries(expected_countries or [])
    first, _, last = full_name.strip().partition(" ")
    user = User.objects.create_user(username=username, email=email, password=password, first_name=first, last_name=last)
    # A privileged role asked for by a person waits for a second person's approval: no role until then.
    pending = role in PRIVILEGED_ROLES and getattr(actor, "pk", None) is not None
    if not pending:
        user.groups.add(Group.objects.get(name=role))
    identity = Identity.objects.create(
        user=user,
        kind=IdentityKind.HUMAN,
        display_name=full_name.strip() or username,
        desk=desk,
        expected_countries=countries,
        employment_status=employment_status,
        privileged=role in PRIVILEGED_ROLES and not pending,
    )
    audit.record(
        actor,
        "identity.created",
        identity,
        {"kind": "human", "role": None if pending else role, "email": email, "desk": desk.name if desk else None},
        request=request,
    )
    if pending:
        from accounts.actions.roles import request_privileged_role

        request_privileged_role(actor, user, role, request=request)
    return user


def normalize_countries(codes: list[str]) -> list[str]:
    """ISO 3166-1 alpha-2 codes, upper-cased, de-duplicated, in order."""
    result: list[str] = []
    for code in codes:
        code = code.strip().upper()
        if not code:
            continue
        if not is_country_code(code):
            raise ActionError(f"{code!r} is not an ISO 3166-1 alpha-2 country code", field="expected_countries")
        if code not in result:
            result.append(code)
    return result


@dataclass(frozen=True)
class BootstrapResult:
    user: Any
    password: str
    enrollment_code: str


@transaction.atomic
def bootstrap_admin(username: str, email: str) -> BootstrapResult:
    """Create the very first administrator, with a generated password and an enrollment code."""
    if User.objects.filter(groups__name=ADMINISTRATOR).exists():
        raise ActionError("an administrator already exists; ask them for an enrollment code")
    password = secrets.token_urlsafe(18)
    user = create_identity(None, username=username, email=email, full_name="", role=ADMINISTRATOR, password=password)
    audit.record(None, "identity.bootstrapped", user, {})
    _, code = issue_enrollment_code(None, user)
    return BootstrapResult(user, password, code)


# --- enrollment codes and first MFA device -----------------------------------------------------------


@transaction.atomic
def issue_enrollment_code(actor: Any, user: Any, request: HttpRequest | None = None) -> tuple[EnrollmentCode, str]:
    """Issue a single-use enrollment code for ``user``; earlier unused codes stop working.

    Four eyes for privileged people: whoever created an administrator or security officer, or requested
    their role, may not also hand them the code that lets them enroll (``roles.check_may_hand_credentials``).
    """
    from accounts.actions.roles import check_may_hand_credentials

    check_may_hand_credentials(actor, user, what="enrollment code")
    now = timezone.now()
    EnrollmentCode.objects.filter(user=user, used_at__isnull=True, expires_at__gt=now).update(expires_at=now)
    code = new_enrollment_code()
    expires = now + timedelta(hours=settings.ZT_ENROLLMENT_CODE_TTL_HOURS)
    row = EnrollmentCode.objects.create(
        user=user,
        code_hash=digest(normalize_enrollment_code(code)),
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
        expires_at=expires,
    )
    audit.record(actor, "enrollment_code.issued", user, {"expires_at": expires.isoformat()}, request=request)
    return row, code


def _attempts_key(user: Any) -> str:
    return f"enroll-attempts:{user.pk}"


def check_enrollment_code(user: Any, raw_code: str, request: HttpRequest | None = None) -> EnrollmentCode:
    """Find the usable code ``raw_code`` names for ``user``; throttled per user."""
    attempts = cache.get(_attempts_key(user), 0)
    if attempts >= settings.ZT_ENROLLMENT_MAX_ATTEMPTS:
        raise ActionError("too many wrong enrollment codes; ask an administrator for a new one", field="code")
    row = EnrollmentCode.objects.filter(user=user, code_hash=digest(normalize_enrollment_code(raw_code))).first()
    if row is None or not row.is_usable:
        cache.set(_attempts_key(user), attempts + 1, timeout=3600)
        with transaction.atomic():
            audit.record(user, "enrollment_code.rejected", user, {}, request=request)
        if row is not None and row.used_at:
            raise ActionError("this enrollment code has already been used", field="code")
        if row is not None:
            raise ActionError("this enrollment code has expired", field="code")
        raise ActionError("this enrollment code is not valid", field="code")
    return row


@transaction.atomic
def start_totp_enrollment(user: Any) -> OathDevice:
    """A fresh unconfirmed software TOTP device; any earlier unconfirmed one (and its secret) is discarded."""
    OathDevice.objects.filter(user=user, confirmed=False, assurance=Assurance.SOFTWARE).delete()
    device = OathDevice(
        user=user,
        name="Authenticator app",
        confirmed=False,
        assurance=Assurance.SOFTWARE,
        kind=OathKind.TOTP,
    )
    device.set_secret(secrets.token_bytes(20))
    device.save()
    return device


def spend_enrollment_code(user: Any, code_id: int) -> None:
    """Use up the enrollment code (inside the caller's transaction): single use, unexpired, this user's."""
    spent = EnrollmentCode.objects.filter(
        pk=code_id, user=user, used_at__isnull=True, expires_at__gt=timezone.now()
    ).update(used_at=timezone.now())
    if spent != 1:
        raise ActionError("the enrollment code is no longer valid; ask an administrator for a new one")


@transaction.atomic
def complete_totp_enrollment(
    user: Any, code_id: int, device_id: int, token: str, request: HttpRequest
) -> OathDevice | None:
    """Confirm the device with a code from it and spend the enrollment code, both or neither.

    Returns None for a wrong code; the failure (and the device's throttle count) is committed.
    """
    device = (
        OathDevice.objects.select_for_update()
        .filter(pk=device_id, user=user, confirmed=False, assurance=Assurance.SOFTWARE)
        .first()
    )
    if device is None:
        raise ActionError("the enrollment expired; start again", field="token")
    allowed, _ = device.verify_is_allowed()
    if not allowed or not device.verify_token(token.strip()):
        audit.record(user, "auth.otp_failed", device, {"stage": "enrollment"}, request=request)
        hooks.sign_in_failed.fire(user, user.get_username(), request=request)
        return None
    spend_enrollment_code(user, code_id)
    OathDevice.objects.filter(pk=device.pk).update(confirmed=True)
    device.confirmed = True
    cache.delete(_attempts_key(user))
    audit.record(user, "mfa.device_enrolled", device, {"type": "totp", "assurance": "software"}, request)
    _mark_verified(request, device)
    audit.record(user, "auth.login", user, {"device": device.persistent_id, "first_enrollment": True}, request)
    return device


# --- sign-in ---------------------------------------------------------------------------------------


def _mark_verified(request: HttpRequest, device: Any) -> None:
    # A session id seen between the password and the OTP step must not become a verified session.
    request.session.cycle_key()
    otp_login(request, device)
    request.session[VERIFIED_AT_SESSION_KEY] = timezone.now().timestamp()


@transaction.atomic
def record_password_failure(username: str, request: HttpRequest, *, locked_out: bool) -> None:
    action = "auth.lockout" if locked_out else "auth.login_failed"
    # The chain is permanent: a password typed into the username box must not land in it.
    known = User.objects.filter(username=username[:150]).exists()
    label = username[:150] if known else f"unknown user (sha256 {digest(username)[:12]})"
    audit.record(None, action, ("auth.user", "", label), {"username": label, "known_user": known}, request)
    hooks.sign_in_failed.fire(None, label, request=request)


OTP_OK, OTP_WRONG, OTP_THROTTLED = "ok", "wrong", "throttled"


@transaction.atomic
def verify_otp(user: Any, device: Any, token: str, request: HttpRequest, *, step_up: bool = False) -> str:
    """Check a code from one of the user's devices; on success the session becomes OTP-verified.

    Returns OTP_OK, OTP_WRONG or OTP_THROTTLED; failures are audited and count towards the device's
    exponential back-off (django-otp's ThrottlingMixin), and a code is never accepted twice.
    """
    if device is None or device.user_id != user.pk or not device.confirmed:
        raise ActionError("choose one of your devices", field="otp_device")
    # Lock the device row: two concurrent requests must not both accept one code or undo each other's
    # counter and throttle updates.
    device = type(device).objects.select_for_update().get(pk=device.pk)
    allowed, info = device.verify_is_allowed()
    if not allowed:
        audit.record(user, "auth.otp_throttled", device, {"failures": info.get("failure_count")}, request)
        hooks.sign_in_failed.fire(user, user.get_username(), request=request)
        return OTP_THROTTLED
    if not device.verify_token(token.strip()):
        audit.record(user, "auth.otp_failed", device, {"step_up": step_up}, request=request)
        hooks.sign_in_failed.fire(user, user.get_username(), request=request)
        return OTP_WRONG
    _mark_verified(request, device)
    audit.record(user, "auth.step_up" if step_up else "auth.login", user, {"device": device.persistent_id}, request)
    return OTP_OK


_THROTTLE_FIELDS = ("throttling_failure_timestamp", "throttling_failure_count")


@dataclass(frozen=True)
class OtpResult:
    outcome: str  # OTP_OK, OTP_WRONG or OTP_THROTTLED
    device: Any = None  # the device whose code matched, when outcome is OTP_OK


@transaction.atomic
def verify_otp_any(user: Any, token: str, request: HttpRequest, *, step_up: bool = False) -> OtpResult:
    """Check a code against every confirmed device of the user; the first that accepts it verifies the session.

    Nobody has to say which device produced the code. Throttling stays per device: a throttled or suspended
    device is skipped, and a code that no device accepts counts as a failure on every device it was tried on.
    A code that one device accepts counts as a failure on none of them (the counters of the devices tried
    before the match are put back), so signing in with a hardware token does not slow down the app.
    """
    token = token.strip()
    tried: list[tuple[Any, dict[str, Any]]] = []
    throttled = 0
    # for_verify locks the device rows: two requests cannot both accept one code or undo each other's counters.
    for device in devices_for_user(user, confirmed=True, for_verify=True):
        allowed, _info = device.verify_is_allowed()
        if not allowed:
            throttled += 1
            continue
        before = {field: getattr(device, field) for field in _THROTTLE_FIELDS if hasattr(device, field)}
        if device.verify_token(token):
            for other, saved in tried:
                if saved and any(getattr(other, field) != value for field, value in saved.items()):
                    for field, value in saved.items():
                        setattr(other, field, value)
                    other.save(update_fields=list(saved))
            _mark_verified(request, device)
            audit.record(
                user, "auth.step_up" if step_up else "auth.login", user, {"device": device.persistent_id}, request
            )
            return OtpResult(OTP_OK, device)
        tried.append((device, before))
    if not tried and throttled:
        audit.record(user, "auth.otp_throttled", user, {"devices": throttled}, request)
        hooks.sign_in_failed.fire(user, user.get_username(), request=request)
        return OtpResult(OTP_THROTTLED)
    audit.record(user, "auth.otp_failed", user, {"step_up": step_up, "devices_tried": len(tried)}, request=request)
    hooks.sign_in_failed.fire(user, user.get_username(), request=request)
    return OtpResult(OTP_WRONG)


@transaction.atomic
def record_sign_out(user: Any, request: HttpRequest) -> None:
    audit.record(user, "auth.logout", user, {}, request=request)
    live.end_sessions(user.pk)


# --- API tokens --------------------------------------------------------------------------------------


@transaction.atomic
def create_api_token(
    actor: Any,
    user: Any,
    *,
    name: str,
    scope: str,
    days: int,
    device: DeviceRegistration | None = None,
    request: HttpRequest | None = None,
) -> tuple[ApiToken, str]:
    """Create a token for ``user``; the plaintext is returned once and never stored.

    With ``device`` the token is device-scoped: it may only report posture for that device.
    """
    if scope not in ApiTokenScope.values:
        raise ActionError(f"scope must be one of {', '.join(ApiTokenScope.values)}", field="scope")
    if not 1 <= days <= settings.ZT_API_TOKEN_MAX_DAYS:
        raise ActionError(f"lifetime must be 1 to {settings.ZT_API_TOKEN_MAX_DAYS} days", field="days")
    if not name.strip():
        raise ActionError("a token needs a name", field="name")
    if not user.is_active:
        raise ActionError("the identity is not active", field="user")
    identity = Identity.objects.filter(user=user).first()
    if device is None and (identity is None or identity.is_human):
        # A token skips MFA and step-up: people use the console, tokens are for services and gateways.
        raise ActionError(
            "API tokens are for non-person identities (services, algorithms, gateways); people sign in with MFA",
            field="user",
        )
    if getattr(actor, "is_authenticated", False) and not actor.has_perm(MANAGE_API_TOKENS):
        raise ActionError("you may not create API tokens", field="user")
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        name=name.strip(),
        prefix=prefix,
        secret_hash=digest(secret),
        scope=scope,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
        expires_at=timezone.now() + timedelta(days=days),
        device=device,
    )
    details = {"identity": user.get_username(), "scope": scope, "expires_at": token.expires_at.isoformat()}
    if device is not None:
        details["device"] = device.serial
    audit.record(actor, "api_token.created", token, details, request=request)
    return token, f"zt_{prefix}_{secret}"


@transaction.atomic
def revoke_api_token(actor: Any, token: ApiToken, request: HttpRequest | None = None) -> None:
    changed = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoked_by=actor
    )
    if changed != 1:
        raise ActionError("this token is already revoked")
    audit.record(actor, "api_token.revoked", token, {"identity": token.user.get_username()}, request=request)


def purge_expired_credentials() -> int:
    """Delete enrollment codes past expiry for over a day and unconfirmed devices older than a day."""
    cutoff = timezone.now() - timedelta(days=1)
    codes, _ = EnrollmentCode.objects.filter(expires_at__lt=cutoff).delete()
    devices, _ = OathDevice.objects.filter(confirmed=False, token__isnull=True, created_at__lt=cutoff).delete()
    return codes + devices
