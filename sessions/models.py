"""FIX sessions at the enforcement points: the raw event feed, the current state of each session, the decision
log, and termination requests (docs/sessions.md)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from accounts.models import Environment


class SessionsAccess(models.Model):
    """Carries the FIX-session permissions that roles grant; it has no table."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [
            ("view_sessions", "Can watch FIX sessions and read the decision log (without a wider role: own ones)"),
            ("terminate_sessions", "Can end a live FIX session at its enforcement point"),
        ]

    def __str__(self) -> str:
        return "FIX session permissions"


class SessionState(models.TextChoices):
    CONNECTING = "connecting", "Connecting"
    TLS_ESTABLISHED = "tls_established", "TLS established"
    LOGGED_ON = "logged_on", "Logged on"
    LOGGED_OUT = "logged_out", "Logged out"
    DISCONNECTED = "disconnected", "Disconnected"
    REFUSED = "refused", "Refused"


LIVE_STATES = (SessionState.CONNECTING, SessionState.TLS_ESTABLISHED, SessionState.LOGGED_ON)
ENDED_STATES = (SessionState.LOGGED_OUT, SessionState.DISCONNECTED, SessionState.REFUSED)


class Outcome(models.TextChoices):
    ALLOW = "allow", "Allow"
    STEP_UP = "step_up", "Step-up"
    DENY = "deny", "Deny"


class PepEvent(models.Model):
    """One event exactly as a PEP sent it (the JSON line), unique by (point, boot, seq).

    The line is kept as text: the console stores what it received and parses it for a session's timeline,
    which keeps ingestion to one multi-row insert without re-encoding JSON.
    """

    # No index of its own: the unique (point, boot, seq) starts with it (each stored row would write both).
    point = models.ForeignKey("policies.EnforcementPoint", on_delete=models.PROTECT, related_name="+", db_index=False)
    boot = models.CharField(max_length=12)
    seq = models.BigIntegerField()
    time = models.DateTimeField()
    type = models.CharField(max_length=24)
    session_id = models.CharField(max_length=16, blank=True)
    line = models.TextField()
    received_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["point", "boot", "seq"], name="pep_event_once")]
        indexes = [
            models.Index(fields=["point", "session_id", "seq"], name="pep_event_session"),
            models.Index(fields=["received_at", "id"], name="pep_event_received"),
        ]

    def __str__(self) -> str:
        return f"{self.point_id}/{self.boot}/{self.seq} {self.type}"


class FixSession(models.Model):
    """The current state of one FIX-over-TLS session at one PEP, projected from its events."""

    # No index of their own for ``point`` and ``identity``: the unique (point, session_id) and the index
    # (identity, started_at, id) start with them. A new session, and every update that moves its state or end,
    # writes an entry in each of the table's indexes: two fewer per write (docs/sessions.md, "Ingestion").
    point = models.ForeignKey("policies.EnforcementPoint", on_delete=models.PROTECT, related_name="+", db_index=False)
    environment = models.CharField(max_length=8, choices=Environment.choices)
    session_id = models.CharField(max_length=16, help_text="the PEP's id of the session")
    boot = models.CharField(max_length=12)
    last_seq = models.BigIntegerField(default=0, help_text="seq of the last event applied (the row's revision)")
    state = models.CharField(max_length=16, choices=SessionState.choices, default=SessionState.CONNECTING)
    listener = models.CharField(max_length=64, blank=True)
    source_ip = models.CharField(max_length=45, blank=True)
    source_port = models.PositiveIntegerField(null=True, blank=True)
    sender_comp_id = models.CharField(max_length=64, blank=True)
    target_comp_id = models.CharField(max_length=64, blank=True)
    begin_string = models.CharField(max_length=16, blank=True)
    identity_name = models.CharField(max_length=150, blank=True, help_text="the identity as the PEP reported it")
    identity = models.ForeignKey(
        "accounts.Identity",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="fix_sessions",
        db_index=False,
    )
    device_ref = models.CharField(max_length=64, blank=True)
    tls_version = models.CharField(max_length=16, blank=True)
    cipher = models.CharField(max_length=80, blank=True)
    peer_fingerprint = models.CharField(max_length=64, blank=True)
    peer_subject = models.CharField(max_length=300, blank=True)
    certificate = models.ForeignKey(
        "certificates.Certificate", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    outcome = models.CharField(max_length=8, choices=Outcome.choices, blank=True)
    score = models.IntegerField(null=True, blank=True)
    contributions = models.JSONField(default=list, blank=True)
    matched_rule = models.CharField(max_length=64, blank=True)
    decision_reason = models.CharField(max_length=500, blank=True)
    bundle_version = models.PositiveIntegerField(null=True, blank=True)
    heartbeat_interval = models.PositiveIntegerField(null=True, blank=True, help_text="HeartBtInt (108), seconds")
    client_seq = models.PositiveIntegerField(null=True, blank=True)
    venue_seq = models.PositiveIntegerField(null=True, blank=True)
    messages_in = models.PositiveIntegerField(default=0)
    messages_out = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)
    last_message_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_by = models.CharField(max_length=8, blank=True, help_text="who logged out: client, venue, pep, console")
    end_reason = models.CharField(max_length=500, blank=True)
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["point", "session_id"], name="fix_session_once_per_point")]
        indexes = [
            models.Index(fields=["started_at", "id"], name="fix_session_started"),
            models.Index(fields=["state", "started_at", "id"], name="fix_session_state"),
            models.Index(fields=["environment", "started_at", "id"], name="fix_session_environment"),
            models.Index(fields=["identity", "started_at", "id"], name="fix_session_identity"),
            models.Index(fields=["identity_name", "started_at", "id"], name="fix_session_identity_name"),
            models.Index(fields=["point", "started_at", "id"], name="fix_session_point"),
            models.Index(fields=["ended_at", "id"], name="fix_session_ended"),
        ]

    def __str__(self) -> str:
        return f"{self.session_id} at {self.point_id}"

    @property
    def live(self) -> bool:
        return self.state in LIVE_STATES


class DecisionKind(models.TextChoices):
    LOGON = "logon", "Logon decision"
    REJECT = "reject", "Refused message"


class Decision(models.Model):
    """The decision log: every Logon decision and every refused message, with the inputs the PEP decided on."""

    # No index of its own: the unique (point, boot, seq) starts with it (each stored row would write both).
    point = models.ForeignKey("policies.EnforcementPoint", on_delete=models.PROTECT, related_name="+", db_index=False)
    boot = models.CharField(max_length=12)
    seq = models.BigIntegerField()
    environment = models.CharField(max_length=8, choices=Environment.choices)
    session_id = models.CharField(max_length=16)
    time = models.DateTimeField()
    kind = models.CharField(max_length=8, choices=DecisionKind.choices)
    outcome = models.CharField(max_length=8, help_text="allow, step_up, deny; a refused message: reject")
    identity_name = models.CharField(max_length=150, blank=True)
    identity = models.ForeignKey(
        "accounts.Identity", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    sender_comp_id = models.CharField(max_length=64, blank=True)
    msg_type = models.CharField(max_length=8, blank=True)
    score = models.IntegerField(null=True, blank=True)
    matched_rule = models.CharField(max_length=64, blank=True)
    reason = models.CharField(max_length=500, blank=True)
    bundle_version = models.PositiveIntegerField(null=True, blank=True)
    inputs = models.JSONField(default=dict, help_text="the event's fields (request, contributions, result)")
    # A Logon the alert detectors look at (denied, or from an unexpected country) that they have not read yet. The
    # scan takes the pending rows, whatever order their batches committed in, and clears the flag.
    alert_pending = models.BooleanField(default=False)

    class Meta:
        ordering = ["-time", "-id"]
        constraints = [models.UniqueConstraint(fields=["point", "boot", "seq"], name="decision_once")]
        indexes = [
            models.Index(fields=["time", "id"], name="decision_time"),
            models.Index(fields=["outcome", "time", "id"], name="decision_outcome"),
            models.Index(fields=["point", "session_id"], name="decision_session"),
            models.Index(fields=["id"], name="decision_alert_pending", condition=models.Q(alert_pending=True)),
            # The access review's "last used": the newest allowed Logon of an identity through a rule
            # (reports/catalogue/access.py probes it backwards from the end of the period, once per line).
            models.Index(
                fields=["environment", "identity_name", "matched_rule", "time"],
                name="decision_last_used",
                condition=models.Q(kind="logon", outcome="allow"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.outcome} {self.session_id}"


class TerminationState(models.TextChoices):
    PENDING = "pending", "Pending"
    TERMINATED = "terminated", "Terminated"
    NOT_FOUND = "not_found", "Not found at the PEP"
    FAILED = "failed", "Failed"


class TerminationRequest(models.Model):
    """Someone asked the PEP to end a session: who, why, when, and what the PEP answered."""

    session = models.ForeignKey(FixSession, on_delete=models.CASCADE, related_name="terminations")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(max_length=200)
    requested_at = models.DateTimeField()
    state = models.CharField(max_length=12, choices=TerminationState.choices, default=TerminationState.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    answered_at = models.DateTimeField(null=True, blank=True)
    detail = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["session"], condition=Q(state="pending"), name="one_pending_termination_per_session"
            )
        ]

    def __str__(self) -> str:
        return f"terminate {self.session_id}: {self.state}"


class StepUpState(models.TextChoices):
    PENDING = "pending", "Waiting for the sponsor"
    APPROVED = "approved", "Approved"
    REFUSED = "refused", "Refused"
    EXPIRED = "expired", "Expired"


class StepUpRequest(models.Model):
    """A non-person identity's Logon held by a PEP in the step-up band, waiting for its sponsor's decision
    (``step_up_requested``; docs/sessions.md, "Step-up for algorithms")."""

    point = models.ForeignKey("policies.EnforcementPoint", on_delete=models.PROTECT, related_name="+")
    session_id = models.CharField(max_length=16)
    environment = models.CharField(max_length=8)
    identity = models.ForeignKey("accounts.Identity", on_delete=models.CASCADE, related_name="+")
    sponsor = models.ForeignKey("accounts.Identity", on_delete=models.CASCADE, related_name="step_up_requests")
    identity_name = models.CharField(max_length=150)
    sender_comp_id = models.CharField(max_length=64, blank=True)
    source_ip = models.CharField(max_length=45, blank=True)
    target = models.CharField(max_length=64, blank=True)
    score = models.IntegerField(null=True, blank=True)
    reason = models.CharField(max_length=500)
    requested_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    state = models.CharField(max_length=10, choices=StepUpState.choices, default=StepUpState.PENDING)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["point", "session_id"], name="one_step_up_request_per_session"),
        ]
        indexes = [models.Index(fields=["sponsor", "state", "expires_at"])]

    def __str__(self) -> str:
        return f"step-up {self.identity_name} ({self.session_id}): {self.state}"

    def status_at(self, now) -> str:
        """What the PEP is told: a pending request past its expiry is expired, whether or not saved as such."""
        if self.state == StepUpState.PENDING and now >= self.expires_at:
            return StepUpState.EXPIRED
        return self.state
