"""YubiKey OTP: personalization export import, enrollment by touch, local validation, replay refusal."""

from __future__ import annotations

import os

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from yubiotp.modhex import modhex
from yubiotp.otp import YubiKey, encode_otp

from accounts.actions import mfa as mfa_actions
from accounts.models import TokenState, YubikeyDevice, YubikeyRecord
from accounts.yubico import YubikeyFileError, parse_yubico_csv
from tests.conftest import PASSWORD
from ztconsole.core.models import AuditEvent

pytestmark = pytest.mark.django_db


class SimulatedYubikey:
    """A YubiKey as the device itself behaves (yubiotp's generator), independent of our validation code."""

    def __init__(self, public_id: str = "vvccccfiluij") -> None:
        self.public_id = public_id
        self.private_id = os.urandom(6)
        self.aes_key = os.urandom(16)
        self.device = YubiKey(uid=self.private_id, session=1, counter=0)

    def touch(self) -> str:
        return encode_otp(self.device.generate(), self.aes_key, public_id=self.public_id.encode()).decode()

    def export_line(self) -> str:
        fields = ["Yubico OTP", "11/22/26 10:00", "1", self.public_id, self.private_id.hex(), self.aes_key.hex()]
        return ",".join(fields) + ",,,0,0,0,0,0,0,0,0,0,0"


@pytest.fixture
def key(personas):
    yubikey = SimulatedYubikey()
    data = ("# exported by the personalization tool\n" + yubikey.export_line() + "\n").encode()
    summary = mfa_actions.import_token_seeds(personas["admin"].user, data=data, filename="yubikeys.csv")
    assert summary.imported == [yubikey.public_id]
    return yubikey


def test_export_parser_names_bad_lines():
    good = SimulatedYubikey("vvccccfiluij")
    lines = [
        good.export_line(),
        "Yubico OTP,now,1,vvccccfiluij,00,00",
        "Yubico OTP,now,1,xyz!,aabbccddeeff,00112233445566778899aabbccddeeff",
        "garbage",
        good.export_line(),
    ]
    result = parse_yubico_csv("\n".join(lines).encode())
    assert [s.public_id for s in result.seeds] == ["vvccccfiluij"]
    reasons = [reason for _, reason in result.rejected]
    assert "row 2: private id must be 12 hex digits" in reasons
    assert any(r.startswith("row 3: public id") for r in reasons)
    assert any(r.startswith("row 4:") for r in reasons)
    assert any("duplicate public id" in r for r in reasons)
    with pytest.raises(YubikeyFileError):
        parse_yubico_csv(b"# nothing here\n")


def test_hex_public_ids_are_converted_to_modhex():
    line = "CC123,0123456789ab,aabbccddeeff,00112233445566778899aabbccddeeff"
    assert parse_yubico_csv(line.encode()).seeds[0].public_id == modhex(bytes.fromhex("0123456789ab")).decode()


def test_enroll_by_touch_then_sign_in_and_replay_is_refused(key, personas, verified_client):
    client = verified_client(personas["trader"])
    response = client.post(reverse("accounts:yubikey_enroll"), {"otp": key.touch()})
    assert response.status_code == 302
    device = YubikeyDevice.objects.get(public_id=key.public_id)
    assert device.user == personas["trader"].user and device.assurance == "hardware"
    assert YubikeyRecord.objects.get(public_id=key.public_id).state == TokenState.ENROLLED
    assert AuditEvent.objects.filter(action="mfa.device_enrolled", target_id=str(device.pk)).exists()

    otp = key.touch()
    signed_in = Client()
    signed_in.post(reverse("accounts:login"), {"username": "tina", "password": PASSWORD})
    signed_in.post(reverse("accounts:verify"), {"otp_device": device.persistent_id, "otp_token": otp})
    assert signed_in.get(reverse("core:dashboard")).status_code == 200

    replay = Client()
    replay.post(reverse("accounts:login"), {"username": "tina", "password": PASSWORD})
    response = replay.post(reverse("accounts:verify"), {"otp_device": device.persistent_id, "otp_token": otp})
    assert response.status_code == 400
    assert replay.get(reverse("core:dashboard")).status_code == 302


def test_otp_from_another_key_with_the_same_public_id_is_refused(key, personas, verified_client):
    impostor = SimulatedYubikey(key.public_id)  # right public id, wrong AES key
    client = verified_client(personas["trader"])
    client.post(reverse("accounts:yubikey_enroll"), {"otp": impostor.touch()})
    assert not YubikeyDevice.objects.exists()
    assert AuditEvent.objects.filter(action="mfa.enrollment_failed").exists()


def test_not_an_otp_is_a_clear_error(key, personas, verified_client):
    client = verified_client(personas["trader"])
    client.post(reverse("accounts:yubikey_enroll"), {"otp": "123456"})
    assert "not a YubiKey OTP" in client.get(reverse("accounts:profile")).content.decode()


def test_yubikey_failures_are_throttled(key, personas, verified_client):
    verified_client(personas["trader"]).post(reverse("accounts:yubikey_enroll"), {"otp": key.touch()})
    device = YubikeyDevice.objects.get()
    wrong = SimulatedYubikey(key.public_id).touch()
    assert device.verify_token(wrong) is False
    device.refresh_from_db()
    assert device.throttling_failure_count == 1
    assert device.verify_token(key.touch()) is False  # inside the back-off, even the right OTP waits


def test_suspended_yubikey_stops_signing_in(key, personas, verified_client):
    client = verified_client(personas["trader"])
    client.post(reverse("accounts:yubikey_enroll"), {"otp": key.touch()})
    device = YubikeyDevice.objects.get()
    client.post(reverse("accounts:yubikey_suspend", kwargs={"pk": device.pk}), {"reason": "lost"})
    device.refresh_from_db()
    assert device.suspended_at is not None and device.verify_token(key.touch()) is False


def test_yubikey_export_uploaded_in_the_browser_page(personas, verified_client):
    yubikey = SimulatedYubikey("vvccccfiluii")
    client = verified_client(personas["admin"])
    upload = SimpleUploadedFile("export.csv", (yubikey.export_line() + "\n").encode())
    response = client.post(reverse("accounts:token_import"), {"file": upload})
    assert response.status_code == 200 and b'data-testid="imported-count">1<' in response.content
    record = YubikeyRecord.objects.get(public_id="vvccccfiluii")
    assert yubikey.aes_key.hex() not in record.secret
