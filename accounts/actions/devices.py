"""Device verbs: registration, approval as managed, retirement, posture reports and their staleness."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone

from accounts.actions.core import ActionError, create_api_token
from accounts.models import (
    POSTURE_CHECKS,
    ApiToken,
    ApiTokenScope,
    Compliance,
    DeviceKind,
    DeviceRegistration,
    DeviceStatus,
    Identity,
    IdentityStatus,
    PostureReport,
)
from ztconsole.core import audit, hooks
from ztconsole.core.models import AuditEvent
from ztconsole.core.roles import MANAGE_DEVICES

_SERIAL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*$")
_REPORT_FIELDS = ("os_version", *POSTURE_CHECKS)
_REPORT_FIELD_LIST = ", ".join(_REPORT_FIELDS)


def _user_or_none(actor: Any) -> Any:
    return actor if getattr(actor, "is_authenticated", False) else None


@transaction.atomic
def register_device(
    actor: Any,
    *,
    owner: Identity,
    kind: str,
    platform: str,
    serial: str,
    hostname: str = "",
    request: HttpRequest | None = None,
) -> DeviceRegistration:
    """Register a device for ``owner``: people register their own, device managers anyone's.

    The device starts unmanaged and of unknown compliance; an administrator approves it as managed.
    """
    actor_user = _user_or_none(actor)
    if actor_user is not None and owner.user_id != actor_user.pk and not actor_user.has_perm(MANAGE_DEVICES):
        raise ActionError("you may register devices only for yourself", field="owner")
    if owner.status != IdentityStatus.ACTIVE:
        raise ActionError(f"{owner} is {owner.status}; only an active identity can own a device", field="owner")
    if kind not in DeviceKind.values:
        raise ActionError(f"kind must be one of {', '.join(DeviceKind.values)}", field="kind")
    platform = platform.strip()
    if not platform or len(platform) > 100:
        raise ActionError("give the platform (operating system), at most 100 characters", field="platform")
    serial = serial.strip()
    if not _SERIAL.match(serial):
        raise ActionError("serial: 1-64 letters, digits, '.', '_', ':', '/' or '-', starting alphanumeric", "serial")
    hostname = hostname.strip().lower()
    if hostname and not _HOSTNAME.match(hostname):
        raise ActionError(f"{hostname!r} is not a valid host name", field="hostname")
    if DeviceRegistration.objects.filter(serial__iexact=serial).exists():
        raise ActionError(f"a device with serial {serial} is already registered", field="serial")
    try:
        with transaction.atomic():
            device = DeviceRegistration.objects.create(
                owner=owner, kind=kind, platform=platform, serial=serial, hostname=hostname
            )
    except IntegrityError:  # the same serial registered concurrently
        raise ActionError(f"a device with serial {serial} is already registered", field="serial") from None
    audit.record(
        actor,
        "device.registered",
        device,
        {"owner": owner.username, "kind": kind, "platform": platform, "serial": serial, "hostname": hostname},
        request=request,
    )
    return device


@transaction.atomic
def approve_device(actor: Any, device: DeviceRegistration, request: HttpRequest | None = None) -> DeviceRegistration:
    """Mark an active device as managed (under the firm's MDM); a device is approved once, never by its owner."""
    actor_id = getattr(actor, "pk", None)
    if actor_id is not None and device.owner.user_id == actor_id:
        raise ActionError("another administrator must approve your own device", field="managed")
    if actor_id is not None and device.owner.sponsor is not None and device.owner.sponsor.user_id == actor_id:
        raise ActionError("you sponsor this device's owner: another administrator must approve it", field="managed")
    registered = AuditEvent.objects.filter(action="device.registered", target_id=str(device.pk)).first()
    if actor_id is not None and registered is not None and registered.actor_id == actor_id:
        # Maker and checker: whoever registered a device (for anyone) does not also vouch for it.
        raise ActionError("you registered this device: another administrator must approve it", field="managed")
    now = timezone.now()
    changed = DeviceRegistration.objects.filter(
        pk=device.pk, status=DeviceStatus.ACTIVE, approved_at__isnull=True
    ).update(managed=True, approved_by=_user_or_none(actor), approved_at=now)
    if changed != 1:
        current = DeviceRegistration.objects.get(pk=device.pk)
        if current.status != DeviceStatus.ACTIVE:
            raise ActionError(f"{current} is retired; it cannot be approved", field="status")
        raise ActionError(f"{current} is already approved as managed", field="managed")
    device.refresh_from_db()
    audit.record(actor, "device.approved", device, {"owner": device.owner.username}, request=request)
    return device


@transaction.atomic
def retire_device(
    actor: Any, device: DeviceRegistration, *, reason: str = "", request: HttpRequest | None = None
) -> DeviceRegistration:
    """Take a device out of use for good; its posture tokens are revoked with it. History is kept."""
    changed = DeviceRegistration.objects.filter(pk=device.pk, status=DeviceStatus.ACTIVE).update(
        status=DeviceStatus.RETIRED
    )
    if changed != 1:
        raise ActionError(f"{device} is already retired", field="status")
    tokens = ApiToken.objects.filter(device_id=device.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoked_by=_user_or_none(actor)
    )
    device.refresh_from_db()
    audit.record(
        actor,
        "device.retired",
        device,
        {"owner": device.owner.username, "reason": reason.strip()[:200], "revoked_api_access": tokens},
        request=request,
    )
    hooks.device_retired.fire(actor, device, request=request)
    return device


def validate_posture_report(report: Any) -> dict[str, Any]:
    """The report as a dict of known fields with the right types; refuses anything else, naming the field."""
    if not isinstance(report, dict):
        raise ActionError(f"a posture report is a JSON object with {_REPORT_FIELD_LIST}", field="report")
    unknown = sorted(str(key) for key in report if key not in _REPORT_FIELDS)
    if unknown:
        raise ActionError(f"unknown field {unknown[0]!r}; a report has {_REPORT_FIELD_LIST}", field=unknown[0])
    os_version = report.get("os_version")
    if not isinstance(os_version, str) or not os_version.strip():
        raise ActionError("os_version is required: a non-empty string", field="os_version")
    if len(os_version) > 100:
        raise ActionError("os_version is at most 100 characters", field="os_version")
    clean: dict[str, Any] = {"os_version": os_version.strip()}
    for name in POSTURE_CHECKS:
        if name not in report:
            continue
        if not isinstance(report[name], bool):
            raise ActionError(f"{name} must be true or false", field=name)
        clean[name] = report[name]
    return clean


@transaction.atomic
def record_posture(
    *, device: DeviceRegistration, report: Any, source: str, request: HttpRequest | None = None
) -> PostureReport:
    """Store a posture report and set the device's compliance from it.

    Compliant only when disk encryption, screen lock and EDR all pass; a check missing from the report
    counts as failed. The acting identity is the request's user (the token's identity), else the system.
    """
    clean = validate_posture_report(report)
    actor = getattr(request, "user", None)
    # Locking the row serialises concurrent reports for one device, so "from" in the audit is exact.
    locked = DeviceRegistration.objects.select_for_update().filter(pk=device.pk).first()
    if locked is None:
        raise ActionError("no such device", field="device")
    if locked.status != DeviceStatus.ACTIVE:
        raise ActionError(f"{locked} is retired; it no longer reports posture", field="device")
    failures = [name for name in POSTURE_CHECKS if clean.get(name) is not True]
    compliance = Compliance.NON_COMPLIANT if failures else Compliance.COMPLIANT
    now = timezone.now()
    row = PostureReport.objects.create(
        device=locked,
        received_at=now,
        os_version=clean["os_version"],
        disk_encrypted=clean.get("disk_encryption") is True,
        screen_lock=clean.get("screen_lock") is True,
        edr_running=clean.get("edr_running") is True,
        compliant=not failures,
        failures=failures,
        source=source[:150],
    )
    DeviceRegistration.objects.filter(pk=locked.pk).update(
        compliance=compliance, last_posture_at=now, last_posture=clean
    )
    previous = locked.compliance
    locked.compliance, locked.last_posture_at, locked.last_posture = compliance, now, clean
    audit.record(
        actor,
        "device.posture_reported",
        locked,
        {"source": source, "os_version": clean["os_version"], "compliant": not failures, "failures": failures},
        request=request,
    )
    if previous != compliance:
        audit.record(
            actor,
            "device.compliance_changed",
            locked,
            {"from": previous, "to": compliance, "failures": failures},
            request=request,
        )
    device.compliance, device.last_posture_at, device.last_posture = compliance, now, clean
    return row


def _stale(cutoff: Any) -> Q:
    return Q(last_posture_at__lt=cutoff) | Q(last_posture_at__isnull=True, created_at__lt=cutoff)


def mark_stale_devices_unknown(ttl_seconds: int) -> int:
    """Active devices whose last posture report (or registration, if none) is older than the TTL become unknown.

    One transaction and one ``device.posture_stale`` event per device; the UPDATE re-checks staleness, so a
    report arriving meanwhile wins. Returns how many devices changed.
    """
    if ttl_seconds <= 0:
        raise ActionError("the posture TTL must be positive", field="ttl_seconds")
    cutoff = timezone.now() - timedelta(seconds=ttl_seconds)
    candidates = list(
        DeviceRegistration.objects.filter(_stale(cutoff), status=DeviceStatus.ACTIVE)
        .exclude(compliance=Compliance.UNKNOWN)
        .order_by("pk")
        .values_list("pk", "compliance", "last_posture_at")
    )
    changed = 0
    for pk, previous, last_posture_at in candidates:
        with transaction.atomic():
            updated = DeviceRegistration.objects.filter(
                _stale(cutoff), pk=pk, status=DeviceStatus.ACTIVE, compliance=previous
            ).update(compliance=Compliance.UNKNOWN)
            if updated != 1:
                continue
            device = DeviceRegistration.objects.select_related("owner__user").get(pk=pk)
            audit.record(
                None,
                "device.posture_stale",
                device,
                {
                    "from": previous,
                    "last_posture_at": last_posture_at.isoformat() if last_posture_at else None,
                    "ttl_seconds": ttl_seconds,
                },
            )
            changed += 1
    return changed


@transaction.atomic
def create_device_token(
    actor: Any, device: DeviceRegistration, *, days: int, request: HttpRequest | None = None
) -> tuple[ApiToken, str]:
    """A read-write token of the owner's identity that may only report posture for ``device``; shown once."""
    if device.status != DeviceStatus.ACTIVE:
        raise ActionError(f"{device} is retired", field="device")
    return create_api_token(
        actor,
        device.owner.user,
        name=f"posture:{device.serial}",
        scope=ApiTokenScope.READ_WRITE,
        days=days,
        device=device,
        request=request,
    )
