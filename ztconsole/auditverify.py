"""Audit chain verification with signed checkpoints, usable without Django or a database.

Standard library plus ``cryptography`` only: the console imports it to hash and sign, and an examiner runs it
on their own machine::

    python -m ztconsole.auditverify --checkpoint CHECKPOINTS.jsonl --public-key audit-checkpoint.pub \
        EVENTS.jsonl

An event's hash is the SHA-256 of its canonical encoding (:func:`canonical_event`); a checkpoint is an Ed25519
signature over the sequence number and hash of the chain's head at one moment. The chain alone proves that no
event was changed *relative to the others*; the signed checkpoints, kept outside the database, prove which
head existed, so a rewritten, truncated or wiped chain no longer passes (docs/audit.md says exactly what is and
is not detected).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

GENESIS_HASH = "0" * 64
CHECKPOINT_FORMAT = "ztconsole-audit-checkpoint/1"

# Every column covered by an event's hash, in the order rows are read and written in this module.
HASHED_FIELDS = (
    "seq",
    "created_at",
    "actor_id",
    "actor_label",
    "action",
    "target_type",
    "target_id",
    "target_label",
    "details",
    "ip_address",
    "request_id",
    "prev_hash",
)
_SEQ, _PREV = 0, HASHED_FIELDS.index("prev_hash")

# One encoder reused for every event: json.dumps would build a new one per call with these options.
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
# The same document laid out by hand (keys already in sorted order): about twice as fast as encoding a dict,
# which matters at a million events. Used only when every value has the type the console writes.
_LAYOUT = (
    '{"action":%s,"actor_id":%s,"actor_label":%s,"created_at":%s,"details":%s,"ip_address":%s,'
    '"prev_hash":%s,"request_id":%s,"seq":%d,"target_id":%s,"target_label":%s,"target_type":%s}'
)
_quote = json.encoder.encode_basestring  # what _ENCODER uses for strings (ensure_ascii=False)


def canonical_event(values: Iterable) -> bytes:
    """The bytes an event's hash covers: ``values`` in HASHED_FIELDS order, ``created_at`` already a string
    ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (UTC), ``details`` a parsed JSON object; a JSON object with sorted keys, no
    whitespace, non-ASCII characters unescaped, UTF-8. This is the definition; _fast_canonical agrees with it."""
    return _ENCODER.encode(dict(zip(HASHED_FIELDS, values, strict=True))).encode()


def _fast_canonical(row: tuple, details: object) -> bytes:
    return layout(row, _ENCODER.encode(details))


def layout(row: tuple, details_json: str) -> bytes:
    """canonical_event for a row whose details are already encoded as canonical JSON text (``encode_details``).

    Raises TypeError when a value does not have the type the console writes; callers then use canonical_event.
    """
    seq, created_at, actor_id, actor_label, action, target_type, target_id, target_label = row[:8]
    ip_address, request_id, prev_hash = row[9:12]
    if (
        type(seq) is not int
        or (actor_id is not None and type(actor_id) is not int)
        or (ip_address is not None and type(ip_address) is not str)
    ):
        raise TypeError("not the types the console writes")
    return (
        _LAYOUT
        % (
            _quote(action),
            "null" if actor_id is None else actor_id,
            _quote(actor_label),
            _quote(created_at),
            details_json,
            "null" if ip_address is None else _quote(ip_address),
            _quote(prev_hash),
            _quote(request_id),
            seq,
            _quote(target_id),
            _quote(target_label),
            _quote(target_type),
        )
    ).encode()


def encode_details(details: object) -> str:
    """The canonical JSON text of an event's details, as it appears inside canonical_event."""
    return _ENCODER.encode(details)


def event_hash(values: Iterable) -> str:
    return hashlib.sha256(canonical_event(values)).hexdigest()


# --- keys ----------------------------------------------------------------------------------------------


class KeyFormatError(ValueError):
    """A key that cannot be read (wrong format, wrong algorithm)."""


def load_private_key(text: str) -> Ed25519PrivateKey:
    """An Ed25519 private key from PEM (PKCS#8, as ``openssl genpkey -algorithm ed25519`` writes) or from the
    base64 of its 32-byte raw form."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_private_key(text.encode(), password=None)
        except (ValueError, TypeError) as exc:
            raise KeyFormatError(f"not a readable unencrypted PEM private key: {exc}") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyFormatError("the PEM private key is not an Ed25519 key")
        return key
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise KeyFormatError("neither PEM nor base64") from None
    if len(raw) != 32:
        raise KeyFormatError(f"a raw Ed25519 private key is 32 bytes, this one is {len(raw)}")
    return Ed25519PrivateKey.from_private_bytes(raw)


def public_key_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def key_id(key: Ed25519PublicKey) -> str:
    """First 16 hex digits of the SHA-256 of the raw public key: names the key in every checkpoint."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def load_public_keys(text: str) -> dict[str, Ed25519PublicKey]:
    """Every Ed25519 public key in a PEM text (one or more blocks: the current key and retired ones)."""
    keys: dict[str, Ed25519PublicKey] = {}
    marker = "-----END PUBLIC KEY-----"
    for block in text.split(marker):
        if "-----BEGIN PUBLIC KEY-----" not in block:
            continue
        try:
            key = serialization.load_pem_public_key((block.strip() + "\n" + marker + "\n").encode())
        except ValueError as exc:
            raise KeyFormatError(f"not a readable PEM public key: {exc}") from None
        if not isinstance(key, Ed25519PublicKey):
            raise KeyFormatError("a PEM public key is not an Ed25519 key")
        keys[key_id(key)] = key
    if not keys:
        raise KeyFormatError("no PEM public key (-----BEGIN PUBLIC KEY-----) found")
    return keys


# --- checkpoints ---------------------------------------------------------------------------------------


class CheckpointError(ValueError):
    """A checkpoint line that cannot be read."""


@dataclass(frozen=True)
class Checkpoint:
    """A signed statement: "at ``created_at`` the chain's head was event ``seq`` with hash ``hash``"."""

    seq: int
    hash: str
    created_at: str
    reason: str
    key_id: str
    signature: str  # base64 of the 64-byte Ed25519 signature over signed_bytes()
    source: str = field(default="", compare=False)  # where it was read from, for messages

    def signed_bytes(self) -> bytes:
        return _checkpoint_bytes(self.seq, self.hash, self.created_at, self.reason, self.key_id)

    def to_json(self) -> str:
        document = {
            "format": CHECKPOINT_FORMAT,
            "seq": self.seq,
            "hash": self.hash,
            "created_at": self.created_at,
            "reason": self.reason,
            "key_id": self.key_id,
            "signature": self.signature,
        }
        return json.dumps(document, sort_keys=True, separators=(",", ":"))

    def verify(self, keys: dict[str, Ed25519PublicKey]) -> str:
        """ "" when the signature holds under one of ``keys``, else what is wrong."""
        key = keys.get(self.key_id)
        if key is None:
            return f"signed with unknown key {self.key_id}"
        try:
            key.verify(base64.b64decode(self.signature, validate=True), self.signed_bytes())
        except (InvalidSignature, binascii.Error, ValueError):
            return "signature does not verify"
        return ""


def _checkpoint_bytes(seq: int, head_hash: str, created_at: str, reason: str, kid: str) -> bytes:
    document = {
        "format": CHECKPOINT_FORMAT,
        "seq": seq,
        "hash": head_hash,
        "created_at": created_at,
        "reason": reason,
        "key_id": kid,
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def sign_checkpoint(key: Ed25519PrivateKey, seq: int, head_hash: str, created_at: str, reason: str) -> Checkpoint:
    kid = key_id(key.public_key())
    signature = key.sign(_checkpoint_bytes(seq, head_hash, created_at, reason, kid))
    return Checkpoint(seq, head_hash, created_at, reason, kid, base64.b64encode(signature).decode())


def parse_checkpoint(line: str, source: str = "") -> Checkpoint:
    try:
        document = json.loads(line)
        if document.get("format") != CHECKPOINT_FORMAT:
            raise CheckpointError(f"{source}: not a {CHECKPOINT_FORMAT} line")
        seq = document["seq"]
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
            raise CheckpointError(f"{source}: seq must be a non-negative integer")
        values = [document[name] for name in ("hash", "created_at", "reason", "key_id", "signature")]
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
        raise CheckpointError(f"{source}: not a checkpoint ({exc.__class__.__name__}: {exc})") from None
    if not all(isinstance(value, str) for value in values):
        raise CheckpointError(f"{source}: hash, created_at, reason, key_id and signature must be strings")
    return Checkpoint(seq, *values, source=source)


def read_checkpoints(path: Path) -> list[Checkpoint]:
    """Every checkpoint in a JSON Lines file, or in every ``*.jsonl`` file of a directory (sorted by name)."""
    files = sorted(path.glob("*.jsonl")) if path.is_dir() else [path]
    checkpoints = []
    for file in files:
        with file.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if line.strip():
                    checkpoints.append(parse_checkpoint(line, f"{file}:{number}"))
    return checkpoints


# --- the verifier --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    checked: int
    first_broken_seq: int | None = None
    problem: str = ""
    checkpoints_verified: int = 0  # signed checkpoints whose head was found in the chain
    covered_seq: int = 0  # the highest seq a verified checkpoint vouches for
    warnings: tuple[str, ...] = ()

    def summary(self) -> str:
        if not self.ok:
            return (
                f"audit chain BROKEN at event seq {self.first_broken_seq}: {self.problem} "
                f"({self.checked} events verified before it)"
            )
        uncovered = self.checked - self.covered_seq
        return (
            f"audit chain intact: {self.checked} events verified; {self.checkpoints_verified} signed "
            f"checkpoints agree (up to seq {self.covered_seq}; {uncovered} newer events not yet checkpointed)"
        )


# The reason of the checkpoint signed at a retention cut (docs/audit.md, "Retention"): events up to its seq were
# archived (signed) and deleted, and the live chain may start right after it.
RETENTION_REASON = "retention"


class ChainVerifier:
    """Walks events in seq order and holds them against the signed checkpoints.

    Feed rows (tuples in HASHED_FIELDS order followed by the stored hash, ``created_at`` as a string and
    ``details`` as JSON text) with :meth:`feed`, then call :meth:`finish`. Memory stays flat: only the
    checkpoints are kept.

    A chain verified from the genesis may begin later than seq 1 only after a retention cut: its first event must
    follow a validly signed ``retention`` checkpoint exactly (seq minus 1, and ``prev_hash`` equal to the signed
    hash). That checkpoint becomes the anchor; any other gap at the start is a break.
    """

    def __init__(
        self,
        checkpoints: Iterable[Checkpoint],
        keys: dict[str, Ed25519PublicKey] | None,
        anchor: tuple[int, str] = (0, GENESIS_HASH),
        *,
        details_text_may_be_canonical: bool = True,
    ) -> None:
        # ``anchor``: the (seq, hash) the first fed event follows; the genesis unless verifying from a checkpoint.
        # ``details_text_may_be_canonical``: details given as text may already be the canonical JSON (SQLite
        # stores it so); False where it never is (PostgreSQL's jsonb prints its own way), to skip a wasted hash.
        self.try_text = details_text_may_be_canonical
        self.expected_seq = anchor[0] + 1
        self.expected_prev = anchor[1]
        self.failure: ChainReport | None = None
        self.by_seq: dict[int, list[Checkpoint]] = {}
        self.bad: list[str] = []
        self.count = 0
        for checkpoint in checkpoints:
            self.count += 1
            problem = checkpoint.verify(keys) if keys is not None else "no public key to check it with"
            if problem:
                self.bad.append(f"checkpoint at seq {checkpoint.seq} ({checkpoint.source or 'database'}): {problem}")
            else:
                self.by_seq.setdefault(checkpoint.seq, []).append(checkpoint)
        self.matched = 0
        self.covered = 0
        self.anchored_at = anchor[0]  # moved to a retention cut when the chain starts after one
        # The anchor (seq 0 is the genesis: a checkpoint of an empty chain names it) is the first head.
        self._check_checkpoints_at(anchor[0], anchor[1])

    def _retention_anchor(self, seq: int, prev_hash: str) -> bool:
        """A signed retention checkpoint at ``seq - 1`` names ``prev_hash``: the chain was cut there, on purpose."""
        for checkpoint in self.by_seq.get(seq - 1, ()):
            if checkpoint.reason == RETENTION_REASON and checkpoint.hash == prev_hash:
                self.matched += 1
                self.covered = seq - 1
                return True
        return False

    def _fail(self, seq: int, problem: str) -> None:
        if self.failure is None:
            self.failure = ChainReport(False, self.expected_seq - 1, seq, problem, self.matched, self.covered)

    def _check_checkpoints_at(self, seq: int, head_hash: str) -> None:
        for checkpoint in self.by_seq.get(seq, ()):
            if checkpoint.hash != head_hash:
                self._fail(
                    seq,
                    f"differs from the signed checkpoint of {checkpoint.created_at} ({checkpoint.reason}): "
                    "history was rewritten",
                )
                return
            self.matched += 1
            self.covered = seq

    def feed(self, rows: Iterable[tuple]) -> bool:
        """Checks rows; returns False (and stops) at the first broken event."""
        if self.failure is not None:
            return False
        by_seq, loads, sha256, fast, fast_layout = self.by_seq, json.loads, hashlib.sha256, _fast_canonical, layout
        try_text = self.try_text
        # The position in the chain lives in locals while rows match (a million iterations); it is written back
        # before anything that reads it (the failure report, the checkpoints) and when the rows run out.
        expected_seq, expected_prev = self.expected_seq, self.expected_prev
        for row in rows:
            seq = row[_SEQ]
            if seq != expected_seq or type(seq) is not int or row[_PREV] != expected_prev:
                self.expected_seq, self.expected_prev = expected_seq, expected_prev
                if type(seq) is not int:
                    self._fail(expected_seq, f"malformed seq {seq!r}")
                    return False
                if seq != expected_seq and expected_seq == 1 and self._retention_anchor(seq, row[_PREV]):
                    expected_seq = self.expected_seq = seq
                    expected_prev = self.expected_prev = row[_PREV]
                    self.anchored_at = seq - 1
                if seq != expected_seq:
                    kind = "missing or reordered event" if seq > expected_seq else "reordered event"
                    self._fail(seq, f"{kind}: expected seq {expected_seq}")
                    return False
                if row[_PREV] != expected_prev:
                    self._fail(seq, "prev_hash does not match the previous event")
                    return False
            details = row[8]
            stored = row[-1]
            encoded = None
            if type(details) is str:
                # Parsed first: only valid JSON may be laid out as it is. Stored as canonical text already (the
                # console writes it so on SQLite)? Then the bytes hash to the stored hash as they are, and equal
                # bytes are an equal JSON document; anything else is re-encoded below.
                try:
                    parsed = loads(details)
                except ValueError:
                    self.expected_seq, self.expected_prev = expected_seq, expected_prev
                    self._fail(seq, "details are not JSON (modified)")
                    return False
                if try_text:
                    try:
                        encoded = fast_layout(row, details)
                    except TypeError:
                        encoded = None
                    if encoded is not None and sha256(encoded).hexdigest() != stored:
                        encoded = None
                details = parsed
                matched = encoded is not None  # hashed to the stored hash as it is: no second hash
            else:
                matched = False
            if not matched:
                try:
                    encoded = fast(row, details)
                except TypeError:
                    encoded = canonical_event((*row[:8], details, *row[9:12]))
                if sha256(encoded).hexdigest() != stored:
                    self.expected_seq, self.expected_prev = expected_seq, expected_prev
                    self._fail(seq, "content does not match its hash (modified)")
                    return False
            expected_prev = stored
            expected_seq = seq + 1
            if seq in by_seq:
                self.expected_seq, self.expected_prev = expected_seq, expected_prev
                self._check_checkpoints_at(seq, stored)
                if self.failure is not None:
                    return False
        self.expected_seq, self.expected_prev = expected_seq, expected_prev
        return True

    def finish(self, head: tuple[int, str] | None = None) -> ChainReport:
        """``head``: the (seq, hash) the database's head row claims, when there is one."""
        checked = self.expected_seq - 1
        if self.failure is not None:
            return self.failure
        if self.bad:
            return ChainReport(False, checked, None, self.bad[0], self.matched, self.covered)
        beyond = [seq for seq in self.by_seq if seq > checked]
        if beyond:
            last = max(beyond)
            when = self.by_seq[last][0].created_at
            what = "the audit table was emptied" if checked == 0 else "events were removed from the end"
            return ChainReport(
                False,
                checked,
                checked + 1,
                f"a signed checkpoint of {when} vouches for seq {last} but the chain ends at seq {checked}: {what}",
                self.matched,
                self.covered,
            )
        if head is not None and head != (checked, self.expected_prev):
            return ChainReport(
                False, checked, checked + 1, f"chain ends at seq {checked} but head says {head[0]}", self.matched
            )
        warnings = []
        if self.count == 0:
            warnings.append("no signed checkpoint was given: truncation and rewriting cannot be detected")
        return ChainReport(True, checked, None, "", self.matched, self.covered, tuple(warnings))


# --- events exported as JSON Lines ---------------------------------------------------------------------


def read_event_lines(path: Path) -> Iterator[tuple]:
    """Rows from a JSON Lines audit export (one event object per line with every hashed field and ``hash``)."""
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                document = json.loads(line)
                yield (*(document[name] for name in HASHED_FIELDS), document["hash"])
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise CheckpointError(f"{path}:{number}: not an audit event ({exc})") from None


def export_line(values: tuple, event_hash_: str) -> str:
    """One event as a JSON Lines export writes it (the inverse of read_event_lines)."""
    document = dict(zip(HASHED_FIELDS, values, strict=True))
    document["hash"] = event_hash_
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ztconsole.auditverify",
        description="Verify an exported audit chain against signed checkpoints, without Django or a database.",
    )
    parser.add_argument("events", type=Path, help="JSON Lines audit export (manage.py export_audit)")
    parser.add_argument("--checkpoint", type=Path, required=True, help="checkpoint file or directory")
    parser.add_argument("--public-key", type=Path, required=True, help="PEM file of the checkpoint public key(s)")
    args = parser.parse_args(argv)
    try:
        keys = load_public_keys(args.public_key.read_text(encoding="utf-8"))
        checkpoints = read_checkpoints(args.checkpoint)
        if not checkpoints:
            print(f"error: no checkpoint in {args.checkpoint}", file=sys.stderr)
            return 2
        verifier = ChainVerifier(checkpoints, keys)
        verifier.feed(read_event_lines(args.events))
    except (OSError, KeyFormatError, CheckpointError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report = verifier.finish()
    print(report.summary(), file=sys.stdout if report.ok else sys.stderr)
    return 0 if report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
