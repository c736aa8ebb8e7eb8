"""Identities: people and the non-person identities (algorithms, services, FIX gateways) they sponsor."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class Environment(models.TextChoices):
    PROD = "prod", "Production"
    UAT = "uat", "UAT"
    DEV = "dev", "Development"


class IdentityKind(models.TextChoices):
    HUMAN = "human", "Person"
    ALGORITHM = "algorithm", "Trading algorithm"
    SERVICE = "service", "Service"
    FIX_GATEWAY = "fix_gateway", "FIX gateway"


class IdentityStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    SUSPENDED = "suspended", "Suspended"
    REVOKED = "revoked", "Revoked"


class EmploymentStatus(models.TextChoices):
    EMPLOYEE = "employee", "Employee"
    CONTRACTOR = "contractor", "Contractor"
    LEAVER = "leaver", "Leaver"


class Desk(models.Model):
    """A group of identities (a trading desk, a team); access rules may name a desk as subject."""

    name = models.CharField(max_length=80, unique=True)
    description = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class IdentityQuerySet(models.QuerySet):
    def active(self) -> IdentityQuerySet:
        return self.filter(status=IdentityStatus.ACTIVE)

    def for_list(self) -> IdentityQuerySet:
        """Everything a list row shows, in a fixed number of queries whatever the page size."""
        return self.select_related("user", "desk", "sponsor", "sponsor__user").prefetch_related("user__groups")


class Identity(models.Model):
    """Who or what acts: every console user and every non-person identity has exactly one.

    A non-person identity (algorithm, service, FIX gateway) always has a human sponsor and an environment.
    Revocation is final: a revoked identity never becomes active again.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="identity")
    kind = models.CharField(max_length=16, choices=IdentityKind.choices, default=IdentityKind.HUMAN)
    display_name = models.CharField(max_length=150)
    desk = models.ForeignKey(Desk, null=True, blank=True, on_delete=models.SET_NULL, related_name="members")
    status = models.CharField(max_length=12, choices=IdentityStatus.choices, default=IdentityStatus.ACTIVE)
    status_reason = models.CharField(max_length=200, blank=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    environment = models.CharField(max_length=8, choices=Environment.choices, blank=True)
    sponsor = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="sponsored")
    sender_comp_ids = models.JSONField(default=list, blank=True)
    expected_countries = models.JSONField(default=list, blank=True)
    employment_status = models.CharField(max_length=12, choices=EmploymentStatus.choices, blank=True)
    privileged = models.BooleanField(default=False)
    trading_hours = models.JSONField(
        null=True, blank=True, help_text="When this identity normally trades: a window as in docs/bundle.md, or null"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = IdentityQuerySet.as_manager()

    class Meta:
        ordering = ["display_name", "id"]
        verbose_name_plural = "identities"
        indexes = [
            models.Index(fields=["kind", "status"]),
            models.Index(fields=["display_name", "id"]),
        ]
        constraints = [
            models.CheckConstraint(
                name="non_person_identity_has_sponsor_and_environment",
                condition=Q(kind=IdentityKind.HUMAN) | (Q(sponsor__isnull=False) & ~Q(environment="")),
            ),
        ]

    def __str__(self) -> str:
        return self.display_name

    @property
    def is_human(self) -> bool:
        return self.kind == IdentityKind.HUMAN

    @property
    def username(self) -> str:
        return self.user.get_username()
