"""First enrollment needs the password and an administrator's one-time, expiring enrollment code."""

from __future__ import annotations

import re
from base64 import b32decode
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.oath import totp

from accounts import actions
from accounts.models import EnrollmentCode
from tests.conftest import PASSWORD, make_persona
from ztconsole.core.models import AuditEvent
from ztconsole.core.roles import TRADER

pytestmark = pytest.mark.django_db


@pytest.fixture
def newcomer(personas):
    persona = make_persona("nina", TRADER, with_device=False)
    _, code = actions.issue_enrollment_code(personas["admin"].user, persona.user)
    return persona.user, code


def _signed_in(username: str) -> Client:
    client = Client()
    response = client.post(reverse("accounts:login"), {"username": username, "password": PASSWORD})
    assert response["Location"] == reverse("accounts:enroll")
    return client


def _secret(response) -> bytes:
    match = re.search(rb'data-testid="totp-secret">([A-Z2-7]+)<', response.content)
    assert match, "the enrollment page shows the secret"
    raw = match.group(1).decode()
    return b32decode(raw + "=" * (-len(raw) % 8))


def test_user_without_device_is_led_to_enrollment_not_through(newcomer):
    client = _signed_in("nina")
    assert client.get(reverse("core:dashboard"))["Location"] == reverse("accounts:verify")
    assert client.get(reverse("accounts:verify"))["Location"] == reverse("accounts:enroll")
    assert client.get(reverse("accounts:enroll")).status_code == 200


def test_enrollment_with_code_and_totp_confirmation(newcomer):
    user, code = newcomer
    client = _signed_in("nina")
    page = client.post(reverse("accounts:enroll"), {"code": code.lower()})
    assert page.status_code == 200
    assert b"<svg" in page.content
    key = _secret(page)
    response = client.post(reverse("accounts:enroll"), {"token": str(totp(key)).zfill(6)})
    assert response.status_code == 302
    assert client.get(reverse("core:dashboard")).status_code == 200
    assert EnrollmentCode.objects.get(user=user).used_at is not None
    assert AuditEvent.objects.filter(action="mfa.device_enrolled", actor=user).exists()


def test_enrollment_code_is_single_use(newcomer):
    user, code = newcomer
    client = _signed_in("nina")
    key = _secret(client.post(reverse("accounts:enroll"), {"code": code}))
    client.post(reverse("accounts:enroll"), {"token": str(totp(key)).zfill(6)})
    # Someone with the password and the old code cannot enroll a second device.
    user.oathdevice_set.all().delete()
    other = _signed_in("nina")
    response = other.post(reverse("accounts:enroll"), {"code": code})
    assert response.status_code == 400
    assert b"already been used" in response.content


def test_wrong_and_expired_enrollment_codes_are_refused(newcomer):
    user, code = newcomer
    client = _signed_in("nina")
    response = client.post(reverse("accounts:enroll"), {"code": "AAAA-BBBB-CCCC-DDDD"})
    assert response.status_code == 400 and b"not valid" in response.content
    EnrollmentCode.objects.filter(user=user).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = client.post(reverse("accounts:enroll"), {"code": code})
    assert response.status_code == 400 and b"expired" in response.content
    assert AuditEvent.objects.filter(action="enrollment_code.rejected").count() == 2


def test_enrollment_code_guessing_is_throttled(newcomer, settings):
    _, code = newcomer
    client = _signed_in("nina")
    for _ in range(settings.ZT_ENROLLMENT_MAX_ATTEMPTS):
        client.post(reverse("accounts:enroll"), {"code": "AAAA-BBBB-CCCC-DDDD"})
    response = client.post(reverse("accounts:enroll"), {"code": code})
    assert response.status_code == 400 and b"too many wrong enrollment codes" in response.content


def test_wrong_confirmation_code_shows_a_new_secret(newcomer):
    _, code = newcomer
    client = _signed_in("nina")
    first = _secret(client.post(reverse("accounts:enroll"), {"code": code}))
    response = client.post(reverse("accounts:enroll"), {"token": "123456"})
    assert response.status_code == 400
    assert b"does not match" in response.content
    assert _secret(response) != first


def test_bootstrap_admin_prints_a_code_once(db, capsys):
    call_command("bootstrap_admin", "--email", "root@example.test", "--username", "root")
    out = capsys.readouterr().out
    assert re.search(r"enrollment code:\s+[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}", out)
    with pytest.raises(CommandError, match="already exists"):
        call_command("bootstrap_admin", "--email", "root2@example.test", "--username", "root2")
