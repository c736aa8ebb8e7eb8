"""Edges: step-up on the revoke page, a SHA-1 certificate on the compliance page, odd SANs refused by name."""

from __future__ import annotations

import ipaddress
import subprocess
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID
from django.urls import reverse

from accounts.actions import VERIFIED_AT_SESSION_KEY
from certificates import actions, selectors
from certificates.models import Certificate, CertificateStatus
from tests.certificates.helpers import ec_key, make_csr


def _issue(identity):
    return actions.issue_from_csr(
        None, identity=identity, profile=actions.profile_by_name("fix-client"), csr_pem=make_csr()
    )


def test_revoke_page_asks_for_a_fresh_code_first(ca, algo, personas, verified_client):
    cert = _issue(algo)
    client = verified_client(personas["security"])
    session = client.session
    session[VERIFIED_AT_SESSION_KEY] = time.time() - 3600
    session.save()
    response = client.post(reverse("certificates:revoke", args=[cert.pk]), {"reason": "keyCompromise"})
    assert response.status_code == 302 and response["Location"].startswith(reverse("accounts:step_up"))
    assert Certificate.objects.get(pk=cert.pk).status == CertificateStatus.ACTIVE


def test_a_sha1_signed_certificate_is_a_compliance_finding(ca, algo, personas, verified_client, openssl, tmp_path):
    cert = _issue(algo)
    # cryptography refuses to sign with SHA-1; openssl still can, as an old CA once did. Store it in place.
    files = ["-keyout", str(tmp_path / "k.pem"), "-out", str(tmp_path / "c.pem")]
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-sha1",
            "-days",
            "30",
            "-subj",
            "/CN=legacy",
            *files,
        ],
        check=True,
        capture_output=True,
    )
    Certificate.objects.filter(pk=cert.pk).update(pem=(tmp_path / "c.pem").read_text())
    findings = dict(selectors.noncompliant(Certificate.objects.all()))
    assert "signed with SHA1" in findings[Certificate.objects.get(pk=cert.pk)]
    page = verified_client(personas["compliance"]).get(reverse("certificates:compliance")).content.decode()
    assert "signed with SHA1" in page


def _csr_with_san(names) -> str:
    key = ec_key()
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")]))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM).decode()


@pytest.mark.parametrize(
    ("names", "match"),
    [
        ([x509.IPAddress(ipaddress.ip_network("10.0.0.0/8"))], "not a single address"),
        ([x509.RFC822Name("someone@example.test")], "does not allow e-mail SANs"),
        ([x509.DirectoryName(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "y")]))], "unsupported SAN types"),
    ],
)
def test_odd_sans_are_refused_by_name(ca, algo, names, match):
    with pytest.raises(actions.CertificateError, match=match):
        actions.issue_from_csr(
            None, identity=algo, profile=actions.profile_by_name("fix-server"), csr_pem=_csr_with_san(names)
        )
    assert not Certificate.objects.exists()
