"""A security officer issues a certificate from a CSR and revokes it, in real Chromium."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from certificates import actions
from certificates.models import Certificate, CertificateStatus
from tests.browser.test_console_in_chromium import oath_totp, shot, sign_in
from tests.certificates.helpers import make_algo, make_csr

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_issue_from_csr_then_revoke_with_a_reason(page, personas):
    actions.init_ca(None)
    algo = make_algo(personas["trader"].user)
    officer = personas["security"]
    sign_in(page, officer.username)
    page.get_by_label("One-time code", exact=True).fill(oath_totp(officer.base32_secret))
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Certificates").click()
    page.get_by_role("link", name="Issue from a CSR").click()
    page.get_by_label("Identity (username or id)").fill("algo-alpha")
    page.get_by_label("Profile").select_option("fix-client")
    page.get_by_label("CSR (PEM)").fill(make_csr())
    page.get_by_role("button", name="Issue certificate").click()

    expect(page.get_by_text(f"urn:ztconsole:identity:{algo.pk}")).to_be_visible()
    expect(page.get_by_test_id("certificate-status")).to_have_text("Active")
    cert = Certificate.objects.get()
    expect(page.get_by_test_id("pin-spki")).to_have_text(cert.spki_sha256)
    shot(page, "certificate-issued")

    page.get_by_label("Reason", exact=True).select_option("keyCompromise")
    page.get_by_role("button", name="Revoke certificate").click()
    expect(page.get_by_test_id("certificate-status")).to_have_text("Revoked")
    expect(page.get_by_test_id("revocation-reason")).to_have_text("keyCompromise")
    cert.refresh_from_db()
    assert cert.status == CertificateStatus.REVOKED and cert.revoked_by == officer.user
