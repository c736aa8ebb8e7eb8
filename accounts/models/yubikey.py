"""YubiKeys in Yubico OTP mode, validated locally with their AES key (no call to a Yubico server)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django_otp.models import Device, ThrottlingMixin, TimestampMixin

from accounts.models.mfa import Assurance, TokenState
from ztconsole.core import crypto

YUBIKEY_CONTEXT = "yubikey-secret"


class YubikeySecretMixin(models.Model):
    """The public id and, encrypted together, the 6-byte private id and the 16-byte AES key."""

    public_id = models.CharField(max_length=32)
    secret = crypto.EncryptedSecretField(context=YUBIKEY_CONTEXT)

    class Meta:
        abstract = True

    def set_secret(self, private_id: bytes, aes_key: bytes) -> None:
        self.secret = crypto.encrypt(private_id + aes_key, context=YUBIKEY_CONTEXT)

    def private_id_and_key(self) -> tuple[bytes, bytes]:
        raw = crypto.decrypt(self.secret, context=YUBIKEY_CONTEXT)
        return raw[:6], raw[6:]


class YubikeyRecord(YubikeySecretMixin):
    """A programmed YubiKey in the inventory, from the personalization tool's export."""

    serial = models.CharField(max_length=32, blank=True)
    state = models.CharField(max_length=10, choices=TokenState.choices, default=TokenState.IN_STOCK)
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="yubikeys"
    )
    source = models.CharField(max_length=100, blank=True)
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    imported_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["public_id"]
        constraints = [models.UniqueConstraint(fields=["public_id"], name="yubikey_record_public_id_unique")]

    def __str__(self) -> str:
        return f"YubiKey {self.public_id}"


class YubikeyDevice(TimestampMixin, ThrottlingMixin, YubikeySecretMixin, Device):
    """A YubiKey a user signs in with. Each OTP carries counters that must rise, so none is accepted twice."""

    record = models.OneToOneField(YubikeyRecord, null=True, blank=True, on_delete=models.PROTECT, related_name="device")
    session_counter = models.IntegerField(default=-1)
    use_counter = models.IntegerField(default=-1)
    suspended_at = models.DateTimeField(null=True, blank=True)

    assurance = Assurance.HARDWARE

    class Meta:
        verbose_name = "YubiKey device"

    def __str__(self) -> str:
        return f"{self.name} ({self.user})"

    def get_throttle_factor(self) -> int:
        return settings.OTP_TOTP_THROTTLE_FACTOR

    def verify_is_allowed(self):
        if self.suspended_at is not None:
            return False, {"reason": "suspended"}
        return super().verify_is_allowed()

    def accept(self, token: str) -> bool:
        """Check an OTP and advance the counters (not saved); False for a wrong or replayed OTP."""
        from accounts.yubico import check_otp

        private_id, key = self.private_id_and_key()
        counters = check_otp(token, public_id=self.public_id, aes_key=key, private_id=private_id)
        if counters is None or (counters.session, counters.use) <= (self.session_counter, self.use_counter):
            return False
        self.session_counter, self.use_counter = counters.session, counters.use
        return True

    def verify_token(self, token) -> bool:
        allowed, _ = self.verify_is_allowed()
        if not allowed:
            return False
        if isinstance(token, str) and self.accept(token):
            self.throttle_reset(commit=False)
            self.set_last_used_timestamp(commit=False)
            self.save()
            return True
        self.throttle_increment(commit=True)
        return False
