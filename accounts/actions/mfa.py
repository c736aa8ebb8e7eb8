"""MFA verbs: seed import, hardware token enrollment and assignment, resync, suspension, static codes."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from accounts.actions.core import ActionError, _mark_verified, spend_enrollment_code
from accounts.assurance import forget_requirements
from accounts.models import (
    Assurance,
    HardwareToken,
    OathDevice,
    OathKind,
    RoleAssurance,
    StaticCode,
    StaticCodeDevice,
    TokenState,
    static_code_digest,
)
from accounts.models.yubikey import YubikeyDevice, YubikeyRecord
from accounts.oath.otp import sync_hotp, sync_totp
from accounts.oath.seeds import ImportResult, Rejected, SeedFileError, parse_oath_csv, parse_pskc
from accounts.yubico import YubikeyFileError, looks_like_yubico_csv, parse_yubico_csv, split_otp
from ztconsole.core import audit, hooks, live
from ztconsole.core.roles import ROLES

MAX_SEED_FILE_BYTES = 5 * 1024 * 1024
ENROLL_ATTEMPTS_PER_HOUR = 10


@dataclass
class ImportSummary:
    imported: list[str] = field(default_factory=list)
    skipped: list[Rejected] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)


def _parse_seed_file(data: bytes, filename: str, psk_hex: str, password: str) -> ImportResult:
    if len(data) > MAX_SEED_FILE_BYTES:
        raise ActionError("the seed file is larger than 5 MB", field="file")
    psk = None
    if psk_hex:
        try:
            psk = bytes.fromhex(psk_hex.strip())
        except ValueError:
            raise ActionError("the pre-shared key must be hexadecimal", field="psk") from None
        if len(psk) not in (16, 24, 32):
            raise ActionError("the pre-shared key must be 16, 24 or 32 bytes (32, 48 or 64 hex digits)", "psk")
    if psk and password:
        raise ActionError("give either a pre-shared key or a password, not both", field="password")
    looks_like_xml = data.lstrip()[:1] == b"<" or filename.lower().endswith((".xml", ".pskc"))
    try:
        if looks_like_xml:
            return parse_pskc(data, psk=psk, password=password or None)
        if psk or password:
            raise ActionError("a CSV seed file is not encrypted: leave the key and password empty", "psk")
        return parse_oath_csv(data)
    except SeedFileError as exc:
        raise ActionError(f"seed file refused, nothing imported: {exc}", field="file") from None


def _import_yubikeys(actor: Any, data: bytes, filename: str) -> ImportSummary:
    try:
        parsed = parse_yubico_csv(data)
    except YubikeyFileError as exc:
        raise ActionError(f"YubiKey file refused, nothing imported: {exc}", field="file") from None
    summary = ImportSummary(rejected=[Rejected(label, reason) for label, reason in parsed.rejected])
    existing = set(
        YubikeyRecord.objects.filter(public_id__in=[s.public_id for s in parsed.seeds]).values_list(
            "public_id", flat=True
        )
    )
    rows = []
    for seed in parsed.seeds:
        if seed.public_id in existing:
            summary.skipped.append(
                Rejected(seed.public_id, "a YubiKey with this public id is already in the inventory")
            )
            continue
        record = YubikeyRecord(
            public_id=seed.public_id,
            serial=seed.serial[:32],
            source=filename[:100],
            imported_by=actor if getattr(actor, "is_authenticated", False) else None,
        )
        record.set_secret(seed.private_id, seed.aes_key)
        rows.append(record)
        summary.imported.append(seed.public_id)
    YubikeyRecord.objects.bulk_create(rows, batch_size=500)
    return summary


@transaction.atomic
def import_token_seeds(
    actor: Any,
    *,
    data: bytes,
    filename: str,
    psk_hex: str = "",
    password: str = "",
    request: HttpRequest | None = None,
) -> ImportSummary:
    """Import a vendor seed file into the inventory; a refused file imports nothing.

    PSKC (RFC 6030) and OATH CSV fill the OATH token inventory; the YubiKey Personalization Tool's Yubico
    OTP log (or a file whose name mentions "yubi") fills the YubiKey inventory.
    """
    if len(data) > MAX_SEED_FILE_BYTES:
        # Refused whole, whatever its kind: a truncated file would import only its first part.
        raise ActionError("the seed file is larger than 5 MB; nothing imported", field="file")
    if looks_like_yubico_csv(data) or "yubi" in filename.lower():
        if psk_hex or password:
            raise ActionError("a YubiKey export is not encrypted: leave the key and password empty", "psk")
        summary = _import_yubikeys(actor, data, filename)
        _audit_import(actor, filename, summary, request, kind="yubikey")
        return summary
    parsed = _parse_seed_file(data, filename, psk_hex, password)
    summary = ImportSummary(rejected=list(parsed.rejected))
    existing = set(
        HardwareToken.objects.filter(serial__in=[s.serial for s in parsed.seeds]).values_list("serial", flat=True)
    )
    rows = []
    for seed in parsed.seeds:
        if seed.serial in existing:
            summary.skipped.append(Rejected(seed.serial, "a token with this serial is already in the inventory"))
            continue
        token = HardwareToken(
            serial=seed.serial,
            kind=seed.params.kind,
            algorithm=seed.params.algorithm,
            digits=seed.params.digits,
            period=seed.params.period,
            counter=seed.counter,
            manufacturer=seed.manufacturer[:64],
            model=seed.model[:64],
            source=filename[:100],
            imported_by=actor if getattr(actor, "is_authenticated", False) else None,
        )
        token.set_secret(seed.key)
        rows.append(token)
        summary.imported.append(seed.serial)
    HardwareToken.objects.bulk_create(rows, batch_size=500)
    _audit_import(actor, filename, summary, request, kind="oath")
    return summary


def _audit_import(actor: Any, filename: str, summary: ImportSummary, request: HttpRequest | None, kind: str) -> None:
    audit.record(
        actor,
        "token.imported",
        ("accounts.hardwaretoken", "", filename[:200]),
        {
            "file": filename,
            "kind": kind,
            "imported": len(summary.imported),
            "skipped": len(summary.skipped),
            "rejected": len(summary.rejected),
            "serials": summary.imported[:500],
        },
        request=request,
    )


@transaction.atomic
def enroll_yubikey(
    user: Any, *, otp: str, request: HttpRequest, enrollment_code_id: int | None = None
) -> YubikeyDevice | None:
    """Enroll a YubiKey from the inventory by touching it once: the OTP names the key and proves possession."""
    attempts = _check_enrollment_attempts(user, "otp")
    parts = split_otp(otp)
    if parts is None:
        raise ActionError("that is not a YubiKey OTP: touch the key with the cursor in the field", field="otp")
    record = YubikeyRecord.objects.select_for_update().filter(public_id=parts[0]).first()
    if record is None:
        raise ActionError("this YubiKey is not in the inventory", field="otp")
    _check_enrollable(record, user, what="YubiKey", field="otp")
    device = YubikeyDevice(
        user=user, name=f"YubiKey {record.public_id}", confirmed=True, record=record, public_id=record.public_id
    )
    device.secret = record.secret
    if not device.accept(otp):
        _enrollment_failed(user, attempts, record, {"public_id": record.public_id}, request)
        return None
    if enrollment_code_id is not None:
        spend_enrollment_code(user, enrollment_code_id)
    device.save()
    YubikeyRecord.objects.filter(pk=record.pk).update(state=TokenState.ENROLLED, assigned_to=user)
    details = {"type": "yubikey otp", "public_id": record.public_id, "assurance": Assurance.HARDWARE}
    _enrolled(user, device, details, request, enrollment_code_id)
    return device


def _attempts_key(user: Any) -> str:
    return f"hw-enroll-attempts:{user.pk}"


def _synchronise(token: HardwareToken | OathDevice, code1: str, code2: str) -> dict[str, int] | None:
    """Two consecutive codes prove possession; returns the device's counter state, or None."""
    key = token.secret()
    if token.kind == OathKind.HOTP:
        next_counter = sync_hotp(key, code1.strip(), code2.strip(), token.counter, params=token.params)
        return None if next_counter is None else {"counter": next_counter}
    now = time.time()
    drift = sync_totp(key, code1.strip(), code2.strip(), now, params=token.params)
    if drift is None:
        return None
    current = int(now - token.params.t0) // token.period
    return {"drift": drift, "last_step": current + drift}


def _check_enrollment_attempts(user: Any, field: str) -> int:
    attempts = cache.get(_attempts_key(user), 0)
    if attempts >= ENROLL_ATTEMPTS_PER_HOUR:
        raise ActionError("too many failed enrollment attempts; try again in an hour", field=field)
    return attempts


def _check_enrollable(item: HardwareToken | YubikeyRecord, user: Any, *, what: str, field: str) -> None:
    """An inventory item a person may enroll: in stock, or assigned to that person."""
    if item.state == TokenState.ENROLLED:
        raise ActionError(f"this {what} is already enrolled", field=field)
    if item.state not in (TokenState.IN_STOCK, TokenState.ASSIGNED):
        raise ActionError(f"this {what} is {item.get_state_display().lower()} and cannot be enrolled", field)
    if item.state == TokenState.ASSIGNED and item.assigned_to_id != user.pk:
        raise ActionError(f"this {what} is assigned to someone else", field=field)


def _enrollment_failed(user: Any, attempts: int, item: Any, details: dict, request: HttpRequest) -> None:
    cache.set(_attempts_key(user), attempts + 1, timeout=3600)
    audit.record(user, "mfa.enrollment_failed", item, details, request=request)


def _enrolled(user: Any, device: Any, details: dict, request: HttpRequest, enrollment_code_id: int | None) -> None:
    """Audit a new device and verify the session with it: enrolling it has just proved possession."""
    cache.delete(_attempts_key(user))
    audit.record(user, "mfa.device_enrolled", device, details, request=request)
    _mark_verified(request, device)
    if enrollment_code_id is not None:
        audit.record(user, "auth.login", user, {"device": device.persistent_id, "first_enrollment": True}, request)


@transaction.atomic
def enroll_hardware_token(
    user: Any,
    *,
    serial: str,
    code1: str,
    code2: str,
    request: HttpRequest,
    enrollment_code_id: int | None = None,
) -> OathDevice | None:
    """Enroll a token the user holds: its serial and two consecutive codes (possession + counter sync).

    Works for a token in stock or one an administrator assigned to this user. Returns None for wrong codes
    (the failure is audited and counted); raises ActionError for a serial that cannot be enrolled.
    """
    attempts = _check_enrollment_attempts(user, "serial")
    token = HardwareToken.objects.select_for_update().filter(serial=serial.strip()).first()
    if token is None:
        raise ActionError("no token with this serial is in the inventory", field="serial")
    _check_enrollable(token, user, what="token", field="serial")
    state = _synchronise(token, code1, code2)
    if state is None:
        _enrollment_failed(user, attempts, token, {"serial": token.serial}, request)
        return None
    if enrollment_code_id is not None:
        spend_enrollment_code(user, enrollment_code_id)
    device = OathDevice(
        user=user,
        name=f"Hardware token {token.serial}",
        confirmed=True,
        assurance=Assurance.HARDWARE,
        token=token,
        kind=token.kind,
        algorithm=token.algorithm,
        digits=token.digits,
        period=token.period,
        seed=token.seed,
        **state,
    )
    device.save()
    HardwareToken.objects.filter(pk=token.pk).update(state=TokenState.ENROLLED, assigned_to=user)
    details = {"type": f"{token.kind} hardware", "serial": token.serial, "assurance": Assurance.HARDWARE}
    _enrolled(user, device, details, request, enrollment_code_id)
    return device


@transaction.atomic
def assign_hardware_token(actor: Any, token: HardwareToken, user: Any, request: HttpRequest | None = None) -> None:
    """Reserve a token for a trader; they still confirm possession with two codes when they enroll it."""
    changed = HardwareToken.objects.filter(pk=token.pk, state=TokenState.IN_STOCK).update(
        state=TokenState.ASSIGNED, assigned_to=user
    )
    if changed != 1:
        raise ActionError(f"token {token.serial} is not in stock", field="serial")
    audit.record(actor, "token.assigned", token, {"serial": token.serial, "to": user.get_username()}, request)


@transaction.atomic
def resync_device(actor: Any, device: OathDevice, code1: str, code2: str, request: HttpRequest | None = None) -> bool:
    """Re-align a drifted HOTP counter or TOTP clock from two consecutive codes (owner or administrator)."""
    device = OathDevice.objects.select_for_update().get(pk=device.pk)
    state = _synchronise(device, code1, code2)
    if state is None:
        audit.record(actor, "mfa.resync_failed", device, {}, request=request)
        return False
    OathDevice.objects.filter(pk=device.pk).update(
        throttling_failure_count=0, throttling_failure_timestamp=None, **state
    )
    audit.record(actor, "mfa.device_resynced", device, {"owner": device.user.get_username()}, request=request)
    return True


@transaction.atomic
def suspend_device(
    actor: Any, device: Any, *, reason: str, lost: bool = False, request: HttpRequest | None = None
) -> None:
    """Stop a device at once (lost, broken, stolen). The owner or an administrator may do this."""
    new_state = TokenState.LOST if lost else TokenState.SUSPENDED
    if isinstance(device, (OathDevice, YubikeyDevice)):
        model = type(device)
        changed = model.objects.filter(pk=device.pk, suspended_at__isnull=True).update(suspended_at=timezone.now())
        if isinstance(device, OathDevice) and device.token_id:
            HardwareToken.objects.filter(pk=device.token_id).update(state=new_state)
        if isinstance(device, YubikeyDevice) and device.record_id:
            YubikeyRecord.objects.filter(pk=device.record_id).update(state=new_state)
    else:
        changed = type(device).objects.filter(pk=device.pk, confirmed=True).update(confirmed=False)
    if changed != 1:
        raise ActionError("this device is already suspended")
    details = {"reason": reason[:200], "lost": lost, "owner": device.user.get_username()}
    audit.record(actor, "mfa.device_suspended", device, details, request=request)
    live.end_sessions(device.user_id)
    hooks.device_suspended.fire(actor, device, request=request)


def _store_new_codes(device: StaticCodeDevice, count: int) -> list[str]:
    """Fresh single-use codes for ``device``: stored as digests, returned in the clear to be shown once."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    codes = ["".join(secrets.choice(alphabet) for _ in range(10)) for _ in range(count)]
    StaticCode.objects.bulk_create([StaticCode(device=device, code_hash=static_code_digest(device, c)) for c in codes])
    return codes


@transaction.atomic
def issue_temporary_codes(
    actor: Any, user: Any, *, count: int = 5, hours: int = 24, request: HttpRequest | None = None
) -> tuple[StaticCodeDevice, list[str]]:
    """Single-use codes that expire, for someone whose token is lost; shown once, stored as digests."""
    if getattr(actor, "pk", None) == user.pk:
        raise ActionError("ask another security officer: nobody issues temporary codes to themselves", "user")
    from accounts.actions.roles import check_may_hand_credentials

    check_may_hand_credentials(actor, user, what="temporary codes")
    had_device = (
        OathDevice.objects.filter(user=user, confirmed=True).exists()
        or YubikeyDevice.objects.filter(user=user, confirmed=True).exists()
    )
    if not had_device:
        # Without this, temporary codes would stand in for the enrollment code a first device needs.
        raise ActionError("this person never enrolled a device: issue an enrollment code instead", "user")
    if not 1 <= count <= 10:
        raise ActionError("issue between 1 and 10 codes", field="count")
    if not 1 <= hours <= 72:
        raise ActionError("temporary codes last between 1 and 72 hours", field="hours")
    StaticCodeDevice.objects.filter(user=user, purpose="temporary").delete()
    device = StaticCodeDevice.objects.create(
        user=user,
        name="Temporary codes",
        confirmed=True,
        purpose="temporary",
        expires_at=timezone.now() + timedelta(hours=hours),
        issued_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    codes = _store_new_codes(device, count)
    audit.record(
        actor,
        "mfa.temporary_codes_issued",
        device,
        {"owner": user.get_username(), "count": count, "expires_at": device.expires_at.isoformat()},
        request=request,
    )
    return device, codes


@transaction.atomic
def generate_backup_codes(user: Any, request: HttpRequest | None = None, count: int = 10) -> list[str]:
    """Replace the user's backup codes; the new ones are shown once."""
    StaticCodeDevice.objects.filter(user=user, purpose="backup").delete()
    device = StaticCodeDevice.objects.create(user=user, name="Backup codes", confirmed=True, purpose="backup")
    codes = _store_new_codes(device, count)
    audit.record(user, "mfa.backup_codes_generated", device, {"count": count}, request=request)
    return codes


@transaction.atomic
def set_role_assurance(actor: Any, role: str, minimum: str, request: HttpRequest | None = None) -> None:
    if role not in ROLES:
        raise ActionError(f"unknown role {role!r}", field="role")
    if minimum not in Assurance.values:
        raise ActionError("minimum must be none, software or hardware", field="minimum")
    previous = RoleAssurance.objects.filter(role=role).values_list("minimum", flat=True).first()
    RoleAssurance.objects.update_or_create(role=role, defaults={"minimum": minimum})
    transaction.on_commit(forget_requirements)
    audit.record(
        actor, "mfa.role_assurance_changed", ("auth.group", role, role), {"from": previous, "to": minimum}, request
    )
