"""Issuing from a CSR: one per profile, and every bad input refused by name with nothing written."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from accounts.actions import suspend_identity
from certificates import actions, pki
from certificates.models import Certificate, CertificateStatus
from tests.certificates.helpers import (
    CLIENT_AUTH,
    SERVER_AUTH,
    ec_key,
    ed_key,
    make_algo,
    make_csr,
    rsa_key,
)
from ztconsole.core.models import AuditEvent


def _issue(identity, profile: str, csr: str, **kwargs) -> Certificate:
    return actions.issue_from_csr(
        None, identity=identity, profile=actions.profile_by_name(profile), csr_pem=csr, **kwargs
    )


def test_fix_client_certificate_names_the_identity_and_its_comp_ids(ca, algo):
    cert = _issue(algo, "fix-client", make_csr(ec_key(), uris=(f"urn:ztconsole:identity:{algo.pk}",)))
    decoded = pki.decode(pki.load_certificate(cert.pem))
    assert decoded.ekus == ["clientAuth"]
    assert decoded.uris == [
        f"urn:ztconsole:identity:{algo.pk}",
        "urn:ztconsole:fix:sendercompid:ALPHA1",
        "urn:ztconsole:fix:sendercompid:ALPHA2",
    ]
    assert "CN=algo-alpha" in decoded.subject
    assert not decoded.is_ca
    assert round(cert.lifetime_days) == 90
    assert cert.status == CertificateStatus.ACTIVE
    assert decoded.sha256 == cert.sha256 and decoded.spki_sha256 == cert.spki_sha256
    assert AuditEvent.objects.filter(action="certificate.issued", target_id=str(cert.pk)).exists()
    # Signed by the issuing CA.
    pki.load_certificate(cert.pem).verify_directly_issued_by(ca.load_certificate())


@pytest.mark.parametrize(
    ("profile", "ekus", "key"),
    [
        ("fix-server", ["serverAuth"], rsa_key),
        ("pep", ["serverAuth", "clientAuth"], lambda: ec_key(ec.SECP384R1())),
        ("console", ["serverAuth", "clientAuth"], ed_key),  # also its client certificate towards the PEPs
    ],
)
def test_server_profiles_take_dns_names(ca, algo, profile, ekus, key):
    cert = _issue(algo, profile, make_csr(key(), dns=("fix.example.test",)), lifetime_days=30)
    decoded = pki.decode(pki.load_certificate(cert.pem))
    assert decoded.ekus == ekus
    assert decoded.dns_names == ["fix.example.test"]
    assert round(cert.lifetime_days) == 30


def test_ed25519_client_key_is_accepted(ca, algo):
    cert = _issue(algo, "fix-client", make_csr(ed_key()))
    assert cert.key_description == "Ed25519"


def _refused(identity, profile, csr, match, **kwargs):
    before = (Certificate.objects.count(), AuditEvent.objects.count())
    with pytest.raises(actions.CertificateError, match=match) as info:
        _issue(identity, profile, csr, **kwargs)
    assert (Certificate.objects.count(), AuditEvent.objects.count()) == before
    return info.value


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "hello",
        "-----BEGIN CERTIFICATE REQUEST-----\nnot base64!!\n-----END CERTIFICATE REQUEST-----\n",
        "-----BEGIN CERTIFICATE REQUEST-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A\n-----END CERTIFICATE REQUEST-----\n",
    ],
)
def test_garbage_pem_is_refused(ca, algo, garbage):
    error = _refused(algo, "fix-client", garbage, "CSR|certificate signing request")
    assert error.field == "csr"


def test_csr_signed_with_a_different_key_is_refused(ca, algo):
    csr = make_csr(rsa_key(), signer=rsa_key())
    _refused(algo, "fix-client", csr, "signature does not verify")


def test_rsa_1024_is_refused(ca, algo):
    _refused(algo, "fix-client", make_csr(rsa_key(1024)), "RSA 1024 is too small")


def test_unsupported_curve_is_refused(ca, algo):
    _refused(algo, "fix-client", make_csr(ec_key(ec.SECP521R1())), "curve secp521r1 is not allowed")
    _refused(algo, "fix-client", make_csr(ec_key(ec.SECP256K1())), "curve secp256k1 is not allowed")


def test_ca_true_is_refused(ca, algo):
    _refused(algo, "fix-client", make_csr(ca=True), "CA:TRUE")


def test_server_auth_on_a_client_profile_is_refused(ca, algo):
    _refused(algo, "fix-client", make_csr(ekus=(SERVER_AUTH,)), "serverAuth, which the fix-client profile")


def test_client_auth_asked_for_on_a_client_profile_is_fine(ca, algo):
    assert _issue(algo, "fix-client", make_csr(ekus=(CLIENT_AUTH,)))


def test_san_for_another_identity_is_refused(ca, algo, personas):
    other = make_algo(personas["trader"].user, name="algo-beta", comp_ids=("BETA1",))
    _refused(algo, "fix-client", make_csr(uris=(f"urn:ztconsole:identity:{other.pk}",)), "names Algo-Beta")
    _refused(algo, "fix-client", make_csr(uris=("urn:ztconsole:fix:sendercompid:BETA1",)), "names Algo-Beta")
    _refused(algo, "fix-client", make_csr(uris=("https://example.test/x",)), "not bound to")


def test_dns_san_on_a_client_profile_is_refused(ca, algo):
    _refused(algo, "fix-client", make_csr(dns=("evil.example.test",)), "does not allow DNS SANs")


def test_wildcard_dns_is_refused(ca, algo):
    _refused(algo, "fix-server", make_csr(dns=("*.example.test",)), "no wildcards")


def test_suspended_identity_is_refused(ca, algo, personas):
    suspend_identity(personas["admin"].user, algo, reason="investigation")
    algo.refresh_from_db()
    _refused(algo, "fix-client", make_csr(), "is suspended")


def test_lifetime_over_the_profile_maximum_is_refused(ca, algo):
    error = _refused(algo, "fix-client", make_csr(), "lifetime 91 days", lifetime_days=91)
    assert error.field == "lifetime_days"


def test_person_without_comp_ids_gets_no_fix_client_certificate(ca, personas):
    _refused(personas["trader"].user.identity, "fix-client", make_csr(), "no SenderCompID")


def test_no_ca_yet_is_a_clear_error(algo):
    with pytest.raises(actions.CertificateError, match="init_ca"):
        _issue(algo, "fix-client", make_csr())


def test_unknown_profile_is_named(ca):
    with pytest.raises(actions.CertificateError, match="no certificate profile named 'nope'"):
        actions.profile_by_name("nope")


def test_serials_and_pins_are_unique(ca, algo):
    key = ec_key()
    first = _issue(algo, "fix-client", make_csr(key))
    second = _issue(algo, "fix-client", make_csr(key))
    assert first.serial != second.serial and first.sha256 != second.sha256
    assert first.spki_sha256 == second.spki_sha256  # same key: same SPKI pin
    assert int(first.serial, 16) == pki.load_certificate(first.pem).serial_number
    assert isinstance(pki.load_certificate(first.pem).extensions.get_extension_for_class(x509.KeyUsage), x509.Extension)
