"""Registered devices (trader workstations, algo hosts, servers) and the posture reports they send.

A device's health is one input of the risk engine: managed and compliant scores 0, unmanaged +25.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from ztconsole.core.roles import MANAGE_DEVICES, VIEW_AUDIT


class DeviceKind(models.TextChoices):
    TRADER_WORKSTATION = "trader_workstation", "Trader workstation"
    ALGO_HOST = "algo_host", "Algo host"
    SERVER = "server", "Server"


class Compliance(models.TextChoices):
    COMPLIANT = "compliant", "Compliant"
    NON_COMPLIANT = "non_compliant", "Non-compliant"
    UNKNOWN = "unknown", "Unknown"


class DeviceStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    RETIRED = "retired", "Retired"


class DeviceHealth(models.TextChoices):
    """The device-health attribute the risk engine scores."""

    MANAGED_COMPLIANT = "managed_compliant", "Managed, compliant"
    UNMANAGED = "unmanaged", "Unmanaged"
    NON_COMPLIANT = "non_compliant", "Non-compliant"
    UNKNOWN = "unknown", "Unknown"


# The checks a posture report carries, by report key; a device is compliant only when all of them pass.
POSTURE_CHECKS = ("disk_encryption", "screen_lock", "edr_running")


class DeviceRegistrationQuerySet(models.QuerySet):
    def for_list(self) -> DeviceRegistrationQuerySet:
        """Everything a list row shows, in a fixed number of queries whatever the page size."""
        return self.select_related("owner", "owner__user", "approved_by")

    def active(self) -> DeviceRegistrationQuerySet:
        return self.filter(status=DeviceStatus.ACTIVE)

    def restrict(self, user: Any) -> DeviceRegistrationQuerySet:
        """The devices ``user`` may see: all of them for device managers and auditors, else only their own."""
        if user.has_perm(MANAGE_DEVICES) or user.has_perm(VIEW_AUDIT):
            return self
        return self.filter(owner__user_id=user.pk)


class DeviceRegistration(models.Model):
    """A device an identity works from, registered by its owner or an administrator.

    An administrator approves it as managed (under the firm's MDM); posture reports then keep its
    compliance current, and a stale report turns it back to unknown. Retired devices are kept for history.
    """

    owner = models.ForeignKey("accounts.Identity", on_delete=models.PROTECT, related_name="devices")
    kind = models.CharField(max_length=24, choices=DeviceKind.choices)
    platform = models.CharField(max_length=100, help_text="Operating system, e.g. Windows 11 or RHEL 9.")
    serial = models.CharField(max_length=64, unique=True, help_text="Asset tag or serial number.")
    hostname = models.CharField(max_length=253, blank=True)
    managed = models.BooleanField(default=False)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    compliance = models.CharField(max_length=16, choices=Compliance.choices, default=Compliance.UNKNOWN)
    last_posture_at = models.DateTimeField(null=True, blank=True)
    last_posture = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=8, choices=DeviceStatus.choices, default=DeviceStatus.ACTIVE)
    created_at = models.DateTimeField(default=timezone.now)
    # NULL rather than "" until the CA issues a certificate, so uniqueness binds only issued fingerprints.
    certificate_fingerprint = models.CharField(max_length=64, null=True, blank=True, unique=True)

    objects = DeviceRegistrationQuerySet.as_manager()

    class Meta:
        ordering = ["serial"]
        indexes = [
            models.Index(fields=["status", "last_posture_at"]),
            models.Index(fields=["compliance", "managed"]),
        ]

    def __str__(self) -> str:
        return f"{self.serial} ({self.hostname})" if self.hostname else self.serial

    @property
    def is_active(self) -> bool:
        return self.status == DeviceStatus.ACTIVE

    @property
    def health(self) -> str:
        """What the risk engine scores. A retired device is no longer under management, so it counts as unmanaged."""
        if not self.managed or self.status != DeviceStatus.ACTIVE:
            return DeviceHealth.UNMANAGED
        if self.compliance == Compliance.COMPLIANT:
            return DeviceHealth.MANAGED_COMPLIANT
        if self.compliance == Compliance.NON_COMPLIANT:
            return DeviceHealth.NON_COMPLIANT
        return DeviceHealth.UNKNOWN


class PostureReport(models.Model):
    """One posture report as received, kept as history; the device holds the latest result."""

    device = models.ForeignKey(DeviceRegistration, on_delete=models.CASCADE, related_name="posture_reports")
    received_at = models.DateTimeField(default=timezone.now)
    os_version = models.CharField(max_length=100)
    disk_encrypted = models.BooleanField(default=False)
    screen_lock = models.BooleanField(default=False)
    edr_running = models.BooleanField(default=False)
    compliant = models.BooleanField(default=False)
    failures = models.JSONField(default=list, blank=True)
    source = models.CharField(max_length=150, help_text="The API token (or identity) that sent the report.")

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["device", "-received_at"])]

    def __str__(self) -> str:
        verdict = "compliant" if self.compliant else "non-compliant"
        return f"posture of {self.device_id} at {self.received_at:%Y-%m-%d %H:%M:%S}: {verdict}"
