"""Verifying codes: the HOTP look-ahead window, the TOTP tolerance, drift and replay refusal."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accounts.oath.otp import OathParams, hotp, totp, verify_hotp, verify_totp
from tests.oath.properties import PROPERTY

KEY = b"12345678901234567890"
HOTP6 = OathParams(kind="hotp")
TOTP6 = OathParams(kind="totp")
NOW = 1_700_000_015  # the middle of a 30-second step
STEP = NOW // 30

MALFORMED = [
    None,
    755224,
    "",
    "75522",
    "7552240",
    "75522a",
    " 755224",
    "755224\n",
    "755 224",
    "-55224",
    "٧٥٥٢٢٤",  # Arabic-Indic digits: str.isdigit() says yes, we say no
    "²55224",
]


def test_hotp_code_at_the_expected_counter_matches_it() -> None:
    assert verify_hotp(KEY, "755224", 0, params=HOTP6) == 0


def test_hotp_returns_the_counter_that_matched_within_the_look_ahead() -> None:
    # RFC 4226 Appendix D: counter 7 is "162583".
    assert verify_hotp(KEY, "162583", 0, params=HOTP6) == 7
    assert verify_hotp(KEY, "162583", 3, params=HOTP6, look_ahead=4) == 7


def test_hotp_code_just_past_the_look_ahead_is_refused() -> None:
    code = hotp(KEY, 21)
    assert verify_hotp(KEY, code, 0, params=HOTP6, look_ahead=20) is None
    assert verify_hotp(KEY, code, 1, params=HOTP6, look_ahead=20) == 21


def test_hotp_code_behind_the_counter_is_refused() -> None:
    # Counter 1 was used: the server now expects 2, and 1's code must never work again.
    assert verify_hotp(KEY, "287082", 2, params=HOTP6) is None


def test_hotp_with_no_look_ahead_only_accepts_the_expected_counter() -> None:
    assert verify_hotp(KEY, "287082", 1, params=HOTP6, look_ahead=0) == 1
    assert verify_hotp(KEY, "359152", 1, params=HOTP6, look_ahead=0) is None


def test_hotp_uses_the_params_digits_and_hash() -> None:
    params = OathParams(kind="hotp", algorithm="SHA256", digits=8)
    code = hotp(KEY, 5, digits=8, algorithm="SHA256")
    assert verify_hotp(KEY, code, 0, params=params) == 5
    assert verify_hotp(KEY, hotp(KEY, 5, digits=8), 0, params=params) is None


@pytest.mark.parametrize("code", MALFORMED)
def test_malformed_hotp_codes_return_none(code: object) -> None:
    assert verify_hotp(KEY, code, 0, params=HOTP6) is None  # type: ignore[arg-type]


@PROPERTY
@given(key=st.binary(min_size=16, max_size=64), counter=st.integers(0, 10**9), ahead=st.integers(0, 20))
def test_any_code_within_the_look_ahead_is_accepted(key: bytes, counter: int, ahead: int) -> None:
    code = hotp(key, counter + ahead)
    matched = verify_hotp(key, code, counter, params=HOTP6)
    # An earlier counter may show the same 6 digits by chance; whichever matched, it is in the window
    # and really shows that code.
    assert matched is not None
    assert counter <= matched <= counter + ahead
    assert hotp(key, matched) == code


def test_totp_code_of_the_current_step_matches_it() -> None:
    assert verify_totp(KEY, totp(KEY, NOW), NOW, params=TOTP6, last_step=None) == STEP


@pytest.mark.parametrize("offset", [-1, 1])
def test_totp_accepts_one_step_either_side_by_default(offset: int) -> None:
    code = totp(KEY, NOW + 30 * offset)
    assert verify_totp(KEY, code, NOW, params=TOTP6, last_step=None) == STEP + offset


@pytest.mark.parametrize("offset", [-2, 2])
def test_totp_refuses_codes_outside_the_tolerance(offset: int) -> None:
    code = totp(KEY, NOW + 30 * offset)
    assert verify_totp(KEY, code, NOW, params=TOTP6, last_step=None) is None
    assert verify_totp(KEY, code, NOW, params=TOTP6, last_step=None, tolerance=2) == STEP + offset


def test_totp_with_zero_tolerance_only_accepts_the_current_step() -> None:
    assert verify_totp(KEY, totp(KEY, NOW - 30), NOW, params=TOTP6, last_step=None, tolerance=0) is None


def test_totp_refuses_a_replayed_code() -> None:
    code = totp(KEY, NOW)
    step = verify_totp(KEY, code, NOW, params=TOTP6, last_step=None)
    assert step == STEP
    # Same code, same step, a few seconds later: already used.
    assert verify_totp(KEY, code, NOW + 5, params=TOTP6, last_step=step) is None


def test_totp_refuses_a_code_older_than_the_last_used_step() -> None:
    previous = totp(KEY, NOW - 30)
    assert verify_totp(KEY, previous, NOW, params=TOTP6, last_step=STEP) is None


def test_totp_accepts_the_next_step_after_the_last_used_one() -> None:
    later = totp(KEY, NOW + 30)
    assert verify_totp(KEY, later, NOW + 30, params=TOTP6, last_step=STEP) == STEP + 1


def test_totp_applies_the_known_drift() -> None:
    # The token runs 5 steps ahead: its current code is the one for NOW + 150 s.
    code = totp(KEY, NOW + 150)
    assert verify_totp(KEY, code, NOW, params=TOTP6, last_step=None) is None
    assert verify_totp(KEY, code, NOW, params=TOTP6, last_step=None, drift=5) == STEP + 5


def test_totp_uses_period_digits_hash_and_t0() -> None:
    params = OathParams(kind="totp", algorithm="SHA512", digits=8, period=60, t0=1_000)
    code = totp(KEY, NOW, period=60, digits=8, algorithm="SHA512", t0=1_000)
    assert verify_totp(KEY, code, NOW, params=params, last_step=None) == (NOW - 1_000) // 60


@pytest.mark.parametrize("code", MALFORMED)
def test_malformed_totp_codes_return_none(code: object) -> None:
    assert verify_totp(KEY, code, NOW, params=TOTP6, last_step=None) is None  # type: ignore[arg-type]


def test_eight_digit_params_refuse_six_digit_codes() -> None:
    params = OathParams(kind="totp", digits=8)
    six = totp(KEY, NOW)
    assert verify_totp(KEY, six, NOW, params=params, last_step=None) is None
