"""The OCSP responder: good, revoked and unknown answers, checked by cryptography and by `openssl ocsp`."""

from __future__ import annotations

import base64
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from django.test import Client

from certificates import actions, pki
from tests.certificates.helpers import make_algo, make_csr


def _request(cert_pem: str, issuer) -> bytes:
    builder = ocsp.OCSPRequestBuilder().add_certificate(pki.load_certificate(cert_pem), issuer, hashes.SHA1())  # noqa: S303 - OCSP's CertID default
    return (
        builder.add_extension(x509.OCSPNonce(b"0123456789abcdef"), critical=False)
        .build()
        .public_bytes(serialization.Encoding.DER)
    )


def _issue(identity):
    return actions.issue_from_csr(
        None, identity=identity, profile=actions.profile_by_name("fix-client"), csr_pem=make_csr()
    )


def test_ocsp_answers_good_revoked_and_unknown(ca, algo):
    issuer = ca.load_certificate()
    good, bad = _issue(algo), _issue(algo)
    actions.revoke_certificate(None, bad, reason="keyCompromise")
    client = Client()
    answer = ocsp.load_der_ocsp_response(
        client.post("/pki/ocsp", _request(good.pem, issuer), content_type="application/ocsp-request").content
    )
    assert answer.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    assert answer.certificate_status == ocsp.OCSPCertStatus.GOOD
    assert answer.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == b"0123456789abcdef"
    issuer.public_key().verify(
        answer.signature,
        answer.tbs_response_bytes,
        ec.ECDSA(answer.signature_hash_algorithm),
    )
    encoded = base64.b64encode(_request(bad.pem, issuer)).decode()
    revoked = ocsp.load_der_ocsp_response(client.get(f"/pki/ocsp/{encoded}").content)
    assert revoked.certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert revoked.revocation_reason == x509.ReasonFlags.key_compromise
    garbage = ocsp.load_der_ocsp_response(
        client.post("/pki/ocsp", b"junk", content_type="application/ocsp-request").content
    )
    assert garbage.response_status == ocsp.OCSPResponseStatus.MALFORMED_REQUEST


def test_ocsp_refuses_certificates_of_another_issuer(ca, algo):
    other_key = pki.generate_ca_key()
    import datetime

    now = datetime.datetime.now(datetime.UTC)
    other = pki.build_ca_certificate(
        key=other_key, common_name="Elsewhere", not_before=now, not_after=now + datetime.timedelta(days=1)
    )
    cert = _issue(algo)
    answer = ocsp.load_der_ocsp_response(actions.ocsp_response(_request(cert.pem, other)))
    assert answer.response_status == ocsp.OCSPResponseStatus.UNAUTHORIZED


@pytest.mark.django_db(transaction=True)
def test_openssl_ocsp_against_the_running_console(personas, asgi_server, openssl, tmp_path):
    ca = actions.init_ca(None)
    algo = make_algo(personas["trader"].user)
    good, bad = _issue(algo), _issue(algo)
    actions.revoke_certificate(None, bad, reason="keyCompromise")
    (tmp_path / "issuer.pem").write_text(ca.certificate_pem)
    (tmp_path / "chain.pem").write_text(actions.chain_pem())

    def ask(cert):
        leaf = tmp_path / f"{cert.serial}.pem"
        leaf.write_text(cert.pem)
        args = ["-issuer", tmp_path / "issuer.pem", "-cert", leaf, "-CAfile", tmp_path / "chain.pem"]
        return subprocess.run(
            [openssl, "ocsp", *args, "-url", f"{asgi_server}/pki/ocsp"],
            capture_output=True,
            text=True,
            timeout=30,
        )

    ok = ask(good)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert f"{good.serial}.pem: good" in ok.stdout and "Response verify OK" in ok.stderr
    refused = ask(bad)
    assert f"{bad.serial}.pem: revoked" in refused.stdout and "Reason: keyCompromise" in refused.stdout
