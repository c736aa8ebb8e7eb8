"""The TLS profile's rules: TLS 1.2+ only, AEAD suites only (FIXS v1.1 and the seeds)."""

from __future__ import annotations

import re

# OpenSSL names of the ECDHE AEAD suites for TLS 1.2, strongest first.
DEFAULT_TLS12_CIPHERS = [
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
    "ECDHE-RSA-CHACHA20-POLY1305",
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
]
ALLOWED_TLS12_CIPHERS = frozenset(DEFAULT_TLS12_CIPHERS)
DEFAULT_TLS13_SUITES = ["TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256", "TLS_AES_128_GCM_SHA256"]
ALLOWED_TLS13_SUITES = frozenset(DEFAULT_TLS13_SUITES)
ALLOWED_VERSIONS = ("TLSv1.2", "TLSv1.3")

_NAME = re.compile(r"^[A-Za-z0-9_-]{3,64}$")
_WEAK = (
    ("RC4", "RC4 is broken"),
    ("MD5", "MD5 is broken"),
    ("NULL", "NULL ciphers do not encrypt"),
    ("EXP", "export ciphers are deliberately weak"),
    ("DES", "DES and 3DES are weak"),
    ("CBC", "CBC suites are not AEAD"),
    ("ANON", "anonymous suites do not authenticate the server"),
    ("ADH", "anonymous suites do not authenticate the server"),
    ("AECDH", "anonymous suites do not authenticate the server"),
    ("PSK", "PSK suites do not use certificates"),
)


class TlsProfileError(ValueError):
    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def _refuse_weak(name: str, field: str) -> None:
    upper = name.upper()
    for marker, why in _WEAK:
        if marker in upper:
            raise TlsProfileError(f"{name} is refused: {why}", field)
    # CBC-SHA1 suites in OpenSSL naming end in -SHA (e.g. ECDHE-RSA-AES128-SHA) and carry no GCM/POLY1305.
    if (upper.endswith("-SHA") or upper.endswith("_SHA")) and "GCM" not in upper and "POLY1305" not in upper:
        raise TlsProfileError(f"{name} is refused: CBC with SHA-1 is not AEAD", field)


def validate_tls_profile(min_version: str, tls12_ciphers: list[str], tls13_suites: list[str]) -> None:
    """Raise ``TlsProfileError`` naming the field for anything outside TLS 1.2+ with ECDHE AEAD suites."""
    if min_version not in ALLOWED_VERSIONS:
        raise TlsProfileError(f"{min_version or 'an empty version'} is refused: the minimum is TLS 1.2", "min_version")
    if min_version == "TLSv1.2" and not tls12_ciphers:
        raise TlsProfileError("TLS 1.2 is allowed, so list at least one TLS 1.2 cipher", "tls12_ciphers")
    if not tls13_suites:
        raise TlsProfileError("list at least one TLS 1.3 suite", "tls13_suites")
    for name in tls12_ciphers:
        if not _NAME.match(name):
            raise TlsProfileError(f"{name!r} is not a cipher name", "tls12_ciphers")
        _refuse_weak(name, "tls12_ciphers")
        if name not in ALLOWED_TLS12_CIPHERS:
            raise TlsProfileError(
                f"{name} is refused: TLS 1.2 allows only ECDHE with AES-GCM or ChaCha20-Poly1305", "tls12_ciphers"
            )
    for name in tls13_suites:
        if not _NAME.match(name):
            raise TlsProfileError(f"{name!r} is not a suite name", "tls13_suites")
        _refuse_weak(name, "tls13_suites")
        if name not in ALLOWED_TLS13_SUITES:
            raise TlsProfileError(f"{name} is not a TLS 1.3 AEAD suite we allow", "tls13_suites")
    if len(set(tls12_ciphers)) != len(tls12_ciphers) or len(set(tls13_suites)) != len(tls13_suites):
        raise TlsProfileError("a cipher is listed twice", "tls12_ciphers")
