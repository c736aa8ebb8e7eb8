"""FIDO2 security keys in real Chromium, with Chromium's virtual authenticator (DevTools WebAuthn domain)."""

from __future__ import annotations

import pytest
from django_otp_webauthn.models import WebAuthnCredential
from playwright.sync_api import expect

from accounts import actions
from accounts.webauthn import credential_assurance
from tests.browser.test_console_in_chromium import oath_totp, sign_in
from tests.conftest import make_persona
from ztconsole.core.models import AuditEvent
from ztconsole.core.roles import TRADER

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Registration with a challenge the server never issued: the response must be refused.
FOREIGN_CHALLENGE_JS = """
async () => {
  const csrf = document.cookie.split('; ').find(c => c.startsWith('csrftoken=')).split('=')[1];
  const begin = await fetch('/accounts/webauthn/registration/begin/', {method: 'POST', headers: {'X-CSRFToken': csrf}});
  const options = await begin.json();
  const fromB64u = s => Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/')), c => c.charCodeAt(0));
  const toB64u = b => btoa(String.fromCharCode(...new Uint8Array(b))).replace(/\\+/g, '-').replace(/\\//g, '_')
    .replace(/=+$/, '');
  const credential = await navigator.credentials.create({publicKey: {
    challenge: crypto.getRandomValues(new Uint8Array(32)),
    rp: options.rp,
    user: {id: fromB64u(options.user.id), name: options.user.name, displayName: options.user.displayName},
    pubKeyCredParams: options.pubKeyCredParams,
  }});
  const body = {id: credential.id, rawId: toB64u(credential.rawId), type: credential.type,
    response: {clientDataJSON: toB64u(credential.response.clientDataJSON),
               attestationObject: toB64u(credential.response.attestationObject)},
    clientExtensionResults: {}};
  const done = await fetch('/accounts/webauthn/registration/complete/', {method: 'POST',
    headers: {'X-CSRFToken': csrf, 'Content-Type': 'application/json'}, body: JSON.stringify(body)});
  return {status: done.status, body: await done.json()};
}
"""


@pytest.fixture
def key_page(chromium, asgi_server):
    """A page on http://localhost (a WebAuthn RP id cannot be an IP address) with a virtual security key."""
    context = chromium.new_context(base_url=asgi_server.replace("127.0.0.1", "localhost"))
    page = context.new_page()
    page.set_default_timeout(15000)
    devtools = context.new_cdp_session(page)
    devtools.send("WebAuthn.enable")
    devtools.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "usb",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    yield page
    context.close()


def test_register_a_security_key_then_sign_in_with_it(key_page, personas, settings):
    page, trader = key_page, personas["trader"]
    sign_in(page, trader.username)
    page.get_by_label("One-time code", exact=True).fill(oath_totp(trader.base32_secret))
    page.get_by_role("button", name="Verify").click()
    page.goto("/accounts/profile/")
    page.get_by_role("button", name="Register a security key").click()
    expect(page.get_by_role("cell", name="FIDO2 / WebAuthn security key")).to_be_visible()
    credential = WebAuthnCredential.objects.get(user=trader.user)
    event = AuditEvent.objects.get(action="mfa.device_enrolled", target_id=str(credential.pk))
    assert event.details["type"] == "webauthn"
    # Not on the allowlist: software assurance. On it: hardware-bound.
    assert credential_assurance(credential) == "software"
    settings.ZT_WEBAUTHN_HARDWARE_AAGUIDS = [str(credential.aaguid)]
    assert credential_assurance(credential) == "hardware"

    page.get_by_role("button", name="Sign out").click()
    sign_in(page, trader.username)
    page.get_by_role("button", name="Use my security key").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    assert AuditEvent.objects.filter(action="auth.login", details__method="webauthn").exists()


def test_first_enrollment_with_a_security_key_needs_the_enrollment_code(key_page, personas):
    page = key_page
    newcomer = make_persona("nina", TRADER, with_device=False)
    _, code = actions.issue_enrollment_code(personas["admin"].user, newcomer.user)
    sign_in(page, "nina")
    # Without the code, the ceremony is refused by the server.
    refused = page.evaluate(
        """async () => {
        const csrf = document.cookie.split('; ').find(c => c.startsWith('csrftoken=')).split('=')[1];
        const r = await fetch('/accounts/webauthn/registration/begin/',
                              {method: 'POST', headers: {'X-CSRFToken': csrf}});
        return {status: r.status, body: await r.json()};
    }"""
    )
    assert refused["status"] == 403 and refused["body"]["code"] == "enrollment_code_required"
    page.get_by_label("Enrollment code").fill(code)
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("button", name="Register a security key").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    assert WebAuthnCredential.objects.filter(user=newcomer.user).exists()


def test_a_response_for_another_challenge_is_refused(key_page, personas):
    page, trader = key_page, personas["trader"]
    sign_in(page, trader.username)
    page.get_by_label("One-time code", exact=True).fill(oath_totp(trader.base32_secret))
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    result = page.evaluate(FOREIGN_CHALLENGE_JS)
    assert result["status"] == 422, result
    assert result["body"]["detail"]
    assert not WebAuthnCredential.objects.exists()
    assert AuditEvent.objects.filter(action="mfa.enrollment_failed").exists()


def test_allowlist_can_be_required(key_page, personas, settings):
    settings.ZT_WEBAUTHN_REQUIRE_ALLOWLISTED = True
    settings.ZT_WEBAUTHN_HARDWARE_AAGUIDS = ["00000000-0000-0000-0000-00000000beef"]
    page, trader = key_page, personas["trader"]
    sign_in(page, trader.username)
    page.get_by_label("One-time code", exact=True).fill(oath_totp(trader.base32_secret))
    page.get_by_role("button", name="Verify").click()
    page.goto("/accounts/profile/")
    page.get_by_role("button", name="Register a security key").click()
    expect(page.get_by_role("status").filter(has_text="Registration failed")).to_be_visible()
    assert not WebAuthnCredential.objects.exists()
    failure = AuditEvent.objects.get(action="mfa.enrollment_failed")
    assert failure.details["error"] == "aaguid_not_allowed"


def test_a_sponsor_approves_a_held_logon_with_a_hardware_security_key(key_page, personas, settings):
    """Approving an algorithm's held Logon needs a hardware factor: a security key counts once its model is on
    the hardware allowlist (ZT_WEBAUTHN_HARDWARE_AAGUIDS), not before."""
    from django.urls import reverse

    from certificates.actions import init_ca
    from tests.distribution.helpers import register
    from tests.sessions.helpers import pending_step_up

    page, trader = key_page, personas["trader"]
    sign_in(page, trader.username)
    page.get_by_label("One-time code", exact=True).fill(oath_totp(trader.base32_secret))
    page.get_by_role("button", name="Verify").click()
    page.goto("/accounts/profile/")
    page.get_by_role("button", name="Register a security key").click()
    expect(page.get_by_role("cell", name="FIDO2 / WebAuthn security key")).to_be_visible()
    credential = WebAuthnCredential.objects.get(user=trader.user)
    init_ca(None)
    step_up = pending_step_up(register("pep-ldn").point.pk, trader.user.identity, name="algo-key")
    detail = reverse("sessions:step_up", kwargs={"pk": step_up.pk})

    def step_up_with_the_key() -> None:
        page.goto(detail)
        page.get_by_role("link", name="Step up with your hardware token").click()
        page.get_by_role("button", name="Use my security key").click()
        page.wait_for_url(f"**{detail}")

    step_up_with_the_key()  # a key of a model not on the allowlist: software assurance, refused
    expect(page.get_by_test_id("hardware-needed")).to_contain_text("a software factor")
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_test_id("step-up-state")).to_have_text("Waiting for the sponsor")

    # The same key, its model now on the allowlist: the step-up just made with it is a hardware one.
    settings.ZT_WEBAUTHN_HARDWARE_AAGUIDS = [str(credential.aaguid)]
    page.goto(detail)
    expect(page.get_by_test_id("hardware-needed")).to_have_count(0)
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_test_id("step-up-state")).to_have_text("Approved")
    step_up.refresh_from_db()
    assert step_up.state == "approved"
    event = AuditEvent.objects.get(action="sessions.step_up_approved", target_id=str(step_up.pk))
    assert event.details["assurance"] == "hardware" and event.details["device"] == credential.persistent_id
