"""MFA devices: OATH tokens (hardware from the inventory, or a software authenticator) and static codes.

Every secret is encrypted at rest (``ztconsole.core.crypto``); static codes are stored as digests. Each
device type declares its assurance, the input the risk engine scores (+0 hardware, +5 software).
"""

from __future__ import annotations

import hashlib
import time

from django.conf import settings
from django.db import models
from django.utils import timezone
from django_otp.models import Device, ThrottlingMixin, TimestampMixin

from accounts.oath.otp import OathParams, verify_hotp, verify_totp
from ztconsole.core import crypto

SEED_CONTEXT = "oath-seed"
HOTP_LOOK_AHEAD = 20
TOTP_TOLERANCE = 1


class Assurance(models.TextChoices):
    HARDWARE = "hardware", "Hardware-bound"
    SOFTWARE = "software", "Software"
    NONE = "none", "Password only"


ASSURANCE_RANK = {Assurance.NONE: 0, Assurance.SOFTWARE: 1, Assurance.HARDWARE: 2}


class OathKind(models.TextChoices):
    HOTP = "hotp", "HOTP (counter)"
    TOTP = "totp", "TOTP (time)"


class HashAlgorithm(models.TextChoices):
    SHA1 = "SHA1", "SHA-1"
    SHA256 = "SHA256", "SHA-256"
    SHA512 = "SHA512", "SHA-512"


class TokenState(models.TextChoices):
    IN_STOCK = "in_stock", "In stock"
    ASSIGNED = "assigned", "Assigned, awaiting confirmation"
    ENROLLED = "enrolled", "Enrolled"
    SUSPENDED = "suspended", "Suspended"
    LOST = "lost", "Lost"
    RETIRED = "retired", "Retired"


class OathSecretMixin(models.Model):
    """OATH parameters and an encrypted seed, shared by the inventory and the devices."""

    kind = models.CharField(max_length=4, choices=OathKind.choices)
    algorithm = models.CharField(max_length=6, choices=HashAlgorithm.choices, default=HashAlgorithm.SHA1)
    digits = models.PositiveSmallIntegerField(default=6)
    period = models.PositiveSmallIntegerField(default=30)
    seed = crypto.EncryptedSecretField(context=SEED_CONTEXT)

    class Meta:
        abstract = True

    @property
    def params(self) -> OathParams:
        return OathParams(kind=self.kind, algorithm=self.algorithm, digits=self.digits, period=self.period)

    def secret(self) -> bytes:
        """The seed in the clear; only verification code calls this, never a view or serializer."""
        return crypto.decrypt(self.seed, context=SEED_CONTEXT)

    def set_secret(self, key: bytes) -> None:
        self.seed = crypto.encrypt(key, context=SEED_CONTEXT)


class HardwareToken(OathSecretMixin):
    """One physical OATH token in the inventory, imported from the vendor's seed file."""

    serial = models.CharField(max_length=64, unique=True)
    counter = models.BigIntegerField(default=0, help_text="HOTP: the counter the token will show next")
    manufacturer = models.CharField(max_length=64, blank=True)
    model = models.CharField(max_length=64, blank=True)
    state = models.CharField(max_length=10, choices=TokenState.choices, default=TokenState.IN_STOCK)
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="hardware_tokens"
    )
    source = models.CharField(max_length=100, blank=True, help_text="The seed file it came from")
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    imported_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["serial"]
        indexes = [models.Index(fields=["state", "serial"])]

    def __str__(self) -> str:
        return f"{self.serial} ({self.get_kind_display()})"


class OathDevice(TimestampMixin, ThrottlingMixin, OathSecretMixin, Device):
    """An OATH device a user signs in with: a hardware token from the inventory or a software authenticator.

    HOTP keeps the next expected ``counter``; TOTP keeps the ``last_step`` accepted (so a code works once)
    and the measured clock ``drift``. Failed attempts back off exponentially (django-otp ThrottlingMixin).
    """

    assurance = models.CharField(max_length=10, choices=Assurance.choices)
    token = models.OneToOneField(HardwareToken, null=True, blank=True, on_delete=models.PROTECT, related_name="device")
    counter = models.BigIntegerField(default=0)
    last_step = models.BigIntegerField(null=True, blank=True)
    drift = models.SmallIntegerField(default=0)
    suspended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "OATH device"

    def __str__(self) -> str:
        return f"{self.name} ({self.user})"

    def get_throttle_factor(self) -> int:
        return settings.OTP_TOTP_THROTTLE_FACTOR

    def verify_is_allowed(self):
        if self.suspended_at is not None:
            return False, {"reason": "suspended"}
        return super().verify_is_allowed()

    def match(self, token: str, *, at: float | None = None) -> bool:
        """Check ``token`` and, when it matches, advance the counter or last step (not saved)."""
        key = self.secret()
        if self.kind == OathKind.HOTP:
            matched = verify_hotp(key, token, self.counter, params=self.params, look_ahead=HOTP_LOOK_AHEAD)
            if matched is None:
                return False
            self.counter = matched + 1
            return True
        step = verify_totp(
            key,
            token,
            time.time() if at is None else at,
            params=self.params,
            last_step=self.last_step,
            drift=self.drift,
            tolerance=TOTP_TOLERANCE,
        )
        if step is None:
            return False
        self.last_step = step
        return True

    def verify_token(self, token) -> bool:
        allowed, _ = self.verify_is_allowed()
        if not allowed:
            return False
        if isinstance(token, str) and self.match(token.strip()):
            self.throttle_reset(commit=False)
            self.set_last_used_timestamp(commit=False)
            self.save()
            return True
        self.throttle_increment(commit=True)
        return False

    @property
    def config_url(self) -> str:
        """otpauth:// URI for a software authenticator (enrollment only; never for hardware)."""
        from base64 import b32encode
        from urllib.parse import quote, urlencode

        label = quote(f"{settings.OTP_TOTP_ISSUER}:{self.user.get_username()}")
        query = urlencode(
            {
                "secret": b32encode(self.secret()).decode().rstrip("="),
                "algorithm": self.algorithm,
                "digits": self.digits,
                "period": self.period,
                "issuer": settings.OTP_TOTP_ISSUER,
            }
        )
        return f"otpauth://{self.kind}/{label}?{query}"


class StaticCodeDevice(TimestampMixin, ThrottlingMixin, Device):
    """Single-use codes: backup codes the owner keeps, or temporary codes a security officer issues."""

    purpose = models.CharField(max_length=10, choices=[("backup", "Backup codes"), ("temporary", "Temporary codes")])
    expires_at = models.DateTimeField(null=True, blank=True)
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = "static code device"

    def __str__(self) -> str:
        return f"{self.get_purpose_display()} ({self.user})"

    assurance = Assurance.SOFTWARE

    def get_throttle_factor(self) -> int:
        return settings.OTP_STATIC_THROTTLE_FACTOR

    def verify_is_allowed(self):
        if self.expires_at is not None and self.expires_at <= timezone.now():
            return False, {"reason": "expired"}
        return super().verify_is_allowed()

    def verify_token(self, token) -> bool:
        allowed, _ = self.verify_is_allowed()
        if not allowed:
            return False
        code = normalize_static_code(token) if isinstance(token, str) else ""
        used = StaticCode.objects.filter(
            device=self, code_hash=static_code_digest(self, code), used_at__isnull=True
        ).update(used_at=timezone.now())
        if code and used == 1:
            self.throttle_reset(commit=False)
            self.set_last_used_timestamp(commit=False)
            self.save()
            return True
        self.throttle_increment(commit=True)
        return False


def normalize_static_code(raw: str) -> str:
    return "".join(ch for ch in raw.lower() if ch.isalnum())


def static_code_digest(device: StaticCodeDevice, code: str) -> str:
    # Salted with the device id so equal codes on two devices never share a digest.
    return hashlib.sha256(f"{device.pk}:{code}".encode()).hexdigest()


class StaticCode(models.Model):
    device = models.ForeignKey(StaticCodeDevice, on_delete=models.CASCADE, related_name="codes")
    code_hash = models.CharField(max_length=64)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["device", "code_hash"], name="static_code_unique")]

    def __str__(self) -> str:
        return f"static code of {self.device_id}"


class RoleAssurance(models.Model):
    """The minimum MFA assurance a role must hold; users below it must enroll before anything else."""

    role = models.CharField(max_length=40, unique=True)
    minimum = models.CharField(max_length=10, choices=Assurance.choices, default=Assurance.SOFTWARE)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.role}: {self.minimum}"


def device_assurance(device: Device) -> str:
    if device._meta.label_lower == "django_otp_webauthn.webauthncredential":
        from accounts.webauthn import credential_assurance

        return credential_assurance(device)
    return getattr(device, "assurance", Assurance.SOFTWARE)
