"""The draft policy of each environment, its signed versions, the signing keys and saved test cases.

Draft objects (segments, access and risk rules, bands, network zones, CIDR -> country ranges) are edited
through ``policies.actions`` only; ``policies.compiler`` turns them into a bundle payload (docs/bundle.md).
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.db import models
from django.db.models import Q

from accounts.models import Environment
from ztconsole.core.crypto import EncryptedSecretField

SIGNING_KEY_CONTEXT = "policy-signing-key"
RULE_ID_HELP = "Letters, digits, '-' and '_'; unique in the environment; it is the id the bundle and decisions show."


class PoliciesAccess(models.Model):
    """Carries the policy permissions that roles grant; it has no table."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [
            ("view_policy", "Can read the draft policy, publications and the signing public key"),
            ("edit_policy", "Can edit the draft policy (segments, rules, bands, zones, test cases)"),
            ("publish_policy", "Can request the publication of a draft, or a rollback"),
            ("approve_publication", "Can approve or reject someone else's publication request"),
            ("simulate", "Can run the decision simulator against the draft and the published policy"),
            ("view_enforcement_points", "Can read the enforcement points, their deliveries and convergence"),
            ("manage_enforcement_points", "Can register, edit and retire enforcement points"),
        ]

    def __str__(self) -> str:
        return "policy permissions"


class DraftObject(models.Model):
    """Common to every draft object: its environment and when it last changed (compilation's ``issued_at``)."""

    environment = models.CharField(max_length=8, choices=Environment.choices)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class Segment(DraftObject):
    """A micro-segment (rfq-gateway, market-data, oms ...): its resources are what access rules reach."""

    name = models.SlugField(max_length=64, help_text=RULE_ID_HELP)
    description = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["environment", "name"]
        constraints = [models.UniqueConstraint(fields=["environment", "name"], name="segment_unique_per_environment")]

    def __str__(self) -> str:
        return f"{self.name} ({self.environment})"


class SegmentResource(models.Model):
    """A service inside a segment: a service name (its id), optionally host:port and a FIX venue."""

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="resources")
    name = models.SlugField(max_length=64, help_text="Service name; unique in the environment.")
    address = models.CharField(max_length=255, blank=True, help_text="host:port")
    venue = models.CharField(max_length=64, blank=True, help_text="FIX venue")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["segment__name", "name"]
        constraints = [models.UniqueConstraint(fields=["segment", "name"], name="resource_unique_per_segment")]

    def __str__(self) -> str:
        return f"{self.segment.name}/{self.name}"


class FlowProtocol(models.TextChoices):
    TCP = "tcp", "TCP"
    UDP = "udp", "UDP"
    FIX = "fix", "FIX over TLS"
    HTTPS = "https", "HTTPS"


class SegmentFlow(DraftObject):
    """An allowed flow between two segments of one environment (documentation for the network layer)."""

    source = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="flows_out")
    destination = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="flows_in")
    protocol = models.CharField(max_length=8, choices=FlowProtocol.choices)
    port = models.PositiveIntegerField()

    class Meta:
        ordering = ["environment", "source__name", "destination__name", "port"]

    def __str__(self) -> str:
        return f"{self.source.name} -> {self.destination.name} {self.protocol}/{self.port}"


class NetworkZone(DraftObject):
    """A known network (corporate offices, colocation): source IPs inside it score as ``known``."""

    name = models.SlugField(max_length=64, help_text=RULE_ID_HELP)
    cidrs = models.JSONField(default=list)

    class Meta:
        ordering = ["environment", "name"]
        constraints = [models.UniqueConstraint(fields=["environment", "name"], name="zone_unique_per_environment")]

    def __str__(self) -> str:
        return self.name


class CountryRange(DraftObject):
    """One row of the administrator-maintained CIDR -> country table; the most specific CIDR wins."""

    cidr = models.CharField(max_length=64)
    country = models.CharField(max_length=2)

    class Meta:
        ordering = ["environment", "cidr"]
        constraints = [models.UniqueConstraint(fields=["environment", "cidr"], name="country_cidr_unique")]

    def __str__(self) -> str:
        return f"{self.cidr} -> {self.country}"


class SubjectKind(models.TextChoices):
    IDENTITY = "identity", "Identity"
    DESK = "desk", "Desk"
    ROLE = "role", "Role"


class TargetKind(models.TextChoices):
    SEGMENT = "segment", "Segment"
    RESOURCE = "resource", "Resource"


class AccessRule(DraftObject):
    """Grants a subject (identity, desk or role) FIX message types on a segment or resource; default deny."""

    name = models.SlugField(max_length=64, help_text=RULE_ID_HELP)
    subject_kind = models.CharField(max_length=8, choices=SubjectKind.choices)
    subject_identity = models.ForeignKey(
        "accounts.Identity", null=True, blank=True, on_delete=models.CASCADE, related_name="access_rules"
    )
    subject_desk = models.ForeignKey(
        "accounts.Desk", null=True, blank=True, on_delete=models.CASCADE, related_name="access_rules"
    )
    subject_role = models.CharField(max_length=64, blank=True)
    target_segment = models.ForeignKey(
        Segment, null=True, blank=True, on_delete=models.CASCADE, related_name="access_rules"
    )
    target_resource = models.ForeignKey(
        SegmentResource, null=True, blank=True, on_delete=models.CASCADE, related_name="access_rules"
    )
    message_types = models.JSONField(default=list)
    window = models.JSONField(null=True, blank=True, help_text="trading-hours window (docs/bundle.md) or null")
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["environment", "name"]
        constraints = [models.UniqueConstraint(fields=["environment", "name"], name="access_rule_unique")]

    def __str__(self) -> str:
        return self.name

    @property
    def subject_label(self) -> str:
        if self.subject_kind == SubjectKind.IDENTITY and self.subject_identity_id:
            return self.subject_identity.user.get_username()
        if self.subject_kind == SubjectKind.DESK and self.subject_desk_id:
            return self.subject_desk.name
        return self.subject_role

    @property
    def target_label(self) -> str:
        if self.target_segment_id:
            return self.target_segment.name
        return self.target_resource.name if self.target_resource_id else ""


class RiskRule(DraftObject):
    """Adds ``score`` when ``attribute`` evaluates to ``condition`` (pep/attributes.py lists both)."""

    name = models.SlugField(max_length=64, help_text=RULE_ID_HELP)
    attribute = models.CharField(max_length=32)
    condition = models.CharField(max_length=32)
    score = models.IntegerField()
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["environment", "attribute", "name"]
        constraints = [
            models.UniqueConstraint(fields=["environment", "name"], name="risk_rule_unique"),
            models.CheckConstraint(condition=Q(score__gte=-100, score__lte=100), name="risk_score_range"),
        ]

    def __str__(self) -> str:
        return self.name


class Bands(DraftObject):
    """Allow below ``step_up``, step-up from ``step_up`` to ``deny`` - 1, deny from ``deny`` on."""

    step_up = models.PositiveIntegerField(default=20)
    deny = models.PositiveIntegerField(default=40)

    class Meta:
        verbose_name_plural = "bands"
        constraints = [
            models.UniqueConstraint(fields=["environment"], name="bands_unique_per_environment"),
            models.CheckConstraint(condition=Q(step_up__lte=models.F("deny")), name="bands_not_inverted"),
        ]

    def __str__(self) -> str:
        return f"allow < {self.step_up} <= step-up < {self.deny} <= deny"


class SigningKey(models.Model):
    """An Ed25519 bundle-signing key; the private half is AES-GCM encrypted, one key is active at a time."""

    kid = models.CharField(max_length=64, unique=True)
    public_key_pem = models.TextField()
    private_key = EncryptedSecretField(context=SIGNING_KEY_CONTEXT)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["active"], condition=Q(active=True), name="one_active_key")]

    def __str__(self) -> str:
        return self.kid

    def load_private_key(self):
        """For signing inside an action only; never stored, shown or returned."""
        from pep.bundle import load_private_key
        from ztconsole.core.crypto import decrypt

        return load_private_key(decrypt(self.private_key, context=SIGNING_KEY_CONTEXT))


class PublicationState(models.TextChoices):
    PENDING = "pending", "Pending approval"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    EXPIRED = "expired", "Expired"
    SUPERSEDED = "superseded", "Superseded"


class PolicyVersion(models.Model):
    """An immutable compiled and signed policy; it takes effect when a second officer approves it."""

    environment = models.CharField(max_length=8, choices=Environment.choices)
    version = models.PositiveIntegerField()
    payload = models.TextField(help_text="canonical payload bytes (UTF-8)")
    sha256 = models.CharField(max_length=64)
    bundle = models.TextField(help_text="the signed bundle, canonical bytes (UTF-8)")
    kid = models.CharField(max_length=64)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()
    diff = models.JSONField(default=dict)
    rollback_of = models.PositiveIntegerField(null=True, blank=True)
    state = models.CharField(max_length=12, choices=PublicationState.choices, default=PublicationState.PENDING)
    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    rejection_reason = models.CharField(max_length=500, blank=True)
    expires_at = models.DateTimeField()

    class Meta:
        ordering = ["environment", "-version"]
        constraints = [models.UniqueConstraint(fields=["environment", "version"], name="version_unique")]
        # The version in force (distribution.actions.in_force, asked on every acknowledgement and ledger row) is
        # answered from this index alone: on SQLite, reading a column stored after the multi-megabyte payload and
        # bundle walks their overflow pages (8 ms a row at 10k identities).
        indexes = [models.Index(fields=["environment", "state", "version", "sha256"], name="policyversion_in_force")]

    def __str__(self) -> str:
        return f"{self.environment} v{self.version}"

    @staticmethod
    def digest(payload: bytes) -> str:
        return hashlib.sha256(payload).hexdigest()


class SavedTestCase(models.Model):
    """A decision request and the outcome expected for it; publications replay them (impact preview)."""

    environment = models.CharField(max_length=8, choices=Environment.choices)
    name = models.CharField(max_length=100)
    request = models.JSONField(help_text="a decision request (docs/bundle.md)")
    expected_outcome = models.CharField(
        max_length=8, choices=[("allow", "allow"), ("step_up", "step_up"), ("deny", "deny")]
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["environment", "name"]
        constraints = [models.UniqueConstraint(fields=["environment", "name"], name="test_case_unique")]

    def __str__(self) -> str:
        return self.name


# The distribution models live in their own module; importing them here registers them with the app.
from policies.distribution.models import (  # noqa: E402
    Delivery,
    DeliveryAttempt,
    DistributionAlert,
    EnforcementPoint,
    RevocationDelta,
)

__all__ = [
    "AccessRule",
    "Bands",
    "CountryRange",
    "Delivery",
    "DeliveryAttempt",
    "DistributionAlert",
    "EnforcementPoint",
    "NetworkZone",
    "PolicyVersion",
    "RevocationDelta",
    "RiskRule",
    "SavedTestCase",
    "Segment",
    "SegmentFlow",
    "SegmentResource",
    "SigningKey",
]
