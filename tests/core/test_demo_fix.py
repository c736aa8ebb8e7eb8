"""`make demo`'s FIX world for real: the demo data, a PEP, the QuickFIX venue and counterparties on loopback.

The demo data comes from the same loaders `manage.py load_demo --fix-dir` runs; the PEP is `python -m pep serve`
with the config the demo writes; the venue and the counterparties are `python -m fixsim` (QuickFIX). The console's
push is `policies.distribution.actions.deliver`, the code the Celery task runs. Outcomes are read from what the PEP
reports (its event spool: no console URL in this config), not from the simulator's own claims.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from fixsim.configs import load_manifest, pep_config
from tests.core.demo_helpers import Child, free_port, stopped_at_end
from tests.pep_gateway.harness import spooled_events, wait_for

ROOT = Path(__file__).resolve().parents[2]
PROD_SESSIONS = ("quoter", "hedger", "roamer", "hedger-abroad", "stale-quoter")


def _load_demo(fix_dir: Path):
    from console.demo import load_demo_personas, load_demo_pki
    from console.demo_fix import DemoPorts, load_demo_fix
    from policies.demo import load_demo_policy

    load_demo_personas()
    load_demo_pki()
    load_demo_policy()
    ports = DemoPorts(venue=free_port(), peps={"prod": (free_port(), free_port()), "uat": (free_port(), free_port())})
    return load_demo_fix(fix_dir, ports)


def _deliver_pending(point_name: str, kind: str) -> list[str]:
    from policies.distribution import actions
    from policies.distribution.models import Delivery, DeliveryState

    pending = Delivery.objects.filter(point__name=point_name, kind=kind, state=DeliveryState.PENDING).order_by("number")
    return [actions.deliver(delivery.pk) for delivery in pending]


@pytest.fixture
def children():
    yield from stopped_at_end()


def test_every_demo_session_meets_its_path_at_a_real_pep(db, tmp_path, children):
    # Given the demo data, the prod PEP with the demo's config, the venue, and the prod counterparties.
    _load_demo(tmp_path / "fix")
    manifest = load_manifest(tmp_path / "fix" / "manifest.json")
    prod = next(p for p in manifest["peps"] if p["environment"] == "prod")
    config = tmp_path / "pep-prod.toml"
    config.write_text(pep_config(manifest, prod, console_url=None))
    manifest_path = str(tmp_path / "fix" / "manifest.json")
    children.append(Child("venue", [sys.executable, "-m", "fixsim", "venue", "--manifest", manifest_path], tmp_path))
    pep = Child("pep", [sys.executable, "-m", "pep", "serve", "--config", str(config)], tmp_path)
    children.append(pep)
    assert wait_for(lambda: '"ready": true' in pep.output(), timeout=20), pep.output()

    # When the console pushes the published version (the Celery task's code), and the counterparties start.
    assert _deliver_pending(prod["name"], "bundle") == ["applied"]
    argv = [sys.executable, "-m", "fixsim", "counterparties", "--manifest", manifest_path, "--period", "1"]
    counterparties = Child("counterparties", [*argv, "--only", ",".join(PROD_SESSIONS)], tmp_path)
    children.append(counterparties)

    state = Path(prod["state_dir"])

    def decisions() -> dict[str, dict]:
        return {e["sender_comp_id"]: e for e in spooled_events(state) if e["type"] == "logon_decision"}

    def seen_all() -> bool:
        events = spooled_events(state)
        return (
            {"QUOTER1", "HEDGER1", "ROAMER1", "HEDGER2"} <= decisions().keys()
            and any(e["type"] == "reject" and e["msg_type"] == "D" for e in events)
            and any(e["type"] == "tls_refused" for e in events)
            and "[quoter] Quote " in counterparties.output()
        )

    # Then each session meets its path, as the PEP reports it.
    assert wait_for(seen_all, timeout=40, interval=0.3), counterparties.output()[-3000:]
    outcome = decisions()
    assert outcome["QUOTER1"]["outcome"] == "allow" and outcome["QUOTER1"]["source_ip"] == "127.0.0.1"
    assert outcome["HEDGER1"]["outcome"] == "allow"
    assert outcome["ROAMER1"]["outcome"] == "step_up"
    assert {c["rule_id"] for c in outcome["ROAMER1"]["contributions"] if c["score"]} == {"seed-device-unmanaged"}
    abroad = outcome["HEDGER2"]
    assert abroad["outcome"] == "deny" and abroad["source_ip"] == "127.66.0.7"
    scored = {c["rule_id"] for c in abroad["contributions"] if c["score"]}
    assert scored == {"seed-geo-anomalous", "seed-network-unknown"}
    events = spooled_events(state)
    refused = [e for e in events if e["type"] == "tls_refused"]
    assert refused and all(e["reason"] == "certificate revoked" for e in refused)
    rejects = [e for e in events if e["type"] == "reject"]
    assert rejects and {e["msg_type"] for e in rejects} == {"D"}
    assert "rejected by the PEP (35=j)" in counterparties.output()

    # When the security officer revokes the allowed algorithm's certificate, and the console pushes the delta,
    from certificates.actions import revoke_certificate
    from certificates.models import Certificate, CertificateStatus

    quoter_session = outcome["QUOTER1"]["session"]
    certificate = Certificate.objects.get(identity__user__username="algo-quoter", status=CertificateStatus.ACTIVE)
    revoke_certificate(None, certificate, reason="keyCompromise")
    # (the demo's first delta, the stale certificate, is already in the bundle: the PEP says so)
    assert _deliver_pending(prod["name"], "revocation") == ["already_applied", "applied"]

    # then its live session is logged out by the PEP, with the revocation as the reason, and QuickFIX sees it end.
    def logout() -> dict | None:
        return next(
            (
                e
                for e in spooled_events(state)
                if e["type"] == "logout" and e["session"] == quoter_session and e["initiator"] == "pep"
            ),
            None,
        )

    ended = wait_for(logout, timeout=15, interval=0.2)
    assert ended and "revocation" in ended["reason"], spooled_events(state)[-5:]
    assert wait_for(lambda: "[quoter] session ended: revocation" in counterparties.output(), timeout=15)


def test_loading_the_demo_twice_changes_nothing(db, tmp_path):
    from policies.models import PolicyVersion

    first = _load_demo(tmp_path / "fix")
    assert "Published prod v1" in first and "Enforcement point demo-prod registered" in first
    versions = PolicyVersion.objects.count()
    manifest = (tmp_path / "fix" / "manifest.json").read_text()

    from console.demo_fix import DemoPorts, load_demo_fix

    ports = load_manifest(tmp_path / "fix" / "manifest.json")
    again = load_demo_fix(
        tmp_path / "fix",
        DemoPorts(
            venue=ports["venue"]["port"],
            peps={p["environment"]: (p["fix_port"], p["control_port"]) for p in ports["peps"]},
        ),
    )
    assert again == ""
    assert PolicyVersion.objects.count() == versions
    assert (tmp_path / "fix" / "manifest.json").read_text() == manifest


def test_the_simulator_imports_without_django():
    check = (
        "import sys, fixsim.configs, fixsim.venue, fixsim.counterparties, fixsim.__main__; "
        "sys.exit(1 if any(m.split('.')[0] in {'django', 'ztconsole', 'accounts', 'policies', 'certificates'} "
        "for m in sys.modules) else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", check],
        cwd="/",
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
