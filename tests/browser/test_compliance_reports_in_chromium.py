"""A compliance officer in real Chromium: filter the audit log, open an event, read each report with its chart,
export a report as a signed PDF with progress, download it, verify it with the command; verify the whole chain."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from certificates import actions as certificate_actions
from policies import actions as policy_actions
from reports.models import AccessAttestation, AuditExport
from tests.browser.test_console_in_chromium import oath_totp, shot, sign_in
from tests.certificates.helpers import make_algo, make_csr
from tests.policies.helpers import build_rfq_policy
from tests.reports.helpers import offline_verify, record
from ztconsole.core.models import AuditEvent

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

REPORTS = (
    ("MFA coverage", "mfa-coverage"),
    ("Access review", "access-review"),
    ("Policy change history", "policy-changes"),
    ("Certificates", "certificates"),
    ("Decisions", "decisions"),
)


def test_compliance_officer_explores_reads_reports_exports_and_verifies(
    page, personas, celery_worker_thread, settings, tmp_path
):
    settings.ZT_EXPORT_DIR = str(tmp_path / "exports")
    policy_actions.init_signing_key(None)
    build_rfq_policy(personas)  # tina may send R and S to rfq-gateway
    publication = policy_actions.request_publication(personas["admin"].user, environment="prod")
    policy_actions.approve_publication(personas["security"].user, publication)
    certificate_actions.init_ca(None)
    algo = make_algo(personas["trader"].user, name="algo-report", comp_ids=("REPORT1",))
    profile = certificate_actions.profile_by_name("fix-client")
    issued = [
        certificate_actions.issue_from_csr(None, identity=algo, profile=profile, csr_pem=make_csr()) for _ in "ab"
    ]
    certificate_actions.renew_certificate(None, issued[0])
    certificate_actions.revoke_certificate(None, issued[1], reason="keyCompromise", comment="key left on a laptop")
    for i in range(12):
        record(personas["admin"].user, "identity.updated", {"from": f"Trader {i}", "to": f"Desk {i}"})
        record(None, "auth.login_failed", {"username": f"user{i}"})
    csp_errors: list[str] = []
    page.on(
        "console",
        lambda message: (
            csp_errors.append(message.text)
            if message.type == "error" and "Content Security Policy" in message.text
            else None
        ),
    )
    officer = personas["compliance"]
    sign_in(page, officer.username)
    page.get_by_label("One-time code", exact=True).fill(oath_totp(officer.base32_secret))
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()

    # The explorer: two filters, held in the URL; a row opens the whole event.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit log").click()
    page.get_by_label("Actor (username)").fill("alice")
    page.get_by_label("Action", exact=True).fill("identity.updated")
    page.get_by_label("Action match").select_option("exact")
    page.get_by_role("button", name="Filter").click()
    # The address holds exactly the filters in use, so the view can be bookmarked and shared.
    expect(page).to_have_url(re.compile(r"/audit/\?actor=alice&action=identity\.updated&action_match=exact$"))
    rows = page.locator("table.audit-table tbody tr")
    expect(rows).to_have_count(12)
    shot(page, "audit-explorer-filtered")
    newest = AuditEvent.objects.filter(action="identity.updated").order_by("-seq").first()
    page.get_by_role("link", name=f"Open event {newest.seq}").click()
    expect(page.get_by_role("heading", name=f"Audit event #{newest.seq}")).to_be_visible()
    expect(page.locator("[data-verify-result]")).to_have_attribute("data-verify-result", "ok")
    expect(page.locator("[data-event-hash]")).to_have_text(newest.hash)
    expect(page.get_by_role("cell", name="Desk 11")).to_be_visible()  # before/after of the change
    shot(page, "audit-event")

    # Each report, with its chart drawn by the vendored Chart.js and its data as a table.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Reports").click()
    for title, slug in REPORTS:
        page.goto(f"/reports/{slug}/")
        expect(page.get_by_role("heading", name=title, exact=True)).to_be_visible()
        expect(page.locator("canvas[data-chart-drawn=true]")).to_have_count(2)
        expect(page.locator("[data-report-controls]")).to_contain_text("NYDFS" if slug != "policy-changes" else "SEC")
        shot(page, f"report-{slug}")

    # The reviewer attests tina's line of the access review; the decision is shown and audited.
    page.goto("/reports/access-review/")
    page.get_by_label("Comment on tina / trader-rfq").fill("desk head confirmed")
    page.get_by_role("row", name="tina").get_by_role("button", name="Attest").click()
    expect(page.get_by_text("Attested: tina through direct (trader-rfq).")).to_be_visible()
    expect(page.get_by_role("row", name="tina")).to_contain_text("carla")
    assert AccessAttestation.objects.get().comment == "desk head confirmed"
    assert AuditEvent.objects.get(action="access_review.attested").actor_label == officer.username

    # Export the MFA coverage report as a signed PDF, follow the progress, download, verify offline.
    page.goto("/reports/mfa-coverage/")
    page.get_by_label("Export format").select_option("pdf")
    page.get_by_role("button", name="Export signed archive").click()
    expect(page.get_by_role("heading", name="Report export: mfa-coverage")).to_be_visible()
    expect(page.get_by_text("Done:")).to_be_visible(timeout=60000)
    expect(page.locator("progress")).to_have_attribute("value", "100")
    shot(page, "report-export-done")
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
    assert "report 'mfa-coverage'" in result.stdout
    export = AuditExport.objects.get()
    assert export.report == "mfa-coverage" and export.format == "pdf"
    assert AuditEvent.objects.filter(action="report_export.downloaded", actor_label=officer.username).count() == 1

    # The whole chain, verified by a worker with a progress bar; the result is audited.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Chain verification").click()
    page.get_by_role("button", name="Verify the whole chain").click()
    expect(page.locator("[data-export-result]")).to_contain_text("audit chain intact", timeout=60000)
    expect(page.locator("progress")).to_have_attribute("value", "100")
    shot(page, "audit-chain-verified")
    verified = AuditEvent.objects.get(action="audit.verified")
    assert verified.details["intact"] is True and verified.details["checked"] > 24
    assert not csp_errors, csp_errors
