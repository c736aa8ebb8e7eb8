"""Detectors fire on synthetic bursts made through the real sign-in views, once per subject, and clear again."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from alerts import actions, detectors
from alerts.models import Alert, Detector
from certificates import actions as certificate_actions
from certificates.models import RevocationReason
from tests.alerts.helpers import wrong_codes, wrong_passwords
from tests.certificates.helpers import make_algo, make_csr
from tests.core.audit_helpers import record_events, tamper
from ztconsole.core.models import AuditEvent

pytestmark = pytest.mark.django_db


def _rule(personas, detector, **values):
    defaults = {"enabled": True, "threshold": 3, "window_seconds": 300, "containment": False}
    actions.update_rule(personas["security"].user, detector, **{**defaults, **values})


def test_a_burst_of_wrong_passwords_raises_one_alert_per_user_and_per_address(personas):
    _rule(personas, Detector.SIGN_IN_FAILURES_USER, threshold=4)
    _rule(personas, Detector.SIGN_IN_FAILURES_ADDRESS, threshold=6)
    wrong_passwords("tina", 3, address="198.51.100.7")
    assert detectors.scan_sign_in_failures() == []  # 3 < 4: nothing yet

    wrong_passwords("tina", 2, address="198.51.100.7")  # 5 for tina, 5 from the address
    [alert] = detectors.scan_sign_in_failures()
    assert (alert.detector, alert.subject, alert.occurrences) == (Detector.SIGN_IN_FAILURES_USER, "user:tina", 5)
    assert alert.details["addresses"] == ["198.51.100.7"] and alert.details["failures"] == 5

    wrong_passwords("carla", 1, address="198.51.100.7")  # the address reaches 6, across two users
    [by_address] = detectors.scan_sign_in_failures()
    assert by_address.subject == "address:198.51.100.7" and by_address.details["users"] == ["carla", "tina"]

    wrong_passwords("tina", 2, address="198.51.100.7")  # more of the same: the open alerts count, no new ones
    detectors.scan_sign_in_failures()
    assert Alert.objects.filter(resolved_at__isnull=True).count() == 2
    assert Alert.objects.get(subject="user:tina").occurrences == 7
    raised = AuditEvent.objects.filter(action="alert.raised").values_list("details__subject", flat=True)
    assert sorted(raised) == ["address:198.51.100.7", "user:tina"]  # audited once each, when opened
    # The axes lockout after ZT_LOGIN_FAILURE_LIMIT failures was audited as auth.lockout and counted too.
    assert AuditEvent.objects.filter(action="auth.lockout").exists()


def test_wrong_otp_codes_after_the_right_password_are_a_burst_too(personas):
    _rule(personas, Detector.SIGN_IN_FAILURES_USER, threshold=3)
    wrong_codes(personas["trader"], 3)
    [alert] = detectors.scan_sign_in_failures()
    assert alert.subject == "user:tina" and alert.occurrences == 3


def test_a_burst_alert_resolves_once_its_window_passed_quietly(personas):
    _rule(personas, Detector.SIGN_IN_FAILURES_USER, threshold=2, window_seconds=60)
    wrong_passwords("tina", 2)
    [alert] = detectors.scan_sign_in_failures()
    detectors.scan_sign_in_failures(now=timezone.now() + timedelta(seconds=30))
    assert Alert.objects.get(pk=alert.pk).resolved_at is None
    detectors.scan_sign_in_failures(now=timezone.now() + timedelta(seconds=61))
    assert Alert.objects.get(pk=alert.pk).resolved_at is not None
    assert AuditEvent.objects.filter(action="alert.resolved", target_id=str(alert.pk)).exists()
    wrong_passwords("tina", 2)  # a new burst opens a new alert
    [again] = detectors.scan_sign_in_failures()
    assert again.pk != alert.pk


def test_a_disabled_detector_stays_silent(personas):
    _rule(personas, Detector.SIGN_IN_FAILURES_USER, threshold=1, enabled=False)
    _rule(personas, Detector.SIGN_IN_FAILURES_ADDRESS, threshold=1, enabled=False)
    wrong_passwords("tina", 2)
    assert detectors.scan_sign_in_failures() == [] and not Alert.objects.exists()


def test_an_expiring_certificate_raises_an_alert_until_it_is_revoked(personas):
    certificate_actions.init_ca(None)
    algo = make_algo(personas["trader"].user)
    profile = certificate_actions.profile_by_name("fix-client")
    soon = certificate_actions.issue_from_csr(None, identity=algo, profile=profile, csr_pem=make_csr(), lifetime_days=3)
    certificate_actions.issue_from_csr(None, identity=algo, profile=profile, csr_pem=make_csr(), lifetime_days=90)
    assert detectors.detect_expiring_certificates() == 1
    [alert] = Alert.objects.filter(detector=Detector.CERTIFICATE_EXPIRING)
    assert alert.subject == f"certificate:{soon.serial}" and alert.resolved_at is None
    assert detectors.detect_expiring_certificates() == 1 and Alert.objects.count() == 1  # de-duplicated
    certificate_actions.revoke_certificate(
        personas["security"].user, soon, reason=RevocationReason.SUPERSEDED, comment="rotated"
    )
    detectors.detect_expiring_certificates()
    assert Alert.objects.get(pk=alert.pk).resolved_at is not None


def test_an_enforcement_point_behind_shows_as_an_alert_while_distribution_has_it_open(personas):
    from policies.distribution.models import AlertKind, DistributionAlert, EnforcementPoint
    from tests.distribution.helpers import matrix_point

    point = EnforcementPoint.objects.get(pk=matrix_point(personas))
    source = DistributionAlert.objects.create(
        point=point, kind=AlertKind.BEHIND, message="behind v3 for 300 s", created_at=timezone.now()
    )
    assert detectors.detect_enforcement_points() == 1
    alert = Alert.objects.get(detector=Detector.ENFORCEMENT_POINT)
    assert alert.subject == f"point:{point.pk}:behind" and "behind v3" in alert.message
    detectors.detect_enforcement_points()
    assert Alert.objects.filter(detector=Detector.ENFORCEMENT_POINT).count() == 1
    DistributionAlert.objects.filter(pk=source.pk).update(resolved_at=timezone.now())
    detectors.detect_enforcement_points()
    assert Alert.objects.get(pk=alert.pk).resolved_at is not None


def test_a_tampered_audit_chain_raises_a_critical_alert(personas):
    events = record_events(3)
    assert detectors.verify_audit_chain() is True and not Alert.objects.exists()
    tamper("UPDATE core_auditevent SET target_label = %s WHERE seq = %s", ["edited", events[1].seq])
    assert detectors.verify_audit_chain() is False
    alert = Alert.objects.get(detector=Detector.AUDIT_CHAIN)
    assert alert.severity == "critical" and f"seq {events[1].seq}" in alert.message


def test_every_kind_of_sign_in_failure_fires_the_hook_the_detectors_wake_on(personas):
    from ztconsole.core import hooks

    seen = []

    def receiver(actor, subject, *, request=None):
        seen.append((getattr(actor, "username", None), subject))

    hooks.sign_in_failed.connect(receiver)
    try:
        wrong_passwords("tina", 1)
        wrong_codes(personas["compliance"], 1)
    finally:
        hooks.sign_in_failed.disconnect(receiver)
    assert seen == [(None, "tina"), ("carla", "carla")]


def test_a_sign_in_from_an_unexpected_country_raises_a_critical_alert_and_can_contain(personas):
    from accounts.models import Identity, IdentityStatus
    from alerts.models import Containment
    from policies.actions import create_country_range
    from tests.alerts.helpers import sign_in

    admin = personas["admin"].user
    create_country_range(admin, environment="prod", cidr="203.0.113.0/24", country="RU")
    create_country_range(admin, environment="prod", cidr="198.51.100.0/24", country="CH")
    Identity.objects.filter(user=personas["trader"].user).update(expected_countries=["CH"])
    actions.update_rule(
        personas["security"].user,
        Detector.SIGN_IN_COUNTRY,
        enabled=True,
        threshold=1,
        window_seconds=600,
        containment=True,
    )
    sign_in(personas["trader"], address="198.51.100.4")  # expected country: nothing
    sign_in(personas["compliance"], address="203.0.113.9")  # no expectation for carla: nothing
    assert detectors.scan_sign_in_countries() == []
    sign_in(personas["trader"], address="203.0.113.9", step=1)
    [alert] = detectors.scan_sign_in_countries()
    assert alert.subject == "user:tina" and alert.severity == "critical"
    assert alert.details["country"] == "RU" and alert.details["expected"] == ["CH"]
    assert alert.containment == Containment.SUSPENDED
    assert Identity.objects.get(user=personas["trader"].user).status == IdentityStatus.SUSPENDED
    assert detectors.scan_sign_in_countries() == []  # each sign-in is read once


def test_a_flood_of_failures_keeps_at_most_one_scan_queued(personas, monkeypatch):
    from alerts import receivers, tasks

    queued = []
    monkeypatch.setattr(tasks.scan_sign_in_failures, "apply_async", lambda **options: queued.append(options))
    for _ in range(50):
        receivers._scan_now()
    assert len(queued) == 1
    tasks.scan_sign_in_failures()  # the scan starts: the next failure may queue the next one
    receivers._scan_now()
    assert len(queued) == 2
