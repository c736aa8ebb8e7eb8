"""A compliance officer's journey in real Chromium: filter, export with progress, download, verify offline."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from reports.models import AuditExport
from tests.browser.test_console_in_chromium import oath_totp, shot, sign_in
from tests.reports.helpers import offline_verify, record
from ztconsole.core.models import AuditEvent

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_compliance_officer_exports_downloads_and_verifies(page, personas, celery_worker_thread, settings, tmp_path):
    settings.ZT_EXPORT_DIR = str(tmp_path / "exports")
    for i in range(30):
        record(personas["admin"].user, "identity.updated", {"i": i, "name": f"Trader {i}"})
        record(None, "auth.login_failed", {"username": f"user{i}"})
    officer = personas["compliance"]
    sign_in(page, officer.username)
    page.get_by_label("One-time code", exact=True).fill(oath_totp(officer.base32_secret))
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit exports").click()
    page.get_by_label("Format").select_option("csv")
    page.get_by_label("From (UTC)").fill("2000-01-01T00:00")
    page.get_by_label("Action starts with").fill("identity.")
    page.get_by_role("button", name="Export").click()

    expect(page.get_by_role("heading", name="Audit export")).to_be_visible()
    expect(page.get_by_text("Done: 30 of 30 events")).to_be_visible(timeout=60000)
    expect(page.locator("progress")).to_have_attribute("value", "100")
    shot(page, "audit-export-done")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download the signed archive").click()
    archive = tmp_path / download_info.value.suggested_filename
    download_info.value.save_as(archive)
    with page.expect_download() as key_info:
        page.get_by_role("link", name="export public key").click()
    key = tmp_path / "key.pem"
    key_info.value.save_as(key)

    result = offline_verify(archive, "--public-key", key)
    assert result.returncode == 0, result.stderr
    assert "30 exported events match their hashes" in result.stdout
    export = AuditExport.objects.get()
    assert export.filters == {"since": "2000-01-01T00:00:00.000000Z", "action_prefix": "identity."}
    assert AuditEvent.objects.filter(action="audit_export.downloaded", actor_label=officer.username).count() == 1
