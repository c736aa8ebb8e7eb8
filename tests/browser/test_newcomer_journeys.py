"""A newcomer's first hour, in real Chromium, from the data `make demo` loads (README: "What to try").

Administrator: edits a risk rule after the step-up window (the edit survives the fresh code), then requests
publication. Security officer: approves it. Trader: enrolls the demo hardware token and signs in with it,
with no device to choose. Security officer: issues a certificate for the demo algorithm and downloads it.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from playwright.sync_api import expect

from accounts.models import OathDevice
from certificates.models import Certificate
from policies.models import PolicyVersion, PublicationState, RiskRule
from tests.browser.demo_data import age_verification, hotp, load_demo, sign_in, totp
from tests.browser.test_console_in_chromium import shot
from tests.certificates.helpers import make_csr

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def demo(db):
    return load_demo()


@pytest.fixture
def new_page(chromium, asgi_server):
    contexts = []

    def make(width: int = 1366, height: int = 900):
        context = chromium.new_context(base_url=asgi_server, viewport={"width": width, "height": height})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15000)
        return page

    yield make
    for context in contexts:
        context.close()


def test_administrator_edit_survives_step_up_and_officer_approves(demo, new_page):
    admin = demo.of("admin")
    page = new_page()
    # Signed in with the previous step's code, so that the step-up below takes a newer one.
    sign_in(page, admin, code=totp(admin.totp_secret, steps_ago=1))
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Policy draft").click()
    expect(page.get_by_role("heading", name="Policy draft: prod")).to_be_visible()
    age_verification(page.context)  # the administrator came back from lunch

    page.get_by_role("link", name="seed-network-unknown").click()
    expect(page.get_by_label("Attribute")).to_have_value("network")
    expect(page.get_by_label("Condition")).to_have_value("unknown")
    page.get_by_label("Score").fill("20")
    page.get_by_role("button", name="Save").click()

    expect(page.get_by_role("heading", name="Confirm it is you")).to_be_visible()
    assert RiskRule.objects.get(environment="prod", name="seed-network-unknown").score == 15
    page.get_by_label("One-time code", exact=True).fill(totp(admin.totp_secret))
    page.get_by_role("button", name="Verify").click()
    # The kept edit is sent again by itself: the draft shows the new score without a second Save.
    expect(page.get_by_role("heading", name="Policy draft: prod")).to_be_visible()
    rule = RiskRule.objects.get(environment="prod", name="seed-network-unknown")
    assert rule.score == 20
    expect(page.get_by_role("row", name="seed-network-unknown")).to_contain_text("20")

    page.get_by_role("button", name="Request publication").click()
    expect(page.get_by_role("heading", name="prod v1")).to_be_visible()
    publication = PolicyVersion.objects.get(environment="prod", version=1)
    assert publication.state == PublicationState.PENDING and publication.author.username == admin.username
    shot(page, "newcomer-admin-requested")

    officer = demo.of("security")
    second = new_page()
    sign_in(second, officer)
    second.get_by_role("navigation", name="Main").get_by_role("link", name="Publications").click()
    second.get_by_role("link", name="v1").first.click()
    second.get_by_role("button", name="Approve and publish").click()
    expect(second.locator("[data-state]")).to_have_text("Approved")
    publication.refresh_from_db()
    assert publication.state == PublicationState.APPROVED and publication.approver.username == officer.username
    shot(second, "newcomer-officer-approved")


def test_trader_enrolls_the_demo_hardware_token_and_signs_in_with_it(demo, new_page):
    trader = demo.of("trader")
    serial, seed = demo.tokens[0]
    page = new_page()
    sign_in(page, trader)
    page.get_by_role("link", name=trader.username, exact=True).click()
    enroll = page.get_by_role("region", name="Add a hardware token")
    enroll.get_by_label("Serial number").fill(serial)
    enroll.get_by_label("First code").fill(hotp(seed, 0))
    enroll.get_by_label("Next code").fill(hotp(seed, 1))
    enroll.get_by_role("button").click()
    expect(page.get_by_text(serial).first).to_be_visible()
    device = OathDevice.objects.get(user__username=trader.username, token__serial=serial)
    assert device.confirmed

    page.get_by_role("button", name="Sign out").click()
    page.get_by_label("Username").fill(trader.username)
    page.get_by_label("Password").fill(trader.password)
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Enter your one-time code")).to_be_visible()
    expect(page.get_by_role("combobox")).to_have_count(0)  # nothing to choose: any device's code is accepted
    page.get_by_label("One-time code", exact=True).fill(hotp(seed, 2))
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(page.get_by_text(f"Signed in with {device.name}.")).to_be_visible()
    # The trader's dashboard is about the trader: the token, this session, the sponsored demo algorithm.
    expect(page.get_by_test_id("my-mfa")).to_contain_text("(this session)")
    expect(page.get_by_test_id("my-sponsored")).to_contain_text("algo-rfq-demo")
    shot(page, "newcomer-trader-hardware-sign-in")


def test_security_officer_issues_and_downloads_a_certificate(demo, new_page, tmp_path: Path):
    officer = demo.of("security")
    page = new_page()
    sign_in(page, officer)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Certificates", exact=True).click()
    expect(page.get_by_role("link", name="/pki/ocsp")).to_be_visible()
    page.get_by_role("link", name="Issue from a CSR").click()
    page.get_by_label("Identity (username or id)").fill("algo-rfq-demo")
    page.get_by_label("Profile").select_option("fix-client")
    page.get_by_label("CSR (PEM)").fill(make_csr(cn="algo-rfq-demo"))
    page.get_by_role("button", name="Issue certificate").click()
    expect(page.get_by_test_id("certificate-status")).to_have_text("Active")
    cert = Certificate.objects.get(identity__user__username="algo-rfq-demo")

    with page.expect_download() as download:
        page.get_by_role("link", name="Download certificate (PEM)").click()
    leaf_path = tmp_path / "leaf.pem"
    download.value.save_as(leaf_path)
    leaf = x509.load_pem_x509_certificates(leaf_path.read_bytes())
    assert len(leaf) == 1 and leaf[0].fingerprint(hashes.SHA256()).hex() == cert.sha256

    with page.expect_download() as download:
        page.get_by_role("link", name="Download full chain (PEM)").click()
    chain_path = tmp_path / "chain.pem"
    download.value.save_as(chain_path)
    chain = x509.load_pem_x509_certificates(chain_path.read_bytes())
    assert chain[0] == leaf[0] and len(chain) >= 2
    for child, parent in itertools.pairwise(chain):
        child.verify_directly_issued_by(parent)

    # The identity page lists the certificate too.
    page.goto(f"/accounts/identities/{cert.identity_id}/")
    expect(page.get_by_test_id("identity-certificates")).to_contain_text(cert.serial[:10])
    shot(page, "newcomer-identity-certificates")
