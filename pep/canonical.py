"""Canonical JSON bytes and base64url: the byte-level contract that signatures and hashes are computed over."""

from __future__ import annotations

import base64
import json
from typing import Any


class NotCanonicalError(ValueError):
    """A value that has no canonical JSON form here (floats, NaN, non-string keys)."""


def _reject_floats(value: Any, path: str = "$") -> None:
    # Floats have several textual forms across JSON encoders; a signed document must have exactly one, so the
    # bundle only ever carries integers, strings, booleans, null, lists and objects with string keys.
    if isinstance(value, bool) or value is None or isinstance(value, int | str):
        return
    if isinstance(value, float):
        raise NotCanonicalError(f"{path}: floats are not allowed in a canonical document")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise NotCanonicalError(f"{path}: object keys must be strings")
            _reject_floats(item, f"{path}.{key}")
        return
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _reject_floats(item, f"{path}[{index}]")
        return
    raise NotCanonicalError(f"{path}: {type(value).__name__} is not a JSON value")


def canonical_bytes(value: Any, *, checked: bool = False) -> bytes:
    """UTF-8 JSON with sorted keys, no insignificant whitespace, no floats: same value -> identical bytes.

    ``checked=True`` skips the walk that rejects floats, for values parsed with floats already refused.
    """
    if not checked:
        _reject_floats(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def b64url_encode(data: bytes) -> str:
    """Unpadded base64url, as JWS uses it."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Inverse of :func:`b64url_encode`; raises ValueError on bad input."""
    if not isinstance(text, str) or any(c in text for c in "=+/ \n"):
        raise ValueError("not unpadded base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
