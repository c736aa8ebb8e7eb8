"""The Decisions report in real Chromium: decisions posted by two PEPs through the ingestion endpoint, the charts
drawn by the vendored Chart.js, the tables, no overflow at phone width, no CSP violation; light and dark."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.test_console_in_chromium import oath_totp, shot, sign_in
from tests.browser.test_every_page_fits import OVERFLOW
from tests.distribution.conftest import pki  # noqa: F401 - the CA the enforcement points' certificates need
from tests.reports.test_decisions_report import DENY_RISK, decisions, points  # noqa: F401 - the posted decisions

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_compliance_officer_reads_the_decisions_report(page, personas, decisions):  # noqa: F811
    csp_errors: list[str] = []
    page.on(
        "console",
        lambda m: csp_errors.append(m.text) if m.type == "error" and "Content Security Policy" in m.text else None,
    )
    officer = personas["compliance"]
    sign_in(page, officer.username)
    page.get_by_label("One-time code", exact=True).fill(oath_totp(officer.base32_secret))
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Reports").click()
    page.get_by_role("link", name="Decisions", exact=True).click()
    expect(page.get_by_role("heading", name="Decisions", exact=True)).to_be_visible()
    page.goto("/reports/decisions/?since=2026-11-24&until=2026-11-30")
    expect(page.locator("canvas[data-chart-drawn=true]")).to_have_count(2)
    expect(page.get_by_role("cell", name=DENY_RISK, exact=True).first).to_be_visible()
    expect(page.get_by_role("row", name="pep-nyc")).to_contain_text("3")
    shot(page, "report-decisions")
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()  # as the page-fit test does: loaded at phone width, charts sized for it
    expect(page.locator("canvas[data-chart-drawn=true]")).to_have_count(2)
    assert page.evaluate(OVERFLOW) <= 0
    shot(page, "report-decisions-390")
    page.emulate_media(color_scheme="dark")
    page.reload()
    expect(page.locator("canvas[data-chart-drawn=true]")).to_have_count(2)
    shot(page, "report-decisions-dark")
    assert not csp_errors, csp_errors
