"""Automated containment: opt-in per detector, done through accounts' own suspension, audited and reversible."""

from __future__ import annotations

import time

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Identity, IdentityStatus
from alerts import actions, detectors
from alerts.models import Alert, Containment, Detector
from tests.alerts.helpers import wrong_passwords
from tests.conftest import PASSWORD
from ztconsole.core.models import AuditEvent


def _contain_after(personas, threshold: int) -> None:
    actions.update_rule(
        personas["security"].user,
        Detector.SIGN_IN_FAILURES_USER,
        enabled=True,
        threshold=threshold,
        window_seconds=300,
        containment=True,
    )


@pytest.mark.django_db
def test_a_burst_suspends_the_identity_and_a_security_officer_releases_it(personas, verified_client):
    _contain_after(personas, 3)
    wrong_passwords("tina", 3)
    [alert] = detectors.scan_sign_in_failures()
    tina = Identity.objects.get(user=personas["trader"].user)
    assert alert.containment == Containment.SUSPENDED and tina.status == IdentityStatus.SUSPENDED
    suspended = AuditEvent.objects.get(action="identity.suspended")
    assert suspended.actor is None and f"alert {alert.pk}" in suspended.details["reason"]
    assert AuditEvent.objects.get(action="alert.contained").details["outcome"] == "identity suspended"
    # Suspended: even the right password no longer signs in.
    refused = Client().post(reverse("accounts:login"), {"username": "tina", "password": PASSWORD})
    assert refused.status_code != 302 or refused["Location"] != reverse("accounts:verify")

    # The next scan of the same burst does not suspend again.
    wrong_passwords("tina", 1, address="192.0.2.99")
    detectors.scan_sign_in_failures()
    assert AuditEvent.objects.filter(action="identity.suspended").count() == 1

    client = verified_client(personas["security"])
    assert b"Release" in client.get(reverse("alerts:detail", args=[alert.pk])).content
    response = client.post(reverse("alerts:release", args=[alert.pk]))
    assert response.status_code == 302
    tina.refresh_from_db()
    assert tina.status == IdentityStatus.ACTIVE
    assert Alert.objects.get(pk=alert.pk).containment == Containment.RELEASED
    released = AuditEvent.objects.get(action="alert.containment_released")
    assert released.actor == personas["security"].user
    assert AuditEvent.objects.filter(action="identity.reactivated", actor=personas["security"].user).exists()
    # Released once: a second release is refused and changes nothing.
    client.post(reverse("alerts:release", args=[alert.pk]))
    assert AuditEvent.objects.filter(action="alert.containment_released").count() == 1


@pytest.mark.django_db
def test_without_the_opt_in_nobody_is_suspended(personas):
    actions.update_rule(
        personas["security"].user,
        Detector.SIGN_IN_FAILURES_USER,
        enabled=True,
        threshold=2,
        window_seconds=300,
        containment=False,
    )
    wrong_passwords("tina", 2)
    [alert] = detectors.scan_sign_in_failures()
    assert alert.containment == Containment.NONE
    assert Identity.objects.get(user=personas["trader"].user).status == IdentityStatus.ACTIVE


@pytest.mark.django_db
def test_containment_never_suspends_the_last_administrator_and_says_so(personas):
    _contain_after(personas, 2)
    wrong_passwords("alice", 2)
    [alert] = detectors.scan_sign_in_failures()
    assert alert.containment == Containment.REFUSED
    assert Identity.objects.get(user=personas["admin"].user).status == IdentityStatus.ACTIVE
    assert "administrator" in AuditEvent.objects.get(action="alert.contained").details["outcome"]


@pytest.mark.django_db(transaction=True)
def test_the_failed_sign_in_hook_makes_a_real_worker_contain_without_waiting_for_beat(personas, celery_worker_thread):
    """No beat runs in the tests: only the sign_in_failed hook, after the commit, can wake the worker's scan."""
    _contain_after(personas, 3)
    wrong_passwords("tina", 3, address="192.0.2.44")
    deadline = time.monotonic() + 30
    identity = Identity.objects.get(user=personas["trader"].user)
    while identity.status != IdentityStatus.SUSPENDED and time.monotonic() < deadline:
        time.sleep(0.1)
        identity.refresh_from_db()
    assert identity.status == IdentityStatus.SUSPENDED
    alert = Alert.objects.get(detector=Detector.SIGN_IN_FAILURES_USER, subject="user:tina")
    assert alert.containment == Containment.SUSPENDED
