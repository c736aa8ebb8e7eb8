"""A security officer in Chromium: a burst of wrong passwords becomes an alert on the dashboard; they open it,
acknowledge it with a comment, and change a threshold (both audited)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from alerts import detectors
from tests.alerts.helpers import wrong_passwords
from tests.browser.demo_data import load_demo, sign_in
from ztconsole.core.models import AuditEvent

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots" / "alerts"


def test_a_security_officer_acknowledges_a_burst_and_tunes_its_threshold(page):
    demo = load_demo()
    wrong_passwords("tina", 9, address="198.51.100.23")  # the per-user default is 8 within 300 s
    detectors.scan_sign_in_failures()
    sign_in(page, demo.of("security"))
    tile = page.get_by_test_id("alerts-tile")
    expect(tile).to_contain_text("Failed sign-ins for one user: tina")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "dashboard.png"), full_page=True)

    page.get_by_role("link", name="Alerts", exact=True).first.click()
    expect(page.get_by_role("heading", name="Alerts")).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "list.png"), full_page=True)
    page.get_by_role("row", name="tina").get_by_role("link").click()
    expect(page.get_by_role("heading", name="Failed sign-ins for one user: tina")).to_be_visible()
    page.get_by_label("Comment").fill("tina mistyped after a password change; spoke to her")
    page.screenshot(path=str(SCREENSHOTS / "detail.png"), full_page=True)
    page.get_by_role("button", name="Acknowledge").click()
    expect(page.locator("[data-alert-state]")).to_have_text("Acknowledged")
    assert AuditEvent.objects.get(action="alert.acknowledged").details["comment"].startswith("tina mistyped")

    page.goto("/alerts/rules/")
    form = page.get_by_role("form", name="Failed sign-ins for one user")
    form.get_by_label("Failures within the window").fill("12")
    form.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Failed sign-ins for one user updated.")).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "rules.png"), full_page=True)
    event = AuditEvent.objects.get(action="alert.rule_changed")
    assert (event.details["before"]["threshold"], event.details["after"]["threshold"]) == (8, 12)
