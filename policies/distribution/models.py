"""Enforcement points, revocation deltas, the delivery outbox, its attempts and distribution alerts."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from accounts.models import Environment


class PointStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    DRAINING = "draining", "Draining"
    RETIRED = "retired", "Retired"


class EnforcementPoint(models.Model):
    """A registered PEP: where its control API listens, the certificate it must present (pinned by
    SHA-256), what it fronts, and what it last acknowledged."""

    name = models.SlugField(max_length=64, unique=True)
    environment = models.CharField(max_length=8, choices=Environment.choices)
    control_url = models.URLField(max_length=300, help_text="https://host:port of the PEP's control listener")
    identity = models.ForeignKey(
        "accounts.Identity", null=True, blank=True, on_delete=models.PROTECT, related_name="enforcement_points"
    )
    certificate = models.ForeignKey(
        "certificates.Certificate", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    pinned_sha256 = models.CharField(max_length=64, help_text="SHA-256 of the DER certificate the PEP presents")
    segments = models.JSONField(default=list, blank=True, help_text="names of the segments it fronts")
    status = models.CharField(max_length=10, choices=PointStatus.choices, default=PointStatus.ACTIVE)
    token_prefix = models.CharField(max_length=16, unique=True)
    token_hash = models.CharField(max_length=64)
    acknowledged_version = models.PositiveIntegerField(null=True, blank=True)
    acknowledged_sha256 = models.CharField(max_length=64, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    revocation_sequence = models.PositiveIntegerField(default=0)
    last_contact_at = models.DateTimeField(null=True, blank=True)
    last_refusal_reason = models.CharField(max_length=40, blank=True)
    last_refusal_detail = models.CharField(max_length=300, blank=True)
    last_refusal_at = models.DateTimeField(null=True, blank=True)
    behind_since = models.DateTimeField(null=True, blank=True)
    registered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["environment", "name"]
        indexes = [models.Index(fields=["environment", "status"])]

    def __str__(self) -> str:
        return self.name


class RevocationDelta(models.Model):
    """One signed revocation delta: what became revoked at ``sequence`` (contiguous per environment)."""

    environment = models.CharField(max_length=8, choices=Environment.choices)
    sequence = models.PositiveIntegerField()
    certificates = models.JSONField(default=list)
    identities = models.JSONField(default=list)
    devices = models.JSONField(default=list)
    signed = models.TextField(help_text="the signed envelope, canonical bytes (UTF-8)")
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["environment", "-sequence"]
        constraints = [models.UniqueConstraint(fields=["environment", "sequence"], name="revocation_sequence_unique")]

    def __str__(self) -> str:
        return f"{self.environment} revocations #{self.sequence}"


class DeliveryKind(models.TextChoices):
    BUNDLE = "bundle", "Bundle"
    REVOCATION = "revocation", "Revocation delta"


class DeliveryState(models.TextChoices):
    PENDING = "pending", "Pending"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    SUPERSEDED = "superseded", "Superseded"
    REFUSED = "refused", "Refused"
    CANCELLED = "cancelled", "Cancelled"


class Delivery(models.Model):
    """The outbox: one row per enforcement point and bundle version (or revocation sequence).

    Written in the transaction that approves or revokes; sent by a Celery task after commit; idempotent by
    (point, kind, number, sha256): a retry finds the same row, and the PEP answers ``already_applied``.
    """

    point = models.ForeignKey(EnforcementPoint, on_delete=models.CASCADE, related_name="deliveries")
    kind = models.CharField(max_length=10, choices=DeliveryKind.choices)
    environment = models.CharField(max_length=8, choices=Environment.choices)
    number = models.PositiveIntegerField(help_text="bundle version or revocation sequence")
    sha256 = models.CharField(max_length=64)
    publication = models.ForeignKey(
        "policies.PolicyVersion", null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries"
    )
    revocation = models.ForeignKey(
        RevocationDelta, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries"
    )
    state = models.CharField(max_length=12, choices=DeliveryState.choices, default=DeliveryState.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    claimed_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=24, blank=True)
    reason = models.CharField(max_length=40, blank=True)
    detail = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["point", "kind", "number", "sha256"], name="delivery_idempotent"),
        ]
        indexes = [models.Index(fields=["state", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.number} -> {self.point_id}"

    @property
    def latency_seconds(self) -> float | None:
        if self.acknowledged_at is None:
            return None
        return (self.acknowledged_at - self.created_at).total_seconds()


class DeliveryAttempt(models.Model):
    """One try of one delivery: when, how long, what the PEP answered (or why nothing was sent)."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    started_at = models.DateTimeField()
    latency_ms = models.PositiveIntegerField()
    outcome = models.CharField(max_length=24)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    reason = models.CharField(max_length=40, blank=True)
    detail = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"{self.delivery} {self.outcome}"


class AlertKind(models.TextChoices):
    REFUSED = "refused", "Refused a delivery"
    PIN_MISMATCH = "pin_mismatch", "Presented another certificate"
    BEHIND = "behind", "Behind the version in force"
    UNREACHABLE = "unreachable", "Not reporting"


class DistributionAlert(models.Model):
    """An open problem with one enforcement point; one open alert per point and kind."""

    point = models.ForeignKey(EnforcementPoint, on_delete=models.CASCADE, related_name="alerts")
    kind = models.CharField(max_length=16, choices=AlertKind.choices)
    message = models.CharField(max_length=300)
    created_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["point", "kind"], condition=Q(resolved_at__isnull=True), name="one_open_alert_per_kind"
            )
        ]

    def __str__(self) -> str:
        return f"{self.point}: {self.message}"
