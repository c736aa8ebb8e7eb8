"""Bad parameters and keys are programming or data errors: they raise ValueError with a clear message."""

from __future__ import annotations

import pytest

from accounts.oath.otp import MAX_COUNTER, OathParams, hotp, totp, verify_hotp, verify_totp

KEY = b"12345678901234567890"


def test_defaults_are_six_digit_sha1_thirty_seconds() -> None:
    params = OathParams(kind="totp")
    assert (params.algorithm, params.digits, params.period, params.t0) == ("SHA1", 6, 30, 0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "ocra"}, "kind must be 'hotp' or 'totp'"),
        ({"kind": "totp", "algorithm": "MD5"}, "algorithm must be one of SHA1, SHA256, SHA512"),
        ({"kind": "totp", "algorithm": "sha256"}, "algorithm must be one of"),
        ({"kind": "hotp", "digits": 7}, "digits must be 6 or 8"),
        ({"kind": "hotp", "digits": True}, "digits must be 6 or 8"),
        ({"kind": "hotp", "digits": 6.0}, "digits must be 6 or 8"),
        ({"kind": "totp", "period": 45}, "period must be 30 or 60"),
        ({"kind": "totp", "t0": -1}, "t0 must be a non-negative integer"),
    ],
)
def test_bad_params_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        OathParams(**kwargs)


def test_period_is_not_checked_for_hotp() -> None:
    # An HOTP token has no clock: its period is unused, whatever a record says.
    assert OathParams(kind="hotp", period=45).kind == "hotp"


def test_params_are_immutable() -> None:
    params = OathParams(kind="hotp")
    with pytest.raises(AttributeError):
        params.digits = 8  # type: ignore[misc]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: hotp(b"", 0), "key must not be empty"),
        (lambda: hotp("secret", 0), "key must be bytes"),  # type: ignore[arg-type]
        (lambda: hotp(KEY, -1), "counter must be an integer between 0 and 2\\*\\*64 - 1"),
        (lambda: hotp(KEY, MAX_COUNTER + 1), "counter must be an integer"),
        (lambda: hotp(KEY, 1.0), "counter must be an integer"),  # type: ignore[arg-type]
        (lambda: hotp(KEY, 0, digits=10), "digits must be 6 or 8"),
        (lambda: hotp(KEY, 0, algorithm="SHA384"), "algorithm must be one of"),  # type: ignore[arg-type]
        (lambda: totp(KEY, 100, period=15), "period must be 30 or 60"),
        (lambda: totp(KEY, 100, t0=200), "at is before t0"),
        (lambda: totp(KEY, float("nan")), "at must be a finite Unix time"),
        (lambda: totp(KEY, "100"), "at must be a finite Unix time"),  # type: ignore[arg-type]
    ],
)
def test_bad_arguments_raise_value_error(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


def test_verify_refuses_params_of_the_other_kind() -> None:
    with pytest.raises(ValueError, match="params are for TOTP, this function needs HOTP"):
        verify_hotp(KEY, "755224", 0, params=OathParams(kind="totp"))
    with pytest.raises(ValueError, match="params are for HOTP, this function needs TOTP"):
        verify_totp(KEY, "755224", 59, params=OathParams(kind="hotp"), last_step=None)


def test_negative_windows_are_refused() -> None:
    with pytest.raises(ValueError, match="look_ahead must be a non-negative integer"):
        verify_hotp(KEY, "755224", 0, params=OathParams(kind="hotp"), look_ahead=-1)
    with pytest.raises(ValueError, match="tolerance must be a non-negative integer"):
        verify_totp(KEY, "755224", 59, params=OathParams(kind="totp"), last_step=None, tolerance=-1)


def test_error_messages_never_contain_the_key() -> None:
    with pytest.raises(ValueError) as error:
        hotp(KEY, -1)
    assert "1234567890" not in str(error.value)
