"""Audit exports: what was asked, by whom, how far the worker got, and the signed archive it produced."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class ExportFormat(models.TextChoices):
    JSONL = "jsonl", "JSON Lines"
    CSV = "csv", "CSV"
    PDF = "pdf", "PDF"  # reports only: the audit log is exported as data


class ExportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class AuditExport(models.Model):
    """One requested export of the audit log. The archive lives on disk (ZT_EXPORT_DIR), never in the database.

    ``written`` and ``total`` are the progress the page polls; ``manifest_sha256`` is the hash of the signed
    manifest inside the archive, also written to the audit event that records the export's completion.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(auto_now_add=True)
    format = models.CharField(max_length=8, choices=ExportFormat.choices)
    # Empty for an export of audit events; else the report exported (reports/catalogue.py), its period in filters.
    report = models.CharField(max_length=32, blank=True)
    filters = models.JSONField(default=dict)
    status = models.CharField(max_length=8, choices=ExportStatus.choices, default=ExportStatus.QUEUED)
    total = models.PositiveBigIntegerField(default=0)
    written = models.PositiveBigIntegerField(default=0)
    first_seq = models.BigIntegerField(null=True, blank=True)
    last_seq = models.BigIntegerField(null=True, blank=True)
    archive_name = models.CharField(max_length=100, blank=True)
    archive_sha256 = models.CharField(max_length=64, blank=True)
    manifest_sha256 = models.CharField(max_length=64, blank=True)
    error = models.CharField(max_length=300, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at"]
        default_permissions = ()
        permissions = [
            ("export_audit", "Can export the audit log and reports, and download signed exports"),
            ("view_reports", "Can read the compliance reports"),
            ("attest_access", "Can attest or flag lines of the access review"),
        ]

    def __str__(self) -> str:
        return f"{self.kind_label} {self.id} ({self.format}, {self.status})"

    @property
    def kind_label(self) -> str:
        return f"{self.report} report export" if self.report else "audit export"

    @property
    def unit(self) -> str:
        return "rows" if self.report else "events"

    @property
    def percent(self) -> int:
        if self.status == ExportStatus.DONE:
            return 100
        return min(99, self.written * 100 // self.total) if self.total else 0


class ReviewDecision(models.TextChoices):
    ATTEST = "attest", "Attested"
    FLAG = "flag", "Flagged"


class AccessAttestation(models.Model):
    """A reviewer's decision on one line of the access review: this access is right (attest) or not (flag).

    A line is identified by ``line_key`` (environment, identity, rule and the path through which the rule reaches
    the identity) in the policy version the reviewer saw. The newest decision on a line is the one shown; every
    decision is also an audit event (``access_review.attested`` / ``access_review.flagged``).
    """

    line_key = models.CharField(max_length=300)
    environment = models.CharField(max_length=8)
    policy_version = models.PositiveIntegerField()
    identity = models.CharField(max_length=150)
    rule = models.CharField(max_length=64)
    via = models.CharField(max_length=100)
    decision = models.CharField(max_length=8, choices=ReviewDecision.choices)
    comment = models.CharField(max_length=500, blank=True)
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-decided_at", "-id"]
        indexes = [models.Index(fields=["line_key", "-decided_at"])]

    def __str__(self) -> str:
        return f"{self.decision} {self.line_key}"
