"""Revocations become signed, contiguous deltas in the revoking transaction, with one delivery per point."""

import hashlib
import json

import pytest
from django.db import transaction

from accounts.actions import register_device, retire_device, revoke_identity, suspend_identity
from certificates.actions import issue_from_csr, profile_by_name, revoke_certificate
from pep.bundle import key_ring, load_public_key
from pep.canonical import b64url_decode, canonical_bytes
from policies.distribution.models import Delivery, RevocationDelta
from tests.certificates.helpers import make_algo, make_csr
from tests.distribution.helpers import register


def _verify(delta: RevocationDelta, signing_key) -> dict:
    """Check the envelope as a PEP does: same header, Ed25519 over the canonical header and payload."""
    envelope = json.loads(delta.signed)
    assert envelope["header"] == {"alg": "EdDSA", "kid": signing_key.kid, "typ": "ztc-bundle+jws"}
    ring = key_ring(load_public_key(signing_key.public_key_pem.encode()))
    from pep.canonical import b64url_encode

    signed = (
        b64url_encode(canonical_bytes(envelope["header"])) + "." + b64url_encode(canonical_bytes(envelope["payload"]))
    ).encode()
    ring[envelope["header"]["kid"]].verify(b64url_decode(envelope["signature"]), signed)
    assert delta.sha256 == hashlib.sha256(canonical_bytes(envelope["payload"])).hexdigest()
    return envelope["payload"]


@pytest.fixture
def algo_cert(personas, pki):
    algo = make_algo(personas["trader"].user)
    return issue_from_csr(None, identity=algo, profile=profile_by_name("fix-client"), csr_pem=make_csr(cn="a"))


def test_a_revoked_certificate_becomes_a_signed_delta_for_its_environment(personas, pki, signing_key, algo_cert):
    register("pep-prod")
    uat = register("pep-uat", environment="uat")
    revoke_certificate(None, algo_cert, reason="keyCompromise")
    delta = RevocationDelta.objects.get()
    payload = _verify(delta, signing_key)
    assert payload["format"] == "ztconsole-revocations/1"
    assert payload["environment"] == algo_cert.identity.environment == delta.environment
    assert payload["sequence"] == 1 and payload["certificates"] == [algo_cert.sha256]
    assert payload["identities"] == [] and payload["devices"] == []
    assert payload["issued_at"].endswith("Z")
    points = set(Delivery.objects.filter(revocation=delta).values_list("point__name", flat=True))
    assert points == ({"pep-prod"} if delta.environment == "prod" else {"pep-uat"})
    assert uat.point.environment == "uat"


def test_sequences_are_contiguous_per_environment(personas, pki, signing_key):
    suspend_identity(None, personas["trader"].user.identity, reason="investigation")  # a person: every environment
    revoke_identity(None, personas["compliance"].user.identity, reason="left")
    for environment in ("prod", "uat", "dev"):
        numbers = list(
            RevocationDelta.objects.filter(environment=environment)
            .order_by("sequence")
            .values_list("sequence", flat=True)
        )
        assert numbers == list(range(1, len(numbers) + 1)) and len(numbers) >= 2
    first = RevocationDelta.objects.get(environment="prod", sequence=1)
    assert _verify(first, signing_key)["identities"] == ["tina"]


def test_retiring_a_device_revokes_it_at_the_points(personas, pki, signing_key):
    register("pep-prod")
    device = register_device(
        None, owner=personas["trader"].user.identity, kind="trader_workstation", platform="Linux", serial="WS-9"
    )
    retire_device(None, device, reason="stolen")
    delta = RevocationDelta.objects.get(environment="prod")
    assert _verify(delta, signing_key)["devices"] == ["WS-9"]
    assert Delivery.objects.filter(revocation=delta, point__name="pep-prod").count() == 1


def test_a_failed_revocation_leaves_no_delta(personas, pki, signing_key, algo_cert):
    register("pep-prod")
    with pytest.raises(RuntimeError), transaction.atomic():
        revoke_certificate(None, algo_cert, reason="keyCompromise")
        raise RuntimeError("rolled back")
    assert not RevocationDelta.objects.exists() and not Delivery.objects.exists()
