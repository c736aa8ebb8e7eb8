"""PSKC (RFC 6030) seed import: plaintext, pre-shared key and password files; whole-file refusals;
per-token rejections."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable

import pytest

from accounts.oath.otp import OathParams, hotp, totp
from accounts.oath.seeds import ImportResult, SeedFileError, TokenSeed, parse_pskc
from tests.oath.samples import (
    RFC4226_SECRET,
    RFC6030_PASSWORD,
    RFC6030_PRE_SHARED_KEY,
    TOTP,
    container,
    encrypted_with_key,
    key_package,
)

FIGURE2 = "rfc6030_figure2_plaintext.pskcxml"
FIGURE6 = "rfc6030_figure6_psk_aes128cbc.pskcxml"
FIGURE7 = "rfc6030_figure7_pbkdf2.pskcxml"

Sample = Callable[[str], bytes]

RFC_TOKEN = TokenSeed(
    serial="987654321",
    key=RFC4226_SECRET,
    params=OathParams(kind="hotp", digits=8),
    counter=0,
    manufacturer="Manufacturer",
)


def _only_seed(result: ImportResult) -> TokenSeed:
    assert result.rejected == []
    assert len(result.seeds) == 1
    return result.seeds[0]


def _only_rejection(result: ImportResult) -> str:
    assert result.seeds == []
    assert len(result.rejected) == 1
    return result.rejected[0].reason


def _replace_once(data: bytes, pattern: bytes, replacement: bytes) -> bytes:
    changed, count = re.subn(pattern, replacement, data, count=1)
    assert count == 1, f"pattern {pattern!r} not found"
    return changed


def _flip_base64(value: bytes) -> bytes:
    raw = bytearray(base64.b64decode(value))
    raw[len(raw) // 2] ^= 0x01
    return base64.b64encode(bytes(raw))


# ------------------------------------------------------------------------------------------ good files


def test_plaintext_figure2_imports_the_rfc_token(sample: Sample) -> None:
    seed = _only_seed(parse_pskc(sample(FIGURE2)))
    assert seed == RFC_TOKEN
    # RFC 4226 Appendix D, counter 0, eight digits of 1284755224.
    assert hotp(seed.key, seed.counter, digits=seed.params.digits) == "84755224"


def test_pre_shared_key_figure6_imports_with_the_rfc_key(sample: Sample) -> None:
    assert _only_seed(parse_pskc(sample(FIGURE6), psk=RFC6030_PRE_SHARED_KEY)) == RFC_TOKEN


AES_CBC = [("aes128-cbc", 16), ("aes192-cbc", 24), ("aes256-cbc", 32)]


@pytest.mark.parametrize(("algorithm", "key_length"), AES_CBC)
def test_pre_shared_key_imports_for_every_aes_cbc_size(algorithm: str, key_length: int) -> None:
    psk = bytes(range(key_length))
    data = encrypted_with_key(psk, algorithm, serials=("ENC-0", "ENC-1"))
    assert b"hmac-sha1" in data  # CBC files carry a MAC
    result = parse_pskc(data, psk=psk)
    assert result.rejected == []
    assert [(seed.serial, seed.key, seed.counter) for seed in result.seeds] == [
        ("ENC-0", bytes([0]) * 20, 0),
        ("ENC-1", bytes([1]) * 20, 1),
    ]


@pytest.mark.parametrize(("algorithm", "key_length"), [("kw-aes128", 16), ("kw-aes256", 32)])
def test_pre_shared_key_imports_with_aes_key_wrap(algorithm: str, key_length: int) -> None:
    # Key wrap authenticates by itself (RFC 3394 integrity check): no ValueMAC needed.
    psk = bytes(range(key_length))
    data = encrypted_with_key(psk, algorithm)
    assert b"ValueMAC" not in data
    assert [seed.serial for seed in parse_pskc(data, psk=psk).seeds] == ["ENC-1"]
    with pytest.raises(SeedFileError, match="cannot decrypt the file"):
        parse_pskc(data, psk=bytes(key_length))


def test_password_figure7_imports_with_the_right_password(sample: Sample) -> None:
    seed = _only_seed(parse_pskc(sample(FIGURE7), password=RFC6030_PASSWORD))
    assert seed.serial == "987654321"
    assert seed.key == RFC4226_SECRET
    assert seed.manufacturer == "TokenVendorAcme"
    assert seed.params == OathParams(kind="hotp", digits=8)


def test_mixed_file_imports_two_tokens_and_rejects_the_unsupported_one(sample: Sample) -> None:
    result = parse_pskc(sample("mixed_algorithms.pskcxml"))
    hotp_seed, totp_seed = result.seeds
    assert hotp_seed == TokenSeed(
        serial="HOTP-0001",
        key=RFC4226_SECRET,
        params=OathParams(kind="hotp"),
        counter=42,
        manufacturer="Acme Tokens",
        model="Event C200",
    )
    assert totp_seed.serial == "TOTP-0002"
    assert totp_seed.params == OathParams(kind="totp", algorithm="SHA256", digits=8, period=60)
    assert totp_seed.model == "Time T600"
    # The key is RFC 6238's SHA-256 seed: its Appendix B code at 59 s (30-second steps) proves it decoded.
    assert totp(totp_seed.key, 59, digits=8, algorithm="SHA256") == "46119246"
    assert len(result.rejected) == 1
    assert result.rejected[0].serial == "PIN-0003"
    assert result.rejected[0].reason == "unsupported algorithm (HOTP and TOTP only)"


def test_second_token_with_the_same_serial_is_rejected(sample: Sample) -> None:
    result = parse_pskc(sample("duplicate_serial.pskcxml"))
    assert [seed.serial for seed in result.seeds] == ["DUP-1", "UNIQUE-2"]
    assert result.seeds[0].key == RFC4226_SECRET  # the first one wins
    assert [(r.serial, r.reason) for r in result.rejected] == [("DUP-1", "duplicate serial in file")]


def test_serial_of_a_rejected_key_can_still_be_imported_by_a_later_key() -> None:
    # A vendor may list a device's unsupported key before its OTP key; the OTP key is welcome.
    data = container(
        key_package(serial="DEV-9", algorithm="urn:ietf:params:xml:ns:keyprov:pskc:pin"),
        key_package(serial="DEV-9"),
    )
    result = parse_pskc(data)
    assert [seed.serial for seed in result.seeds] == ["DEV-9"]
    assert [r.reason for r in result.rejected] == ["unsupported algorithm (HOTP and TOTP only)"]


@pytest.mark.parametrize(
    ("suite", "expected"),
    [
        ("SHA1", "SHA1"),
        ("HMAC-SHA1", "SHA1"),
        ("sha-1", "SHA1"),
        ("SHA256", "SHA256"),
        ("sha-256", "SHA256"),
        ("HMAC-SHA256", "SHA256"),
        ("hmac-sha-256", "SHA256"),
        ("HMAC_SHA256", "SHA256"),
        ("http://www.w3.org/2001/04/xmldsig-more#hmac-sha256", "SHA256"),
        ("SHA512", "SHA512"),
        ("HMAC-SHA-512", "SHA512"),
        ("sha512", "SHA512"),
    ],
)
def test_hash_algorithm_is_read_from_the_suite_in_any_common_spelling(suite: str, expected: str) -> None:
    seed = _only_seed(parse_pskc(container(key_package(algorithm=TOTP, suite=suite, time_interval=30))))
    assert seed.params.algorithm == expected


def test_defaults_when_optional_elements_are_missing() -> None:
    # No <ResponseFormat>: 6 digits (RFC 4226); no <TimeInterval>: 30 s (RFC 6238); no <Suite>: SHA-1.
    seed = _only_seed(parse_pskc(container(key_package(algorithm=TOTP, digits=None))))
    assert seed.params == OathParams(kind="totp", algorithm="SHA1", digits=6, period=30)
    assert seed.counter == 0


def test_vendor_spelling_of_the_algorithm_urn_is_accepted() -> None:
    data = container(key_package(algorithm="urn:ietf:params:xml:ns:keyprov:pskc#totp", time_interval=60))
    assert _only_seed(parse_pskc(data)).params == OathParams(kind="totp", period=60)


def test_hotp_counter_is_imported() -> None:
    assert _only_seed(parse_pskc(container(key_package(counter=123456)))).counter == 123456


# ------------------------------------------------------------------------------ per-token rejections


@pytest.mark.parametrize(
    ("package", "reason"),
    [
        (key_package(serial=None), "missing serial"),
        (key_package(serial="   "), "missing serial"),
        (key_package(algorithm="urn:ietf:params:xml:ns:keyprov:pskc:ocra"), "unsupported algorithm"),
        (key_package(algorithm="http://www.yubico.com/#yubikey-aes"), "unsupported algorithm"),
        (key_package(digits=7), "unsupported number of digits (6 or 8 only)"),
        (key_package(digits=10), "unsupported number of digits (6 or 8 only)"),
        (key_package(encoding="ALPHANUMERIC"), "unsupported response encoding (DECIMAL only)"),
        (key_package(suite="HMAC-SHA384"), "unsupported hash algorithm"),
        (key_package(suite="MD5"), "unsupported hash algorithm"),
        (key_package(algorithm=TOTP, time_interval=45), "unsupported time step (30 or 60 seconds only)"),
        (key_package(algorithm=TOTP, time_interval=120), "unsupported time step (30 or 60 seconds only)"),
        (key_package(secret=b"0123456789abcde"), "key shorter than 16 bytes"),
        (key_package(secret=None), "no secret key in the key package"),
    ],
)
def test_unsupported_token_is_rejected_and_the_rest_imports(package: str, reason: str) -> None:
    result = parse_pskc(container(key_package(serial="GOOD-1"), package, key_package(serial="GOOD-2")))
    assert [seed.serial for seed in result.seeds] == ["GOOD-1", "GOOD-2"]
    assert len(result.rejected) == 1
    assert result.rejected[0].reason.startswith(reason)


def test_sixteen_byte_key_is_long_enough() -> None:
    assert len(_only_seed(parse_pskc(container(key_package(secret=b"0123456789abcdef")))).key) == 16


def test_rejection_reasons_never_contain_key_material() -> None:
    short = b"0123456789abcde"
    reason = _only_rejection(parse_pskc(container(key_package(secret=short))))
    for form in (short.decode(), short.hex(), base64.b64encode(short).decode()):
        assert form not in reason


def test_token_seed_repr_hides_the_key(sample: Sample) -> None:
    seed = _only_seed(parse_pskc(sample(FIGURE2)))
    assert "1234567890" not in repr(seed)
    assert "key=" not in repr(seed)


# ------------------------------------------------------------------------------ whole-file refusals


def test_encrypted_file_without_a_key_is_refused(sample: Sample) -> None:
    with pytest.raises(SeedFileError, match="pre-shared key or a password is required"):
        parse_pskc(sample(FIGURE6))


@pytest.mark.parametrize(
    "wrong_key",
    [
        bytes.fromhex("12345678901234567890123456789013"),  # one bit off
        bytes(16),
        bytes.fromhex("1234567890123456789012345678901212345678901234567890123456789012"),  # wrong length
    ],
)
def test_wrong_pre_shared_key_refuses_the_file(sample: Sample, wrong_key: bytes) -> None:
    with pytest.raises(SeedFileError, match="cannot decrypt the file") as error:
        parse_pskc(sample(FIGURE6), psk=wrong_key)
    assert wrong_key.hex() not in str(error.value)
    assert RFC6030_PRE_SHARED_KEY.hex() not in str(error.value)


def test_tampered_ciphertext_refuses_the_file(sample: Sample) -> None:
    data = sample(FIGURE6)
    secret = re.search(rb"<pskc:Secret>.*?<xenc:CipherValue>([^<]+)<", data, re.DOTALL)
    assert secret is not None
    tampered = data.replace(secret.group(1), _flip_base64(secret.group(1)))
    with pytest.raises(SeedFileError, match="cannot decrypt the file"):
        parse_pskc(tampered, psk=RFC6030_PRE_SHARED_KEY)


def test_tampered_mac_refuses_the_file(sample: Sample) -> None:
    data = sample(FIGURE6)
    mac = re.search(rb"<pskc:ValueMAC>([^<]+)<", data)
    assert mac is not None
    tampered = data.replace(mac.group(1), _flip_base64(mac.group(1)))
    with pytest.raises(SeedFileError, match="MAC value does not match"):
        parse_pskc(tampered, psk=RFC6030_PRE_SHARED_KEY)


def test_stripped_mac_refuses_the_file(sample: Sample) -> None:
    # python-pskc only checks a MAC that is there; RFC 6030 requires one for CBC.
    stripped = _replace_once(sample(FIGURE6), rb"<pskc:ValueMAC>[^<]+</pskc:ValueMAC>", b"")
    with pytest.raises(SeedFileError, match="has no MAC"):
        parse_pskc(stripped, psk=RFC6030_PRE_SHARED_KEY)


def test_plaintext_secret_smuggled_into_an_encrypted_file_refuses_the_file(sample: Sample) -> None:
    # Anyone on the way can add a key package; only the encrypted values are authenticated.
    extra = key_package(serial="INTRUDER").replace("<", "<pskc:").replace("<pskc:/", "</pskc:").encode()
    smuggled = sample(FIGURE6).replace(b"</pskc:KeyContainer>", extra + b"</pskc:KeyContainer>")
    with pytest.raises(SeedFileError, match="plaintext secrets"):
        parse_pskc(smuggled, psk=RFC6030_PRE_SHARED_KEY)


def test_decryption_key_given_for_a_plaintext_file_refuses_it(sample: Sample) -> None:
    # The administrator expected an encrypted file: a plaintext one may have been swapped in.
    with pytest.raises(SeedFileError, match="plaintext secrets"):
        parse_pskc(sample(FIGURE2), psk=RFC6030_PRE_SHARED_KEY)


def test_wrong_password_refuses_the_file(sample: Sample) -> None:
    with pytest.raises(SeedFileError, match="cannot decrypt the file") as error:
        parse_pskc(sample(FIGURE7), password="azerty")
    assert "azerty" not in str(error.value)


def test_password_for_a_pre_shared_key_file_is_refused(sample: Sample) -> None:
    with pytest.raises(SeedFileError, match="no usable password-based"):
        parse_pskc(sample(FIGURE6), password=RFC6030_PASSWORD)


def test_empty_password_is_refused(sample: Sample) -> None:
    with pytest.raises(SeedFileError, match="password is empty"):
        parse_pskc(sample(FIGURE7), password="")


def test_password_file_without_a_password_is_refused(sample: Sample) -> None:
    with pytest.raises(SeedFileError, match="password is required"):
        parse_pskc(sample(FIGURE7))


def test_excessive_pbkdf2_iterations_are_refused_before_deriving(sample: Sample) -> None:
    data = _replace_once(sample(FIGURE7), rb"<IterationCount>1000<", b"<IterationCount>1000000000<")
    with pytest.raises(SeedFileError, match="PBKDF2 iteration count"):
        parse_pskc(data, password=RFC6030_PASSWORD)


def test_psk_and_password_together_are_a_programming_error(sample: Sample) -> None:
    with pytest.raises(ValueError, match="either psk or password"):
        parse_pskc(sample(FIGURE6), psk=RFC6030_PRE_SHARED_KEY, password=RFC6030_PASSWORD)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"  \n", "empty"),
        (b"this is not xml", "not well-formed XML"),
        (
            b'<?xml version="1.0"?><KeyContainer xmlns="urn:ietf:params:xml:ns:keyprov:pskc">',
            "not well-formed",
        ),
        (b"<KeyContainer><KeyPackage></KeyContainer>", "not well-formed XML"),
        (b'<?xml version="1.0"?><Tokens/>', "not a usable PSKC file"),
        (
            b'<KeyContainer Version="2.0" xmlns="urn:ietf:params:xml:ns:keyprov:pskc"/>',
            "not a usable PSKC file",
        ),
        (container(), "no key packages"),
        (
            container(key_package()).replace(b"MTIzNDU2Nzg5MDEyMzQ1Njc4OTA=", b"not*base64"),
            "not a usable PSKC file",
        ),
        (
            b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>'
            b"<KeyContainer>&lol2;</KeyContainer>",
            "document type or entities",
        ),
        (
            b'<?xml version="1.0"?><!DOCTYPE k SYSTEM "file:///etc/passwd"><KeyContainer/>',
            "document type or entities",
        ),
    ],
)
def test_unreadable_files_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(SeedFileError, match=message):
        parse_pskc(data)


def test_truncated_encrypted_file_is_refused(sample: Sample) -> None:
    data = sample(FIGURE6)
    with pytest.raises(SeedFileError, match="not well-formed XML"):
        parse_pskc(data[: len(data) // 2], psk=RFC6030_PRE_SHARED_KEY)
