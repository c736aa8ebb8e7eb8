"""Cross-cutting models: the hash-chained audit log and the console-wide permissions."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class AuditRefused(Exception):
    """Raised when code tries to change or delete an audit event."""


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):  # type: ignore[override]
        raise AuditRefused("audit events are append-only: UPDATE refused")

    def delete(self):  # type: ignore[override]
        raise AuditRefused("audit events are append-only: DELETE refused")

    def bulk_update(self, *args, **kwargs):  # type: ignore[override]
        raise AuditRefused("audit events are append-only: UPDATE refused")


class AppendOnlyModel(models.Model):
    """Rows are inserted once and never changed or deleted through the application."""

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):  # type: ignore[override]
        if not self._state.adding:
            raise AuditRefused(f"{self._meta.verbose_name_plural} are append-only: UPDATE refused")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):  # type: ignore[override]
        raise AuditRefused(f"{self._meta.verbose_name_plural} are append-only: DELETE refused")


class AuditEvent(AppendOnlyModel):
    """One security-relevant event. Append-only; each row carries the hash of the row before it.

    ``hash`` is SHA-256 over a canonical JSON encoding of every other column plus ``prev_hash``
    (see ``ztconsole.core.audit.canonical_bytes``), so changing, deleting or reordering rows breaks the
    chain in a way ``manage.py verify_audit`` reports. On PostgreSQL a trigger also refuses UPDATE and
    DELETE at the database; on SQLite the model and queryset refuse them.
    """

    seq = models.BigIntegerField(unique=True)
    created_at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False
    )
    actor_label = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=64, db_index=True)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_label = models.CharField(max_length=200, blank=True)
    details = models.JSONField(default=dict)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["-seq"]
        indexes = [
            models.Index(fields=["actor", "-seq"]),
            # The audit list's filters, newest first: one index range per page at millions of events.
            models.Index(fields=["actor_label", "-seq"], name="core_audit_actor_label_seq"),
            models.Index(fields=["action", "-seq"], name="core_audit_action_seq"),
            # The explorer's filters (docs/audit.md, "The explorer"): each one an index range read newest first; the
            # target index also serves the identity and certificate pages' history (target type and id).
            models.Index(fields=["target_type", "target_id", "-seq"], name="core_audit_target_seq"),
            models.Index(fields=["ip_address", "-seq"], name="core_audit_ip_seq"),
            models.Index(fields=["request_id", "-seq"], name="core_audit_request_seq"),
            # A time range is turned into a seq range through this index (ztconsole/core/explorer.py).
            models.Index(fields=["created_at", "seq"], name="core_audit_created_seq"),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} by {self.actor_label or 'system'}"


class AuditHead(models.Model):
    """The last sequence number and hash of the chain: lets verification notice a truncated tail."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    seq = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64)

    def __str__(self) -> str:
        return f"audit head #{self.seq}"


class CheckpointReason(models.TextChoices):
    EVENTS = "events", "every N events"
    SCHEDULE = "schedule", "periodic (Celery beat)"
    EXPORT = "export", "an export"
    MANUAL = "manual", "manage.py audit_checkpoint"
    RETENTION = "retention", "a retention cut (events before it archived and deleted)"


class AuditCheckpoint(AppendOnlyModel):
    """The chain's head signed with the audit checkpoint key (Ed25519), which the database never holds.

    Each checkpoint is also appended outside the database (ZT_AUDIT_CHECKPOINT_PATH, later a SIEM); the copy
    here lets ``verify_audit`` check recent ones. ``created_at`` is kept as the exact string that was signed.
    See ``ztconsole.auditverify`` for the signed bytes.
    """

    seq = models.BigIntegerField(db_index=True)
    hash = models.CharField(max_length=64)
    created_at = models.CharField(max_length=32)
    reason = models.CharField(max_length=16, choices=CheckpointReason.choices)
    key_id = models.CharField(max_length=16)
    signature = models.CharField(max_length=128)

    class Meta:
        ordering = ["-seq", "-id"]

    def __str__(self) -> str:
        return f"checkpoint #{self.seq} ({self.reason})"


class ConsoleAccess(models.Model):
    """Carries the console-wide permissions that roles grant; it has no table."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [
            ("view_console", "Can use the console (dashboard, own profile, live events)"),
            ("view_audit", "Can read the audit log"),
            ("view_api_docs", "Can read the API schema and documentation"),
            ("verify_audit", "Can run a verification of the whole audit chain from the console"),
        ]

    def __str__(self) -> str:
        return "console permissions"


class VerificationStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class AuditVerification(models.Model):
    """One run of the whole chain's verification, asked for from the browser and done by a Celery worker.

    ``checked`` and ``total`` are the progress the page polls; ``intact`` and ``summary`` the result, which is
    also recorded in the audit log (``audit.verified`` or ``audit.verification_failed``).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=8, choices=VerificationStatus.choices, default=VerificationStatus.QUEUED)
    total = models.PositiveBigIntegerField(default=0)
    checked = models.PositiveBigIntegerField(default=0)
    intact = models.BooleanField(null=True, blank=True)
    first_broken_seq = models.BigIntegerField(null=True, blank=True)
    summary = models.CharField(max_length=500, blank=True)
    warnings = models.JSONField(default=list, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at"]

    def __str__(self) -> str:
        return f"audit verification {self.id} ({self.status})"

    @property
    def percent(self) -> int:
        if self.status in (VerificationStatus.DONE, VerificationStatus.FAILED):
            return 100
        return min(99, self.checked * 100 // self.total) if self.total else 0
