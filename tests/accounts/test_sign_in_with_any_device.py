"""The one-time code step finds the device itself: whichever of the user's devices shows the code."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import OathDevice
from tests.accounts.test_mfa import _enroll, hotp_code, stock_token
from tests.conftest import PASSWORD
from ztconsole.core.models import AuditEvent

pytestmark = pytest.mark.django_db


def _password_step(username: str) -> Client:
    client = Client()
    client.post(reverse("accounts:login"), {"username": username, "password": PASSWORD})
    return client


def _trader_with_hardware_token(personas, verified_client) -> OathDevice:
    stock_token("HW-ANY")
    assert _enroll(verified_client(personas["trader"]), "HW-ANY", hotp_code(0), hotp_code(1)).status_code == 302
    return OathDevice.objects.get(token__serial="HW-ANY")


def test_verify_page_has_no_device_choice(personas, verified_client):
    _trader_with_hardware_token(personas, verified_client)
    page = _password_step("tina").get(reverse("accounts:verify"))
    assert page.status_code == 200
    assert b"otp_device" not in page.content and b"<select" not in page.content


def test_hardware_token_code_signs_in_without_naming_the_device(personas, verified_client):
    token = _trader_with_hardware_token(personas, verified_client)
    app = personas["trader"].device
    client = _password_step("tina")
    response = client.post(reverse("accounts:verify"), {"otp_token": hotp_code(2)}, follow=True)
    assert response.status_code == 200 and response.redirect_chain[-1][0] == reverse("core:dashboard")
    assert f"Signed in with {token.name}." in [str(m) for m in response.context["messages"]]
    event = AuditEvent.objects.filter(action="auth.login").latest("seq")
    assert event.details["device"] == token.persistent_id
    # The app was tried first and did not match: its failure counter is put back, so it is not slowed down.
    app.refresh_from_db()
    assert app.throttling_failure_count == 0
    profile = client.get(reverse("accounts:profile"))
    assert token.name.encode() in profile.content.split(b"Signed in with", 1)[1][:300]


def test_app_code_still_signs_in_when_a_token_is_enrolled(personas, verified_client):
    _trader_with_hardware_token(personas, verified_client)
    trader = personas["trader"]
    response = _password_step("tina").post(reverse("accounts:verify"), {"otp_token": trader.current_code()})
    assert response.status_code == 302 and response["Location"] == reverse("core:dashboard")


def test_a_wrong_code_counts_against_every_device(personas, verified_client):
    token = _trader_with_hardware_token(personas, verified_client)
    response = _password_step("tina").post(reverse("accounts:verify"), {"otp_token": "000000"})
    assert response.status_code == 400
    assert b"That code is not valid" in response.content
    token.refresh_from_db()
    personas["trader"].device.refresh_from_db()
    assert token.throttling_failure_count == 1 and personas["trader"].device.throttling_failure_count == 1
    assert AuditEvent.objects.filter(action="auth.otp_failed", details__devices_tried=2).exists()


def test_step_up_accepts_any_device(personas, verified_client):
    token = _trader_with_hardware_token(personas, verified_client)
    client = verified_client(personas["trader"])
    response = client.post(reverse("accounts:step_up"), {"otp_token": hotp_code(2), "next": "/"}, follow=True)
    assert response.status_code == 200
    assert f"Verified with {token.name}. You can continue." in [str(m) for m in response.context["messages"]]
    assert AuditEvent.objects.filter(action="auth.step_up").latest("seq").details["device"] == token.persistent_id
