"""The verbs of the alerts app: raise, resolve, acknowledge, change a rule, contain and release (docs/alerts.md)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone

from accounts.actions import reactivate_identity, suspend_identity
from accounts.models import Identity, IdentityStatus
from alerts import forwarding
from alerts.models import CONTAINABLE, NO_THRESHOLD, WINDOWED, Alert, AlertRule, Containment, Detector, Severity
from ztconsole.core import audit
from ztconsole.core.errors import ActionError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RuleDefaults:
    threshold: int
    window_seconds: int
    enabled: bool = True


# threshold: failures within the window for the burst detectors; days before notAfter for certificates; unused
# (1) by the enforcement-point and audit-chain detectors, which fire on a condition.
DEFAULT_RULES: dict[str, RuleDefaults] = {
    Detector.SIGN_IN_FAILURES_USER: RuleDefaults(threshold=8, window_seconds=300),
    Detector.SIGN_IN_FAILURES_ADDRESS: RuleDefaults(threshold=20, window_seconds=300),
    Detector.SIGN_IN_COUNTRY: RuleDefaults(threshold=1, window_seconds=3600),
    Detector.ENFORCEMENT_POINT: RuleDefaults(threshold=1, window_seconds=0),
    Detector.CERTIFICATE_EXPIRING: RuleDefaults(threshold=14, window_seconds=0),
    Detector.AUDIT_CHAIN: RuleDefaults(threshold=1, window_seconds=0),
    Detector.FIX_LOGON_COUNTRY: RuleDefaults(threshold=1, window_seconds=3600),
    Detector.FIX_DENIED_IDENTITY: RuleDefaults(threshold=10, window_seconds=300),
    Detector.FIX_DENIED_PEP: RuleDefaults(threshold=50, window_seconds=300),
}
THRESHOLD_LIMITS = (1, 100_000)
WINDOW_LIMITS = (10, 86_400)
COMMENT_MAX = 500


def get_rule(detector: str) -> AlertRule:
    """The detector's rule: its row, or the defaults (unsaved) when nobody has changed it."""
    rule = AlertRule.objects.filter(detector=detector).first()
    if rule is None:
        defaults = DEFAULT_RULES[detector]
        rule = AlertRule(
            detector=detector,
            enabled=defaults.enabled,
            threshold=defaults.threshold,
            window_seconds=defaults.window_seconds,
        )
    return rule


def all_rules() -> list[AlertRule]:
    return [get_rule(detector) for detector in Detector.values]


def alert_payload(alert: Alert, event: str) -> dict[str, Any]:
    """What the SIEM receives about an alert (event: raised, acknowledged, resolved, contained, released)."""
    return {
        "type": "alert",
        "event": event,
        "alert": {
            "id": alert.pk,
            "detector": alert.detector,
            "subject": alert.subject,
            "subject_label": alert.subject_label,
            "severity": alert.severity,
            "message": alert.message,
            "details": alert.details,
            "occurrences": alert.occurrences,
            "first_seen_at": alert.first_seen_at.isoformat(),
            "last_seen_at": alert.last_seen_at.isoformat(),
            "state": alert.state,
            "acknowledged_by": alert.acknowledged_by.get_username() if alert.acknowledged_by_id else None,
            "acknowledgement": alert.acknowledgement,
            "containment": alert.containment,
        },
    }


def _audit_target(alert: Alert) -> tuple[str, str, str]:
    return ("alerts.alert", str(alert.pk), str(alert))


@transaction.atomic
def raise_alert(
    detector: str,
    subject: str,
    label: str,
    *,
    message: str,
    severity: str = Severity.WARNING,
    details: dict[str, Any] | None = None,
    seen_at: datetime | None = None,
    new_occurrences: int = 1,
    initial_occurrences: int | None = None,
) -> tuple[Alert, bool]:
    """Open an alert, or update the open one for this detector and subject (one open alert per pair).

    Opening is audited (``alert.raised``) and forwarded to the SIEM; a repeat only counts and refreshes it.
    Returns the alert and whether it was opened now.
    """
    seen_at = seen_at or timezone.now()
    existing = Alert.objects.select_for_update().filter(detector=detector, subject=subject, resolved_at__isnull=True)
    alert = existing.first()
    if alert is None:
        try:
            with transaction.atomic():
                alert = Alert.objects.create(
                    detector=detector,
                    subject=subject[:200],
                    subject_label=label[:200],
                    severity=severity,
                    message=message[:300],
                    details=details or {},
                    occurrences=max(initial_occurrences or new_occurrences, 1),
                    first_seen_at=seen_at,
                    last_seen_at=seen_at,
                )
        except IntegrityError:  # another worker opened it in the meantime
            alert = existing.first()
        else:
            audit.record(
                None,
                "alert.raised",
                _audit_target(alert),
                {"detector": detector, "subject": alert.subject, "severity": severity, "message": alert.message},
            )
            forwarding.enqueue("alert", alert_payload(alert, "raised"))
            return alert, True
    alert.occurrences += new_occurrences
    alert.last_seen_at = max(alert.last_seen_at, seen_at)
    alert.message = message[:300]
    alert.details = details or alert.details
    alert.severity = severity
    alert.save(update_fields=["occurrences", "last_seen_at", "message", "details", "severity"])
    return alert, False


@transaction.atomic
def resolve_alert(alert: Alert, *, reason: str) -> bool:
    """Close an alert whose condition is gone (a detector's call); audited and forwarded. False if already closed."""
    now = timezone.now()
    if Alert.objects.filter(pk=alert.pk, resolved_at__isnull=True).update(resolved_at=now) != 1:
        return False
    alert.resolved_at = now
    audit.record(None, "alert.resolved", _audit_target(alert), {"detector": alert.detector, "reason": reason[:200]})
    forwarding.enqueue("alert", alert_payload(alert, "resolved"))
    return True


@transaction.atomic
def acknowledge_alert(actor: Any, alert: Alert, *, comment: str, request: HttpRequest | None = None) -> Alert:
    """Someone takes the alert on, saying what they found or did; audited with the comment, forwarded."""
    comment = (comment or "").strip()
    if not comment:
        raise ActionError("say what you found or did", field="comment")
    if len(comment) > COMMENT_MAX:
        raise ActionError(f"at most {COMMENT_MAX} characters", field="comment")
    now = timezone.now()
    changed = Alert.objects.filter(pk=alert.pk, acknowledged_at__isnull=True).update(
        acknowledged_at=now, acknowledged_by=actor, acknowledgement=comment
    )
    if changed != 1:
        raise ActionError("this alert was already acknowledged", field="comment")
    alert.refresh_from_db()
    audit.record(
        actor,
        "alert.acknowledged",
        _audit_target(alert),
        {"detector": alert.detector, "subject": alert.subject, "comment": comment},
        request=request,
    )
    forwarding.enqueue("alert", alert_payload(alert, "acknowledged"))
    return alert


@transaction.atomic
def update_rule(
    actor: Any,
    detector: str,
    *,
    enabled: bool,
    threshold: int,
    window_seconds: int,
    containment: bool,
    request: HttpRequest | None = None,
) -> AlertRule:
    """Change what a detector fires on; audited with the values before and after."""
    if detector not in Detector.values:
        raise ActionError("unknown detector", field="detector")
    if not THRESHOLD_LIMITS[0] <= threshold <= THRESHOLD_LIMITS[1]:
        raise ActionError(f"between {THRESHOLD_LIMITS[0]} and {THRESHOLD_LIMITS[1]}", field="threshold")
    if detector in WINDOWED:
        if not WINDOW_LIMITS[0] <= window_seconds <= WINDOW_LIMITS[1]:
            raise ActionError(f"between {WINDOW_LIMITS[0]} and {WINDOW_LIMITS[1]} seconds", field="window_seconds")
    else:
        window_seconds = DEFAULT_RULES[detector].window_seconds
    if containment and detector not in CONTAINABLE:
        raise ActionError("this detector has no automated containment", field="containment")
    if detector in NO_THRESHOLD:
        threshold = DEFAULT_RULES[detector].threshold  # they fire on a condition, not a count
    if detector == Detector.CERTIFICATE_EXPIRING and threshold > 365:
        raise ActionError("at most 365 days", field="threshold")
    before = get_rule(detector)
    old = {
        "enabled": before.enabled,
        "threshold": before.threshold,
        "window_seconds": before.window_seconds,
        "containment": before.containment,
    }
    new = {"enabled": enabled, "threshold": threshold, "window_seconds": window_seconds, "containment": containment}
    rule, _ = AlertRule.objects.update_or_create(
        detector=detector, defaults={**new, "updated_at": timezone.now(), "updated_by": actor}
    )
    audit.record(
        actor, "alert.rule_changed", ("alerts.alertrule", detector, str(rule)), {"before": old, "after": new}, request
    )
    return rule


# --- containment ---------------------------------------------------------------------------------------


def _identity_for(username: str) -> Identity | None:
    user = get_user_model().objects.filter(username=username).first()
    return Identity.objects.filter(user=user).first() if user else None


@transaction.atomic
def contain(alert: Alert) -> str:
    """Automated containment of a failed sign-in burst: suspend the identity (sign-in, API tokens, sessions).

    Done by the system (actor: none) through accounts' own suspend action, so its audit event, the session
    ending and the revocation pushed to the enforcement points are the ordinary ones; reversible with
    ``release_containment``. A refusal (the last administrator, an identity not active) is recorded on the alert.
    """
    identity = _identity_for(alert.subject_label)
    if identity is None:
        return Containment.NONE  # a username that does not exist: nothing to suspend
    if identity.status != IdentityStatus.ACTIVE:
        outcome, detail = Containment.REFUSED, f"identity is {identity.status}"
    else:
        try:
            suspend_identity(None, identity, reason=f"automated containment: alert {alert.pk} ({alert.detector})")
        except ActionError as exc:
            outcome, detail = Containment.REFUSED, str(exc)
        else:
            outcome, detail = Containment.SUSPENDED, "identity suspended"
    Alert.objects.filter(pk=alert.pk).update(containment=outcome, contained_identity=identity)
    alert.containment, alert.contained_identity = outcome, identity
    audit.record(None, "alert.contained", _audit_target(alert), {"identity": str(identity), "outcome": detail})
    forwarding.enqueue("alert", alert_payload(alert, "contained"))
    return outcome


@transaction.atomic
def release_containment(actor: Any, alert: Alert, *, request: HttpRequest | None = None) -> Identity:
    """A person reverses an automated suspension: the identity is reactivated (audited twice: by accounts'
    reactivation and as ``alert.containment_released``)."""
    alert = Alert.objects.select_for_update().get(pk=alert.pk)
    if alert.containment != Containment.SUSPENDED or alert.contained_identity_id is None:
        raise ActionError("this alert suspended nobody", field="alert")
    identity = Identity.objects.get(pk=alert.contained_identity_id)
    if identity.status != IdentityStatus.SUSPENDED:
        raise ActionError(f"{identity} is {identity.status}, not suspended", field="alert")
    reactivate_identity(actor, identity, request=request)
    Alert.objects.filter(pk=alert.pk).update(containment=Containment.RELEASED)
    alert.containment = Containment.RELEASED
    audit.record(actor, "alert.containment_released", _audit_target(alert), {"identity": str(identity)}, request)
    forwarding.enqueue("alert", alert_payload(alert, "released"))
    return identity
