"""HOTP (RFC 4226) and TOTP (RFC 6238): code generation, verification with replay refusal, resync.

Two kinds of bad input are kept apart on purpose. A code typed by a user is untrusted data: when it is
not exactly ``params.digits`` ASCII digits the verify and sync functions return ``None``, like any
other wrong code, so a caller can never turn a typo into a server error. Parameters and keys come from
our own database or from a seed import that has already validated them: a bad one is a programming or
data error and raises ``ValueError``.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["hotp", "totp"]
HashAlgorithm = Literal["SHA1", "SHA256", "SHA512"]

KINDS: tuple[Kind, ...] = ("hotp", "totp")
HASH_ALGORITHMS: tuple[HashAlgorithm, ...] = ("SHA1", "SHA256", "SHA512")
ALLOWED_DIGITS = (6, 8)
ALLOWED_PERIODS = (30, 60)

# RFC 4226 section 5.1: the moving factor is an 8-byte counter.
MAX_COUNTER = 2**64 - 1

_DIGESTMODS: dict[str, Callable[..., Any]] = {
    "SHA1": hashlib.sha1,
    "SHA256": hashlib.sha256,
    "SHA512": hashlib.sha512,
}


def _is_int(value: object) -> bool:
    # bool is an int subclass; True as a digit count or counter is always a bug.
    return isinstance(value, int) and not isinstance(value, bool)


def _check_digits(digits: object) -> None:
    if not _is_int(digits) or digits not in ALLOWED_DIGITS:
        raise ValueError(f"digits must be 6 or 8, got {digits!r}")


def _check_algorithm(algorithm: object) -> None:
    if algorithm not in HASH_ALGORITHMS:
        raise ValueError(f"algorithm must be one of {', '.join(HASH_ALGORITHMS)}, got {algorithm!r}")


def _check_period(period: object) -> None:
    if not _is_int(period) or period not in ALLOWED_PERIODS:
        raise ValueError(f"period must be 30 or 60 seconds, got {period!r}")


def _check_t0(t0: object) -> None:
    if not _is_int(t0) or t0 < 0:  # type: ignore[operator]
        raise ValueError(f"t0 must be a non-negative integer (Unix time), got {t0!r}")


def _check_key(key: object) -> None:
    # The key's value is never put in a message: these errors may end up in logs.
    if not isinstance(key, bytes | bytearray):
        raise ValueError(f"key must be bytes, got {type(key).__name__}")
    if not key:
        raise ValueError("key must not be empty")


def _check_counter(counter: object, name: str = "counter") -> None:
    if not _is_int(counter) or not 0 <= counter <= MAX_COUNTER:  # type: ignore[operator]
        raise ValueError(f"{name} must be an integer between 0 and 2**64 - 1, got {counter!r}")


def _check_non_negative(value: object, name: str) -> None:
    if not _is_int(value) or value < 0:  # type: ignore[operator]
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")


@dataclass(frozen=True)
class OathParams:
    """How a token computes its codes: HOTP or TOTP, hash, code length and (TOTP) time step.

    Validated on construction, so a value that exists is one the functions below accept.
    ``period`` and ``t0`` only matter for TOTP.
    """

    kind: Kind
    algorithm: HashAlgorithm = "SHA1"
    digits: int = 6
    period: int = 30
    t0: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be 'hotp' or 'totp', got {self.kind!r}")
        _check_algorithm(self.algorithm)
        _check_digits(self.digits)
        if self.kind == "totp":
            _check_period(self.period)
            _check_t0(self.t0)


def _hotp_unchecked(key: bytes, counter: int, digits: int, algorithm: str) -> str:
    mac = hmac.new(bytes(key), counter.to_bytes(8, "big"), _DIGESTMODS[algorithm]).digest()
    # RFC 4226 section 5.3, dynamic truncation: the low nibble of the last byte picks 4 bytes, the
    # top bit is dropped so the value reads the same as a signed or unsigned 31-bit integer.
    offset = mac[-1] & 0x0F
    binary = int.from_bytes(mac[offset : offset + 4], "big") & 0x7FFFFFFF
    return str(binary % 10**digits).zfill(digits)


def hotp(key: bytes, counter: int, digits: int = 6, algorithm: HashAlgorithm = "SHA1") -> str:
    """Return the RFC 4226 HOTP code for ``counter`` as a zero-padded string of ``digits`` digits.

    ``algorithm`` SHA256/SHA512 is the RFC 6238 extension that many hardware tokens also use for HOTP.
    Raises ``ValueError`` for an empty key, a counter outside 0..2**64-1, digits other than 6 or 8, or
    an unknown algorithm.
    """
    _check_key(key)
    _check_counter(counter)
    _check_digits(digits)
    _check_algorithm(algorithm)
    return _hotp_unchecked(key, counter, digits, algorithm)


def _time_step(at: float, period: int, t0: int) -> int:
    if isinstance(at, bool) or not isinstance(at, int | float) or not math.isfinite(at):
        raise ValueError(f"at must be a finite Unix time in seconds, got {at!r}")
    if at < t0:
        raise ValueError("at is before t0: no TOTP time step exists")
    # Floor division keeps integer timestamps exact (no float rounding near step boundaries).
    return int((at - t0) // period)


def totp(
    key: bytes,
    at: float,
    period: int = 30,
    digits: int = 6,
    algorithm: HashAlgorithm = "SHA1",
    t0: int = 0,
) -> str:
    """Return the RFC 6238 TOTP code at Unix time ``at`` (seconds): HOTP of floor((at - t0) / period).

    Raises ``ValueError`` for bad parameters (period other than 30 or 60, digits other than 6 or 8,
    unknown algorithm, empty key) or a time before ``t0``.
    """
    _check_key(key)
    _check_period(period)
    _check_digits(digits)
    _check_algorithm(algorithm)
    _check_t0(t0)
    step = _time_step(at, period, t0)
    _check_counter(step, "time step")
    return _hotp_unchecked(key, step, digits, algorithm)


def _is_well_formed(code: object, digits: int) -> bool:
    # isascii() because str.isdigit() also accepts superscripts and non-Latin digits.
    return isinstance(code, str) and len(code) == digits and code.isascii() and code.isdigit()


def _require_kind(params: object, kind: Kind) -> OathParams:
    if not isinstance(params, OathParams):
        raise ValueError(f"params must be OathParams, got {type(params).__name__}")
    if params.kind != kind:
        raise ValueError(f"params are for {params.kind.upper()}, this function needs {kind.upper()}")
    return params


def _matches(key: bytes, counter: int, code: str, params: OathParams) -> bool:
    return hmac.compare_digest(_hotp_unchecked(key, counter, params.digits, params.algorithm), code)


def verify_hotp(
    key: bytes,
    code: str,
    counter: int,
    *,
    params: OathParams,
    look_ahead: int = 20,
) -> int | None:
    """Check an HOTP ``code`` against counters ``counter`` .. ``counter + look_ahead``.

    ``counter`` is the next counter the server expects. Returns the counter value that matched (the
    caller stores ``matched + 1`` so that code can never be used again), or ``None``. A code that is not
    exactly ``params.digits`` ASCII digits returns ``None``.
    """
    params = _require_kind(params, "hotp")
    _check_key(key)
    _check_counter(counter)
    _check_non_negative(look_ahead, "look_ahead")
    if not _is_well_formed(code, params.digits):
        return None
    matched = None
    # Every candidate is computed and compared, even after a match, so the response time does not
    # reveal how far ahead of the server the token is.
    for candidate in range(counter, min(counter + look_ahead, MAX_COUNTER) + 1):
        if _matches(key, candidate, code, params) and matched is None:
            matched = candidate
    return matched


def verify_totp(
    key: bytes,
    code: str,
    at: float,
    *,
    params: OathParams,
    last_step: int | None,
    drift: int = 0,
    tolerance: int = 1,
) -> int | None:
    """Check a TOTP ``code`` at Unix time ``at``; return the matched time step or ``None``.

    The expected step is the step of ``at`` plus ``drift`` (the token's known clock offset, in steps);
    steps within ``tolerance`` of it are accepted. A step at or before ``last_step`` (the last step
    accepted for this token) is refused, so a code works once even while it is still displayed: the
    caller stores the returned step as the new ``last_step``. When two steps match, the one nearest the
    expected step wins. A malformed code returns ``None``.
    """
    params = _require_kind(params, "totp")
    _check_key(key)
    if last_step is not None and not _is_int(last_step):
        raise ValueError(f"last_step must be an integer or None, got {last_step!r}")
    if not _is_int(drift):
        raise ValueError(f"drift must be an integer, got {drift!r}")
    _check_non_negative(tolerance, "tolerance")
    current = _time_step(at, params.period, params.t0) + drift
    if not _is_well_formed(code, params.digits):
        return None
    # Nearest step first; on a tie, the earlier one.
    window = range(current - tolerance, current + tolerance + 1)
    candidates = sorted(window, key=lambda s: (abs(s - current), s))
    matched = None
    for step in candidates:
        if not 0 <= step <= MAX_COUNTER:
            continue
        replayed = last_step is not None and step <= last_step
        if _matches(key, step, code, params) and not replayed and matched is None:
            matched = step
    return matched


def sync_hotp(
    key: bytes,
    code1: str,
    code2: str,
    counter: int,
    *,
    params: OathParams,
    window: int = 200,
) -> int | None:
    """Resynchronise an HOTP token from two consecutive codes.

    Looks for ``c`` in ``counter`` .. ``counter + window`` with ``code1`` at ``c`` and ``code2`` at
    ``c + 1``; two consecutive matches are far harder to hit by chance than one, which is what allows a
    window much wider than ``verify_hotp``'s look-ahead. Returns ``c + 2``, the next counter to expect,
    or ``None``. Malformed codes return ``None``.
    """
    params = _require_kind(params, "hotp")
    _check_key(key)
    _check_counter(counter)
    _check_non_negative(window, "window")
    if not (_is_well_formed(code1, params.digits) and _is_well_formed(code2, params.digits)):
        return None
    last = min(counter + window + 1, MAX_COUNTER)
    codes = [_hotp_unchecked(key, c, params.digits, params.algorithm) for c in range(counter, last + 1)]
    found = None
    for index in range(len(codes) - 1):
        first = hmac.compare_digest(codes[index], code1)
        second = hmac.compare_digest(codes[index + 1], code2)
        if first and second and found is None:
            found = counter + index
    return None if found is None else found + 2


def sync_totp(
    key: bytes,
    code1: str,
    code2: str,
    at: float,
    *,
    params: OathParams,
    window: int = 10,
) -> int | None:
    """Measure a TOTP token's clock drift from two codes of consecutive time steps.

    Looks for consecutive steps ``s`` and ``s + 1`` showing ``code1`` and ``code2``, where ``s + 1`` (the
    token's "now") is within ``window`` steps of the step of ``at``. Returns the drift
    ``s + 1 - current_step``, at most ``window`` either way (the offset to pass to ``verify_totp``; the
    caller also records ``current_step + drift`` as the last used step), or ``None``. When several
    pairs match, the smallest drift wins. Malformed codes return ``None``.
    """
    params = _require_kind(params, "totp")
    _check_key(key)
    _check_non_negative(window, "window")
    current = _time_step(at, params.period, params.t0)
    if not (_is_well_formed(code1, params.digits) and _is_well_formed(code2, params.digits)):
        return None
    first_step = max(current - window - 1, 0)
    last_step = min(current + window, MAX_COUNTER)
    steps = range(first_step, last_step + 1)
    codes = {s: _hotp_unchecked(key, s, params.digits, params.algorithm) for s in steps}
    best = None
    for step in range(first_step, last_step):
        first = hmac.compare_digest(codes[step], code1)
        second = hmac.compare_digest(codes[step + 1], code2)
        drift = step + 1 - current
        if first and second and (best is None or abs(drift) < abs(best)):
            best = drift
    return best
