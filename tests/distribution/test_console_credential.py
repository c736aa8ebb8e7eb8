"""The console's client certificate: profile console (serverAuth + clientAuth), from init_ca, renewed by the watch."""

from datetime import timedelta

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from django.core.management import call_command
from django.utils import timezone

from certificates.actions import issuing_ca, watch_certificate_expiry
from certificates.console import active_credential
from certificates.models import CertificateProfile, ConsoleCredential
from ztconsole.core.models import AuditEvent


def _eku(credential) -> set:
    cert = x509.load_pem_x509_certificate(credential.certificate_pem.encode())
    return set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)


def test_init_ca_issues_the_console_client_certificate(db, tmp_path):
    call_command("init_ca")
    credential = active_credential()
    assert credential is not None and credential.uri.startswith("urn:ztconsole:console:")
    assert _eku(credential) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    assert CertificateProfile.objects.get(name="console").extended_key_usage == ["serverAuth", "clientAuth"]
    cert = x509.load_pem_x509_certificate(credential.certificate_pem.encode())
    cert.verify_directly_issued_by(issuing_ca().load_certificate())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [credential.uri]
    assert b"PRIVATE KEY" in credential.private_key_pem()
    assert "PRIVATE KEY" not in ConsoleCredential.objects.values_list("private_key", flat=True).get()  # encrypted


def test_the_expiry_watch_renews_it_before_it_ends(pki):
    old = pki["console"]
    assert watch_certificate_expiry() == 0 and active_credential() == old  # not due: nothing happens
    ConsoleCredential.objects.filter(pk=old.pk).update(not_after=timezone.now() + timedelta(days=10))
    watch_certificate_expiry()
    new = active_credential()
    assert new.pk != old.pk and new.not_after > timezone.now() + timedelta(days=300)
    assert not ConsoleCredential.objects.get(pk=old.pk).active
    event = AuditEvent.objects.filter(action="certificate.console_issued").latest("seq")
    assert event.details["replaces"] == old.serial


def test_issue_console_cert_command_rotates_it(pki, capsys):
    call_command("issue_console_cert")
    assert active_credential().pk != pki["console"].pk
    assert "sha256" in capsys.readouterr().out
