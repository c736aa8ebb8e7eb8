"""What the PEP enforces: the bundle in force, its engine, the revocations, and their persistence on disk.

A pushed or pulled bundle is verified (signature, key, environment, version) and swapped in one assignment, so
a decision sees either the old bundle or the new one, never a mix. Revocation deltas are signed like bundles,
numbered per environment, and applied at once without a policy version. The last good bundle and the deltas
applied after it are kept in ``state_dir`` so that a restart while the console is away still enforces them.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from pep.bundle import (
    TYP,
    BundleError,
    BundleVerifier,
    EnvironmentMismatchError,
    MalformedBundleError,
    RollbackError,
    SignatureError,
    UnknownKeyError,
    VerifiedBundle,
    collector_paused,
)
from pep.canonical import NotCanonicalError, b64url_decode, b64url_encode, canonical_bytes
from pep.engine import Engine
from pep.gateway.tls import DEFAULT_TLS_PROFILE

REVOCATIONS_FORMAT = "ztconsole-revocations/1"
REVOCATIONS_TYP = "ztc-revocations+jws"


def refusal_reason(exc: BundleError) -> str:
    """The control API's ``reason`` for a refused bundle or delta."""
    if isinstance(exc, SignatureError):
        return "bad_signature"
    if isinstance(exc, UnknownKeyError):
        return "unknown_key"
    if isinstance(exc, EnvironmentMismatchError):
        return "wrong_environment"
    if isinstance(exc, RollbackError):
        return "lower_version"
    return "malformed"


def utc_now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True, slots=True)
class Binding:
    """A certificate as the bundle binds it: identity, device (or None) and authentication assurance."""

    identity: str
    device: str | None
    authentication: str


@dataclass(slots=True)
class Enforced:
    """One immutable generation of what is enforced; replaced as a whole on every change."""

    bundle: VerifiedBundle
    engine: Engine
    tls_profile: dict[str, Any]
    bindings: dict[str, Binding]
    revoked_certificates: frozenset[str]
    revoked_identities: frozenset[str]
    revoked_devices: frozenset[str]


@dataclass
class RevocationDelta:
    """A verified revocation delta."""

    sequence: int
    certificates: list[str]
    identities: list[str]
    devices: list[str]
    payload: dict[str, Any] = field(default_factory=dict)


def _bindings(payload: Mapping[str, Any]) -> dict[str, Binding]:
    out: dict[str, Binding] = {}
    for ident in payload.get("identities", ()):
        for fingerprint in ident.get("certificates", ()):
            out[fingerprint] = Binding(ident["id"], None, "none")
    for item in payload.get("certificates", ()):
        out[item["sha256"]] = Binding(item["identity"], item.get("device"), item.get("authentication", "none"))
    return out


def verify_revocation_delta(raw: bytes, keys: Mapping[str, Ed25519PublicKey], environment: str) -> RevocationDelta:
    """Check a signed delta: the bundle envelope, a known key, the signature, then the payload's shape."""
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedBundleError(f"revocation delta is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict) or set(doc) != {"header", "payload", "signature"}:
        raise MalformedBundleError("revocation delta must be an object with exactly header, payload and signature")
    header, payload, signature = doc["header"], doc["payload"], doc["signature"]
    if not isinstance(header, dict) or not isinstance(payload, dict) or not isinstance(signature, str):
        raise MalformedBundleError("revocation delta header and payload must be objects, the signature a string")
    if header.get("alg") != "EdDSA" or header.get("typ") not in (TYP, REVOCATIONS_TYP):
        raise MalformedBundleError("revocation delta header must be {alg: EdDSA, typ: ztc-bundle+jws, kid: ...}")
    key = keys.get(str(header.get("kid")))
    if key is None:
        raise UnknownKeyError(f"revocation delta signed with unknown key id {header.get('kid')!r}")
    try:
        signed = (b64url_encode(canonical_bytes(header)) + "." + b64url_encode(canonical_bytes(payload))).encode()
        key.verify(b64url_decode(signature), signed)
    except (NotCanonicalError, ValueError) as exc:
        raise MalformedBundleError(f"revocation delta cannot be canonicalized: {exc}") from exc
    except InvalidSignature as exc:
        raise SignatureError("bad signature on the revocation delta") from exc
    if payload.get("format") != REVOCATIONS_FORMAT:
        raise MalformedBundleError(f"revocation delta format must be {REVOCATIONS_FORMAT!r}")
    if payload.get("environment") != environment:
        raise EnvironmentMismatchError(
            f"revocation delta is for {payload.get('environment')!r}, this PEP serves {environment!r}"
        )
    sequence = payload.get("sequence")
    if isinstance(sequence, bool) or not isinstance(sequence, int) or sequence < 1:
        raise MalformedBundleError("revocation delta sequence must be an integer >= 1")
    lists = {}
    for name in ("certificates", "identities", "devices"):
        value = payload.get(name, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise MalformedBundleError(f"revocation delta {name} must be a list of strings")
        lists[name] = value
    if any(len(c) != 64 or c.strip("0123456789abcdef") for c in lists["certificates"]):
        raise MalformedBundleError("revocation delta certificates must be lower-case hex SHA-256 fingerprints")
    return RevocationDelta(sequence, **lists, payload=payload)


class PolicyState:
    """The bundle verifier, the current :class:`Enforced` generation and the revocation sequence."""

    def __init__(self, keys: Mapping[str, Ed25519PublicKey], environment: str, state_dir: Path) -> None:
        self.keys = dict(keys)
        self.environment = environment
        self.state_dir = state_dir
        self.verifier = BundleVerifier(self.keys, environment=environment)
        self.current: Enforced | None = None
        self.bundle_raw: bytes | None = None
        self.confirmed_at: float | None = None
        self.bundle_sequence = 0
        self.deltas: list[RevocationDelta] = []
        state_dir.mkdir(parents=True, exist_ok=True)

    # -- persistence ------------------------------------------------------------------------------------------

    def _write(self, name: str, data: bytes) -> None:
        path = self.state_dir / name
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)

    def _save_revocations(self) -> None:
        doc = {"confirmed_at": self.confirmed_at, "deltas": [d.payload for d in self.deltas]}
        self._write("revocations.json", json.dumps(doc).encode())

    def restore(self) -> str | None:
        """Load the last good bundle and deltas from ``state_dir``; the reason when a stored bundle is refused."""
        path = self.state_dir / "bundle.json"
        if not path.exists():
            return None
        extra: dict[str, Any] = {}
        with contextlib.suppress(OSError, ValueError):
            extra = json.loads((self.state_dir / "revocations.json").read_bytes())
        try:
            # A restart is not a confirmation: the age runs on from when the console last confirmed the bundle.
            confirmed = extra.get("confirmed_at") or path.stat().st_mtime
            self.apply_bundle(path.read_bytes(), persist=False, confirmed_at=confirmed)
        except BundleError as exc:
            return f"stored bundle refused: {exc}"
        for payload in extra.get("deltas", []):
            delta = RevocationDelta(
                payload["sequence"], payload["certificates"], payload["identities"], payload["devices"], payload
            )
            if delta.sequence > self.sequence:
                self.deltas.append(delta)
        self._rebuild()
        return None

    # -- bundles ----------------------------------------------------------------------------------------------

    @property
    def sequence(self) -> int:
        """Last applied revocation sequence."""
        return max([self.bundle_sequence, *(d.sequence for d in self.deltas)])

    def _rebuild(self, bundle: VerifiedBundle | None = None, engine: Engine | None = None) -> None:
        current = self.current
        bundle = bundle or (current.bundle if current else None)
        if bundle is None:
            return
        engine = engine or (current.engine if current else Engine.from_bundle(bundle))
        revocations = bundle.payload.get("revocations") or {}
        certificates = set(revocations.get("certificates", ()))
        identities = set(revocations.get("identities", ()))
        devices = set(revocations.get("devices", ()))
        for delta in self.deltas:
            certificates.update(delta.certificates)
            identities.update(delta.identities)
            devices.update(delta.devices)
        self.current = Enforced(
            bundle=bundle,
            engine=engine,
            tls_profile=bundle.payload.get("tls_profile") or DEFAULT_TLS_PROFILE,
            bindings=_bindings(bundle.payload),
            revoked_certificates=frozenset(certificates),
            revoked_identities=frozenset(identities),
            revoked_devices=frozenset(devices),
        )

    def apply_bundle(
        self, raw: bytes, *, persist: bool = True, confirmed_at: float | None = None
    ) -> tuple[str, Enforced]:
        """Verify and swap; ``("applied" | "already_applied", enforced)``. Raises :class:`BundleError`.

        The bundle and its engine, about a million objects at 10k identities, none in a reference cycle, are built
        with the cyclic collector paused and then frozen (``gc.freeze``): they live until the next bundle, so
        scanning them would only cost time, once right after the load (tens of milliseconds, on whatever Logon or
        message comes next) and again in every full collection. Refcounting frees them when they are replaced.
        Cyclic garbage of the process is collected first, so that freezing keeps nothing that should go.
        """
        gc.collect()
        with collector_paused():
            bundle = self.verifier.verify(raw)
            current = self.current
            self.confirmed_at = time.time() if confirmed_at is None else confirmed_at
            if current is not None and current.bundle.sha256 == bundle.sha256:
                if persist:
                    self._save_revocations()
                return "already_applied", current
            engine = Engine.from_bundle(bundle)
            self.verifier.current = bundle
            self.bundle_raw = bytes(raw)
            sequence = int((bundle.payload.get("revocations") or {}).get("sequence", 0))
            self.bundle_sequence = sequence
            self.deltas = [d for d in self.deltas if d.sequence > sequence]
            self._rebuild(bundle, engine)
            gc.freeze()
        if persist:
            self._write("bundle.json", self.bundle_raw)
            self._save_revocations()
        assert self.current is not None
        return "applied", self.current

    def confirm(self) -> None:
        """The console said the bundle in force is current (a pull answered 304 or the same hash)."""
        self.confirmed_at = time.time()
        with contextlib.suppress(OSError):
            self._save_revocations()

    # -- revocations ------------------------------------------------------------------------------------------

    def apply_delta(self, delta: RevocationDelta) -> str:
        """``applied``, ``already_applied`` or ``sequence_gap``."""
        if delta.sequence <= self.sequence:
            return "already_applied"
        if delta.sequence > self.sequence + 1:
            return "sequence_gap"
        self.deltas.append(delta)
        self._rebuild()
        self._save_revocations()
        return "applied"

    def bundle_age(self, now: float | None = None) -> float | None:
        """Seconds since the console last confirmed the bundle in force (pushed it, or answered a pull)."""
        if self.current is None or self.confirmed_at is None:
            return None
        return max(0.0, (time.time() if now is None else now) - self.confirmed_at)


__all__ = [
    "REVOCATIONS_FORMAT",
    "Binding",
    "Enforced",
    "PolicyState",
    "RevocationDelta",
    "refusal_reason",
    "utc_now_text",
    "verify_revocation_delta",
]
