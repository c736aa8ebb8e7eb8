"""FIX sessions in real Chromium: a session appears, changes and ends on the page without a reload, as the
enforcement point's events arrive; the detail page shows its timeline and the Terminate form."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.test_console_in_chromium import oath_totp, shot, sign_in
from tests.distribution.conftest import pki  # noqa: F401
from tests.sessions.conftest import point  # noqa: F401
from tests.sessions.helpers import Feed, post_events, session_id

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]


def test_a_session_appears_changes_and_ends_live(page, personas, point):  # noqa: F811
    officer = personas["security"]
    sign_in(page, officer.username)
    page.get_by_label("One-time code", exact=True).fill(oath_totp(officer.base32_secret))
    page.get_by_role("button", name="Verify").click()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="FIX sessions").click()
    expect(page.get_by_role("heading", name="FIX sessions")).to_be_visible()
    expect(page.locator("[data-live-status]")).to_have_text("live")
    expect(page.locator('[data-count="live"]')).to_have_text("0")
    page.evaluate("window.__stillTheSamePage = true")

    feed, sid = Feed("pep-ldn"), session_id()
    events = feed.logged_on(sid)
    post_events(point.token, events[:2])  # connection, TLS handshake
    row = page.locator("tr", has=page.locator(f"code:text-is('{sid}')"))
    expect(row.locator('[data-field="state"]')).to_have_text("tls_established")
    expect(row.locator('[data-field="tls"]')).to_have_text("TLSv1.3")
    expect(row.locator('[data-field="tls"]')).to_have_attribute("title", "TLS_AES_256_GCM_SHA384")
    expect(page.locator('[data-count="live"]')).to_have_text("1")

    post_events(point.token, events[2:])  # Logon decision, the venue's answer
    expect(row.locator('[data-field="state"]')).to_have_text("logged_on")
    expect(row.locator('[data-field="outcome"]')).to_contain_text("allow")
    expect(row.locator('[data-field="identity"]')).to_have_text("algo-alpha ALPHA1")
    expect(page.locator('[data-count="logged_on"]')).to_have_text("1")
    shot(page, "sessions-live")

    post_events(
        point.token,
        [
            feed.event("logout", session=sid, initiator="pep", reason="revocation 4: certificate revoked"),
            feed.event("disconnect", session=sid, reason="closed"),
        ],
    )
    expect(row.locator('[data-field="state"]')).to_have_text("logged_out")
    expect(row.locator('[data-field="ended"]')).to_contain_text("revocation 4: certificate revoked")
    expect(page.locator('[data-count="live"]')).to_have_text("0")
    expect(page.locator('[data-count="ended"]')).to_have_text("1")
    assert page.evaluate("window.__stillTheSamePage === true"), "the page was reloaded instead of updated"

    row.get_by_role("link").click()
    expect(page.get_by_role("heading", name=f"Session {sid}")).to_be_visible()
    timeline = page.locator("[data-timeline]")
    for kind in ("connection", "tls_handshake", "logon_decision", "session_live", "logout", "disconnect"):
        expect(timeline).to_contain_text(kind)
    expect(page.get_by_role("button", name="Terminate session")).to_have_count(0)  # it has ended
    shot(page, "session-detail")


def test_terminate_from_the_detail_page_and_watch_it_end(page, personas, point):  # noqa: F811
    from sessions.models import FixSession, TerminationRequest
    from tests.distribution.conftest import purge_queue

    admin = personas["admin"]
    feed, sid = Feed("pep-ldn"), session_id()
    post_events(point.token, feed.logged_on(sid))
    session = FixSession.objects.get(session_id=sid)
    sign_in(page, admin.username)
    page.get_by_label("One-time code", exact=True).fill(oath_totp(admin.base32_secret))
    page.get_by_role("button", name="Verify").click()
    page.goto(f"/sessions/{session.pk}/")
    expect(page.locator("[data-live-status]")).to_have_text("live")
    expect(page.locator('[data-live-session] [data-field="state"]')).to_have_text("logged_on")
    try:
        page.get_by_label("Reason").fill("unexpected quote flood")
        page.get_by_role("button", name="Terminate session").click()
        expect(page.get_by_text("the enforcement point is asked to end it")).to_be_visible()
        expect(page.locator("[data-terminations]")).to_contain_text("unexpected quote flood")
        expect(page.locator("[data-live-status]")).to_have_text("live")
        assert TerminationRequest.objects.get(session=session).requested_by == admin.user
        page.evaluate("window.__stillTheSamePage = true")
        # What the PEP reports once it has sent the Logout:
        post_events(
            point.token,
            [
                feed.event("logout", session=sid, initiator="console", reason="unexpected quote flood"),
                feed.event("disconnect", session=sid, reason="closed"),
            ],
        )
        expect(page.locator('[data-live-session] [data-field="state"]')).to_have_text("logged_out")
        expect(page.locator('[data-live-session] [data-field="ended"]')).to_contain_text("by console")
        expect(page.locator("[data-timeline]")).to_contain_text("disconnect")
        expect(page.get_by_role("button", name="Terminate session")).to_have_count(0)
        assert page.evaluate("window.__stillTheSamePage === true"), "the page was reloaded instead of updated"
        shot(page, "session-terminated")
    finally:
        purge_queue()  # no worker here: the terminate task must not reach a later test's worker


def test_the_dashboard_tile_counts_live(page, personas, point):  # noqa: F811
    compliance = personas["compliance"]
    sign_in(page, compliance.username)
    page.get_by_label("One-time code", exact=True).fill(oath_totp(compliance.base32_secret))
    page.get_by_role("button", name="Verify").click()
    tile = page.get_by_test_id("sessions-tile")
    expect(tile.locator('[data-count="total"]')).to_have_text("0")
    page.evaluate("window.__stillTheSamePage = true")
    feed, sid = Feed("pep-ldn"), session_id()
    post_events(point.token, feed.logged_on(sid))
    expect(tile.locator('[data-count="live"]')).to_have_text("1")
    expect(tile.locator('[data-count="logged_on"]')).to_have_text("1")
    post_events(point.token, [feed.event("disconnect", session=sid, reason="closed")])
    expect(tile.locator('[data-count="live"]')).to_have_text("0")
    expect(tile.locator('[data-count="total"]')).to_have_text("1")
    assert page.evaluate("window.__stillTheSamePage === true"), "the dashboard was reloaded instead of updated"


def test_a_held_logon_appears_in_the_sponsors_banner_live_and_leads_to_the_decision(page, personas, point):  # noqa: F811
    """Step-up for algorithms: the sponsor's sessions page shows the held Logon as it is reported, no reload;
    the link opens the decision page, which says an app code will not do."""
    from datetime import timedelta

    from django.utils import timezone

    from accounts.actions import create_non_person_identity

    trader = personas["trader"]
    create_non_person_identity(
        None,
        name="algo-banner",
        kind="algorithm",
        display_name="Banner algo",
        sponsor=trader.user.identity,
        environment="prod",
        sender_comp_ids=["BANNER1"],
    )
    sign_in(page, trader.username)
    page.get_by_label("One-time code", exact=True).fill(oath_totp(trader.base32_secret))
    page.get_by_role("button", name="Verify").click()
    page.goto("/sessions/")
    expect(page.locator("[data-live-status]")).to_have_text("live")
    banner = page.get_by_test_id("step-up-banner")
    expect(banner).to_be_hidden()

    feed, sid = Feed("pep-ldn"), session_id()
    expires = (timezone.now() + timedelta(seconds=60)).isoformat().replace("+00:00", "Z")
    post_events(
        point.token,
        [
            feed.event(
                "step_up_requested", session=sid, identity="algo-banner", reason="step-up required", expires=expires
            )
        ],
    )
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("algo-banner")
    shot(page, "sessions-step-up-banner")
    banner.get_by_role("link").click()
    expect(page.get_by_role("heading", name="Step-up for algo-banner")).to_be_visible()
    expect(page.get_by_test_id("hardware-needed")).to_contain_text("software factor")
    expect(page.get_by_role("button", name="Approve")).to_be_visible()
    shot(page, "sessions-step-up-decision")
