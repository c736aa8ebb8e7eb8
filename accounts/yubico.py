"""YubiKey OTP (Yubico OTP mode): reading the personalization export and checking OTPs locally.

Pure functions around ``yubiotp`` (the Yubico OTP wire format: modhex public id + AES-128 encrypted
block with the private id, counters and CRC). No Django imports.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field

from yubiotp.modhex import hex_to_modhex, is_modhex
from yubiotp.otp import CRCError, decode_otp

_HEX = re.compile(r"^[0-9a-fA-F]+$")
_MODHEX_ONLY = set("cbdefghijklnrtuv")


@dataclass(frozen=True)
class YubikeySeed:
    public_id: str  # modhex, 12 characters for factory-style ids (2-32 accepted)
    private_id: bytes = field(repr=False)  # 6 bytes
    aes_key: bytes = field(repr=False)  # 16 bytes
    serial: str = ""


@dataclass
class YubikeyImport:
    seeds: list[YubikeySeed]
    rejected: list[tuple[str, str]]  # (label, reason)


class YubikeyFileError(Exception):
    """The whole file is refused."""


def _public_id(raw: str) -> str:
    value = raw.strip().lower()
    if not value or len(value) > 32 or len(value) % 2:
        raise ValueError("public id must be 2-32 modhex characters")
    if set(value) <= _MODHEX_ONLY:
        return value
    if _HEX.match(value):
        return hex_to_modhex(value.encode()).decode()
    raise ValueError("public id is neither modhex nor hex")


def _hex_bytes(raw: str, length: int, name: str) -> bytes:
    value = raw.strip()
    if not _HEX.match(value) or len(value) != length * 2:
        raise ValueError(f"{name} must be {length * 2} hex digits")
    return bytes.fromhex(value)


def parse_yubico_csv(data: bytes) -> YubikeyImport:
    """The YubiKey Personalization Tool log in Yubico format, one programmed key per line:

    ``Yubico OTP,<timestamp>,<slot>,<public id>,<private id>,<AES key>,...`` — or, for keys programmed by
    other tools, ``<serial>,<public id>,<private id>,<AES key>``. Lines starting with ``#`` are comments.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise YubikeyFileError("the file is not UTF-8 text") from None
    seeds: list[YubikeySeed] = []
    rejected: list[tuple[str, str]] = []
    seen: set[str] = set()
    rows = 0
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
            continue
        rows += 1
        label = f"row {number}"
        try:
            if row[0].strip().lower() == "yubico otp":
                if len(row) < 6:
                    raise ValueError("a Yubico OTP line needs at least 6 columns")
                serial, public, private, key = "", row[3], row[4], row[5]
            elif len(row) == 4:
                serial, public, private, key = row
            else:
                raise ValueError("expected 'Yubico OTP,...' or 'serial,public id,private id,AES key'")
            seed = YubikeySeed(
                public_id=_public_id(public),
                private_id=_hex_bytes(private, 6, "private id"),
                aes_key=_hex_bytes(key, 16, "AES key"),
                serial=serial.strip(),
            )
        except ValueError as exc:
            rejected.append((label, f"{label}: {exc}"))
            continue
        if seed.public_id in seen:
            rejected.append((seed.public_id, f"{label}: duplicate public id in file"))
            continue
        seen.add(seed.public_id)
        seeds.append(seed)
    if rows == 0:
        raise YubikeyFileError("the file has no YubiKey lines")
    return YubikeyImport(seeds, rejected)


def looks_like_yubico_csv(data: bytes) -> bool:
    head = data[:2048].decode("utf-8", "ignore").lstrip().lower()
    return head.startswith("yubico otp,")


def split_otp(token: str) -> tuple[str, str] | None:
    """(public id, 32-character encrypted part) of a modhex OTP, or None when it is not one."""
    token = token.strip().lower()
    if not 32 < len(token) <= 64 or not is_modhex(token.encode()):
        return None
    return token[:-32], token[-32:]


@dataclass(frozen=True)
class YubikeyCounters:
    session: int  # non-volatile power-up counter
    use: int  # per-session use counter


def check_otp(token: str, *, public_id: str, aes_key: bytes, private_id: bytes) -> YubikeyCounters | None:
    """Decrypt and check one OTP for this key; returns its counters (compare for replay) or None."""
    parts = split_otp(token)
    if parts is None or parts[0] != public_id:
        return None
    try:
        decoded_public, otp = decode_otp(token.strip().lower().encode(), aes_key)
    except (ValueError, CRCError):
        return None
    if decoded_public.decode() != public_id or otp.uid != private_id:
        return None
    return YubikeyCounters(session=otp.session, use=otp.counter)
