"""Maker-checker in real Chromium: the author requests, cannot approve, and a second officer approves with a
fresh one-time code (step-up)."""

from __future__ import annotations

import time

import pytest
from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from playwright.sync_api import expect

from accounts.actions import VERIFIED_AT_SESSION_KEY
from policies import actions
from policies.models import PolicyVersion, PublicationState
from tests.browser.test_console_in_chromium import oath_totp, shot, sign_in
from tests.policies.helpers import build_rfq_policy

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _session_store(session_key: str) -> SessionBase:
    from importlib import import_module

    return import_module(settings.SESSION_ENGINE).SessionStore(session_key=session_key)


def test_author_requests_and_a_second_officer_approves_with_a_fresh_code(page, chromium, asgi_server, personas):
    build_rfq_policy(personas)
    actions.init_signing_key(None)

    author = personas["admin"]
    sign_in(page, author.username)
    page.get_by_label("One-time code", exact=True).fill(oath_totp(author.base32_secret))
    page.get_by_role("button", name="Verify").click()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Policy").click()
    expect(page.get_by_role("heading", name="Policy draft: prod")).to_be_visible()
    page.get_by_role("button", name="Request publication").click()
    expect(page.get_by_role("heading", name="prod v1")).to_be_visible()
    expect(page.get_by_text("You requested this publication")).to_be_visible()
    expect(page.get_by_role("button", name="Approve and publish")).to_have_count(0)
    pv = PolicyVersion.objects.get(environment="prod", version=1)
    assert pv.author == author.user and pv.state == PublicationState.PENDING
    shot(page, "publication-requested")

    officer = personas["security"]
    context = chromium.new_context(base_url=asgi_server, viewport={"width": 1280, "height": 860})
    try:
        second = context.new_page()
        second.set_default_timeout(15000)
        sign_in(second, officer.username)
        # Sign in with the previous step's code, so that the step-up below needs a newer one.
        second.get_by_label("One-time code", exact=True).fill(officer.current_code(-1))
        second.get_by_role("button", name="Verify").click()
        expect(second.get_by_role("heading", name="Dashboard")).to_be_visible()
        session_key = next(c["value"] for c in context.cookies() if c["name"] == settings.SESSION_COOKIE_NAME)
        store = _session_store(session_key)
        store[VERIFIED_AT_SESSION_KEY] = time.time() - 3600  # the sign-in code is no longer fresh
        store.save()

        second.goto(f"/policies/publications/{pv.pk}/")
        expect(second.get_by_role("cell", name="trader-rfq")).to_be_visible()  # the diff: the access rule added
        second.get_by_role("button", name="Approve and publish").click()
        expect(second.get_by_role("heading", name="Confirm it is you")).to_be_visible()
        assert PolicyVersion.objects.get(pk=pv.pk).state == PublicationState.PENDING
        second.get_by_label("One-time code", exact=True).fill(oath_totp(officer.base32_secret))
        second.get_by_role("button", name="Verify").click()
        # The approval was kept across the step-up and is completed without a second click.
        expect(second.get_by_role("heading", name="prod v1")).to_be_visible()
        expect(second.locator("[data-state]")).to_have_text("Approved")
        shot(second, "publication-approved")
    finally:
        context.close()
    pv.refresh_from_db()
    assert pv.state == PublicationState.APPROVED and pv.approver == officer.user


def test_simulator_shows_the_seed_worked_example(page, personas):
    from accounts.models import DeviceRegistration

    build_rfq_policy(personas)
    laptop = DeviceRegistration.objects.create(
        owner=personas["trader"].user.identity,
        kind="trader_workstation",
        platform="Windows 11",
        serial="WS-TINA-1",
        managed=True,
        compliance="compliant",
    )
    admin = personas["admin"]
    sign_in(page, admin.username)
    page.get_by_label("One-time code", exact=True).fill(oath_totp(admin.base32_secret))
    page.get_by_role("button", name="Verify").click()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Simulator").click()
    expect(page.get_by_role("heading", name="Decision simulator")).to_be_visible()
    page.get_by_label("Identity").select_option(str(personas["trader"].user.identity.pk))
    page.get_by_label("Device").select_option(str(laptop.pk))
    page.get_by_label("Authentication").select_option("hardware")
    page.get_by_label("Source IP").fill("81.2.69.7")
    page.get_by_label("Target").fill("rfq-gateway")
    page.get_by_label("Message type").fill("R")
    page.get_by_role("button", name="Decide").click()
    draft = page.get_by_test_id("draft-decision")
    expect(draft.locator("[data-outcome]")).to_have_text("allow")
    expect(draft.locator("[data-score]")).to_have_text("15")
    expect(draft.get_by_role("cell", name="seed-network-unknown")).to_be_visible()
    expect(page.get_by_test_id("published-decision")).to_contain_text("Nothing published")
    shot(page, "simulator")
