"""What the PEP enforces: the bundle in force, its engine, the revocations, and their persistence on disk.

A pushed or pulled bundle is verified (signature, key, environment, version) and swapped in one assignment, so
a decision sees either the old bundle or the new one, never a mix. Revocation deltas are signed like bundles,
numbered per environment, and applied at once without a policy version. The last good bundle and the deltas
applied after it are kept in ``state_dir`` so that a restart while the console is away still enforces them.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import os
import threading
import time
import weakref
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
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
    verify_bundle,
)
from pep.canonical import NotCanonicalError, b64url_decode, b64url_encode, canonical_bytes
from pep.engine import Engine
from pep.gateway.tls import DEFAULT_TLS_PROFILE

REVOCATIONS_FORMAT = "ztconsole-revocations/1"
REVOCATIONS_TYP = "ztc-revocations+jws"
#: Largest bundle or delta accepted, as received and once decompressed (``Content-Encoding: gzip``).
MAX_DOCUMENT_BYTES = 256 << 20
ENCODINGS = ("identity", "gzip")


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


def decode_body(body: bytes, encoding: str, limit: int = MAX_DOCUMENT_BYTES) -> bytes:
    """The document inside a control-API body: ``identity`` as is, ``gzip`` inflated to at most ``limit`` bytes
    (a small body that would inflate past it is refused before it takes the memory). Raises
    :class:`MalformedBundleError`."""
    if encoding == "identity":
        return body
    if encoding != "gzip":
        raise MalformedBundleError(f"unsupported Content-Encoding {encoding!r} (gzip or identity)")
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        data = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise MalformedBundleError(f"body is not valid gzip: {exc}") from exc
    if len(data) > limit or inflater.unconsumed_tail:
        raise MalformedBundleError(f"gzip body inflates past {limit} bytes")
    if not inflater.eof or inflater.unused_data:
        raise MalformedBundleError("gzip body is truncated or has trailing data")
    return data


def key_ring_id(keys: Mapping[str, Ed25519PublicKey]) -> str:
    """A digest of a key ring (key ids and raw public keys): two rings with the same id verify alike."""
    digest = hashlib.sha256()
    for kid in sorted(keys):
        raw = keys[kid].public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        digest.update(kid.encode() + b"\0" + raw)
    return digest.hexdigest()


@dataclass(slots=True, weakref_slot=True, eq=False)
class LoadedBundle:
    """A bundle verified with one key ring and compiled: what every enforcement point of the process that receives
    the same bytes shares (the engine and the certificate bindings are read-only once built)."""

    raw: bytes
    bundle: VerifiedBundle
    engine: Engine
    bindings: dict[str, Binding]
    # The raw bytes written once on disk (``PolicyState._persist``), for the other points to link: never rewritten
    # (its name carries the SHA-256), removed when the process no longer holds the bundle.
    stored: Path | None = None


class SharedBundles:
    """The bundles this process has verified and compiled, keyed by what was received: the content coding, the
    SHA-256 of the body as received, and the key ring that verified it.

    Several enforcement points hosted in one process (``python -m pep serve --config a.toml --config b.toml``)
    receive the same signed bundle from the console at about the same time; verifying and compiling it (about
    150 ms of CPU at 10k identities) is done once, by whichever arrives first, while the others wait for it, and
    each point then makes its own checks (environment, version) and keeps its own state. Sharing is sound because
    the result is a function of the bytes and the key ring alone: the same SHA-256 of the same body under the
    same keys verifies the same way. A refusal is not shared (each point verifies again and refuses on its own).
    Entries live as long as a point holds them (weak references), so the process keeps one copy per bundle in
    force, not one per point.
    """

    def __init__(self) -> None:
        self._entries: weakref.WeakValueDictionary[tuple[str, str, str], LoadedBundle] = weakref.WeakValueDictionary()
        self._build = threading.Lock()  # one build at a time: a build is CPU-bound under the GIL anyway
        self.builds = 0
        self.hits = 0

    def load(self, body: bytes, encoding: str, keys: Mapping[str, Ed25519PublicKey], ring: str) -> LoadedBundle:
        """The verified and compiled bundle in ``body``; raises :class:`BundleError` (nothing is cached then)."""
        key = (encoding, hashlib.sha256(body).hexdigest(), ring)
        entry = self._entries.get(key)
        if entry is None:
            with self._build:
                entry = self._entries.get(key)
                if entry is None:
                    entry = self._compile(decode_body(body, encoding), keys)
                    self._entries[key] = entry
                    self.builds += 1
                    return entry
        self.hits += 1
        return entry

    @staticmethod
    def _compile(raw: bytes, keys: Mapping[str, Ed25519PublicKey]) -> LoadedBundle:
        """Verify and build the engine, about a million objects at 10k identities, none in a reference cycle: built
        with the cyclic collector paused and then frozen (``gc.freeze``), since they live until the next bundle and
        scanning them would only cost time, once right after the load (tens of milliseconds, on whatever Logon or
        message comes next) and again in every full collection. Refcounting frees them when they are replaced.
        Cyclic garbage of the process is collected first, so that freezing keeps nothing that should go."""
        gc.collect()
        with collector_paused():
            bundle = verify_bundle(raw, keys)
            entry = LoadedBundle(bytes(raw), bundle, Engine.from_bundle(bundle), _bindings(bundle.payload))
            gc.freeze()
        return entry


def _unlink_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


#: The process's shared bundles (every :class:`PolicyState` uses it unless given another).
SHARED_BUNDLES = SharedBundles()


class PolicyState:
    """The bundle verifier, the current :class:`Enforced` generation and the revocation sequence."""

    def __init__(
        self,
        keys: Mapping[str, Ed25519PublicKey],
        environment: str,
        state_dir: Path,
        shared: SharedBundles | None = None,
    ) -> None:
        self.keys = dict(keys)
        self.ring = key_ring_id(self.keys)
        self.environment = environment
        self.state_dir = state_dir
        self.verifier = BundleVerifier(self.keys, environment=environment)
        self.shared = SHARED_BUNDLES if shared is None else shared
        self.current: Enforced | None = None
        self.loaded: LoadedBundle | None = None  # this point's hold on the shared entry in force
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

    def _rebuild(self) -> None:
        loaded = self.loaded
        if loaded is None:
            return
        bundle = loaded.bundle
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
            engine=loaded.engine,
            tls_profile=bundle.payload.get("tls_profile") or DEFAULT_TLS_PROFILE,
            bindings=loaded.bindings,
            revoked_certificates=frozenset(certificates),
            revoked_identities=frozenset(identities),
            revoked_devices=frozenset(devices),
        )

    @property
    def bundle_raw(self) -> bytes | None:
        """The signed bundle in force, as the console signed it (what ``bundle.json`` holds)."""
        return self.loaded.raw if self.loaded is not None else None

    def apply_bundle(
        self, raw: bytes, *, persist: bool = True, confirmed_at: float | None = None, encoding: str = "identity"
    ) -> tuple[str, Enforced]:
        """Verify and swap; ``("applied" | "already_applied", enforced)``. Raises :class:`BundleError`.

        The signature and the engine come from the process's :class:`SharedBundles` (verified and compiled once
        per process for the same bytes and key ring); the environment, the version against the one in force, and
        everything after are this point's own. ``encoding`` is the body's content coding (``gzip`` bodies are
        inflated within :data:`MAX_DOCUMENT_BYTES`).
        """
        loaded = self.shared.load(raw, encoding, self.keys, self.ring)
        bundle = self.verifier.check(loaded.bundle)
        current = self.current
        self.confirmed_at = time.time() if confirmed_at is None else confirmed_at
        if current is not None and current.bundle.sha256 == bundle.sha256:
            if persist:
                self._save_revocations()
            return "already_applied", current
        self.verifier.current = bundle
        self.loaded = loaded
        sequence = int((bundle.payload.get("revocations") or {}).get("sequence", 0))
        self.bundle_sequence = sequence
        self.deltas = [d for d in self.deltas if d.sequence > sequence]
        self._rebuild()
        if persist:
            self._persist(loaded)
            self._save_revocations()
        assert self.current is not None
        return "applied", self.current

    def _persist(self, loaded: LoadedBundle) -> None:
        """Store the bundle as this point's last good one (``bundle.json``), durably, before answering.

        Points hosted in one process receive the same megabytes: the first writes them once (with an fsync, about
        8 ms for 2.4 MB here), under a name that carries their SHA-256, and every point, the first included,
        links that file as its own ``bundle.json`` (a new name for the same bytes, then a rename: no copy, an
        fsync of the directory only). Where a link is impossible (another filesystem), the point writes its copy.
        """
        target = self.state_dir / "bundle.json"
        stored = loaded.stored
        if stored is None:
            stored = self.state_dir / f".bundle-{loaded.bundle.sha256}"
            self._write(stored.name, loaded.raw)
            loaded.stored = stored
            weakref.finalize(loaded, _unlink_quietly, stored)
        tmp = target.with_suffix(".link")
        try:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            os.link(stored, tmp)
            os.replace(tmp, target)
            directory = os.open(self.state_dir, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
        except OSError:
            self._write("bundle.json", loaded.raw)

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
    "MAX_DOCUMENT_BYTES",
    "REVOCATIONS_FORMAT",
    "SHARED_BUNDLES",
    "Binding",
    "Enforced",
    "LoadedBundle",
    "PolicyState",
    "RevocationDelta",
    "SharedBundles",
    "decode_body",
    "key_ring_id",
    "refusal_reason",
    "utc_now_text",
    "verify_revocation_delta",
]
