"""Requests to grant a privileged role: maker-checker, like policy publications."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class RoleGrantState(models.TextChoices):
    PENDING = "pending", "Pending approval"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"


class RoleGrant(models.Model):
    """A request that ``subject`` receive a privileged role (Administrator, Security Officer).

    The role takes effect only when a second privileged person approves: neither the requester, nor the
    subject, nor whoever created the subject (and chose their first password). One pending request per
    person at a time.
    """

    subject = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="role_grants")
    role = models.CharField(max_length=40)
    previous_role = models.CharField(max_length=40, blank=True)
    state = models.CharField(max_length=10, choices=RoleGrantState.choices, default=RoleGrantState.PENDING)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    requested_at = models.DateTimeField(auto_now_add=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["subject"],
                condition=models.Q(state="pending"),
                name="one_pending_role_grant_per_person",
            )
        ]

    def __str__(self) -> str:
        return f"{self.role} for {self.subject} ({self.state})"
