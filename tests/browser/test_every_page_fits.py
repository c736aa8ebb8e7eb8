"""Every console page, for every role, at 1366 px and 390 px: no horizontal page overflow, no CSP violation.

The pages come from the authorization matrix (every named URL has a row there), so a new page is checked
as soon as it has its row. Screenshots land in var/screenshots/pages/<role>/<width>/ for a person to look at.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from accounts.actions import register_device
from certificates import actions as certificate_actions
from policies import actions as policy_actions
from policies.models import AccessRule, NetworkZone, RiskRule, Segment
from tests.browser.demo_data import PERSONA_OF_ROLE, load_demo, sign_in
from tests.certificates.helpers import make_csr
from tests.core.test_authorization_matrix import MATRIX, PUBLIC

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots" / "pages"
WIDTHS = (1366, 390)
NOT_PAGES = {
    "certificates:download_pem",
    "certificates:download_chain",
    "policies:signing_key",
    "reports:audit_export_download",
    "reports:audit_export_status",
    "core:audit_verification_status",
    "reports:export_public_key",
    "healthz-details",  # JSON, and 503 while the test runs no Celery worker
}  # files and JSON, not pages
ROLES = ("admin", "security", "trader", "compliance")


def _objects(demo) -> dict[str, int]:
    """The primary key behind each reference the matrix's page rows use, from the demo's own data."""
    User = get_user_model()
    algorithm = User.objects.get(username="algo-rfq-demo").identity
    profile = certificate_actions.profile_by_name("fix-client")
    certificate = certificate_actions.issue_from_csr(None, identity=algorithm, profile=profile, csr_pem=make_csr())
    tina = User.objects.get(username=PERSONA_OF_ROLE["trader"])
    device = register_device(None, owner=tina.identity, kind="trader_workstation", platform="Windows 11", serial="WS-1")
    publication = policy_actions.request_publication(
        User.objects.get(username=PERSONA_OF_ROLE["admin"]), environment="prod"
    )
    from reports.models import AuditExport
    from tests.distribution.helpers import register

    admin = User.objects.get(username=PERSONA_OF_ROLE["admin"])
    point = register("pep-pages", actor=admin).point
    from django.utils import timezone

    from sessions.models import FixSession

    now = timezone.now()
    session = FixSession.objects.create(
        point=point,
        environment="prod",
        session_id="0123456789abcdef",
        boot="0123456789ab",
        last_seq=4,
        state="logged_on",
        identity=tina.identity,
        identity_name=tina.username,
        sender_comp_id="TINA1",
        target_comp_id="RFQVENUE",
        tls_version="TLSv1.3",
        cipher="TLS_AES_256_GCM_SHA384",
        peer_fingerprint="ab" * 32,
        outcome="allow",
        score=15,
        contributions=[{"rule_id": "rr-ip", "attribute": "network", "condition": "unknown", "score": 15}],
        matched_rule="ar-rfq",
        started_at=now,
        updated_at=now,
    )
    export = AuditExport.objects.create(
        requested_by=User.objects.get(username=PERSONA_OF_ROLE["compliance"]), format="csv"
    )
    from django.db import transaction

    from ztconsole.core import audit
    from ztconsole.core.models import AuditVerification

    with transaction.atomic():
        event = audit.record(admin, "identity.updated", tina.identity, {"from": "Trader", "to": "Desk head"})
    verification = AuditVerification.objects.create(
        requested_by=User.objects.get(username=PERSONA_OF_ROLE["compliance"])
    )
    from tests.alerts.helpers import matrix_alert

    return {
        "alert": matrix_alert(),
        "audit_event": event.seq,
        "audit_verification": verification.pk,
        "report_slug": "access-review",
        "enforcement_point": point.pk,
        "fix_session": session.pk,
        "audit_export": export.pk,
        "trader": tina.identity.pk,
        "certificate": certificate.pk,
        "trader_registered_device": device.pk,
        "policy_segment": Segment.objects.filter(environment="prod").first().pk,
        "policy_zone": NetworkZone.objects.filter(environment="prod").first().pk,
        "policy_access_rule": AccessRule.objects.filter(environment="prod").first().pk,
        "policy_risk_rule": RiskRule.objects.filter(environment="prod").first().pk,
        "policy_publication": publication.pk,
    }


def _pages_for(role: str, objects: dict[str, int]) -> list[tuple[str, str]]:
    pages = []
    for name, row in sorted(MATRIX.items()):
        if row.method != "get" or row.allowed == PUBLIC or name in NOT_PAGES:
            continue
        if row.api and row.accept != "text/html":
            continue
        if role not in row.allowed:
            continue
        kwargs = {key: objects[ref] for key, ref in row.kwargs.items()}  # a KeyError: add the object above
        pages.append((name, reverse(name, kwargs=kwargs)))
    return pages


OVERFLOW = "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"


def _check(page, label: str, path: Path, problems: list[str], csp_errors: list[str]) -> None:
    overflow = page.evaluate(OVERFLOW)
    if overflow > 0:
        problems.append(f"{label}: the page is {overflow}px wider than the window")
    if csp_errors:
        problems.append(f"{label}: {csp_errors[0]}")
        csp_errors.clear()
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)


@pytest.mark.timeout(900)  # about 35 pages at two widths for an administrator
@pytest.mark.parametrize("role", ROLES)
def test_every_page_fits_at_desktop_and_phone_width(role, chromium, asgi_server):
    demo = load_demo()
    objects = _objects(demo)
    context = chromium.new_context(base_url=asgi_server, viewport={"width": WIDTHS[0], "height": 900})
    page = context.new_page()
    page.set_default_timeout(15000)
    csp_errors: list[str] = []
    page.on(
        "console",
        lambda message: (
            csp_errors.append(message.text)
            if message.type == "error" and "Content Security Policy" in message.text
            else None
        ),
    )
    problems: list[str] = []
    try:
        sign_in(page, demo.of(role))
        pages = _pages_for(role, objects)
        assert len(pages) >= 8, pages
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            for name, url in pages:
                response = page.goto(url)
                assert response is not None and response.status == 200, (
                    f"{name} as {role}: {response and response.status}"
                )
                page.wait_for_load_state("networkidle") if name == "api-docs" else None
                _check(
                    page,
                    f"{name} as {role} at {width}px",
                    SCREENSHOTS / role / str(width) / f"{name}.png",
                    problems,
                    csp_errors,
                )
    finally:
        context.close()
    assert not problems, "\n".join(problems)


def test_sign_in_pages_fit(chromium, asgi_server):
    context = chromium.new_context(base_url=asgi_server)
    page = context.new_page()
    problems: list[str] = []
    try:
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 800})
            page.goto(reverse("accounts:login"))
            _check(page, f"sign-in at {width}px", SCREENSHOTS / "anonymous" / str(width) / "login.png", problems, [])
    finally:
        context.close()
    assert not problems, "\n".join(problems)


def test_dark_mode_follows_the_system_setting(chromium, asgi_server):
    demo = load_demo()
    context = chromium.new_context(base_url=asgi_server, color_scheme="dark", viewport={"width": 1366, "height": 900})
    page = context.new_page()
    try:
        sign_in(page, demo.of("admin"))
        assert page.evaluate("() => document.documentElement.dataset.bsTheme") == "dark"
        background = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
        red, green, blue = (int(part) for part in background[background.index("(") + 1 : -1].split(",")[:3])
        assert max(red, green, blue) < 60, background
        path = SCREENSHOTS / "dark" / "core:dashboard.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(path), full_page=True)
    finally:
        context.close()
