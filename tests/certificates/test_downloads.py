"""Certificate downloads: the PEM alone and the full chain, for those who may see the certificate."""

from __future__ import annotations

import itertools

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from django.urls import reverse

from tests.certificates.helpers import matrix_certificate
from tests.conftest import make_persona
from ztconsole.core.roles import TRADER

pytestmark = pytest.mark.django_db


def test_pem_and_full_chain(personas, verified_client):
    cert = matrix_certificate(personas)
    client = verified_client(personas["trader"])  # the trader sponsors the algorithm
    pem = client.get(reverse("certificates:download_pem", kwargs={"pk": cert.pk}))
    assert pem.status_code == 200 and pem["Content-Type"] == "application/x-pem-file"
    assert pem["Content-Disposition"].startswith('attachment; filename="algo-matrix-')
    (leaf,) = x509.load_pem_x509_certificates(pem.content)
    assert leaf.fingerprint(hashes.SHA256()).hex() == cert.sha256
    chain = x509.load_pem_x509_certificates(
        client.get(reverse("certificates:download_chain", kwargs={"pk": cert.pk})).content
    )
    assert chain[0] == leaf and len(chain) == 1 + (2 if cert.issuer.parent_id else 1)
    for child, parent in itertools.pairwise(chain):
        child.verify_directly_issued_by(parent)


def test_someone_elses_certificate_is_not_found(personas, verified_client):
    cert = matrix_certificate(personas)
    stranger = make_persona("tom", TRADER)
    response = verified_client(stranger).get(reverse("certificates:download_pem", kwargs={"pk": cert.pk}))
    assert response.status_code == 404


def test_identity_page_lists_its_certificates_and_pki_page_links_ocsp(personas, verified_client):
    cert = matrix_certificate(personas)
    client = verified_client(personas["security"])
    page = client.get(reverse("accounts:identity_detail", kwargs={"pk": cert.identity_id})).content.decode()
    assert 'data-testid="identity-certificates"' in page
    assert reverse("certificates:download_chain", kwargs={"pk": cert.pk}) in page
    listing = client.get(reverse("certificates:list")).content.decode()
    assert 'href="/pki/ocsp"' in listing and "http://testserver/pki/ocsp" in listing
