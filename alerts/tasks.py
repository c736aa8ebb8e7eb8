"""Celery tasks of the alerts app: thin, they call the detectors and the forwarder."""

from __future__ import annotations

from celery import shared_task
from django.core.cache import cache

from alerts import detectors, forwarding, receivers


@shared_task(name="alerts.scan_sign_in_failures", ignore_result=True)
def scan_sign_in_failures() -> int:
    """Beat (every ZT_ALERT_SCAN_SECONDS) and the sign_in_failed hook: failure bursts, then sign-ins from an
    unexpected country; returns the alerts raised or refreshed."""
    cache.delete(receivers.SCAN_PENDING_KEY)  # failures from now on queue the next scan
    return len(detectors.scan_sign_in_failures()) + len(detectors.scan_sign_in_countries())


@shared_task(name="alerts.scan_decisions", ignore_result=True)
def scan_decisions() -> int:
    """Beat (every ZT_ALERT_SCAN_SECONDS) and the fix_logons_flagged hook: FIX Logons from an unexpected country
    and denied Logons above a rate, from the decision log; returns the alerts raised or refreshed."""
    cache.delete(receivers.DECISION_SCAN_PENDING_KEY)  # flagged Logons from now on queue the next scan
    return len(detectors.scan_decisions())


@shared_task(name="alerts.run_detectors")
def run_detectors() -> dict[str, int]:
    """Beat: the enforcement-point and certificate detectors; returns the open alerts of each."""
    return {
        "enforcement_point": detectors.detect_enforcement_points(),
        "certificate_expiring": detectors.detect_expiring_certificates(),
    }


@shared_task(name="alerts.verify_audit_chain")
def verify_audit_chain() -> bool:
    return detectors.verify_audit_chain()


@shared_task(name="alerts.siem_flush", ignore_result=True)
def siem_flush() -> dict[str, dict[str, int]]:
    """Send what is due to the SIEM destinations (a no-op when none is configured)."""
    return forwarding.flush()
