"""Sign, load and verify policy bundles (format in docs/bundle.md, schema in pep/bundle.schema.json).

A bundle is a JWS-style envelope ``{"header": {...}, "payload": {...}, "signature": "..."}``. The Ed25519
signature covers ``BASE64URL(canonical(header)) "." BASE64URL(canonical(payload))``, exactly the JWS signing
input, so any JWS library can check it by rebuilding the compact form. Everything refused raises a subclass of
:class:`BundleError` with a message meant for an operator.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import ipaddress
import json
import threading
import zoneinfo
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from pep.attributes import ATTRIBUTES
from pep.canonical import NotCanonicalError, b64url_decode, b64url_encode, canonical_bytes

SCHEMA_PATH = Path(__file__).with_name("bundle.schema.json")
TYP = "ztc-bundle+jws"


class BundleError(Exception):
    """Base class: the bundle was refused and the previously loaded one (if any) stays in force."""


class MalformedBundleError(BundleError):
    """Not JSON, not matching the schema, or internally inconsistent (dangling reference, bad CIDR, ...)."""


class UnknownKeyError(BundleError):
    """The header names a key id that is not in the verifier's key ring."""


class SignatureError(BundleError):
    """The signature does not verify: the bundle was tampered with or signed by another key."""


class RollbackError(BundleError):
    """The version is lower than the one loaded, or equal to it with different content."""


class EnvironmentMismatchError(BundleError):
    """The bundle was compiled for another environment than this enforcement point serves."""


# -- the cyclic collector ----------------------------------------------------------------------------------------

_collector_lock = threading.Lock()
_collector_pauses = 0
_collector_was_enabled = False


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Keep Python's cyclic garbage collector from running while a bundle is parsed, checked and compiled.

    Loading a 10k-identity bundle allocates about a million containers (the parsed JSON, then the engine's
    tables), all of them alive until the load ends, none of them in a reference cycle. Every 700 allocations the
    collector would otherwise scan the young ones, and every few thousand it rescans everything alive, the whole
    half-built bundle included: measured, that tripled the cost of parsing and of the engine build. Reference
    counting still frees everything as usual meanwhile; the collector resumes (if it was on) when the outermost
    pause ends. Nested and concurrent pauses are counted, so the last one out switches it back on.
    """
    global _collector_pauses, _collector_was_enabled
    with _collector_lock:
        if _collector_pauses == 0:
            _collector_was_enabled = gc.isenabled()
            gc.disable()
        _collector_pauses += 1
    try:
        yield
    finally:
        with _collector_lock:
            _collector_pauses -= 1
            if _collector_pauses == 0 and _collector_was_enabled:
                gc.enable()


# The young generation's threshold for a process that decides: see ``tune_collector``.
DECIDING_COLLECTOR_THRESHOLDS = (50_000, 10, 10)


def tune_collector() -> None:
    """Set the cyclic collector's thresholds for a process whose work is deciding (``python -m pep serve``).

    With CPython's default (700), the collector scans the young objects after every 700 net allocations of
    containers. A cold decision leaves three behind (the session key, the session, the Decision), so every couple
    of hundred new sessions one decision paid a young-generation scan of tens of microseconds: the decisions'
    p99.9 was the collector's. At 50,000 a scan comes after some ten thousand new sessions, out of the p99.9, and
    costs the same per object. Memory is unaffected (reference counting frees everything not in a cycle, and
    nothing the engine keeps is in one); cyclic garbage waits a little longer. Older generations keep their
    defaults; the bundle in force is frozen out of every scan (``PolicyState.apply_bundle``).
    """
    gc.set_threshold(*DECIDING_COLLECTOR_THRESHOLDS)


# -- keys ---------------------------------------------------------------------------------------------------------


def key_id(public_key: Ed25519PublicKey) -> str:
    """Key id derived from the key itself, so console and PEPs agree on it without configuration."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "ed25519-" + hashlib.sha256(raw).hexdigest()[:16]


def generate_private_key() -> Ed25519PrivateKey:
    """A fresh Ed25519 signing key (tests, bench and ``python -m pep keygen``)."""
    return Ed25519PrivateKey.generate()


def private_key_pem(key: Ed25519PrivateKey) -> bytes:
    """PKCS#8 PEM, unencrypted: the console stores its key encrypted at rest itself."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def public_key_pem(key: Ed25519PublicKey) -> bytes:
    """SubjectPublicKeyInfo PEM, the format ``--public-key`` reads."""
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_private_key(data: bytes | str | Path) -> Ed25519PrivateKey:
    """Read a PEM private key from bytes or a file path."""
    raw = Path(data).read_bytes() if isinstance(data, str | Path) else data
    key = serialization.load_pem_private_key(raw, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("not an Ed25519 private key")
    return key


def load_public_key(data: bytes | str | Path) -> Ed25519PublicKey:
    """Read a PEM public key from bytes or a file path."""
    raw = Path(data).read_bytes() if isinstance(data, str | Path) else data
    key = serialization.load_pem_public_key(raw)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key


def key_ring(*keys: Ed25519PublicKey) -> dict[str, Ed25519PublicKey]:
    """``{key id: key}``; several keys let a PEP accept bundles across a signing-key rotation."""
    return {key_id(k): k for k in keys}


# -- signing ------------------------------------------------------------------------------------------------------


def _signing_input(header: Mapping[str, Any], payload_bytes: bytes) -> bytes:
    return (b64url_encode(canonical_bytes(header)) + "." + b64url_encode(payload_bytes)).encode("ascii")


def sign_payload(payload: Mapping[str, Any], private_key: Ed25519PrivateKey) -> dict[str, Any]:
    """Wrap a payload (see :mod:`pep.builder`) in a signed envelope."""
    header = {"alg": "EdDSA", "kid": key_id(private_key.public_key()), "typ": TYP}
    signature = private_key.sign(_signing_input(header, canonical_bytes(payload)))
    return {"header": header, "payload": dict(payload), "signature": b64url_encode(signature)}


def bundle_bytes(envelope: Mapping[str, Any]) -> bytes:
    """The file as written to disk and pushed to PEPs; deterministic because Ed25519 signatures are."""
    return canonical_bytes(envelope)


# -- verification -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifiedBundle:
    """A bundle whose signature, structure and references were checked; ``sha256`` covers the payload bytes."""

    payload: dict[str, Any]
    environment: str
    version: int
    kid: str
    sha256: str


@cache
def _validator() -> Any:
    # Imported lazily: jsonschema costs ~100 ms to import, and the decision path never needs it.
    import jsonschema

    schema = json.loads(SCHEMA_PATH.read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    definitions = schema["$defs"]

    def inline(node: Any) -> Any:
        # The schema has no recursion, so its local $refs can be inlined once; validating a 10k-identity bundle
        # is then about 40% faster than resolving a reference per item.
        if isinstance(node, dict):
            if set(node) == {"$ref"} and node["$ref"].startswith("#/$defs/"):
                return inline(definitions[node["$ref"].removeprefix("#/$defs/")])
            return {k: inline(v) for k, v in node.items() if k != "$defs"}
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    return cls(inline(schema))


@cache
def structural_validator() -> Any:
    """The PEP's structural check: Python generated from ``bundle.schema.json`` itself (:mod:`pep.structural`).

    It refuses every document the full JSON Schema validation refuses (a test runs both on a corpus of broken
    bundles) at a fraction of its cost, and follows every change of the schema without a second description of
    the format to keep in step. Generated once per process (``BundleVerifier`` does it when it is created, so the
    first push does not pay for it).
    """
    from pep.structural import compile_schema

    check, _source = compile_schema(json.loads(SCHEMA_PATH.read_text()))
    return check


def check_structure(envelope: dict[str, Any]) -> None:
    """Raise :class:`MalformedBundleError` unless the envelope matches the schema (structure only: see
    :func:`check_semantics` for references and values a schema cannot check)."""
    from pep.structural import StructureError

    try:
        structural_validator()(envelope)
    except StructureError as exc:
        where = "/".join(str(part) for part in exc.path)
        raise MalformedBundleError(f"bundle does not match the schema at {where}: {exc}") from exc


def _reject_constant(name: str) -> None:
    raise MalformedBundleError(f"bundle contains {name}, which JSON does not allow")


def _reject_float(text: str) -> None:
    raise MalformedBundleError(f"bundle contains the number {text}: only integers are allowed")


def _parse(raw: bytes | str | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(raw, Mapping):
        return dict(raw)
    try:
        with collector_paused():
            doc = json.loads(raw, parse_constant=_reject_constant, parse_float=_reject_float)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedBundleError(f"bundle is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise MalformedBundleError("bundle is not a JSON object")
    return doc


def _parse_utc(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def check_semantics(payload: dict[str, Any]) -> None:
    """What a JSON Schema cannot say: unique ids, references that resolve, parsable CIDRs and time zones.

    Assumes a structurally valid payload (:func:`check_structure` or :func:`validate_payload` first).
    """
    known_zones: set[str] = set()

    def unique(kind: str, ids: list[str]) -> set[str]:
        seen: set[str] = set()
        for item in ids:
            if item in seen:
                raise MalformedBundleError(f"duplicate {kind} id {item!r}")
            seen.add(item)
        return seen

    def window(where: str, value: dict[str, Any] | None) -> None:
        if value is None:
            return
        if value["timezone"] not in known_zones:
            try:
                zoneinfo.ZoneInfo(value["timezone"])
            except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
                raise MalformedBundleError(f"{where}: unknown time zone {value['timezone']!r}") from exc
            known_zones.add(value["timezone"])
        if value["start"] == value["end"]:
            raise MalformedBundleError(f"{where}: window start equals end")

    bands = payload["bands"]
    if not bands["step_up"] <= bands["deny"]:
        raise MalformedBundleError(f"bands invert: step_up {bands['step_up']} > deny {bands['deny']}")
    identities = unique("identity", [i["id"] for i in payload["identities"]])
    for ident in payload["identities"]:
        window(f"identity {ident['id']!r} trading_hours", ident["trading_hours"])
    unique("device", [d["id"] for d in payload["devices"]])
    segments = unique("segment", [s["id"] for s in payload["segments"]])
    resources = unique("resource", [r["id"] for s in payload["segments"] for r in s["resources"]])
    if clash := segments & resources:
        raise MalformedBundleError(f"ids used for both a segment and a resource: {sorted(clash)}")
    unique("access rule", [r["id"] for r in payload["access_rules"]])
    for rule in payload["access_rules"]:
        target = rule["target"]
        if target["id"] not in (segments if target["kind"] == "segment" else resources):
            raise MalformedBundleError(f"access rule {rule['id']!r}: unknown {target['kind']} {target['id']!r}")
        if rule["subject"]["kind"] == "identity" and rule["subject"]["id"] not in identities:
            raise MalformedBundleError(f"access rule {rule['id']!r}: unknown identity {rule['subject']['id']!r}")
        window(f"access rule {rule['id']!r} window", rule["window"])
        if rule["expires_at"] is not None:
            try:
                _parse_utc(rule["expires_at"])
            except ValueError as exc:
                raise MalformedBundleError(f"access rule {rule['id']!r}: bad expires_at") from exc
    unique("risk rule", [r["id"] for r in payload["risk_rules"]])
    for rule in payload["risk_rules"]:
        attribute = ATTRIBUTES.get(rule["attribute"])
        if attribute is None:
            raise MalformedBundleError(f"risk rule {rule['id']!r}: unknown attribute {rule['attribute']!r}")
        if rule["condition"] not in attribute.conditions:
            raise MalformedBundleError(
                f"risk rule {rule['id']!r}: attribute {rule['attribute']!r} has no condition {rule['condition']!r}"
                f" (known: {', '.join(attribute.conditions)})"
            )
    unique("network zone", [z["id"] for z in payload["network_zones"]])
    cidrs = [(f"network zone {z['id']!r}", c) for z in payload["network_zones"] for c in z["cidrs"]]
    cidrs += [("ip_countries", e["cidr"]) for e in payload["ip_countries"]]
    for where, cidr in cidrs:
        try:
            ipaddress.ip_network(cidr, strict=True)
        except ValueError as exc:
            raise MalformedBundleError(f"{where}: bad CIDR {cidr!r}: {exc}") from exc
    unique("ip_countries cidr", [str(ipaddress.ip_network(e["cidr"])) for e in payload["ip_countries"]])


def validate_payload(payload: dict[str, Any]) -> None:
    """Raise :class:`MalformedBundleError` unless the payload matches the schema and is consistent.

    The full JSON Schema validation (``jsonschema``, with the best-matching error message): the console runs it
    when it compiles and signs a bundle, where failing is cheap. A PEP loading a signed bundle runs the
    generated structural check instead (:func:`check_structure`), which refuses the same documents.
    """
    import jsonschema

    # Validate through the envelope schema with a well-formed stand-in header so that one schema file stays
    # the single source of truth; only payload errors can then be reported.
    stand_in = {"header": {"alg": "EdDSA", "kid": "x", "typ": TYP}, "payload": payload, "signature": "A" * 86}
    error = jsonschema.exceptions.best_match(_validator().iter_errors(stand_in))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path)
        raise MalformedBundleError(f"bundle does not match the schema at {where}: {error.message}")
    check_semantics(payload)


def _payload_bytes(raw: bytes | str | Mapping[str, Any], header: dict[str, Any], payload: dict[str, Any]) -> bytes:
    """The canonical bytes of the payload, cut out of the raw bundle when it is in canonical form.

    ``bundle_bytes`` writes ``{"header":H,"payload":P,"signature":"S"}`` with H and P canonical, so when the raw
    bytes are exactly that around P, P is the canonical payload and re-serializing it (tens of milliseconds at 10k
    identities) is skipped. Nothing is trusted by this: the signature is then checked over those bytes, and the
    console signs nothing but canonical payloads; any other layout falls back to canonicalizing the parsed payload.
    """
    if isinstance(raw, Mapping):
        return canonical_bytes(payload)
    data = raw.encode() if isinstance(raw, str) else raw
    prefix = b'{"header":' + canonical_bytes(header, checked=True) + b',"payload":'
    end = data.rfind(b',"signature":"')
    if data.startswith(prefix) and end > len(prefix) and data.endswith(b'"}') and b'"' not in data[end + 14 : -2]:
        return data[len(prefix) : end]
    # Parsed from bytes, floats were refused by the parser already: skip the walk (a third of the cost).
    return canonical_bytes(payload, checked=True)


def verify_bundle(raw: bytes | str | Mapping[str, Any], keys: Mapping[str, Ed25519PublicKey]) -> VerifiedBundle:
    """Check the envelope, the key id, the signature, then the payload; return the verified bundle.

    The signature is checked before the structural and semantic checks so that unauthenticated input is
    rejected cheaply. Those checks still run on signed bundles: they guard the engine against a console bug.
    """
    with collector_paused():
        return _verify_bundle(raw, keys)


def _verify_bundle(raw: bytes | str | Mapping[str, Any], keys: Mapping[str, Ed25519PublicKey]) -> VerifiedBundle:
    doc = _parse(raw)
    header, payload, signature = doc.get("header"), doc.get("payload"), doc.get("signature")
    if set(doc) != {"header", "payload", "signature"} or not isinstance(header, dict) or not isinstance(payload, dict):
        raise MalformedBundleError("bundle must be an object with exactly header, payload and signature")
    if header.get("alg") != "EdDSA" or header.get("typ") != TYP or not isinstance(header.get("kid"), str):
        raise MalformedBundleError(f"bundle header must be {{alg: EdDSA, typ: {TYP}, kid: <string>}}")
    public_key = keys.get(header["kid"])
    if public_key is None:
        raise UnknownKeyError(f"bundle signed with unknown key id {header['kid']!r} (known: {', '.join(sorted(keys))})")
    try:
        payload_bytes = _payload_bytes(raw, header, payload)
        signed = _signing_input(header, payload_bytes)
        sig = b64url_decode(signature) if isinstance(signature, str) else b""
    except (NotCanonicalError, ValueError) as exc:
        raise MalformedBundleError(f"bundle cannot be canonicalized: {exc}") from exc
    try:
        public_key.verify(sig, signed)
    except InvalidSignature as exc:
        raise SignatureError(
            f"bad signature for key id {header['kid']!r}: bundle altered or signed by another key"
        ) from exc
    check_structure(doc)
    check_semantics(payload)
    return VerifiedBundle(
        payload=payload,
        environment=payload["environment"],
        version=payload["version"],
        kid=header["kid"],
        sha256=hashlib.sha256(payload_bytes).hexdigest(),
    )


class BundleVerifier:
    """What an enforcement point keeps between pushes: its key ring, its environment and the version in force.

    ``load`` refuses a lower version (rollback) and a same-version bundle with other content; re-delivery of the
    bundle in force is accepted (idempotent acknowledgement).
    """

    def __init__(self, keys: Mapping[str, Ed25519PublicKey], environment: str | None = None) -> None:
        self.keys = dict(keys)
        self.environment = environment
        self.current: VerifiedBundle | None = None
        structural_validator()  # generated now, at start-up, rather than on the first push

    def verify(self, raw: bytes | str | Mapping[str, Any]) -> VerifiedBundle:
        """Verify without changing the version in force."""
        return self.check(verify_bundle(raw, self.keys))

    def check(self, bundle: VerifiedBundle) -> VerifiedBundle:
        """The checks that are this verifier's own, on a bundle whose signature was verified with its key ring:
        the environment, and no rollback below (or beside) the version in force."""
        if self.environment is not None and bundle.environment != self.environment:
            raise EnvironmentMismatchError(
                f"bundle is for {bundle.environment!r}, this PEP serves {self.environment!r}"
            )
        current = self.current
        if current is not None:
            if bundle.version < current.version:
                raise RollbackError(
                    f"bundle version {bundle.version} is lower than the loaded version {current.version}"
                )
            if bundle.version == current.version and bundle.sha256 != current.sha256:
                raise RollbackError(f"bundle version {bundle.version} is already loaded with different content")
        return bundle

    def load(self, raw: bytes | str | Mapping[str, Any]) -> VerifiedBundle:
        """Verify and make it the version in force."""
        bundle = self.verify(raw)
        self.current = bundle
        return bundle
