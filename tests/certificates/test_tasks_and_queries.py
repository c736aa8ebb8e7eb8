"""Beat tasks in the real Celery worker, an imported intermediate CA, and list pages with flat query counts."""

from __future__ import annotations

import datetime
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from certificates import actions, pki
from certificates.models import Certificate, CertificateAuthority, CrlState, ExpiryNotice
from certificates.tasks import refresh_crl, watch_certificate_expiry
from tests.certificates.helpers import make_algo, make_csr


@pytest.mark.django_db(transaction=True)
def test_beat_tasks_run_in_the_real_celery_worker(personas, celery_worker_thread):
    actions.init_ca(None)
    algo = make_algo(personas["trader"].user)
    cert = actions.issue_from_csr(
        None, identity=algo, profile=actions.profile_by_name("fix-client"), csr_pem=make_csr(), lifetime_days=3
    )
    assert refresh_crl.delay().get(timeout=20) is None  # not due yet
    CrlState.objects.update(next_update=timezone.now() + timedelta(minutes=1))
    assert refresh_crl.delay().get(timeout=20) == 2
    assert watch_certificate_expiry.delay().get(timeout=20) == 2  # within 30 and 7 days
    assert set(ExpiryNotice.objects.filter(certificate=cert).values_list("threshold_days", flat=True)) == {30, 7}


def test_init_ca_imports_an_intermediate_with_its_root(db):
    now = datetime.datetime.now(datetime.UTC)
    root_key, issuing_key = pki.generate_ca_key(), pki.generate_ca_key()
    root = pki.build_ca_certificate(
        key=root_key, common_name="Offline Root", not_before=now, not_after=now + timedelta(days=3650), path_len=1
    )
    issuing = pki.build_ca_certificate(
        key=issuing_key,
        common_name="Imported Issuing",
        not_before=now,
        not_after=now + timedelta(days=1000),
        issuer_cert=root,
        issuer_key=root_key,
        path_len=0,
    )
    bundle = (pki.certificate_pem(issuing) + pki.certificate_pem(root)).encode()
    ca = actions.init_ca(None, import_cert_pem=bundle, import_key_pem=pki.private_key_pem(issuing_key))
    assert ca.name == "Imported Issuing" and ca.parent.name == "Offline Root" and ca.parent.private_key == ""
    assert actions.chain_pem().count("BEGIN CERTIFICATE") == 2
    with pytest.raises(actions.CertificateError, match="already exists"):
        actions.init_ca(None, import_cert_pem=bundle, import_key_pem=pki.private_key_pem(issuing_key))
    CertificateAuthority.objects.filter(role="issuing").delete()
    CertificateAuthority.objects.all().delete()
    with pytest.raises(actions.CertificateError, match="needs its root"):
        actions.init_ca(
            None, import_cert_pem=pki.certificate_pem(issuing).encode(), import_key_pem=pki.private_key_pem(issuing_key)
        )


def test_list_page_and_api_query_counts_do_not_grow_with_rows(ca, algo, personas, verified_client):
    client = verified_client(personas["security"])
    profile = actions.profile_by_name("fix-client")

    def count(url):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        return len(queries)

    actions.issue_from_csr(None, identity=algo, profile=profile, csr_pem=make_csr())
    count(reverse("certificates:list"))  # warm-up: the first request of a session writes to it
    few = (count(reverse("certificates:list")), count("/api/v1/certificates/"))
    for _ in range(6):
        actions.issue_from_csr(None, identity=algo, profile=profile, csr_pem=make_csr())
    assert Certificate.objects.count() == 7
    assert (count(reverse("certificates:list")), count("/api/v1/certificates/")) == few
