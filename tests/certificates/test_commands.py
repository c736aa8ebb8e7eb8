"""manage.py init_ca and issue_cert: clear errors and a non-zero exit on bad input."""

from __future__ import annotations

import datetime

import pytest
from cryptography import x509
from django.core.management import CommandError, call_command

from certificates import pki
from certificates.models import Certificate, CertificateAuthority
from tests.certificates.helpers import make_csr, rsa_key


def test_init_ca_creates_root_and_issuing(db, capsys):
    call_command("init_ca")
    assert "Issuing CA" in capsys.readouterr().out
    assert CertificateAuthority.objects.filter(active=True).count() == 2
    with pytest.raises(CommandError, match="already exists"):
        call_command("init_ca")


def _self_signed_ca(tmp_path):
    key = pki.generate_ca_key()
    now = datetime.datetime.now(datetime.UTC)
    cert = pki.build_ca_certificate(
        key=key, common_name="Imported Root", not_before=now, not_after=now + datetime.timedelta(days=3650)
    )
    cert_file, key_file = tmp_path / "ca.pem", tmp_path / "ca.key"
    cert_file.write_text(pki.certificate_pem(cert))
    key_file.write_bytes(pki.private_key_pem(key))
    return cert, key, cert_file, key_file


def test_init_ca_imports_a_root_and_signs_a_new_issuing_ca(db, tmp_path):
    cert, _, cert_file, key_file = _self_signed_ca(tmp_path)
    call_command("init_ca", import_cert=cert_file, import_key=key_file)
    issuing = CertificateAuthority.objects.get(role="issuing", active=True)
    assert issuing.parent.imported and issuing.parent.serial == format(cert.serial_number, "x")
    issuing.load_certificate().verify_directly_issued_by(cert)


def test_init_ca_refuses_a_key_that_is_not_the_certificates(db, tmp_path):
    _, _, cert_file, _ = _self_signed_ca(tmp_path)
    other = tmp_path / "other.key"
    other.write_bytes(pki.private_key_pem(pki.generate_ca_key()))
    with pytest.raises(CommandError, match="does not belong"):
        call_command("init_ca", import_cert=cert_file, import_key=other)
    with pytest.raises(CommandError, match="cannot read"):
        call_command("init_ca", import_cert=tmp_path / "missing.pem", import_key=other)
    assert not CertificateAuthority.objects.exists()


def test_issue_cert_writes_the_certificate(ca, algo, tmp_path):
    csr, out = tmp_path / "c.csr", tmp_path / "c.pem"
    csr.write_text(make_csr())
    call_command("issue_cert", csr=csr, identity=str(algo.pk), profile="fix-client", out=out)
    cert = x509.load_pem_x509_certificate(out.read_bytes())
    assert format(cert.serial_number, "x") == Certificate.objects.get().serial
    call_command("issue_cert", csr=csr, identity="algo-alpha", profile="fix-client", out=tmp_path / "d.pem")


@pytest.mark.parametrize(
    ("csr_text", "identity", "profile", "match"),
    [
        ("garbage", "algo", "fix-client", "csr: not a PEM certificate signing request"),
        (None, "nobody", "fix-client", "identity: no identity 'nobody'"),
        (None, "algo", "fix-nothing", "no certificate profile named 'fix-nothing'"),
        ("rsa1024", "algo", "fix-client", "RSA 1024 is too small"),
    ],
)
def test_issue_cert_bad_input_is_a_command_error(ca, algo, tmp_path, csr_text, identity, profile, match):
    csr = tmp_path / "c.csr"
    csr.write_text(make_csr(rsa_key(1024)) if csr_text == "rsa1024" else csr_text or make_csr())
    with pytest.raises(CommandError, match=match):
        call_command(
            "issue_cert",
            csr=csr,
            identity=str(algo.pk) if identity == "algo" else identity,
            profile=profile,
            out=tmp_path / "c.pem",
        )
    assert not (tmp_path / "c.pem").exists() and not Certificate.objects.exists()


def test_issue_cert_exits_non_zero_from_the_shell(ca, algo, tmp_path):
    import os
    import subprocess
    import sys

    csr = tmp_path / "c.csr"
    csr.write_text("not a csr")
    args = ["issue_cert", "--csr", str(csr), "--identity", "1", "--profile", "fix-client"]
    result = subprocess.run(
        [sys.executable, "manage.py", *args, "--out", str(tmp_path / "x.pem")],
        capture_output=True,
        text=True,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "ztconsole.settings_test", "DATABASE_URL": "sqlite://:memory:"},
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
    )
    assert result.returncode != 0
