"""Enrollment codes and API tokens. Both are shown once and stored only as hashes."""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone

_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud or typed from paper


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def normalize_enrollment_code(raw: str) -> str:
    return "".join(ch for ch in raw.upper() if ch.isalnum())


def new_enrollment_code() -> str:
    raw = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(16))  # 80 bits
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


class AccountsAccess(models.Model):
    """Carries the identity-administration permissions that roles grant; it has no table."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [
            ("view_identities", "Can list and read identities"),
            ("manage_identities", "Can create identities, change roles and sponsors, reactivate and revoke"),
            ("suspend_identities", "Can suspend an identity at once"),
            ("issue_enrollment_code", "Can issue one-time MFA enrollment codes"),
            ("manage_api_tokens", "Can create and revoke API tokens"),
            ("manage_token_inventory", "Can import hardware token seeds and assign tokens"),
            ("manage_mfa", "Can suspend and resynchronise other people's MFA devices, and set assurance rules"),
            ("issue_temporary_codes", "Can issue temporary static codes to someone who lost a token"),
            ("view_devices", "Can list and read registered devices (people without a wider role: only their own)"),
            ("manage_devices", "Can register devices for others, approve them as managed and retire them"),
            ("report_posture", "Can report device posture for any device (an MDM or agent identity)"),
            ("approve_role_grants", "Can approve or reject someone else's request to grant a privileged role"),
        ]

    def __str__(self) -> str:
        return "identity administration permissions"


class EnrollmentCode(models.Model):
    """A one-time code that, with the password, lets a user enroll their first MFA device.

    Single use (``used_at``), expiring, and stored as a SHA-256 digest: the code is shown once to the
    administrator who issued it.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="enrollment_codes")
    code_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"enrollment code for {self.user} (expires {self.expires_at:%Y-%m-%d %H:%M})"

    @property
    def is_usable(self) -> bool:
        return self.used_at is None and self.expires_at > timezone.now()


class ApiTokenScope(models.TextChoices):
    READ = "read", "Read only"
    READ_WRITE = "read-write", "Read and write"


class ApiToken(models.Model):
    """A bearer token for API clients, bound to one identity, hashed at rest, expiring and revocable.

    The token reads ``zt_<prefix>_<secret>``; the prefix finds the row, the secret is compared by digest.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    secret_hash = models.CharField(max_length=64)
    scope = models.CharField(max_length=16, choices=ApiTokenScope.choices, default=ApiTokenScope.READ)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # A device-scoped token may only report posture for this device, and is refused everywhere else.
    device = models.ForeignKey(
        "accounts.DeviceRegistration", null=True, blank=True, on_delete=models.CASCADE, related_name="api_tokens"
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} (zt_{self.prefix}_…)"

    @property
    def status(self) -> str:
        if self.revoked_at:
            return "revoked"
        if self.expires_at <= timezone.now():
            return "expired"
        return "active"

    def allows(self, *, write: bool) -> bool:
        return not write or self.scope == ApiTokenScope.READ_WRITE
