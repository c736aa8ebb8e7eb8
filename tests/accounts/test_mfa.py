"""Hardware tokens and the lost-token flow, with codes computed by pyotp (not by our implementation)."""

from __future__ import annotations

import base64
import hashlib
import re
import time
from datetime import timedelta

import pyotp
import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.actions import mfa as mfa_actions
from accounts.models import Assurance, HardwareToken, OathDevice, StaticCodeDevice, TokenState
from tests.conftest import PASSWORD, verify_session
from ztconsole.core.models import AuditEvent
from ztconsole.core.roles import ADMINISTRATOR

pytestmark = pytest.mark.django_db
RFC4226_SECRET = b"12345678901234567890"


def _b32(key: bytes) -> str:
    return base64.b32encode(key).decode()


def stock_token(serial: str, kind: str = "hotp", key: bytes = RFC4226_SECRET, **params) -> HardwareToken:
    token = HardwareToken(serial=serial, kind=kind, **params)
    token.set_secret(key)
    token.save()
    return token


def hotp_code(counter: int, key: bytes = RFC4226_SECRET, digits: int = 6) -> str:
    return pyotp.HOTP(_b32(key), digits=digits).at(counter)


def shown_codes(page) -> list[str]:
    block = page.content.decode().split('data-testid="static-codes">')[1].split("</ul>")[0]
    return re.findall(r"<code>([a-z0-9]+)</code>", block)


def _sign_in(username: str, device: OathDevice, code: str) -> Client:
    client = Client()
    client.post(reverse("accounts:login"), {"username": username, "password": PASSWORD})
    client.post(reverse("accounts:verify"), {"otp_device": device.persistent_id, "otp_token": code})
    return client


def _enroll(client: Client, serial: str, code1: str, code2: str):
    return client.post(reverse("accounts:hardware_enroll"), {"serial": serial, "code1": code1, "code2": code2})


def test_trader_enrolls_a_hotp_token_with_two_codes_and_signs_in_with_it(personas, verified_client):
    stock_token("HW-1")
    client = verified_client(personas["trader"])
    response = _enroll(client, "HW-1", hotp_code(0), hotp_code(1))
    assert response.status_code == 302
    device = OathDevice.objects.get(token__serial="HW-1")
    assert device.assurance == Assurance.HARDWARE and device.counter == 2
    assert HardwareToken.objects.get(serial="HW-1").state == TokenState.ENROLLED
    assert AuditEvent.objects.filter(action="mfa.device_enrolled", target_id=str(device.pk)).exists()
    signed_in = _sign_in("tina", device, hotp_code(2))
    assert signed_in.get(reverse("core:dashboard")).status_code == 200
    # The same code never works twice.
    assert _sign_in("tina", device, hotp_code(2)).get(reverse("core:dashboard")).status_code == 302


def test_sha256_eight_digit_totp_token_from_the_inventory(personas, verified_client):
    key = bytes(range(32))
    stock_token("TOTP-256", kind="totp", key=key, algorithm="SHA256", digits=8, period=30)
    totp = pyotp.TOTP(_b32(key), digits=8, digest=hashlib.sha256, interval=30)
    now = time.time()
    response = _enroll(verified_client(personas["trader"]), "TOTP-256", totp.at(now - 30), totp.at(now))
    assert response.status_code == 302
    device = OathDevice.objects.get(token__serial="TOTP-256")
    assert device.assurance == Assurance.HARDWARE
    # The step just used for enrollment is spent; the next one signs in.
    assert _sign_in("tina", device, totp.at(now + 30)).get(reverse("core:dashboard")).status_code == 200


@pytest.mark.parametrize(
    ("codes", "message"),
    [
        (("000000", "111111"), "do not match two consecutive codes"),
        ((hotp_code(1), hotp_code(0)), "do not match two consecutive codes"),
        ((hotp_code(0), hotp_code(2)), "do not match two consecutive codes"),
    ],
)
def test_wrong_codes_do_not_enroll(personas, verified_client, codes, message):
    stock_token("HW-2")
    client = verified_client(personas["trader"])
    response = _enroll(client, "HW-2", *codes)
    assert message in client.get(reverse("accounts:profile")).content.decode() or response.status_code == 302
    assert not OathDevice.objects.filter(token__serial="HW-2").exists()
    assert AuditEvent.objects.filter(action="mfa.enrollment_failed").exists()


def test_enrolled_or_unknown_serial_is_refused(personas, verified_client):
    stock_token("HW-3")
    _enroll(verified_client(personas["trader"]), "HW-3", hotp_code(0), hotp_code(1))
    client = verified_client(personas["compliance"])
    _enroll(client, "HW-3", hotp_code(2), hotp_code(3))
    assert "already enrolled" in client.get(reverse("accounts:profile")).content.decode()
    _enroll(client, "NOPE", hotp_code(0), hotp_code(1))
    assert "no token with this serial" in client.get(reverse("accounts:profile")).content.decode()


def test_assigned_serial_is_reserved_for_its_holder(personas, verified_client):
    token = stock_token("HW-4")
    mfa_actions.assign_hardware_token(personas["admin"].user, token, personas["trader"].user)
    other = verified_client(personas["compliance"])
    _enroll(other, "HW-4", hotp_code(0), hotp_code(1))
    assert "assigned to someone else" in other.get(reverse("accounts:profile")).content.decode()
    assert _enroll(verified_client(personas["trader"]), "HW-4", hotp_code(0), hotp_code(1)).status_code == 302
    assert OathDevice.objects.get(token=token).user == personas["trader"].user


def test_resync_after_the_token_ran_ahead(personas, verified_client):
    stock_token("HW-5")
    client = verified_client(personas["trader"])
    _enroll(client, "HW-5", hotp_code(0), hotp_code(1))
    device = OathDevice.objects.get(token__serial="HW-5")
    # Pressed 60 times in a drawer: beyond the look-ahead window, sign-in fails ...
    assert _sign_in("tina", device, hotp_code(62)).get(reverse("core:dashboard")).status_code == 302
    device.refresh_from_db()
    device.throttle_reset()
    # ... two consecutive codes resynchronise it, and the next code works.
    response = client.post(
        reverse("accounts:device_resync", kwargs={"pk": device.pk}), {"code1": hotp_code(63), "code2": hotp_code(64)}
    )
    assert response.status_code == 302
    device.refresh_from_db()
    assert device.counter == 65
    assert _sign_in("tina", device, hotp_code(65)).get(reverse("core:dashboard")).status_code == 200
    assert AuditEvent.objects.filter(action="mfa.device_resynced").exists()


def test_lost_token_suspended_then_temporary_codes_sign_in_once(personas, verified_client):
    stock_token("HW-6")
    trader = verified_client(personas["trader"])
    _enroll(trader, "HW-6", hotp_code(0), hotp_code(1))
    device = OathDevice.objects.get(token__serial="HW-6")
    trader.post(reverse("accounts:device_suspend", kwargs={"pk": device.pk}), {"reason": "lost on the train"})
    device.refresh_from_db()
    assert device.suspended_at is not None
    assert HardwareToken.objects.get(serial="HW-6").state == TokenState.LOST
    assert _sign_in("tina", device, hotp_code(2)).get(reverse("core:dashboard")).status_code == 302

    officer = verified_client(personas["security"])
    identity = personas["trader"].user.identity
    page = officer.post(reverse("accounts:temporary_codes", kwargs={"pk": identity.pk}), {"count": 3, "hours": 4})
    assert page.status_code == 200 and page["Cache-Control"] == "no-store"
    codes = shown_codes(page)
    assert len(codes) == 3
    static = StaticCodeDevice.objects.get(user=personas["trader"].user, purpose="temporary")
    assert not static.codes.filter(code_hash=codes[0]).exists()  # stored as digests only
    assert _sign_in("tina", static, codes[0]).get(reverse("core:dashboard")).status_code == 200
    assert _sign_in("tina", static, codes[0]).get(reverse("core:dashboard")).status_code == 302
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"mfa.device_suspended", "mfa.temporary_codes_issued"} <= actions


def test_expired_temporary_codes_are_refused(personas):
    device, codes = mfa_actions.issue_temporary_codes(personas["security"].user, personas["trader"].user, count=1)
    StaticCodeDevice.objects.filter(pk=device.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert _sign_in("tina", device, codes[0]).get(reverse("core:dashboard")).status_code == 302


def test_only_security_officers_issue_temporary_codes(personas, verified_client):
    identity = personas["trader"].user.identity
    response = verified_client(personas["admin"]).post(
        reverse("accounts:temporary_codes", kwargs={"pk": identity.pk}), {"count": 3, "hours": 4}
    )
    assert response.status_code == 403


def test_backup_codes_are_shown_once_and_work_once(personas, verified_client):
    client = verified_client(personas["trader"])
    page = client.post(reverse("accounts:backup_codes"))
    codes = shown_codes(page)
    assert len(codes) == 10
    device = StaticCodeDevice.objects.get(user=personas["trader"].user, purpose="backup")
    assert _sign_in("tina", device, codes[3].upper()).get(reverse("core:dashboard")).status_code == 200
    assert codes[0].encode() not in client.get(reverse("accounts:profile")).content


def test_role_requiring_hardware_sends_software_users_to_enroll(personas, verified_client):
    mfa_actions.set_role_assurance(personas["admin"].user, ADMINISTRATOR, Assurance.HARDWARE)
    client = verified_client(personas["admin"])  # verified with a software authenticator
    response = client.get(reverse("core:dashboard"))
    assert response.status_code == 302 and response["Location"] == reverse("accounts:profile")
    assert client.get(reverse("accounts:profile")).status_code == 200
    assert client.get(reverse("api-me"), HTTP_ACCEPT="application/json").status_code == 401
    stock_token("HW-ADMIN")
    assert _enroll(client, "HW-ADMIN", hotp_code(0), hotp_code(1)).status_code == 302
    assert client.get(reverse("core:dashboard")).status_code == 200  # now verified by the hardware token
    assert AuditEvent.objects.filter(action="mfa.role_assurance_changed").exists()


def test_hardware_device_failures_are_throttled(personas, verified_client, settings):
    # Two failures lock the device for factor x 2 s; a slow, loaded machine must not outlast the lock.
    settings.OTP_TOTP_THROTTLE_FACTOR = 60
    stock_token("HW-7")
    _enroll(verified_client(personas["trader"]), "HW-7", hotp_code(0), hotp_code(1))
    device = OathDevice.objects.get(token__serial="HW-7")
    for _ in range(2):
        _sign_in("tina", device, "000000")
    client = _sign_in("tina", device, hotp_code(2))
    assert client.get(reverse("core:dashboard")).status_code == 302  # throttled even with the right code


def test_step_up_accepts_a_hardware_token(personas, verified_client):
    stock_token("HW-8")
    client = verified_client(personas["admin"])
    _enroll(client, "HW-8", hotp_code(0), hotp_code(1))
    device = OathDevice.objects.get(token__serial="HW-8")
    verify_session(client, personas["admin"])  # back to the software device, then step up with the token
    response = client.post(
        reverse("accounts:step_up"), {"otp_device": device.persistent_id, "otp_token": hotp_code(2), "next": "/"}
    )
    assert response.status_code == 302
