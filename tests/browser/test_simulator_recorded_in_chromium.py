"""The simulator page in Chromium: recorded Logon decisions the draft would decide differently, listed and linked."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from accounts.models import DeviceRegistration
from policies import actions
from tests.browser.test_console_in_chromium import oath_totp, shot, sign_in
from tests.policies.helpers import build_rfq_policy
from tests.policies.test_simulator_recorded_decisions import _recorded

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_simulator_lists_recorded_decisions_the_draft_changes(page, personas):
    policy = build_rfq_policy(personas)
    DeviceRegistration.objects.create(
        owner=personas["trader"].user.identity,
        kind="trader_workstation",
        platform="Windows 11",
        serial="WS-TINA-1",
        managed=True,
        compliance="compliant",
    )
    actions.create_access_rule(
        None,
        environment="prod",
        name="trader-logon",
        subject_kind="identity",
        subject_identity=personas["trader"].user.identity,
        target_segment=policy["segment"],
        message_types=["A"],
    )
    _recorded(personas, 1, identity="tina", outcome="step_up", score=30, source_ip="10.20.3.4")
    home = _recorded(personas, 2, identity="tina", outcome="allow", score=15)
    _recorded(personas, 3, identity="carla", outcome="deny", score=15)

    admin = personas["admin"]
    sign_in(page, admin.username)
    page.get_by_label("One-time code", exact=True).fill(oath_totp(admin.base32_secret))
    page.get_by_role("button", name="Verify").click()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Simulator").click()
    section = page.get_by_test_id("recorded-impact")
    expect(section.get_by_role("heading", name="Recorded decisions against the draft")).to_be_visible()
    expect(section.get_by_test_id("recorded-summary")).to_contain_text("1 of 3 recorded decisions would change")
    table = section.get_by_role("table", name="Recorded Logon decisions whose outcome the draft changes")
    row = table.locator(f'tr[data-decision="{home.pk}"]')
    expect(row).to_contain_text("allow")
    expect(row).to_contain_text("deny")
    expect(table.locator("tbody tr")).to_have_count(1)
    shot(page, "simulator-recorded")
    row.get_by_role("link", name="session").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("0000000000000002")
