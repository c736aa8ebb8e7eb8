"""README, "Watch a revocation end a FIX session": the security officer revokes the demo algorithm's certificate
in Chromium, and the algorithm's live FIX session at a real PEP ends.

Everything is real: the demo data (`load_demo --fix-dir`'s loaders), the console on uvicorn (the PEP pulls the
published bundle from it with its token), a Celery worker (it pushes the revocation delta over mutual TLS), the
PEP process, the QuickFIX venue and counterparty.
"""

from __future__ import annotations

import re
import sys

import pytest
from playwright.sync_api import expect

from fixsim.configs import load_manifest, pep_config
from tests.browser.demo_data import load_demo, sign_in
from tests.browser.test_console_in_chromium import shot
from tests.core.demo_helpers import Child, free_port, stopped_at_end
from tests.pep_gateway.harness import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def children():
    yield from stopped_at_end()


@pytest.fixture
def quiet_queue():
    """The uat point is registered but not started: its pending pushes must not outlive the test (ids get reused)."""
    from tests.distribution.conftest import purge_queue

    purge_queue()
    yield
    purge_queue()


def test_revoking_in_the_browser_ends_the_algorithms_fix_session(
    page, asgi_server, celery_worker_thread, quiet_queue, tmp_path, children
):
    from console.demo_fix import DemoPorts, load_demo_fix

    # Given the demo, its prod PEP pulling from the console, the venue and the quoter logged on through the PEP,
    demo = load_demo()
    ports = {environment: (free_port(), free_port()) for environment in ("prod", "uat")}
    load_demo_fix(tmp_path / "fix", DemoPorts(free_port(), ports))
    manifest_path = tmp_path / "fix" / "manifest.json"
    manifest = load_manifest(manifest_path)
    prod = next(p for p in manifest["peps"] if p["environment"] == "prod")
    config = tmp_path / "pep-prod.toml"
    config.write_text(pep_config(manifest, prod, console_url=asgi_server, poll_interval_seconds=30))
    children.append(
        Child("venue", [sys.executable, "-m", "fixsim", "venue", "--manifest", str(manifest_path)], tmp_path)
    )
    pep = Child("pep", [sys.executable, "-m", "pep", "serve", "--config", str(config)], tmp_path)
    children.append(pep)
    assert wait_for(lambda: '"status": "ok"' in pep.output(), timeout=20), pep.output()
    argv = [sys.executable, "-m", "fixsim", "counterparties", "--manifest", str(manifest_path), "--only", "quoter"]
    quoter = Child("counterparties", argv, tmp_path)
    children.append(quoter)
    assert wait_for(lambda: "[quoter] logged on" in quoter.output(), timeout=20), quoter.output()

    # when the security officer revokes algo-quoter's active certificate on its identity page,
    page.set_default_timeout(15000)
    sign_in(page, demo.of("security"))
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Identities").click()
    page.get_by_role("link", name="Demo quoting algorithm").click()
    page.get_by_role("row").filter(has_text="Active").get_by_role("link").first.click()
    page.get_by_label("Reason", exact=True).select_option("keyCompromise")
    page.get_by_role("button", name="Revoke certificate").click()
    expect(page.get_by_text(re.compile(r"revoked \(keyCompromise\)"))).to_be_visible()
    shot(page, "demo-revocation-certificate")

    # then the PEP logs the session out, its Logout (58) naming the revocation delta, and QuickFIX sees it end.
    ended = re.compile(r"\[quoter\] session ended: revocation \d+: certificate revoked")
    assert wait_for(lambda: ended.search(quoter.output()), timeout=15), quoter.output()
