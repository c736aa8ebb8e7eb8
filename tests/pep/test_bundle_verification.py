"""A PEP refuses a bad signature, an unknown key id, a malformed document and a rollback, with clear errors."""

from __future__ import annotations

import copy
import json

import pytest

from pep.builder import build_payload
from pep.bundle import (
    BundleVerifier,
    EnvironmentMismatchError,
    MalformedBundleError,
    RollbackError,
    SignatureError,
    UnknownKeyError,
    bundle_bytes,
    generate_private_key,
    key_ring,
    sign_payload,
    verify_bundle,
)
from pep.canonical import b64url_encode
from tests.pep.conftest import policy


@pytest.fixture
def key():
    return generate_private_key()


@pytest.fixture
def verifier(key) -> BundleVerifier:
    return BundleVerifier(key_ring(key.public_key()), environment="prod")


def signed(key, **overrides) -> bytes:
    return bundle_bytes(sign_payload(build_payload(**policy(**overrides)), key))


def test_valid_bundle_loads_with_version_and_hash(key, verifier):
    bundle = verifier.load(signed(key, version=7))
    assert (bundle.environment, bundle.version) == ("prod", 7)
    assert len(bundle.sha256) == 64
    assert verifier.current is bundle


def test_tampered_payload_is_refused(key, verifier):
    doc = json.loads(signed(key))
    doc["payload"]["identities"][0]["privileged"] = True
    with pytest.raises(SignatureError, match="bad signature"):
        verifier.load(json.dumps(doc))


def test_tampered_header_is_refused(key, verifier):
    doc = json.loads(signed(key))
    doc["header"]["typ"] = "JWT"
    with pytest.raises(MalformedBundleError):
        verifier.load(json.dumps(doc))


def test_signature_by_another_key_under_our_key_id_is_refused(key, verifier):
    forged = sign_payload(build_payload(**policy()), generate_private_key())
    forged["header"]["kid"] = json.loads(signed(key))["header"]["kid"]
    with pytest.raises(SignatureError):
        verifier.load(bundle_bytes(forged))


def test_garbage_signature_is_refused(key, verifier):
    doc = json.loads(signed(key))
    doc["signature"] = b64url_encode(b"\0" * 64)
    with pytest.raises(SignatureError):
        verifier.load(json.dumps(doc))


def test_unknown_key_id_is_refused(verifier):
    with pytest.raises(UnknownKeyError, match="unknown key id"):
        verifier.load(signed(generate_private_key()))


def test_key_ring_accepts_both_keys_during_rotation(key):
    new_key = generate_private_key()
    verifier = BundleVerifier(key_ring(key.public_key(), new_key.public_key()))
    verifier.load(signed(key, version=1))
    assert verifier.load(signed(new_key, version=2)).version == 2


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"not json",
        b"[]",
        b'{"header": {}}',
        b'{"a": NaN}',
        b'{"header": {}, "payload": {"v": 1.5}, "signature": ""}',
    ],
)
def test_non_bundles_are_malformed(verifier, raw):
    with pytest.raises(MalformedBundleError):
        verifier.load(raw)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: p.update(version=0), "version"),
        (lambda p: p.update(extra=1), "extra"),
        (lambda p: p["identities"][0].update(status="asleep"), "status"),
        (lambda p: p["identities"].append(copy.deepcopy(p["identities"][0])), "duplicate identity"),
        (lambda p: p["access_rules"][0]["target"].update(id="nowhere"), "unknown segment"),
        (lambda p: p["access_rules"][0]["subject"].update(kind="identity", id="ghost"), "unknown identity"),
        (lambda p: p["risk_rules"][0].update(attribute="moon_phase"), "unknown attribute"),
        (lambda p: p["risk_rules"][0].update(condition="royal"), "has no condition"),
        (lambda p: p["risk_rules"][0].update(score=101), "score"),
        (lambda p: p["network_zones"][0].update(cidrs=["10.1.0.0/33"]), "bad CIDR"),
        (lambda p: p["network_zones"][0].update(cidrs=["10.1.0.1/16"]), "bad CIDR"),
        (lambda p: p.update(bands={"step_up": 40, "deny": 20}), "bands invert"),
        (lambda p: p["identities"][2]["trading_hours"].update(timezone="Mars/Olympus"), "time zone"),
        (lambda p: p["risk_rules"][0].update(score=1.5), "float"),
    ],
)
def test_signed_but_malformed_payloads_are_refused(key, verifier, change, message):
    payload = build_payload(**policy())
    change(payload)
    raw = bundle_bytes(sign_payload(payload, key)) if "float" not in message else None
    if raw is None:
        with pytest.raises(ValueError, match="float"):
            sign_payload(payload, key)
        return
    with pytest.raises(MalformedBundleError, match=message):
        verifier.load(raw)


def test_lower_version_is_refused_and_the_loaded_one_stays(key, verifier):
    verifier.load(signed(key, version=5))
    with pytest.raises(RollbackError, match="lower than the loaded version 5"):
        verifier.load(signed(key, version=4))
    assert verifier.current.version == 5


def test_same_version_with_other_content_is_refused_but_redelivery_is_fine(key, verifier):
    verifier.load(signed(key, version=5))
    assert verifier.load(signed(key, version=5)).version == 5
    with pytest.raises(RollbackError, match="different content"):
        verifier.load(signed(key, version=5, bands={"step_up": 25, "deny": 40}))


def test_higher_version_replaces(key, verifier):
    verifier.load(signed(key, version=5))
    assert verifier.load(signed(key, version=6)).version == 6


def test_other_environment_is_refused(key, verifier):
    with pytest.raises(EnvironmentMismatchError):
        verifier.load(signed(key, environment="uat"))


def test_verify_bundle_without_state_accepts_any_version(key):
    assert verify_bundle(signed(key, version=3), key_ring(key.public_key())).version == 3
