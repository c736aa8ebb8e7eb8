"""The accounts issue's three browser journeys, in real Chromium, with codes from oathtool."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pyotp
import pytest
from playwright.sync_api import expect

from accounts import actions
from accounts.actions import mfa as mfa_actions
from accounts.models import HardwareToken, OathDevice
from tests.browser.test_console_in_chromium import oath_totp, shot, sign_in
from tests.conftest import CI, make_persona
from ztconsole.core.roles import TRADER

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
DATA = Path(__file__).resolve().parents[1] / "oath" / "data"
RFC4226_HEX = b"12345678901234567890".hex()


def oath_hotp(hex_key: str, counter: int, digits: int) -> str:
    """HOTP from oathtool (a tool we did not write); pyotp outside CI when oathtool is missing."""
    if shutil.which("oathtool"):
        command = ["oathtool", "--hotp", "-c", str(counter), "-d", str(digits), hex_key]
        return subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()
    if CI:
        pytest.fail("CI=true and oathtool is missing")
    import base64

    return pyotp.HOTP(base64.b32encode(bytes.fromhex(hex_key)).decode(), digits=digits).at(counter)


def verify_with(page, code: str) -> None:
    page.get_by_label("One-time code", exact=True).fill(code)
    page.get_by_role("button", name="Verify").click()


def sign_out(page) -> None:
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_trader_enrolls_an_imported_hotp_token_then_signs_in_with_it(page, personas, capsys):
    from django.core.management import call_command

    call_command("import_tokens", str(DATA / "rfc6030_figure2_plaintext.pskcxml"))
    newcomer = make_persona("nina", TRADER, with_device=False)
    _, code = actions.issue_enrollment_code(personas["admin"].user, newcomer.user)

    sign_in(page, "nina")
    page.get_by_label("Enrollment code").fill(code)
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Enroll your hardware token")).to_be_visible()
    page.get_by_label("Serial number").fill("987654321")
    page.get_by_label("First code").fill(oath_hotp(RFC4226_HEX, 0, 8))
    page.get_by_label("Next code").fill(oath_hotp(RFC4226_HEX, 1, 8))
    page.get_by_role("button", name="Enroll hardware token").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(page.get_by_text("Hardware token 987654321 is enrolled")).to_be_visible()

    sign_out(page)
    sign_in(page, "nina")
    verify_with(page, oath_hotp(RFC4226_HEX, 2, 8))
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    page.goto("/accounts/profile/")
    expect(page.get_by_role("cell", name="Hardware-bound")).to_be_visible()
    shot(page, "profile-hardware")


def test_administrator_imports_pskc_sees_results_and_assigns_a_serial(page, personas):
    admin = personas["admin"]
    sign_in(page, admin.username)
    verify_with(page, oath_totp(admin.base32_secret))
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Hardware tokens").click()
    page.get_by_role("link", name="Import seed file").click()
    page.get_by_label("Seed file").set_input_files(str(DATA / "mixed_algorithms.pskcxml"))
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_test_id("imported-count")).to_have_text("2")
    expect(page.get_by_test_id("rejected-count")).to_have_text("1")
    expect(page.get_by_role("row", name=re.compile("PIN-0003"))).to_contain_text("rejected")
    shot(page, "token-import")
    page.get_by_role("link", name="Back to the inventory").click()
    row = page.get_by_role("row", name=re.compile("HOTP-0001"))
    row.get_by_label("Assign HOTP-0001 to").select_option(label="tina")
    row.get_by_role("button", name="Assign").click()
    expect(page.get_by_text("Token HOTP-0001 assigned to tina")).to_be_visible()
    token = HardwareToken.objects.get(serial="HOTP-0001")
    assert token.state == "assigned" and token.assigned_to == personas["trader"].user


def test_security_officer_suspends_a_lost_token_and_the_trader_uses_a_temporary_code(page, personas):
    token = HardwareToken(serial="LOST-1", kind="hotp", digits=6)
    token.set_secret(b"12345678901234567890")
    token.save()
    trader = personas["trader"]
    from django.test import RequestFactory

    request = RequestFactory().post("/")
    from django.contrib.sessions.backends.db import SessionStore

    request.session = SessionStore()
    request.user = trader.user
    mfa_actions.enroll_hardware_token(
        trader.user,
        serial="LOST-1",
        code1=oath_hotp(RFC4226_HEX, 0, 6),
        code2=oath_hotp(RFC4226_HEX, 1, 6),
        request=request,
    )
    device = OathDevice.objects.get(token=token)

    officer = personas["security"]
    sign_in(page, officer.username)
    verify_with(page, oath_totp(officer.base32_secret))
    page.goto(f"/accounts/identities/{trader.user.identity.pk}/")
    device_row = page.get_by_role("row", name=re.compile("Hardware token LOST-1"))
    device_row.get_by_label("Reason").fill("lost on the train")
    device_row.get_by_role("button", name="Suspend").click()
    expect(page.get_by_text("is suspended")).to_be_visible()
    page.get_by_role("button", name="Issue temporary codes").click()
    codes = page.get_by_test_id("static-codes").locator("code").all_inner_texts()
    assert len(codes) == 5
    shot(page, "temporary-codes")
    sign_out(page)

    device.refresh_from_db()
    assert device.suspended_at is not None
    sign_in(page, trader.username)
    # No device to choose: the temporary code is recognised as such.
    verify_with(page, codes[0])
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
