"""The published test vectors: RFC 4226 Appendix D (HOTP) and RFC 6238 Appendix B (TOTP)."""

from __future__ import annotations

import pytest

from accounts.oath.otp import hotp, totp

RFC4226_SECRET = b"12345678901234567890"

# RFC 4226 Appendix D: counter -> (truncated 31-bit value in decimal, 6-digit HOTP).
RFC4226_VECTORS = [
    (0, 1284755224, "755224"),
    (1, 1094287082, "287082"),
    (2, 137359152, "359152"),
    (3, 1726969429, "969429"),
    (4, 1640338314, "338314"),
    (5, 868254676, "254676"),
    (6, 1918287922, "287922"),
    (7, 82162583, "162583"),
    (8, 673399871, "399871"),
    (9, 645520489, "520489"),
]

# RFC 6238 Appendix B: one seed per hash, each the ASCII digits "1234567890" repeated to the hash size.
RFC6238_SEEDS = {
    "SHA1": b"12345678901234567890",
    "SHA256": b"12345678901234567890123456789012",
    "SHA512": b"1234567890123456789012345678901234567890123456789012345678901234",
}

# RFC 6238 Appendix B: (Unix time, hash, 8-digit TOTP), 30-second steps from T0 = 0.
RFC6238_VECTORS = [
    (59, "SHA1", "94287082"),
    (59, "SHA256", "46119246"),
    (59, "SHA512", "90693936"),
    (1111111109, "SHA1", "07081804"),
    (1111111109, "SHA256", "68084774"),
    (1111111109, "SHA512", "25091201"),
    (1111111111, "SHA1", "14050471"),
    (1111111111, "SHA256", "67062674"),
    (1111111111, "SHA512", "99943326"),
    (1234567890, "SHA1", "89005924"),
    (1234567890, "SHA256", "91819424"),
    (1234567890, "SHA512", "93441116"),
    (2000000000, "SHA1", "69279037"),
    (2000000000, "SHA256", "90698825"),
    (2000000000, "SHA512", "38618901"),
    (20000000000, "SHA1", "65353130"),
    (20000000000, "SHA256", "77737706"),
    (20000000000, "SHA512", "47863826"),
]


@pytest.mark.parametrize(("counter", "truncated", "expected"), RFC4226_VECTORS)
def test_hotp_matches_rfc4226_appendix_d(counter: int, truncated: int, expected: str) -> None:
    assert hotp(RFC4226_SECRET, counter) == expected


@pytest.mark.parametrize(("counter", "truncated", "expected"), RFC4226_VECTORS)
def test_eight_digit_hotp_is_truncation_mod_10e8(counter: int, truncated: int, expected: str) -> None:
    # The appendix lists the full dynamic-truncation value; 8 digits keep its last 8, zero-padded.
    assert hotp(RFC4226_SECRET, counter, digits=8) == str(truncated % 10**8).zfill(8)


@pytest.mark.parametrize(("at", "algorithm", "expected"), RFC6238_VECTORS)
def test_totp_matches_rfc6238_appendix_b(at: int, algorithm: str, expected: str) -> None:
    assert totp(RFC6238_SEEDS[algorithm], at, digits=8, algorithm=algorithm) == expected


@pytest.mark.parametrize(("at", "algorithm", "expected"), RFC6238_VECTORS)
def test_totp_accepts_fractional_times(at: int, algorithm: str, expected: str) -> None:
    # Clocks give floats; a fraction of a second never moves the step (none of the vectors sits on a
    # boundary minus a fraction).
    assert totp(RFC6238_SEEDS[algorithm], at + 0.75, digits=8, algorithm=algorithm) == expected


def test_codes_keep_leading_zeros() -> None:
    # 1111111109 with SHA1 is "07081804" in the RFC: the string keeps its leading zero.
    code = totp(RFC6238_SEEDS["SHA1"], 1111111109, digits=8)
    assert code == "07081804"
    assert len(code) == 8
