"""Our HOTP/TOTP against independent implementations: pyotp (Python) and oathtool (C, OATH Toolkit)."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess

import pyotp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from accounts.oath.otp import MAX_COUNTER, hotp, totp
from tests.oath.properties import PROPERTY, SUBPROCESS_PROPERTY

HASHES = {"SHA1": hashlib.sha1, "SHA256": hashlib.sha256, "SHA512": hashlib.sha512}

keys = st.binary(min_size=16, max_size=64)
counters = st.integers(min_value=0, max_value=MAX_COUNTER)
digit_counts = st.sampled_from([6, 8])
algorithms = st.sampled_from(["SHA1", "SHA256", "SHA512"])
periods = st.sampled_from([30, 60])
# Unix times up to the year 3000 (pyotp refuses times past 9999).
times = st.integers(min_value=0, max_value=32_503_680_000)
t0s = st.integers(min_value=0, max_value=2_000_000_000)


def _pyotp_secret(key: bytes) -> str:
    return base64.b32encode(key).decode()


@PROPERTY
@given(key=keys, counter=counters, digits=digit_counts, algorithm=algorithms)
def test_hotp_agrees_with_pyotp(key: bytes, counter: int, digits: int, algorithm: str) -> None:
    reference = pyotp.HOTP(_pyotp_secret(key), digits=digits, digest=HASHES[algorithm])
    assert hotp(key, counter, digits=digits, algorithm=algorithm) == reference.at(counter)


@PROPERTY
@given(
    key=keys,
    at=times,
    fraction=st.floats(0, 0.999),
    period=periods,
    digits=digit_counts,
    algorithm=algorithms,
)
def test_totp_agrees_with_pyotp(
    key: bytes,
    at: int,
    fraction: float,
    period: int,
    digits: int,
    algorithm: str,
) -> None:
    reference = pyotp.TOTP(_pyotp_secret(key), digits=digits, digest=HASHES[algorithm], interval=period)
    assert totp(key, at + fraction, period=period, digits=digits, algorithm=algorithm) == reference.at(at)


@PROPERTY
@given(key=keys, at=times, t0=t0s, period=periods, algorithm=algorithms)
def test_totp_with_t0_is_hotp_since_t0(key: bytes, at: int, t0: int, period: int, algorithm: str) -> None:
    at += t0
    step = (at - t0) // period
    reference = pyotp.HOTP(_pyotp_secret(key), digest=HASHES[algorithm])
    assert totp(key, at, period=period, algorithm=algorithm, t0=t0) == reference.at(step)


@pytest.fixture(scope="module")
def oathtool() -> str:
    """Path of OATH Toolkit's oathtool: skipped when missing, except in CI where it is required."""
    path = shutil.which("oathtool")
    if path is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("oathtool is required in CI (apt-get install oathtool)")
        pytest.skip("oathtool is not installed")
    return path


def _run(oathtool: str, *args: str) -> str:
    completed = subprocess.run([oathtool, *args], capture_output=True, text=True, check=True, timeout=10)
    return completed.stdout.strip()


@SUBPROCESS_PROPERTY
@given(key=keys, counter=counters, digits=digit_counts)
def test_hotp_agrees_with_oathtool(oathtool: str, key: bytes, counter: int, digits: int) -> None:
    # oathtool computes HOTP with SHA-1 only.
    expected = _run(oathtool, "--hotp", f"--digits={digits}", f"--counter={counter}", key.hex())
    assert hotp(key, counter, digits=digits) == expected


@SUBPROCESS_PROPERTY
@given(key=keys, at=times, t0=t0s, period=periods, digits=digit_counts, algorithm=algorithms)
def test_totp_agrees_with_oathtool(
    oathtool: str, key: bytes, at: int, t0: int, period: int, digits: int, algorithm: str
) -> None:
    at += t0
    expected = _run(
        oathtool,
        f"--totp={algorithm}",
        f"--digits={digits}",
        f"--time-step-size={period}s",
        f"--start-time=@{t0}",
        f"--now=@{at}",
        key.hex(),
    )
    assert totp(key, at, period=period, digits=digits, algorithm=algorithm, t0=t0) == expected
