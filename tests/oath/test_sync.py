"""Resynchronisation from two consecutive codes: HOTP counters that ran ahead, TOTP clocks that drift."""

from __future__ import annotations

import pytest

from accounts.oath.otp import OathParams, hotp, sync_hotp, sync_totp, totp, verify_hotp, verify_totp

KEY = bytes(range(20))
HOTP6 = OathParams(kind="hotp")
TOTP6 = OathParams(kind="totp")
NOW = 1_700_000_015
STEP = NOW // 30


def test_hotp_sync_finds_two_consecutive_codes_far_ahead() -> None:
    # The token was pressed 150 times away from the server: far beyond verify's look-ahead.
    assert verify_hotp(KEY, hotp(KEY, 160), 10, params=HOTP6) is None
    assert sync_hotp(KEY, hotp(KEY, 160), hotp(KEY, 161), 10, params=HOTP6) == 162


def test_hotp_sync_result_is_the_next_counter_to_expect() -> None:
    next_counter = sync_hotp(KEY, hotp(KEY, 100), hotp(KEY, 101), 0, params=HOTP6)
    assert next_counter == 102
    assert verify_hotp(KEY, hotp(KEY, 101), next_counter, params=HOTP6) is None  # used by the sync
    assert verify_hotp(KEY, hotp(KEY, 102), next_counter, params=HOTP6) == 102


def test_hotp_sync_at_the_edges_of_the_window() -> None:
    assert sync_hotp(KEY, hotp(KEY, 5), hotp(KEY, 6), 5, params=HOTP6, window=0) == 7
    assert sync_hotp(KEY, hotp(KEY, 205), hotp(KEY, 206), 5, params=HOTP6, window=200) == 207
    assert sync_hotp(KEY, hotp(KEY, 206), hotp(KEY, 207), 5, params=HOTP6, window=200) is None


def test_hotp_sync_needs_consecutive_codes_in_order() -> None:
    assert sync_hotp(KEY, hotp(KEY, 50), hotp(KEY, 52), 0, params=HOTP6) is None
    assert sync_hotp(KEY, hotp(KEY, 51), hotp(KEY, 50), 0, params=HOTP6) is None
    assert sync_hotp(KEY, hotp(KEY, 50), hotp(KEY, 50), 0, params=HOTP6) is None


def test_hotp_sync_does_not_look_behind_the_counter() -> None:
    assert sync_hotp(KEY, hotp(KEY, 3), hotp(KEY, 4), 10, params=HOTP6) is None


@pytest.mark.parametrize(("code1", "code2"), [("12345", "123456"), ("123456", "12345a"), (None, "123456")])
def test_hotp_sync_with_malformed_codes_returns_none(code1: object, code2: object) -> None:
    assert sync_hotp(KEY, code1, code2, 0, params=HOTP6) is None  # type: ignore[arg-type]


@pytest.mark.parametrize("drift", [-10, -3, 0, 1, 5, 10])
def test_totp_sync_measures_the_token_clock_drift(drift: int) -> None:
    # The token shows the codes of steps STEP+drift-1 then STEP+drift: the second is its "now".
    code1 = totp(KEY, NOW + 30 * (drift - 1))
    code2 = totp(KEY, NOW + 30 * drift)
    assert sync_totp(KEY, code1, code2, NOW, params=TOTP6) == drift


@pytest.mark.parametrize("drift", [-11, 11])
def test_totp_sync_outside_the_window_fails(drift: int) -> None:
    code1 = totp(KEY, NOW + 30 * (drift - 1))
    code2 = totp(KEY, NOW + 30 * drift)
    assert sync_totp(KEY, code1, code2, NOW, params=TOTP6, window=10) is None
    assert sync_totp(KEY, code1, code2, NOW, params=TOTP6, window=11) == drift


def test_totp_sync_then_verify_with_the_drift() -> None:
    drift = sync_totp(KEY, totp(KEY, NOW + 210), totp(KEY, NOW + 240), NOW, params=TOTP6)
    assert drift == 8
    last_step = STEP + drift
    later = NOW + 60
    code = totp(KEY, later + 30 * drift)
    assert verify_totp(KEY, code, later, params=TOTP6, last_step=last_step, drift=drift) == STEP + 2 + drift
    # The code the sync consumed is not accepted again.
    assert verify_totp(KEY, totp(KEY, NOW + 240), NOW, params=TOTP6, last_step=last_step, drift=drift) is None


def test_totp_sync_needs_consecutive_steps() -> None:
    assert sync_totp(KEY, totp(KEY, NOW), totp(KEY, NOW + 60), NOW, params=TOTP6) is None


MALFORMED_PAIRS = [("", "123456"), ("123456", "1234567"), ("12345\uff16", "123456")]


@pytest.mark.parametrize(("code1", "code2"), MALFORMED_PAIRS)
def test_totp_sync_with_malformed_codes_returns_none(code1: str, code2: str) -> None:
    assert sync_totp(KEY, code1, code2, NOW, params=TOTP6) is None
