"""Seed import into the token inventory: PSKC (plaintext, PSK, PBKDF2) and OATH CSV, command and page."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from accounts.models import HardwareToken, TokenState
from ztconsole.core.models import AuditEvent

pytestmark = pytest.mark.django_db
DATA = Path(__file__).resolve().parents[1] / "oath" / "data"
RFC6030_PSK = "12345678901234567890123456789012"


def _import(capsys, name: str, *options: str) -> str:
    call_command("import_tokens", str(DATA / name), *options)
    return capsys.readouterr().out


def test_plaintext_pskc_imports_and_a_second_run_skips(capsys):
    out = _import(capsys, "rfc6030_figure2_plaintext.pskcxml")
    assert out.startswith("imported 1, skipped 0 (duplicate serial), rejected 0")
    token = HardwareToken.objects.get(serial="987654321")
    assert (token.kind, token.digits, token.state) == ("hotp", 8, TokenState.IN_STOCK)
    assert token.secret() == b"12345678901234567890"
    # Encrypted at rest: the column holds neither the secret nor its base64 or hex form.
    for form in (b"12345678901234567890".hex(), "MTIzNDU2Nzg5MDEyMzQ1Njc4OTA=", "12345678901234567890"):
        assert form not in token.seed
    out = _import(capsys, "rfc6030_figure2_plaintext.pskcxml")
    assert "imported 0, skipped 1" in out and "already in the inventory" in out
    assert AuditEvent.objects.filter(action="token.imported").count() == 2


def test_pre_shared_key_pskc_needs_the_right_key(capsys):
    with pytest.raises(CommandError, match="nothing imported"):
        _import(capsys, "rfc6030_figure6_psk_aes128cbc.pskcxml", "--psk", "00" * 16)
    assert not HardwareToken.objects.exists()
    out = _import(capsys, "rfc6030_figure6_psk_aes128cbc.pskcxml", "--psk", RFC6030_PSK)
    assert out.startswith("imported 1")


def test_password_pskc(capsys):
    with pytest.raises(CommandError, match="nothing imported"):
        _import(capsys, "rfc6030_figure7_pbkdf2.pskcxml", "--password", "wrong")
    assert _import(capsys, "rfc6030_figure7_pbkdf2.pskcxml", "--password", "qwerty").startswith("imported 1")


def test_tampered_mac_refuses_the_whole_file(capsys, tmp_path):
    original = (DATA / "rfc6030_figure6_psk_aes128cbc.pskcxml").read_text()
    marker = "<xenc:CipherValue>"
    start = original.index(marker, original.index("<pskc:Secret>")) + len(marker)
    flipped = "A" if original[start + 4] != "A" else "B"
    tampered = tmp_path / "tampered.pskcxml"
    tampered.write_text(original[: start + 4] + flipped + original[start + 5 :])
    with pytest.raises(CommandError, match="nothing imported"):
        call_command("import_tokens", str(tampered), "--psk", RFC6030_PSK)
    assert not HardwareToken.objects.exists()


def test_mixed_file_imports_the_good_and_names_the_rejected(capsys):
    out = _import(capsys, "mixed_algorithms.pskcxml")
    assert out.startswith("imported 2, skipped 0 (duplicate serial), rejected 1")
    assert "rejected PIN-0003:" in out


def test_csv_rows(capsys, tmp_path):
    out = _import(capsys, "tokens.csv")
    assert out.startswith("imported 5")
    assert HardwareToken.objects.get(serial="TOTP-C").algorithm == "SHA256"
    bad = tmp_path / "bad.csv"
    bad.write_text("GOOD-1,3132333435363738393031323334353637383930,hotp,6,0\nBAD-1,zz,hotp,6,0\nBAD-2,31,hotp\n")
    out = call_command("import_tokens", str(bad)) or ""
    out = capsys.readouterr().out
    assert out.startswith("imported 1, skipped 0 (duplicate serial), rejected 2")
    assert "row 2" in out and "row 3" in out


def test_malformed_xml_and_missing_file(capsys, tmp_path):
    broken = tmp_path / "broken.xml"
    broken.write_text("<KeyContainer><KeyPackage>")
    with pytest.raises(CommandError, match="nothing imported"):
        call_command("import_tokens", str(broken))
    with pytest.raises(CommandError, match="cannot read"):
        call_command("import_tokens", str(tmp_path / "absent.xml"))


def test_administrator_imports_in_the_browser_and_sees_per_token_results(personas, verified_client):
    client = verified_client(personas["admin"])
    upload = SimpleUploadedFile("mixed.pskcxml", (DATA / "mixed_algorithms.pskcxml").read_bytes())
    response = client.post(reverse("accounts:token_import"), {"file": upload})
    assert response.status_code == 200
    assert b'data-testid="imported-count">2<' in response.content
    assert b"PIN-0003" in response.content and b"rejected" in response.content
    bad = SimpleUploadedFile("f.pskcxml", (DATA / "rfc6030_figure6_psk_aes128cbc.pskcxml").read_bytes())
    response = client.post(reverse("accounts:token_import"), {"file": bad, "psk": "nothex"})
    assert response.status_code == 400 and b"hexadecimal" in response.content
    inventory = client.get(reverse("accounts:token_inventory"))
    assert b"HOTP-0001" in inventory.content and b"MTIz" not in inventory.content
