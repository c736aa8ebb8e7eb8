"""``python -m pep``: keygen, sign, verify (exit 0/1 with the reason) and decide (JSON), as a gateway runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pep.builder import build_payload
from tests.pep.conftest import policy

ROOT = Path(__file__).resolve().parents[2]


def pep(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pep", *args], cwd=ROOT, capture_output=True, text=True, input=stdin, timeout=60
    )


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    paths = {n: str(tmp_path / n) for n in ("key.pem", "pub.pem", "payload.json", "bundle.json", "request.json")}
    assert pep("keygen", "--private", paths["key.pem"], "--public", paths["pub.pem"]).returncode == 0
    Path(paths["payload.json"]).write_text(json.dumps(build_payload(**policy(version=4))))
    signing = pep("sign", paths["payload.json"], "--private-key", paths["key.pem"], "--out", paths["bundle.json"])
    assert signing.returncode == 0, signing.stderr
    Path(paths["request.json"]).write_text(
        json.dumps(
            {
                "identity": "alice",
                "certificate_fingerprint": "ab" * 32,
                "authentication": "hardware",
                "device": "laptop-a",
                "source_ip": "81.2.69.7",
                "target": "rfq-gateway",
                "message_type": "R",
                "time": "2026-11-23T10:00:00Z",
            }
        )
    )
    return paths


def test_keygen_prints_the_key_id(tmp_path: Path):
    result = pep("keygen", "--private", str(tmp_path / "k"), "--public", str(tmp_path / "p"))
    assert result.returncode == 0
    assert result.stdout.startswith("ed25519-")


def test_verify_ok_exits_0(files):
    result = pep("verify", files["bundle.json"], "--public-key", files["pub.pem"])
    assert result.returncode == 0, result.stderr
    assert "version 4" in result.stdout


def test_verify_tampered_exits_1_with_the_reason(files):
    doc = json.loads(Path(files["bundle.json"]).read_text())
    doc["payload"]["bands"]["deny"] = 100
    Path(files["bundle.json"]).write_text(json.dumps(doc))
    result = pep("verify", files["bundle.json"], "--public-key", files["pub.pem"])
    assert result.returncode == 1
    assert "bad signature" in result.stderr


def test_verify_with_another_key_exits_1_unknown_key_id(files, tmp_path: Path):
    pep("keygen", "--private", str(tmp_path / "k2"), "--public", str(tmp_path / "p2"))
    result = pep("verify", files["bundle.json"], "--public-key", str(tmp_path / "p2"))
    assert result.returncode == 1
    assert "unknown key id" in result.stderr


def test_verify_malformed_exits_1(files):
    Path(files["bundle.json"]).write_text("{")
    result = pep("verify", files["bundle.json"], "--public-key", files["pub.pem"])
    assert result.returncode == 1
    assert "malformed" in result.stderr


def test_decide_prints_the_decision_as_json(files):
    result = pep(
        "decide", "--bundle", files["bundle.json"], "--public-key", files["pub.pem"], "--input", files["request.json"]
    )
    assert result.returncode == 0, result.stderr
    decision = json.loads(result.stdout)
    assert (decision["outcome"], decision["score"], decision["matched_rule"]) == ("allow", 15, "ar-fx-rfq")
    assert decision["bundle_version"] == 4
    assert sum(c["score"] for c in decision["contributions"]) == 15


def test_decide_reads_a_list_from_stdin(files):
    request = json.loads(Path(files["request.json"]).read_text())
    batch = json.dumps([request, {**request, "message_type": "D"}])
    result = pep(
        "decide", "--bundle", files["bundle.json"], "--public-key", files["pub.pem"], "--input", "-", stdin=batch
    )
    assert [d["outcome"] for d in json.loads(result.stdout)] == ["allow", "deny"]


def test_decide_with_a_bad_request_exits_1(files):
    Path(files["request.json"]).write_text(json.dumps({"identity": "alice"}))
    result = pep(
        "decide", "--bundle", files["bundle.json"], "--public-key", files["pub.pem"], "--input", files["request.json"]
    )
    assert result.returncode == 1
    assert "missing request fields" in result.stderr
