"""TLS contexts from the bundle's ``tls_profile`` (docs/bundle.md): TLS 1.2+, ECDHE AEAD suites only, no
compression, no renegotiation, client certificate required and verified against the console's CA chain.

Also the reading of a peer certificate: identity URI, SenderCompIDs and the SHA-256 fingerprint of the DER
bytes (the fingerprint the console stores, binds and revokes).
"""

from __future__ import annotations

import hashlib
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

IDENTITY_URI_PREFIX = "urn:ztconsole:identity:"
COMP_ID_URI_PREFIX = "urn:ztconsole:fix:sendercompid:"
CONSOLE_URI_PREFIX = "urn:ztconsole:console"

#: The console's default profile (certificates/tls.py), used when a bundle carries none.
DEFAULT_TLS_PROFILE: dict[str, Any] = {
    "min_version": "TLSv1.2",
    "ciphers_tls12": [
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
    ],
    "ciphersuites_tls13": ["TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256", "TLS_AES_128_GCM_SHA256"],
    "groups": ["X25519", "prime256v1", "secp384r1"],
}
_AEAD_MARKERS = ("GCM", "CHACHA20-POLY1305")
_VERSIONS = {"TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}


class TlsProfileError(ValueError):
    """The profile asks for something this PEP will not apply (a non-AEAD suite, TLS below 1.2)."""


def _harden(context: ssl.SSLContext, profile: dict[str, Any]) -> None:
    version = _VERSIONS.get(profile.get("min_version", "TLSv1.2"))
    if version is None:
        raise TlsProfileError(f"min_version {profile.get('min_version')!r} is refused: TLS 1.2 is the minimum")
    context.minimum_version = version
    context.maximum_version = ssl.TLSVersion.TLSv1_3
    ciphers = [c for c in profile.get("ciphers_tls12", []) if isinstance(c, str)]
    for name in ciphers:
        if not name.startswith("ECDHE-") or not any(m in name for m in _AEAD_MARKERS):
            raise TlsProfileError(f"TLS 1.2 cipher {name} is not an ECDHE AEAD suite")
    if version == ssl.TLSVersion.TLSv1_2:
        if not ciphers:
            raise TlsProfileError("TLS 1.2 is allowed but no TLS 1.2 cipher is listed")
        context.set_ciphers(":".join(ciphers))
    # Python has no setter for TLS 1.3 suites; OpenSSL's defaults are exactly the three AEAD suites the console
    # allows, and a profile naming fewer is honoured by refusing the others after the handshake (see
    # ``negotiated_ok``). Compression and renegotiation are switched off explicitly.
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
    context.options |= getattr(ssl, "OP_NO_RENEGOTIATION", 0)
    # ``groups`` is reported, not applied: Python 3.11 can force a single curve only, and OpenSSL's default
    # group list (X25519, P-256, P-384, ...) holds no weak group.


def negotiated_ok(ssl_object: ssl.SSLObject | ssl.SSLSocket, profile: dict[str, Any]) -> str | None:
    """None when the negotiated version and suite are in the profile, else the reason to refuse."""
    version = ssl_object.version()
    cipher = ssl_object.cipher()
    name = cipher[0] if cipher else ""
    if version == "TLSv1.3":
        if name not in profile.get("ciphersuites_tls13", DEFAULT_TLS_PROFILE["ciphersuites_tls13"]):
            return f"TLS 1.3 suite {name} is not in the profile"
        return None
    if version == "TLSv1.2" and profile.get("min_version", "TLSv1.2") == "TLSv1.2":
        if name not in profile.get("ciphers_tls12", ()):
            return f"TLS 1.2 cipher {name} is not in the profile"
        return None
    return f"{version} is not allowed"


def server_context(profile: dict[str, Any], ca_chain: Path, certificate: Path, private_key: Path) -> ssl.SSLContext:
    """The listener's context: our certificate, the client's required and checked against the console's chain."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    _harden(context, profile)
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cafile=str(ca_chain))
    context.load_cert_chain(str(certificate), str(private_key))
    return context


def client_context(
    profile: dict[str, Any], ca_chain: Path, certificate: Path | None = None, private_key: Path | None = None
) -> ssl.SSLContext:
    """Upstream (PEP -> venue) and console calls: the peer verified against the chain, our certificate offered."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    _harden(context, profile)
    context.load_verify_locations(cafile=str(ca_chain))
    if certificate is not None and private_key is not None:
        context.load_cert_chain(str(certificate), str(private_key))
    return context


@dataclass(frozen=True, slots=True)
class PeerCertificate:
    """What the gateway reads from a verified client certificate."""

    fingerprint: str
    identity_uri_id: str | None
    comp_ids: frozenset[str]
    uris: tuple[str, ...]
    subject: str


def read_peer(ssl_object: ssl.SSLObject | ssl.SSLSocket) -> PeerCertificate | None:
    """The verified peer certificate (None when the peer sent none)."""
    der = ssl_object.getpeercert(binary_form=True)
    if not der:
        return None
    decoded = ssl_object.getpeercert() or {}
    uris = tuple(value for kind, value in decoded.get("subjectAltName", ()) if kind == "URI")
    identity = next((u.removeprefix(IDENTITY_URI_PREFIX) for u in uris if u.startswith(IDENTITY_URI_PREFIX)), None)
    comp_ids = frozenset(u.removeprefix(COMP_ID_URI_PREFIX) for u in uris if u.startswith(COMP_ID_URI_PREFIX))
    subject = ",".join(f"{k}={v}" for rdn in decoded.get("subject", ()) for k, v in rdn)
    return PeerCertificate(hashlib.sha256(der).hexdigest(), identity, comp_ids, uris, subject)
