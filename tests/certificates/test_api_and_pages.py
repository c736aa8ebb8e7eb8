"""The API and the pages call the same actions: 400s naming the field, step-up, and traders seeing their own."""

from __future__ import annotations

import time

from django.urls import reverse

from accounts.actions import VERIFIED_AT_SESSION_KEY
from certificates import actions
from certificates.models import Certificate, CertificateRequest, CertificateStatus
from tests.certificates.helpers import SERVER_AUTH, make_algo, make_csr, rsa_key


def test_api_issue_list_retrieve_revoke_renew(ca, algo, personas, verified_client):
    client = verified_client(personas["security"])
    response = client.post(
        "/api/v1/certificates/",
        {"identity": algo.pk, "profile": "fix-client", "csr": make_csr()},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["decoded"]["extended_key_usage"] == ["clientAuth"]
    assert f"urn:ztconsole:identity:{algo.pk}" in body["decoded"]["san"]["uri"]
    assert body["pins"]["sha256"] == body["sha256"] and len(body["pins"]["spki_sha256"]) == 64
    cert_id = body["id"]
    listed = client.get("/api/v1/certificates/", {"identity": "algo-alpha", "status": "active"}).json()
    assert [row["id"] for row in listed["results"]] == [cert_id]
    assert client.get("/api/v1/certificates/", {"expiring": "7"}).json()["results"] == []
    assert client.get("/api/v1/certificates/", {"status": "bogus"}).status_code == 400
    renewed = client.post(f"/api/v1/certificates/{cert_id}/renew/", {}, content_type="application/json")
    assert renewed.status_code == 201
    new_id = renewed.json()["id"]
    pins = client.get("/api/v1/certificates/pinset/", {"identity": algo.pk}).json()["pins"]
    assert len(pins) == 2
    revoked = client.post(
        f"/api/v1/certificates/{new_id}/revoke/", {"reason": "keyCompromise"}, content_type="application/json"
    )
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    assert client.get("/api/v1/tls-profile/").json()["min_version"] == "TLSv1.2"


def test_api_bad_input_is_a_400_naming_the_field(ca, algo, personas, verified_client):
    client = verified_client(personas["security"])

    def post(data):
        return client.post("/api/v1/certificates/", data, content_type="application/json")

    for data, field in [
        ({"identity": algo.pk, "profile": "fix-client", "csr": "garbage"}, "csr"),
        ({"identity": algo.pk, "profile": "fix-client", "csr": make_csr(ekus=(SERVER_AUTH,))}, "csr"),
        ({"identity": algo.pk, "profile": "fix-client", "csr": make_csr(rsa_key(1024))}, "csr"),
        ({"identity": 99999, "profile": "fix-client", "csr": make_csr()}, "identity"),
        ({"identity": algo.pk, "profile": "nope", "csr": make_csr()}, "profile"),
        ({"identity": algo.pk, "profile": "fix-client", "csr": make_csr(), "lifetime_days": 365}, "lifetime_days"),
    ]:
        response = post(data)
        assert response.status_code == 400, response.content
        assert field in response.json()
    cert = actions.issue_from_csr(
        None, identity=algo, profile=actions.profile_by_name("fix-client"), csr_pem=make_csr()
    )
    response = client.post(
        f"/api/v1/certificates/{cert.pk}/revoke/", {"reason": "nope"}, content_type="application/json"
    )
    assert response.status_code == 400 and "reason" in response.json()
    assert Certificate.objects.count() == 1


def test_api_revoke_needs_step_up_in_a_session(ca, algo, personas, verified_client):
    client = verified_client(personas["security"])
    session = client.session
    session[VERIFIED_AT_SESSION_KEY] = time.time() - 3600
    session.save()
    cert = actions.issue_from_csr(
        None, identity=algo, profile=actions.profile_by_name("fix-client"), csr_pem=make_csr()
    )
    response = client.post(
        f"/api/v1/certificates/{cert.pk}/revoke/", {"reason": "keyCompromise"}, content_type="application/json"
    )
    assert response.status_code == 403
    assert Certificate.objects.get(pk=cert.pk).status == CertificateStatus.ACTIVE


def test_traders_see_only_certificates_of_identities_they_sponsor(ca, algo, personas, verified_client):
    mine = actions.issue_from_csr(
        None, identity=algo, profile=actions.profile_by_name("fix-client"), csr_pem=make_csr()
    )
    other_algo = make_algo(personas["admin"].user, name="algo-admin", comp_ids=("ADM1",))
    theirs = actions.issue_from_csr(
        None, identity=other_algo, profile=actions.profile_by_name("fix-client"), csr_pem=make_csr()
    )
    client = verified_client(personas["trader"])
    ids = [row["id"] for row in client.get("/api/v1/certificates/").json()["results"]]
    assert ids == [mine.pk]
    assert client.get(f"/api/v1/certificates/{theirs.pk}/").status_code == 404
    assert client.get(reverse("certificates:detail", args=[theirs.pk])).status_code == 404
    page = client.get(reverse("certificates:list"))
    assert mine.serial[:10] in page.content.decode() and theirs.serial[:10] not in page.content.decode()


def test_issue_page_shows_the_error_and_writes_nothing(ca, algo, personas, verified_client):
    client = verified_client(personas["admin"])
    response = client.post(
        reverse("certificates:issue"),
        {"identity": algo.pk, "profile": "fix-client", "csr": make_csr(ca=True)},
    )
    assert response.status_code == 400
    assert "CA:TRUE" in response.content.decode()
    assert not Certificate.objects.exists()
    response = client.post(reverse("certificates:issue"), {"identity": algo.pk, "profile": "fix-client", "csr": ""})
    assert response.status_code == 400 and "Paste a PEM CSR" in response.content.decode()


def test_issue_page_accepts_an_uploaded_csr_and_shows_the_decoded_certificate(ca, algo, personas, verified_client):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client = verified_client(personas["admin"])
    upload = SimpleUploadedFile("client.csr", make_csr().encode(), content_type="application/pkcs10")
    response = client.post(
        reverse("certificates:issue"), {"identity": algo.pk, "profile": "fix-client", "csr_file": upload}
    )
    assert response.status_code == 302
    detail = client.get(response["Location"]).content.decode()
    assert "clientAuth" in detail and f"urn:ztconsole:identity:{algo.pk}" in detail
    assert Certificate.objects.get().spki_sha256 in detail


def test_revoke_page_with_reason(ca, algo, personas, verified_client):
    cert = actions.issue_from_csr(
        None, identity=algo, profile=actions.profile_by_name("fix-client"), csr_pem=make_csr()
    )
    client = verified_client(personas["security"])
    response = client.post(reverse("certificates:revoke", args=[cert.pk]), {"reason": "affiliationChanged"})
    assert response.status_code == 302
    cert.refresh_from_db()
    assert cert.status == CertificateStatus.REVOKED and cert.revocation_reason == "affiliationChanged"
    again = client.post(reverse("certificates:revoke", args=[cert.pk]), {"reason": "keyCompromise"})
    assert again.status_code == 400 and "cannot be revoked" in again.content.decode()


def test_tls_profile_page_refuses_weak_ciphers(db, personas, verified_client):
    client = verified_client(personas["security"])
    response = client.post(
        reverse("certificates:tls_profile"),
        {"min_version": "TLSv1.2", "tls12_ciphers": "ECDHE-RSA-AES128-SHA", "tls13_suites": "TLS_AES_128_GCM_SHA256"},
    )
    assert response.status_code == 400 and "not AEAD" in response.content.decode()
    ok = client.post(
        reverse("certificates:tls_profile"),
        {"min_version": "TLSv1.3", "tls12_ciphers": "", "tls13_suites": "TLS_AES_256_GCM_SHA384"},
    )
    assert ok.status_code == 302
    assert verified_client(personas["admin"]).post(reverse("certificates:tls_profile"), {}).status_code == 403


def test_trader_requests_and_officer_approves_in_the_pages(ca, algo, personas, verified_client):
    trader = verified_client(personas["trader"])
    response = trader.post(
        reverse("certificates:request_new"), {"identity": algo.pk, "profile": "fix-client", "csr": make_csr()}
    )
    assert response.status_code == 302
    pending = CertificateRequest.objects.get()
    officer = verified_client(personas["security"])
    assert officer.post(reverse("certificates:request_approve", args=[pending.pk])).status_code == 302
    assert Certificate.objects.get().identity == algo
    assert "algo-alpha" not in [i.user.username for i in []]  # the trader's form only offers sponsored identities


def test_dashboard_tile_counts_and_flags_expiring(ca, algo, personas, verified_client):
    actions.issue_from_csr(
        None, identity=algo, profile=actions.profile_by_name("fix-client"), csr_pem=make_csr(), lifetime_days=5
    )
    page = verified_client(personas["security"]).get("/").content.decode()
    assert 'data-testid="certificates-tile"' in page and "1 expiring within 30 days, 1 within 7" in page
    compliance = verified_client(personas["compliance"]).get(reverse("certificates:compliance"))
    assert compliance.status_code == 200
