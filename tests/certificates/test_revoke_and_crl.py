"""Revocation with RFC 5280 reasons, the CRL it re-signs, and what openssl makes of both."""

from __future__ import annotations

import subprocess
from datetime import timedelta

import pytest
from cryptography import x509
from django.test import Client
from django.utils import timezone

from accounts.actions import revoke_identity
from certificates import actions, pki
from certificates.models import Certificate, CertificateStatus, CrlState
from tests.certificates.helpers import make_csr
from ztconsole.core.models import AuditEvent


def _issue(identity, profile="fix-client", **kwargs):
    return actions.issue_from_csr(
        None, identity=identity, profile=actions.profile_by_name(profile), csr_pem=make_csr(**kwargs)
    )


def _crl() -> x509.CertificateRevocationList:
    return x509.load_der_x509_crl(Client().get("/pki/crl.der").content)


def test_revocation_is_audited_and_the_crl_lists_serial_date_and_reason(ca, algo, personas):
    cert = _issue(algo)
    before = _crl()
    officer = personas["security"].user
    revoked = actions.revoke_certificate(officer, cert, reason="keyCompromise", comment="laptop stolen")
    assert revoked.status == CertificateStatus.REVOKED and revoked.revoked_by == officer
    crl = _crl()
    number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    assert number == before.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number + 1
    entry = crl.get_revoked_certificate_by_serial_number(int(cert.serial, 16))
    assert entry is not None
    assert abs(entry.revocation_date_utc - revoked.revoked_at) < timedelta(seconds=1)
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == x509.ReasonFlags.key_compromise
    assert crl.is_signature_valid(ca.load_certificate().public_key())
    assert crl.issuer == ca.load_certificate().subject
    event = AuditEvent.objects.get(action="certificate.revoked")
    assert event.actor == officer
    assert event.details["reason"] == "keyCompromise" and event.details["crl_number"] == number


def test_next_update_follows_the_setting(ca, settings):
    settings.ZT_CRL_NEXT_UPDATE_HOURS = 6
    state = actions.generate_crl()
    crl = x509.load_der_x509_crl(bytes(state.der))
    assert crl.next_update_utc - crl.last_update_utc == timedelta(hours=6)


def test_revoking_twice_is_refused_and_a_bad_reason_named(ca, algo):
    cert = _issue(algo)
    with pytest.raises(actions.CertificateError, match="not an RFC 5280 revocation reason") as info:
        actions.revoke_certificate(None, cert, reason="because")
    assert info.value.field == "reason"
    actions.revoke_certificate(None, cert, reason="superseded")
    with pytest.raises(actions.CertificateError, match="is revoked"):
        actions.revoke_certificate(None, cert, reason="superseded")


def test_unspecified_reason_is_left_out_of_the_entry(ca, algo):
    cert = _issue(algo)
    actions.revoke_certificate(None, cert, reason="unspecified")
    entry = _crl().get_revoked_certificate_by_serial_number(int(cert.serial, 16))
    assert len(entry.extensions) == 0


def test_crl_is_refreshed_only_when_due(ca):
    assert actions.refresh_crl_if_due() is None
    CrlState.objects.update(next_update=timezone.now() + timedelta(minutes=5))
    state = actions.refresh_crl_if_due()
    assert state is not None and state.number == 2
    assert AuditEvent.objects.filter(action="crl.generated").count() == 1


def test_public_endpoints_need_no_sign_in(ca):
    client = Client()
    pem = client.get("/pki/crl.pem")
    assert pem.status_code == 200 and pem.content.startswith(b"-----BEGIN X509 CRL-----")
    assert x509.load_pem_x509_crl(pem.content).extensions.get_extension_for_class(x509.CRLNumber)
    assert client.get("/pki/crl.der")["Content-Type"] == "application/pkix-crl"
    chain = x509.load_pem_x509_certificates(client.get("/pki/chain.pem").content)
    assert [c.subject.rfc4514_string() for c in chain] == [
        "CN=ZT Console Issuing CA,O=ZT Console",
        "CN=ZT Console Root CA,O=ZT Console",
    ]
    body = client.get("/pki/chain.pem").content
    assert b"PRIVATE KEY" not in body


def test_public_endpoints_answer_404_before_init_ca(db):
    client = Client()
    for path in ("/pki/crl.pem", "/pki/crl.der", "/pki/chain.pem"):
        assert client.get(path).status_code == 404


def test_revoking_an_identity_revokes_its_certificates(ca, algo, personas):
    first, second = _issue(algo), _issue(algo)
    revoke_identity(personas["admin"].user, algo, reason="decommissioned")
    statuses = set(Certificate.objects.filter(pk__in=[first.pk, second.pk]).values_list("status", "revocation_reason"))
    assert statuses == {(CertificateStatus.REVOKED, "cessationOfOperation")}
    crl = _crl()
    assert crl.get_revoked_certificate_by_serial_number(int(first.serial, 16)) is not None
    assert crl.get_revoked_certificate_by_serial_number(int(second.serial, 16)) is not None
    assert AuditEvent.objects.filter(action="certificate.revoked_with_identity").exists()


def _write(tmp_path, name, text) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_openssl_verify_with_crl_check(ca, algo, openssl, tmp_path):
    good, bad = _issue(algo), _issue(algo)
    actions.revoke_certificate(None, bad, reason="keyCompromise")
    chain = _write(tmp_path, "chain.pem", Client().get("/pki/chain.pem").content.decode())
    crl = _write(tmp_path, "crl.pem", Client().get("/pki/crl.pem").content.decode())

    def verify(cert):
        leaf = _write(tmp_path, f"{cert.serial}.pem", cert.pem)
        return subprocess.run(
            [openssl, "verify", "-crl_check", "-purpose", "sslclient", "-CAfile", chain, "-CRLfile", crl, leaf],
            capture_output=True,
            text=True,
        )

    ok = verify(good)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert f"{good.serial}.pem: OK" in ok.stdout
    refused = verify(bad)
    assert refused.returncode != 0
    assert "certificate revoked" in (refused.stdout + refused.stderr)


def test_openssl_x509_text_shows_eku_sans_and_lifetime(ca, algo, openssl, tmp_path):
    cert = actions.issue_from_csr(
        None,
        identity=algo,
        profile=actions.profile_by_name("fix-client"),
        csr_pem=make_csr(),
        lifetime_days=30,
    )
    text = subprocess.run(
        [openssl, "x509", "-noout", "-text", "-in", _write(tmp_path, "c.pem", cert.pem)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "TLS Web Client Authentication" in text
    assert "TLS Web Server Authentication" not in text
    assert f"URI:urn:ztconsole:identity:{algo.pk}" in text
    assert "URI:urn:ztconsole:fix:sendercompid:ALPHA1" in text and "URI:urn:ztconsole:fix:sendercompid:ALPHA2" in text
    assert "CA:FALSE" in text
    dates = subprocess.run(
        [openssl, "x509", "-noout", "-startdate", "-enddate", "-in", _write(tmp_path, "d.pem", cert.pem)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert cert.not_before.strftime("%b %e %H:%M:%S %Y").replace("  ", " ") in dates.replace("  ", " ")
    assert cert.not_after.strftime("%b %e %H:%M:%S %Y").replace("  ", " ") in dates.replace("  ", " ")
    # 30 days from issuance, valid from a few minutes before it for clocks running behind the console's
    assert cert.not_after - cert.not_before == timedelta(days=30) + pki.CLOCK_SKEW
    assert pki.CLOCK_SKEW <= cert.created_at - cert.not_before < pki.CLOCK_SKEW + timedelta(minutes=1)
