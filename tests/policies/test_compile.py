"""Compilation is deterministic, and the bundle it writes verifies with the downloadable public key."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from pep.bundle import key_ring, load_public_key, verify_bundle
from policies import actions, selectors
from policies.models import PolicyVersion

ROOT = Path(__file__).resolve().parents[2]


def test_compiling_twice_gives_identical_bytes(rfq_policy):
    assert selectors.signed_draft("prod") == selectors.signed_draft("prod")


def test_compile_is_independent_of_row_order(personas, signing_key):
    from tests.policies.helpers import build_rfq_policy

    build_rfq_policy(personas)
    actions.create_network_zone(None, environment="prod", name="a-zone", cidrs=["192.0.2.0/24", "10.9.0.0/16"])
    first = json.loads(selectors.signed_draft("prod"))["payload"]
    assert [z["id"] for z in first["network_zones"]] == ["a-zone", "london-office"]
    assert first["network_zones"][0]["cidrs"] == ["10.9.0.0/16", "192.0.2.0/24"]


def test_compile_policy_command_and_pep_verify(rfq_policy, tmp_path, personas, verified_client):
    out = tmp_path / "bundle.json"
    call_command("compile_policy", "--environment", "prod", "--draft", "--out", str(out))
    again = tmp_path / "again.json"
    call_command("compile_policy", "--environment", "prod", "--draft", "--out", str(again))
    assert out.read_bytes() == again.read_bytes()

    response = verified_client(personas["compliance"]).get("/policies/signing-key.pem")
    assert response.status_code == 200
    key = tmp_path / "key.pem"
    key.write_bytes(response.content)
    result = subprocess.run(
        [sys.executable, "-m", "pep", "verify", str(out), "--public-key", str(key)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    verified = verify_bundle(out.read_bytes(), key_ring(load_public_key(response.content)))
    assert verified.payload["environment"] == "prod"
    assert {r["id"] for r in verified.payload["access_rules"]} == {"trader-rfq"}

    tampered = json.loads(out.read_bytes())
    tampered["payload"]["bands"]["deny"] = 99
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(tampered))
    result = subprocess.run(
        [sys.executable, "-m", "pep", "verify", str(bad), "--public-key", str(key)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1


def test_compile_published_needs_an_approved_version(rfq_policy, tmp_path, personas):
    with pytest.raises(CommandError):
        call_command("compile_policy", "--environment", "prod", "--out", str(tmp_path / "b.json"))
    pv = actions.request_publication(personas["admin"].user, environment="prod")
    actions.approve_publication(personas["security"].user, pv)
    out = tmp_path / "published.json"
    call_command("compile_policy", "--environment", "prod", "--out", str(out))
    assert out.read_text() == PolicyVersion.objects.get(pk=pv.pk).bundle


def test_init_signing_key_refuses_a_second_key_without_rotate(signing_key):
    with pytest.raises(CommandError):
        call_command("init_signing_key")
    call_command("init_signing_key", "--rotate")
    from policies.models import SigningKey

    assert SigningKey.objects.filter(active=True).count() == 1
    assert SigningKey.objects.count() == 2
    assert "PRIVATE" not in SigningKey.objects.first().private_key


def test_no_signing_key_is_a_clear_error(personas):
    from tests.policies.helpers import build_rfq_policy

    build_rfq_policy(personas)
    with pytest.raises(actions.PolicyError, match="init_signing_key"):
        actions.request_publication(personas["admin"].user, environment="prod")
