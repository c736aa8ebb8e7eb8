"""Alerts, their detectors' editable rules, and the SIEM forwarder's outbox and audit-stream cursor."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class Detector(models.TextChoices):
    SIGN_IN_FAILURES_USER = "sign_in_failures_user", "Failed sign-ins for one user"
    SIGN_IN_FAILURES_ADDRESS = "sign_in_failures_address", "Failed sign-ins from one address"
    SIGN_IN_COUNTRY = "sign_in_country", "Sign-in from an unexpected country"
    ENFORCEMENT_POINT = "enforcement_point", "Enforcement point behind or failing"
    CERTIFICATE_EXPIRING = "certificate_expiring", "Certificate about to expire"
    AUDIT_CHAIN = "audit_chain", "Audit chain verification failed"
    FIX_LOGON_COUNTRY = "fix_logon_country", "FIX Logon from an unexpected country"
    FIX_DENIED_IDENTITY = "fix_denied_identity", "Denied FIX Logons for one identity"
    FIX_DENIED_PEP = "fix_denied_pep", "Denied FIX Logons at one enforcement point"


BURST_DETECTORS = (Detector.SIGN_IN_FAILURES_USER, Detector.SIGN_IN_FAILURES_ADDRESS)
# Read from the decision log of the enforcement points (sessions.Decision).
DECISION_DETECTORS = (Detector.FIX_LOGON_COUNTRY, Detector.FIX_DENIED_IDENTITY, Detector.FIX_DENIED_PEP)
# Detectors whose alerts close after a quiet window (editable), rather than when a condition clears.
WINDOWED = (*BURST_DETECTORS, Detector.SIGN_IN_COUNTRY, *DECISION_DETECTORS)
# Only what concerns one identity can be contained: suspending an address is the network's job.
CONTAINABLE = (Detector.SIGN_IN_FAILURES_USER, Detector.SIGN_IN_COUNTRY, Detector.FIX_LOGON_COUNTRY)
# Detectors that fire on a condition, not a count: their threshold is not editable.
NO_THRESHOLD = (
    Detector.ENFORCEMENT_POINT,
    Detector.AUDIT_CHAIN,
    Detector.SIGN_IN_COUNTRY,
    Detector.FIX_LOGON_COUNTRY,
)


class Severity(models.TextChoices):
    INFO = "info", "Info"
    WARNING = "warning", "Warning"
    CRITICAL = "critical", "Critical"


class Containment(models.TextChoices):
    NONE = "", "None"
    SUSPENDED = "suspended", "Identity suspended"
    REFUSED = "refused", "Containment refused"
    RELEASED = "released", "Released"


class AlertsAccess(models.Model):
    """Carries the alerts permissions that roles grant; it has no table."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [
            ("view_alerts", "Can read alerts and the detectors' rules"),
            ("acknowledge_alerts", "Can acknowledge alerts and release an automated containment"),
            ("configure_alerts", "Can change the detectors' thresholds and containment"),
        ]

    def __str__(self) -> str:
        return "alerts access"


class AlertRule(models.Model):
    """What one detector fires on; a detector without a row uses DEFAULT_RULES (alerts/detectors.py)."""

    detector = models.CharField(max_length=32, choices=Detector.choices, primary_key=True)
    enabled = models.BooleanField(default=True)
    threshold = models.PositiveIntegerField(help_text="failures within the window; days before expiry")
    window_seconds = models.PositiveIntegerField(default=300)
    containment = models.BooleanField(default=False, help_text="suspend the identity when the alert opens")
    updated_at = models.DateTimeField(null=True, blank=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["detector"]

    def __str__(self) -> str:
        return self.get_detector_display()


class Alert(models.Model):
    """One problem seen by one detector about one subject; at most one unresolved per detector and subject.

    Acknowledging says someone is on it (with a comment); resolving closes it: burst alerts resolve once their
    window has passed quietly, condition alerts once the condition is gone.
    """

    detector = models.CharField(max_length=32, choices=Detector.choices)
    subject = models.CharField(max_length=200, help_text="what the alert is about, e.g. user:tina, address:10.0.0.9")
    subject_label = models.CharField(max_length=200)
    severity = models.CharField(max_length=8, choices=Severity.choices, default=Severity.WARNING)
    message = models.CharField(max_length=300)
    details = models.JSONField(default=dict, blank=True)
    occurrences = models.PositiveIntegerField(default=1)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    acknowledgement = models.CharField(max_length=500, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    containment = models.CharField(max_length=10, choices=Containment.choices, default=Containment.NONE, blank=True)
    contained_identity = models.ForeignKey(
        "accounts.Identity", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-last_seen_at", "-id"]
        indexes = [models.Index(fields=["resolved_at", "-last_seen_at"], name="alert_open_recent")]
        constraints = [
            models.UniqueConstraint(
                fields=["detector", "subject"], condition=Q(resolved_at__isnull=True), name="one_open_alert_per_subject"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_detector_display()}: {self.subject_label}"

    @property
    def state(self) -> str:
        if self.resolved_at:
            return "resolved"
        return "acknowledged" if self.acknowledged_at else "open"


class Destination(models.TextChoices):
    SYSLOG = "syslog", "Syslog"
    WEBHOOK = "webhook", "HTTPS webhook"


class SiemMessage(models.Model):
    """The forwarder's outbox: one JSON message for one destination, written in the transaction that made it.

    Sent in id order per destination; a failure holds the line back (order kept) until ``next_attempt_at``.
    """

    destination = models.CharField(max_length=8, choices=Destination.choices)
    kind = models.CharField(max_length=20)
    payload = models.JSONField()
    created_at = models.DateTimeField()
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["destination", "sent_at", "id"], name="siem_message_pending")]

    def __str__(self) -> str:
        return f"{self.kind} to {self.destination}"


class SiemCursor(models.Model):
    """How far the audit stream reached a destination: the last seq it acknowledged (resume point)."""

    destination = models.CharField(max_length=8, choices=Destination.choices, primary_key=True)
    last_seq = models.BigIntegerField(default=0)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    updated_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.destination} at seq {self.last_seq}"


class DetectorCursor(models.Model):
    """The last audit seq a scanning detector has read (the sign-in failure scan)."""

    name = models.CharField(max_length=32, primary_key=True)
    last_seq = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name} at seq {self.last_seq}"
