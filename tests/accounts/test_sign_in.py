"""Sign-in is password then OTP; failures are clear, throttled, locked out and audited."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from tests.conftest import PASSWORD
from ztconsole.core.models import AuditEvent

pytestmark = pytest.mark.django_db


def _password_step(client: Client, username: str, password: str = PASSWORD):
    return client.post(reverse("accounts:login"), {"username": username, "password": password})


def test_password_alone_reaches_only_the_otp_step(personas):
    client = Client()
    response = _password_step(client, "tina")
    assert response.status_code == 302 and response["Location"] == reverse("accounts:verify")
    dashboard = client.get(reverse("core:dashboard"))
    assert dashboard.status_code == 302 and dashboard["Location"] == reverse("accounts:verify")
    assert client.get(reverse("api-me"), HTTP_ACCEPT="application/json").status_code == 401


def test_password_and_totp_reach_the_dashboard_and_are_audited(personas):
    trader = personas["trader"]
    client = Client()
    _password_step(client, "tina")
    response = client.post(
        reverse("accounts:verify"),
        {"otp_device": trader.device.persistent_id, "otp_token": trader.current_code()},
    )
    assert response.status_code == 302 and response["Location"] == reverse("core:dashboard")
    assert client.get(reverse("core:dashboard")).status_code == 200
    assert AuditEvent.objects.filter(action="auth.login", actor=trader.user).exists()


def test_wrong_password_is_a_form_error_and_audited(personas):
    response = _password_step(Client(), "tina", "not-the-password")
    assert response.status_code == 400
    assert b"Please enter a correct username and password" in response.content
    event = AuditEvent.objects.get(action="auth.login_failed")
    assert event.details == {"username": "tina", "known_user": True}
    # A mistyped password in the username box never lands in the permanent chain.
    _password_step(Client(), "correct-horse-in-the-wrong-box", "x")
    unknown = AuditEvent.objects.filter(action="auth.login_failed").order_by("-seq").first()
    assert "correct-horse" not in str(unknown.details) and unknown.details["known_user"] is False


def test_wrong_otp_is_a_form_error_and_audited(personas):
    trader = personas["trader"]
    client = Client()
    _password_step(client, "tina")
    wrong = str((int(trader.current_code()) + 1) % 1_000_000).zfill(6)
    response = client.post(reverse("accounts:verify"), {"otp_device": trader.device.persistent_id, "otp_token": wrong})
    assert response.status_code == 400
    assert b"That code is not valid" in response.content
    assert AuditEvent.objects.filter(action="auth.otp_failed", actor=trader.user).exists()
    assert client.get(reverse("core:dashboard")).status_code == 302


def test_non_numeric_otp_is_a_form_error(personas):
    client = Client()
    _password_step(client, "tina")
    response = client.post(
        reverse("accounts:verify"),
        {"otp_device": personas["trader"].device.persistent_id, "otp_token": "abc"},
    )
    assert response.status_code == 400
    assert b"6 or 8 digit code" in response.content


def test_replayed_totp_code_is_refused(personas):
    trader = personas["trader"]
    code = trader.current_code()
    first = Client()
    _password_step(first, "tina")
    ok = first.post(reverse("accounts:verify"), {"otp_device": trader.device.persistent_id, "otp_token": code})
    assert ok.status_code == 302
    second = Client()
    _password_step(second, "tina")
    replay = second.post(reverse("accounts:verify"), {"otp_device": trader.device.persistent_id, "otp_token": code})
    assert replay.status_code == 400
    assert second.get(reverse("core:dashboard")).status_code == 302


def test_otp_failures_are_throttled(personas, settings):
    # Two failures lock the device for factor x 2 s; a slow, loaded machine must not outlast the lock.
    settings.OTP_TOTP_THROTTLE_FACTOR = 60
    trader = personas["trader"]
    client = Client()
    _password_step(client, "tina")
    for _ in range(2):
        client.post(reverse("accounts:verify"), {"otp_device": trader.device.persistent_id, "otp_token": "000000"})
    # Even the right code is refused while the exponential back-off runs.
    response = client.post(
        reverse("accounts:verify"),
        {"otp_device": trader.device.persistent_id, "otp_token": trader.current_code()},
    )
    assert response.status_code == 400
    assert b"Too many wrong codes" in response.content
    assert AuditEvent.objects.filter(action="auth.otp_throttled").exists()


def test_repeated_password_failures_lock_the_account_out(personas, settings):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert _password_step(client, "tina", "wrong-password").status_code == 400
    locked = _password_step(client, "tina", "wrong-password")
    assert locked.status_code == 429
    assert b"temporarily locked" in locked.content
    # The right password does not help while locked.
    assert _password_step(client, "tina").status_code == 429
    assert AuditEvent.objects.filter(action="auth.lockout").exists()


def test_logout_ends_the_session_and_is_audited(personas, verified_client):
    client = verified_client(personas["trader"])
    response = client.post(reverse("accounts:logout"))
    assert response.status_code == 302
    assert client.get(reverse("core:dashboard")).status_code == 302
    assert AuditEvent.objects.filter(action="auth.logout", actor=personas["trader"].user).exists()


def test_open_redirect_after_sign_in_is_refused(personas):
    trader = personas["trader"]
    client = Client()
    client.post(reverse("accounts:login") + "?next=https://evil.example/", {"username": "tina", "password": PASSWORD})
    response = client.post(
        reverse("accounts:verify"),
        {"otp_device": trader.device.persistent_id, "otp_token": trader.current_code()},
    )
    assert response["Location"] == reverse("core:dashboard")


def test_security_officer_lifts_a_lockout(personas, settings, verified_client):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _password_step(client, "tina", "wrong-password")
    assert _password_step(client, "tina").status_code == 429
    identity = personas["trader"].user.identity
    officer = verified_client(personas["security"])
    assert officer.post(reverse("accounts:identity_unlock", kwargs={"pk": identity.pk})).status_code == 302
    assert _password_step(Client(), "tina").status_code == 302
    assert AuditEvent.objects.filter(action="auth.lockout_reset").exists()


def test_spraying_one_username_from_many_addresses_locks_it(personas, settings):
    for n in range(settings.AXES_FAILURE_LIMIT):
        Client(REMOTE_ADDR=f"10.0.0.{n + 1}").post(
            reverse("accounts:login"), {"username": "tina", "password": "wrong-password"}
        )
    assert _password_step(Client(REMOTE_ADDR="10.0.9.9"), "tina").status_code == 429
