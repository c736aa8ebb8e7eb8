"""The convergence ledger in real Chromium: rows and the summary update live, over the console's websocket,
while a publication is approved and real enforcement points acknowledge it."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from policies import actions as policy_actions
from tests.browser.test_console_in_chromium import oath_totp, shot, sign_in
from tests.distribution.conftest import pep_fleet, pki, published, signing_key, worker_process  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.timeout(300)]


def test_the_ledger_updates_live_while_a_publication_is_approved(page, personas, published, pep_fleet, worker_process):  # noqa: F811
    points = [pep_fleet.register(name) for name in ("pep-ldn", "pep-nyc")]
    for creds in points:
        pep_fleet.start(creds)
    admin = personas["admin"]
    sign_in(page, admin.username)
    page.get_by_label("One-time code", exact=True).fill(oath_totp(admin.base32_secret))
    page.get_by_role("button", name="Verify").click()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Enforcement points").click()
    expect(page.get_by_role("heading", name="Enforcement points: prod")).to_be_visible()
    expect(page.locator("[data-live-status]")).to_have_text("live")
    expect(page.locator("[data-converged-count]")).to_have_text("0")
    expect(page.locator("[data-active-count]")).to_have_text("2")
    ldn = page.locator('tr[data-point="pep-ldn"]')
    expect(ldn.locator('[data-field="version"]')).to_have_text("—")
    page.evaluate("window.__stillTheSamePage = true")

    pv = policy_actions.request_publication(admin.user, environment="prod")
    policy_actions.approve_publication(personas["security"].user, pv)

    for name in ("pep-ldn", "pep-nyc"):
        row = page.locator(f'tr[data-point="{name}"]')
        expect(row.locator('[data-field="version"]')).to_have_text(f"v{pv.version}", timeout=30000)
        expect(row.locator('[data-field="lag"]')).to_have_text("in force")
    expect(page.locator("[data-converged-count]")).to_have_text("2")
    expect(page.get_by_role("heading", name=f"In force: v{pv.version}", exact=False)).to_be_visible()
    assert page.evaluate("window.__stillTheSamePage === true"), "the page was reloaded instead of updated"
    shot(page, "enforcement-ledger-converged")

    page.goto(f"/policies/publications/{pv.pk}/")
    reach = page.get_by_test_id("publication-reach")
    expect(reach.locator('tr[data-point="pep-ldn"]')).to_contain_text("acknowledged")
    page.goto("/")
    expect(page.get_by_test_id("enforcement-tile")).to_contain_text("2/2")
