"""Renewal, pins, expiry watch, sponsor requests, the compliance view and the TLS profile."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from certificates import actions, pki, selectors
from certificates.models import (
    Certificate,
    CertificateRequest,
    CertificateStatus,
    ExpiryNotice,
    RequestStatus,
    TlsProfile,
)
from certificates.tls import TlsProfileError, validate_tls_profile
from tests.certificates.helpers import ec_key, make_csr, rsa_key
from ztconsole.core.models import AuditEvent


def _issue(identity, key=None, **kwargs):
    return actions.issue_from_csr(
        None, identity=identity, profile=actions.profile_by_name("fix-client"), csr_pem=make_csr(key), **kwargs
    )


def test_renew_with_the_same_key_supersedes_the_old_certificate(ca, algo):
    old = _issue(algo)
    new = actions.renew_certificate(None, old)
    old.refresh_from_db()
    assert new.serial != old.serial and new.identity == algo
    assert old.status == CertificateStatus.SUPERSEDED and old.superseded_by == new
    assert new.spki_sha256 == old.spki_sha256 and new.sha256 != old.sha256
    assert pki.decode(pki.load_certificate(new.pem)).uris == pki.decode(pki.load_certificate(old.pem)).uris
    # Rollover: both certificates are in the identity's pinset until the old one expires or is revoked.
    assert {p["serial"] for p in selectors.pinset(algo)} == {old.serial, new.serial}
    with pytest.raises(actions.CertificateError, match="superseded"):
        actions.renew_certificate(None, old)


def test_renew_with_a_new_key_and_revoke_the_old(ca, algo):
    old = _issue(algo)
    new = actions.renew_certificate(None, old, csr_pem=make_csr(ec_key()), revoke_old=True)
    old.refresh_from_db()
    assert new.spki_sha256 != old.spki_sha256
    assert old.status == CertificateStatus.REVOKED and old.revocation_reason == "superseded"
    assert {p["serial"] for p in selectors.pinset(algo)} == {new.serial}
    assert actions.current_crl().entries == 1
    assert AuditEvent.objects.get(action="certificate.renewed").details["old_revoked"] is True


def test_renew_with_a_bad_csr_changes_nothing(ca, algo):
    old = _issue(algo)
    with pytest.raises(actions.CertificateError, match="RSA 1024"):
        actions.renew_certificate(None, old, csr_pem=make_csr(rsa_key(1024)))
    old.refresh_from_db()
    assert old.status == CertificateStatus.ACTIVE and Certificate.objects.count() == 1


def test_expiry_watch_raises_one_notice_per_threshold(ca, algo):
    cert = _issue(algo)
    Certificate.objects.filter(pk=cert.pk).update(not_after=cert.not_before + timedelta(days=200))
    assert actions.watch_certificate_expiry() == 0
    from django.utils import timezone

    Certificate.objects.filter(pk=cert.pk).update(not_after=timezone.now() + timedelta(days=6))
    assert actions.watch_certificate_expiry() == 2  # within 30 and within 7
    assert actions.watch_certificate_expiry() == 0  # once each
    assert set(ExpiryNotice.objects.values_list("threshold_days", flat=True)) == {30, 7}
    assert list(Certificate.objects.expiring_within(7)) == [Certificate.objects.get(pk=cert.pk)]
    Certificate.objects.filter(pk=cert.pk).update(not_after=timezone.now() - timedelta(seconds=1))
    actions.watch_certificate_expiry()
    assert Certificate.objects.get(pk=cert.pk).status == CertificateStatus.EXPIRED
    assert AuditEvent.objects.filter(action="certificate.expiring").count() == 2


def test_sponsor_request_then_security_officer_approves(ca, algo, personas):
    trader, officer = personas["trader"].user, personas["security"].user
    pending = actions.request_certificate(
        trader, identity=algo, profile=actions.profile_by_name("fix-client"), csr_pem=make_csr()
    )
    assert pending.status == RequestStatus.PENDING and not Certificate.objects.exists()
    with pytest.raises(actions.CertificateError, match="other than the requester"):
        actions.approve_certificate_request(trader, pending)
    cert = actions.approve_certificate_request(officer, pending)
    pending.refresh_from_db()
    assert pending.status == RequestStatus.APPROVED and pending.certificate == cert and cert.issued_by == officer
    with pytest.raises(actions.CertificateError, match="already been decided"):
        actions.reject_certificate_request(officer, pending, reason="late")


def test_only_the_sponsor_may_request_and_bad_csrs_are_refused_up_front(ca, algo, personas):
    profile = actions.profile_by_name("fix-client")
    with pytest.raises(actions.CertificateError, match="identities you sponsor"):
        actions.request_certificate(personas["compliance"].user, identity=algo, profile=profile, csr_pem=make_csr())
    with pytest.raises(actions.CertificateError, match="CA:TRUE"):
        actions.request_certificate(personas["trader"].user, identity=algo, profile=profile, csr_pem=make_csr(ca=True))
    assert not CertificateRequest.objects.exists()


def test_compliance_lists_certificates_the_current_profile_refuses(ca, algo):
    weak = _issue(algo, key=rsa_key(2048))
    fine = _issue(algo)
    profile = actions.profile_by_name("fix-client")
    profile.rsa_min_bits = 3072
    profile.max_lifetime_days = 30
    profile.save()
    rows = dict(selectors.noncompliant(Certificate.objects.all()))
    assert set(rows) == {weak, fine}
    assert any("RSA 2048 is too small" in p for p in rows[weak])
    assert any("lifetime 90 days exceeds 30" in p for p in rows[fine])


@pytest.mark.parametrize(
    ("version", "tls12", "tls13", "field", "match"),
    [
        ("TLSv1.1", ["ECDHE-RSA-AES128-GCM-SHA256"], ["TLS_AES_128_GCM_SHA256"], "min_version", "minimum is TLS 1.2"),
        ("TLSv1.2", ["RC4-SHA"], ["TLS_AES_128_GCM_SHA256"], "tls12_ciphers", "RC4"),
        ("TLSv1.2", ["ECDHE-RSA-DES-CBC3-SHA"], ["TLS_AES_128_GCM_SHA256"], "tls12_ciphers", "DES"),
        ("TLSv1.2", ["NULL-MD5"], ["TLS_AES_128_GCM_SHA256"], "tls12_ciphers", "MD5|NULL"),
        ("TLSv1.2", ["EXP-RC2-CBC-MD5"], ["TLS_AES_128_GCM_SHA256"], "tls12_ciphers", "RC|MD5|export"),
        ("TLSv1.2", ["ECDHE-RSA-AES128-SHA"], ["TLS_AES_128_GCM_SHA256"], "tls12_ciphers", "SHA-1|not AEAD"),
        ("TLSv1.2", ["AES128-GCM-SHA256"], ["TLS_AES_128_GCM_SHA256"], "tls12_ciphers", "only ECDHE"),
        ("TLSv1.2", [], ["TLS_AES_128_GCM_SHA256"], "tls12_ciphers", "at least one"),
        ("TLSv1.3", [], ["TLS_AES_128_CCM_8_SHA256"], "tls13_suites", "not a TLS 1.3 AEAD suite"),
    ],
)
def test_tls_profile_refuses_weak_settings(version, tls12, tls13, field, match):
    with pytest.raises(TlsProfileError, match=match) as info:
        validate_tls_profile(version, tls12, tls13)
    assert info.value.field == field


def test_tls_profile_update_is_validated_and_audited(db, personas):
    default = actions.tls_profile()
    assert default.min_version == "TLSv1.2" and "ECDHE-ECDSA-AES256-GCM-SHA384" in default.tls12_ciphers
    with pytest.raises(actions.CertificateError, match="RC4"):
        actions.update_tls_profile(None, min_version="TLSv1.2", tls12_ciphers=["RC4-MD5"], tls13_suites=["x_y_z"])
    assert TlsProfile.objects.get().tls12_ciphers == default.tls12_ciphers
    profile = actions.update_tls_profile(
        personas["security"].user, min_version="TLSv1.3", tls12_ciphers=[], tls13_suites=["TLS_AES_256_GCM_SHA384"]
    )
    assert profile.export()["min_version"] == "TLSv1.3" and profile.export()["compression"] is False
    assert AuditEvent.objects.filter(action="tls_profile.updated").exists()


def test_ca_keys_are_encrypted_at_rest(ca):
    from certificates.models import CertificateAuthority

    for authority in CertificateAuthority.objects.all():
        assert authority.private_key.startswith("v1:") and "PRIVATE" not in authority.private_key
    assert ca.load_private_key().public_key().public_numbers() == ca.load_certificate().public_key().public_numbers()


def test_init_ca_with_rsa(db):
    ca = actions.init_ca(None, use_rsa=True)
    assert isinstance(ca.load_certificate().public_key(), rsa.RSAPublicKey)
    assert ca.key_description == "RSA 4096" and ca.parent.key_description == "RSA 4096"
    with pytest.raises(actions.CertificateError, match="already exists"):
        actions.init_ca(None)


def test_nobody_issues_or_approves_a_certificate_for_an_identity_they_sponsor(ca, personas):
    from tests.certificates.helpers import make_algo

    officer = personas["security"].user
    own_algo = make_algo(officer, name="algo-officer", comp_ids=("OFFICER1",))
    profile = actions.profile_by_name("fix-client")
    with pytest.raises(actions.CertificateError, match="another issuer"):
        actions.issue_from_csr(officer, identity=own_algo, profile=profile, csr_pem=make_csr())
    cert = actions.issue_from_csr(personas["admin"].user, identity=own_algo, profile=profile, csr_pem=make_csr())
    with pytest.raises(actions.CertificateError, match="another issuer"):
        actions.renew_certificate(officer, cert)
