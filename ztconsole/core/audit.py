"""The audit core: ``record`` appends a hash-chained event; ``checkpoint`` signs the head; ``verify_chain`` walks.

``record`` must be called inside the transaction of the action it describes, so the event and the state
change commit or roll back together. The encoding, the checkpoint format and the verifier itself live in
``ztconsole.auditverify``, which runs without Django (an examiner's machine runs the same code).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Model
from django.http import HttpRequest
from django.utils import timezone

from ztconsole import auditverify
from ztconsole.auditverify import GENESIS_HASH, HASHED_FIELDS, ChainReport, Checkpoint
from ztconsole.core import hooks, live
from ztconsole.core.models import AuditCheckpoint, AuditEvent, CheckpointReason
from ztconsole.logging import redact_value, request_id_var

__all__ = [
    "GENESIS_HASH",
    "AuditChainBroken",
    "ChainReport",
    "checkpoint",
    "compute_hash",
    "record",
    "record_batch",
    "verify_chain",
    "verify_up_to",
]

logger = logging.getLogger(__name__)
AUDIT_GROUP = "audit"
LIVE_BATCH_TAIL = 50  # events of one record_batch sent to the live audit views
_INSERT_CHUNK = 1000  # rows per multi-row INSERT: below SQLite's 32,766 bound parameters
_COLUMNS = ", ".join((*HASHED_FIELDS, "hash"))
_PLACEHOLDERS = "(" + ", ".join(["%s"] * (len(HASHED_FIELDS) + 1)) + ")"


class AuditChainBroken(Exception):
    """The events a checkpoint would sign do not verify: the console refuses to vouch for them."""

    def __init__(self, report: ChainReport) -> None:
        super().__init__(report.summary())
        self.report = report


def _ts(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _values(event: AuditEvent) -> tuple:
    return tuple(_ts(event.created_at) if name == "created_at" else getattr(event, name) for name in HASHED_FIELDS)


def canonical_bytes(event: AuditEvent) -> bytes:
    """Canonical encoding covered by the hash: every column but id and hash, sorted keys, no whitespace."""
    return auditverify.canonical_event(_values(event))


def compute_hash(event: AuditEvent) -> str:
    return hashlib.sha256(canonical_bytes(event)).hexdigest()


def _client_ip(request: HttpRequest | None) -> str | None:
    if request is None:
        return None
    return request.META.get("REMOTE_ADDR") or None


def _describe_target(target: Any) -> tuple[str, str, str]:
    if target is None:
        return "", "", ""
    if isinstance(target, Model):
        return target._meta.label_lower, str(target.pk), str(target)[:200]
    if isinstance(target, tuple) and len(target) == 3:
        kind, ident, label = target
        return str(kind), str(ident), str(label)[:200]
    raise TypeError("target must be a model instance, a (type, id, label) tuple or None")


_NOT_FINITE = {float("inf"): "Infinity", float("-inf"): "-Infinity"}


def _stored_numbers(value: Any) -> Any:
    """Numbers as the database gives them back, so that the hash taken now is the one verification recomputes.

    PostgreSQL keeps a JSON number as ``numeric``: a float of 1e16 or more (which Python writes with an
    exponent) comes back as an integer, and -0.0 as 0.0; NaN and infinities are not JSON at all (they are
    recorded as text). Everything else round-trips unchanged, on both databases.
    """
    if isinstance(value, float):
        if value != value:
            return "NaN"
        if value in _NOT_FINITE:
            return _NOT_FINITE[value]
        if value == 0:
            return 0.0
        if abs(value) >= 1e16:
            return int(Decimal(repr(value)))  # the digits written, as numeric keeps them
        return value
    if isinstance(value, dict):
        return {k: _stored_numbers(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_stored_numbers(v) for v in value]
    return value


@dataclasses.dataclass(frozen=True)
class _Entry:
    """An event before the chain gives it a place: everything but seq, prev_hash and hash."""

    created_at: datetime
    actor: Any
    actor_label: str
    action: str
    target: tuple[str, str, str]
    details: Any
    ip_address: str | None
    request_id: str


def _entry(
    actor: Any,
    action: str,
    target: Any = None,
    details: dict[str, Any] | None = None,
    request: HttpRequest | None = None,
) -> _Entry:
    if not action or len(action) > 64:
        raise ValueError("action must be 1-64 characters")
    actor_obj = actor if getattr(actor, "is_authenticated", False) else None
    return _Entry(
        created_at=timezone.now(),
        actor=actor_obj,
        actor_label=actor_obj.get_username() if actor_obj else "",
        action=action,
        target=_describe_target(target),
        details=_stored_numbers(redact_value(details or {})),
        ip_address=_client_ip(request),
        request_id=getattr(request, "request_id", None) or request_id_var.get().strip("-"),
    )


# --- appending ---------------------------------------------------------------------------------------


def _parts(entry: _Entry, details_json: str) -> tuple[str, str, str]:
    """The event's canonical encoding around the two values only the chain can give, ``prev_hash`` and ``seq``.

    Their keys sort next to each other (``prev_hash`` < ``request_id`` < ``seq``), so the encoding is
    ``head + prev_hash + middle + str(seq) + tail``: exactly ``auditverify.canonical_event`` of the event (every
    value encoded by the same JSON encoder; tests/core/test_audit_append.py holds them against each other). The
    PostgreSQL function joins these parts under the head lock; on SQLite, ``_hash`` does.
    """
    encode = auditverify.encode_details  # the canonical encoder: any JSON value, strings quoted as it quotes them
    actor_id = entry.actor.pk if entry.actor is not None else None
    kind, ident, label = entry.target
    head = (
        f'{{"action":{encode(entry.action)},"actor_id":{encode(actor_id)},"actor_label":{encode(entry.actor_label)},'
        f'"created_at":"{_ts(entry.created_at)}","details":{details_json},"ip_address":{encode(entry.ip_address)},'
        '"prev_hash":"'
    )
    middle = f'","request_id":{encode(entry.request_id)},"seq":'
    tail = f',"target_id":{encode(ident)},"target_label":{encode(label)},"target_type":{encode(kind)}}}'
    return head, middle, tail


def _hash(parts: tuple[str, str, str], seq: int, prev_hash: str) -> str:
    head, middle, tail = parts
    return hashlib.sha256(f"{head}{prev_hash}{middle}{seq}{tail}".encode()).hexdigest()


def _row(entry: _Entry, details_json: str, seq: int, prev_hash: str, event_hash: str) -> tuple:
    """An appended event as a tuple of HASHED_FIELDS + hash (``created_at`` a datetime, ``details`` its JSON)."""
    kind, ident, label = entry.target
    actor_id = entry.actor.pk if entry.actor is not None else None
    return (
        seq,
        entry.created_at,
        actor_id,
        entry.actor_label,
        entry.action,
        kind,
        ident,
        label,
        details_json,
        entry.ip_address,
        entry.request_id,
        prev_hash,
        event_hash,
    )


# PostgreSQL: zt_audit_append (core/migrations/0007) locks the head, hashes, inserts and moves the head. The
# columns travel as arrays in binary form (%b): psycopg quotes text arrays for a client-side query in Python, about
# 0.25 ms per 1,000 values, which would cost more than the append itself.
_PG_APPEND = (
    "SELECT head_seq, head_hash, last_id, hashes FROM zt_audit_append(%b::timestamptz[], %b::integer[], %b::text[], "
    "%b::text[], %b::text[], %b::text[], %b::text[], %b::text[], %b::text[], %b::text[], %b::text[], %b::text[], "
    "%b::text[])"
)


def _binding_cursor():
    """A cursor that sends parameters apart from the query (Django's default quotes them into it), wrapped as
    Django wraps its own (errors, query logging)."""
    from django.db.backends.postgresql.base import ServerBindingCursor

    connection.ensure_connection()
    cursor = ServerBindingCursor(connection.connection)
    return connection.make_debug_cursor(cursor) if connection.queries_logged else connection.make_cursor(cursor)


def _append_postgresql(entries: list[_Entry]) -> tuple[int, list[tuple], int]:
    """One statement, one round trip: returns the head's seq before the append, the rows and the last row's id."""
    details = [auditverify.encode_details(entry.details) for entry in entries]
    parts = [_parts(entry, text) for entry, text in zip(entries, details, strict=True)]
    params = [
        [entry.created_at for entry in entries],
        [entry.actor.pk if entry.actor is not None else None for entry in entries],
        [entry.actor_label for entry in entries],
        [entry.action for entry in entries],
        [entry.target[0] for entry in entries],
        [entry.target[1] for entry in entries],
        [entry.target[2] for entry in entries],
        details,
        [entry.ip_address for entry in entries],
        [entry.request_id for entry in entries],
        [part[0] for part in parts],
        [part[1] for part in parts],
        [part[2] for part in parts],
    ]
    with _binding_cursor() as cursor:
        cursor.execute(_PG_APPEND, params)
        head_seq, prev_hash, last_id, hashes = cursor.fetchone()
    rows = []
    for offset, (entry, text, event_hash) in enumerate(zip(entries, details, hashes, strict=True), 1):
        rows.append(_row(entry, text, head_seq + offset, prev_hash, event_hash))
        prev_hash = event_hash
    return head_seq, rows, last_id


def _lock_head_sqlite(cursor) -> tuple[int, str]:
    """Reads the head; the IMMEDIATE transaction already holds the database's write lock until it ends."""
    cursor.execute("SELECT seq, hash FROM core_audithead WHERE id = 1")
    row = cursor.fetchone()
    if row is None:
        cursor.execute("INSERT INTO core_audithead (id, seq, hash) VALUES (1, 0, %s)", [GENESIS_HASH])
        return 0, GENESIS_HASH
    return row[0], row[1]


def _append_sqlite(entries: list[_Entry]) -> tuple[int, list[tuple], int | None]:
    """The same append in Python, inside the transaction ``_append`` holds: lock, hash, multi-row INSERTs, head."""
    with connection.cursor() as cursor:
        head_seq, prev_hash = _lock_head_sqlite(cursor)
        rows = []
        for offset, entry in enumerate(entries, 1):
            text = auditverify.encode_details(entry.details)
            event_hash = _hash(_parts(entry, text), head_seq + offset, prev_hash)
            rows.append(_row(entry, text, head_seq + offset, prev_hash, event_hash))
            prev_hash = event_hash
        row_id = None
        for start in range(0, len(rows), _INSERT_CHUNK):
            chunk = rows[start : start + _INSERT_CHUNK]
            params: list[Any] = []
            for row in chunk:
                params.extend(row)
                # Django's text form of a UTC datetime
                params[len(params) - len(row) + 1] = row[1].astimezone(UTC).replace(tzinfo=None).isoformat(" ")
            values_sql = ", ".join([_PLACEHOLDERS] * len(chunk))
            # Only constant column names and placeholders are formatted in; every value is a bound parameter.
            cursor.execute(f"INSERT INTO core_auditevent ({_COLUMNS}) VALUES {values_sql}", params)  # noqa: S608
            row_id = cursor.lastrowid
        cursor.execute("UPDATE core_audithead SET seq = %s, hash = %s WHERE id = 1", [rows[-1][0], rows[-1][-1]])
    return head_seq, rows, row_id


def _append(entries: list[_Entry]) -> tuple[list[tuple], int | None]:
    """Appends the entries in one total order, in the caller's transaction; returns the rows and the last id.

    PostgreSQL: one call of zt_audit_append. Outside any transaction (autocommit) that statement is a transaction
    of its own, so no BEGIN or COMMIT round trip is added; the checkpoint of every N events, when this append
    reaches one, then commits right after it instead of with it. SQLite: the IMMEDIATE transaction's write lock.
    """
    every = settings.ZT_AUDIT_CHECKPOINT_EVERY
    if connection.vendor == "postgresql":
        if connection.get_autocommit():
            head_seq, rows, row_id = _append_postgresql(entries)
            if rows[-1][0] // every != head_seq // every:
                with transaction.atomic():
                    _sign_and_store(rows[-1][0], rows[-1][-1], CheckpointReason.EVENTS)
            return rows, row_id
        with transaction.atomic(savepoint=False):
            head_seq, rows, row_id = _append_postgresql(entries)
            if rows[-1][0] // every != head_seq // every:  # the append reached a multiple of N
                _sign_and_store(rows[-1][0], rows[-1][-1], CheckpointReason.EVENTS)
        return rows, row_id
    with transaction.atomic(savepoint=False):
        head_seq, rows, row_id = _append_sqlite(entries)
        if rows[-1][0] // every != head_seq // every:
            _sign_and_store(rows[-1][0], rows[-1][-1], CheckpointReason.EVENTS)
    return rows, row_id


def record(
    actor: Any,
    action: str,
    target: Any = None,
    details: dict[str, Any] | None = None,
    request: HttpRequest | None = None,
) -> AuditEvent:
    """Append one event to the chain, inside the caller's transaction.

    ``actor`` is a user (or None for the system), ``target`` a model instance or a (type, id, label)
    tuple. Secrets in ``details`` are redacted before they are stored.
    """
    entry = _entry(actor, action, target, details, request)
    (row,), row_id = _append([entry])
    fields = dict(zip(HASHED_FIELDS, row[:-1], strict=True))
    del fields["actor_id"]
    fields["details"] = entry.details
    event = AuditEvent(id=row_id, actor=entry.actor, hash=row[-1], **fields)
    event._state.adding = False
    event._state.db = connection.alias
    transaction.on_commit(lambda: live.publish(AUDIT_GROUP, _live_message(row)))
    return event


def record_batch(events: Iterable[tuple | dict[str, Any]]) -> int:
    """Append many events in one go (same arguments as ``record``, as tuples or dicts); returns how many.

    For bulk producers (imports, enforcement-point event batches): one lock, multi-row inserts, one head
    update. Like ``record``, it joins the caller's transaction.
    """
    entries = [_entry(**item) if isinstance(item, dict) else _entry(*item) for item in events]
    if not entries:
        return 0
    rows, _ = _append(entries)
    # The live feed shows the newest events; a bulk append sends only its tail (the pages read the rest).
    tail = rows[-LIVE_BATCH_TAIL:]
    transaction.on_commit(lambda: live.publish(AUDIT_GROUP, *(_live_message(row) for row in tail)))
    return len(rows)


def _live_message(row: tuple) -> dict[str, Any]:
    return {"type": "audit.event", "event": _summary(row)}


def _summary(row: tuple) -> dict[str, Any]:
    return {
        "seq": row[0],
        "created_at": _ts(row[1]) if isinstance(row[1], datetime) else row[1],
        "actor": row[3] or "system",
        "action": row[4],
        "target": row[7],
        "target_type": row[5],
        "ip_address": row[9],
        "hash": row[12],
    }


def summarize(event: AuditEvent) -> dict[str, Any]:
    return _summary((*(getattr(event, name) for name in HASHED_FIELDS), event.hash))


# --- checkpoints ----------------------------------------------------------------------------------------


@lru_cache(maxsize=2)
def _load_key(spec: str) -> Ed25519PrivateKey:
    return auditverify.load_private_key(spec)


def signing_key() -> Ed25519PrivateKey:
    """The checkpoint key from ZT_AUDIT_SIGNING_KEY(_FILE): configuration only, never the database."""
    return _load_key(settings.ZT_AUDIT_SIGNING_KEY)


def public_keys() -> dict[str, Ed25519PublicKey]:
    """The current checkpoint public key and the retired ones named by ZT_AUDIT_PUBLIC_KEYS_FILE."""
    current = signing_key().public_key()
    keys = {auditverify.key_id(current): current}
    if settings.ZT_AUDIT_PUBLIC_KEYS_FILE:
        keys.update(auditverify.load_public_keys(Path(settings.ZT_AUDIT_PUBLIC_KEYS_FILE).read_text()))
    return keys


def checkpoint_file(now: datetime | None = None) -> Path:
    """Where the next checkpoint line goes: ZT_AUDIT_CHECKPOINT_PATH itself when it names a .jsonl file,
    else a file per UTC day inside that directory."""
    path = Path(settings.ZT_AUDIT_CHECKPOINT_PATH)
    if path.suffix == ".jsonl":
        return path
    return path / f"checkpoints-{(now or timezone.now()).astimezone(UTC):%Y-%m-%d}.jsonl"


def _send_outside(signed: Checkpoint) -> None:
    try:
        target = checkpoint_file()
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            os.write(fd, (signed.to_json() + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        logger.exception("audit checkpoint at seq %s not written to ZT_AUDIT_CHECKPOINT_PATH", signed.seq)


def _sign_and_store(seq: int, head_hash: str, reason: str) -> AuditCheckpoint:
    signed = auditverify.sign_checkpoint(signing_key(), seq, head_hash, _ts(timezone.now()), reason)
    row = AuditCheckpoint.objects.create(
        seq=seq,
        hash=head_hash,
        created_at=signed.created_at,
        reason=reason,
        key_id=signed.key_id,
        signature=signed.signature,
    )
    transaction.on_commit(lambda: _send_outside(signed))
    # Other destinations (the SIEM forwarder) connect here and send with transaction.on_commit.
    hooks.audit_checkpoint_signed.fire(None, signed)
    return row


def _as_signed(row: AuditCheckpoint) -> Checkpoint:
    return Checkpoint(row.seq, row.hash, row.created_at, row.reason, row.key_id, row.signature, source="database")


def checkpoint(reason: str = CheckpointReason.MANUAL) -> AuditCheckpoint | None:
    """Sign the chain's current head, store it and send it outside the database.

    The events since the last valid checkpoint are verified first, so a checkpoint never vouches for a chain
    that was tampered with since (AuditChainBroken). A periodic checkpoint is skipped (None) when the head has
    not moved since the last one.
    """
    head_seq, head_hash = _read_head()
    keys = public_keys()
    anchor = (0, GENESIS_HASH)
    for last in AuditCheckpoint.objects.filter(seq__lte=head_seq).order_by("-seq", "-id")[:20]:
        if not _as_signed(last).verify(keys):
            anchor = (last.seq, last.hash)
            break
    if reason == CheckpointReason.SCHEDULE and anchor == (head_seq, head_hash):
        return None
    verifier = auditverify.ChainVerifier(
        (), keys, anchor=anchor, details_text_may_be_canonical=connection.vendor != "postgresql"
    )
    for rows in _event_rows(after_seq=anchor[0], upto_seq=head_seq):
        if not verifier.feed(rows):
            break
    report = verifier.finish(head=(head_seq, head_hash))
    if not report.ok:
        logger.error("audit checkpoint refused: %s", report.summary())
        raise AuditChainBroken(report)
    with transaction.atomic():
        return _sign_and_store(head_seq, head_hash, reason)


# --- retention ------------------------------------------------------------------------------------------


def retention_checkpoint(seq: int) -> AuditCheckpoint:
    """Sign a retention cut at event ``seq`` (reason ``retention``), after verifying the events up to it.

    The events up to ``seq`` are then archived and deleted (the ``retention`` app); this checkpoint is what lets
    the live chain start at ``seq + 1`` and still verify (``auditverify.ChainVerifier``). Raises AuditChainBroken
    when the events up to the cut do not verify: a tampered past is never archived as if it were sound.
    """
    keys = public_keys()
    anchor = (0, GENESIS_HASH)
    for last in AuditCheckpoint.objects.filter(seq__lte=seq).order_by("-seq", "-id")[:20]:
        if not _as_signed(last).verify(keys):
            anchor = (last.seq, last.hash)
            break
    verifier = auditverify.ChainVerifier(
        stored_checkpoints(), keys, anchor=anchor, details_text_may_be_canonical=connection.vendor != "postgresql"
    )
    for rows in _event_rows(after_seq=anchor[0], upto_seq=seq):
        if not verifier.feed(rows):
            break
    report = verifier.finish()
    if not report.ok or verifier.expected_seq - 1 != seq:
        logger.error("audit retention refused: %s", report.summary())
        raise AuditChainBroken(report)
    with transaction.atomic():
        return _sign_and_store(seq, verifier.expected_prev, CheckpointReason.RETENTION)


def delete_through(seq: int) -> int:
    """Delete the events up to ``seq``, which a retention checkpoint covers; inside the caller's transaction.

    On PostgreSQL the append-only trigger lets a DELETE through only for events at or below the newest retention
    checkpoint (retention/migrations); on SQLite the model's guard is bypassed with plain SQL, as here only.
    """
    if not AuditCheckpoint.objects.filter(seq__gte=seq, reason=auditverify.RETENTION_REASON).exists():
        raise ValueError(f"no retention checkpoint covers seq {seq}")
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM core_auditevent WHERE seq <= %s", [seq])
        return cursor.rowcount


# --- verification --------------------------------------------------------------------------------------


def _event_rows(after_seq: int = 0, upto_seq: int | None = None, chunk: int = 10_000) -> Iterator[list[tuple]]:
    """Rows in seq order from a server-side cursor on PostgreSQL, as plain tuples (no model instances).

    ``created_at`` arrives already in the canonical text form, ``details`` as JSON text.
    """
    if connection.vendor == "postgresql":
        created = """to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""
    else:  # Django stores "YYYY-MM-DD HH:MM:SS[.ffffff]" in UTC
        created = "replace(created_at, ' ', 'T') || CASE WHEN length(created_at) = 19 THEN '.000000Z' ELSE 'Z' END"
    columns = ", ".join(created if name == "created_at" else name for name in (*HASHED_FIELDS, "hash"))
    where, params = "seq > %s", [after_seq]
    if upto_seq is not None:
        where += " AND seq <= %s"
        params.append(upto_seq)
    # PostgreSQL: a transaction, so the named cursor streams instead of being materialised WITH HOLD. SQLite:
    # none, so verifying never takes the write lock from appenders.
    in_transaction = transaction.atomic() if connection.vendor == "postgresql" else contextlib.nullcontext()
    with in_transaction, connection.chunked_cursor() as cursor:
        sql = f"SELECT {columns} FROM core_auditevent WHERE {where} ORDER BY seq"  # noqa: S608 (constant text)
        cursor.execute(sql, params)
        if connection.vendor != "postgresql":
            while rows := cursor.fetchmany(chunk):
                yield rows
            return
        yield from _prefetched(cursor, chunk)


def _prefetched(cursor, chunk: int) -> Iterator[list[tuple]]:
    """The cursor's chunks, the next one fetched by a thread while the caller hashes this one.

    The server reads and formats the rows meanwhile, and the thread waits for them without the GIL: fetching and
    hashing overlap instead of taking turns. The thread only fetches; psycopg serialises the connection's use, so
    the caller may still run queries between chunks (progress updates).
    """
    ready: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()

    def pump() -> None:
        try:
            while not stop.is_set():
                rows = cursor.fetchmany(chunk)
                ready.put(rows)
                if not rows:
                    return
        except BaseException as exc:  # handed to the caller's thread
            ready.put(exc)

    thread = threading.Thread(target=pump, name="zt-audit-verify-fetch", daemon=True)
    thread.start()
    try:
        while True:
            rows = ready.get()
            if isinstance(rows, BaseException):
                raise rows
            if not rows:
                return
            yield rows
    finally:
        stop.set()
        while thread.is_alive():  # the caller stopped early: let a pending put through, then wait for the fetch
            with contextlib.suppress(queue.Empty):
                ready.get(timeout=0.05)
        thread.join()


def _read_head() -> tuple[int, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT seq, hash FROM core_audithead WHERE id = 1")
        row = cursor.fetchone()
    return (row[0], row[1]) if row else (0, GENESIS_HASH)


def stored_checkpoints() -> list[Checkpoint]:
    return [_as_signed(row) for row in AuditCheckpoint.objects.order_by("seq", "id")]


def verify_chain(
    checkpoints: Iterable[Checkpoint] | None = None,
    keys: dict[str, Ed25519PublicKey] | None = None,
    progress: Callable[[int, int], Any] | None = None,
) -> ChainReport:
    """Walk the whole chain in seq order against the signed checkpoints, and report the first problem.

    ``checkpoints``: those read from outside the database; by default every file under
    ZT_AUDIT_CHECKPOINT_PATH. The database's own checkpoints are always checked too. ``keys``: the public
    keys to trust; by default the configured key and the retired ones.
    """
    keys = public_keys() if keys is None else keys
    warnings = []
    if checkpoints is None:
        checkpoints = configured_outside_checkpoints()
    outside = list(checkpoints)
    if not outside:
        warnings.append(
            "no checkpoint from outside the database: a wiped or rewritten database (events and checkpoints "
            "alike) would not be detected"
        )
    # Checkpoints first, then the head, then the events up to that head: appends made meanwhile are outside
    # what is verified and cannot look like a mismatch.
    verifier = auditverify.ChainVerifier(
        [*stored_checkpoints(), *outside], keys, details_text_may_be_canonical=connection.vendor != "postgresql"
    )
    head = _read_head()
    for rows in _event_rows(upto_seq=head[0]):
        if not verifier.feed(rows):
            break
        if progress is not None:
            progress(verifier.expected_seq - 1, head[0])  # (events checked, events to check)
    report = verifier.finish(head=head)
    return dataclasses.replace(report, warnings=(*report.warnings, *warnings))


@dataclasses.dataclass(frozen=True)
class UpToHere:
    """What "verify up to here" found for one event (the event page shows it)."""

    ok: bool
    seq: int
    from_seq: int  # the first event re-hashed
    to_seq: int  # the last event re-hashed (the covering checkpoint's seq when there is one)
    anchor: Checkpoint | None  # the signed checkpoint at or before the event that the walk starts from
    covering: Checkpoint | None  # the signed checkpoint at or after the event that the walk reached
    problem: str = ""

    @property
    def checked(self) -> int:
        return max(0, self.to_seq - self.from_seq + 1)


def verify_up_to(seq: int, *, max_events: int = 20_000) -> UpToHere:
    """Verify the chain around one event, from the nearest valid signed checkpoint at or before it (or the
    genesis) to the nearest one at or after it (or the event itself), at most ``max_events`` events.

    Every event walked is re-hashed and linked to the one before; the checkpoints' signatures are checked
    with the configured keys, and each must name the hash found at its seq. So an event that passes is part
    of a history the console signed, not merely consistent with its neighbours.
    """
    keys = public_keys()

    def valid(rows) -> Checkpoint | None:
        for row in rows:
            signed = _as_signed(row)
            if not signed.verify(keys):
                return signed
        return None

    anchor = valid(AuditCheckpoint.objects.filter(seq__lte=seq).order_by("-seq", "-id")[:20])
    covering = valid(AuditCheckpoint.objects.filter(seq__gte=seq).order_by("seq", "id")[:20])
    start = (0, GENESIS_HASH)
    if anchor is not None and anchor.seq > 0:
        prev = AuditEvent.objects.filter(seq=anchor.seq).values_list("prev_hash", flat=True).first()
        if prev is None and anchor.reason == auditverify.RETENTION_REASON:
            # Retention archived and deleted the events up to this signed cut: the chain starts right after it.
            start = (anchor.seq, anchor.hash)
        elif prev is None:
            return UpToHere(
                False, seq, anchor.seq, anchor.seq, anchor, None, f"the checkpointed event #{anchor.seq} is missing"
            )
        else:
            start = (anchor.seq - 1, prev)
    elif anchor is not None:
        anchor = None if anchor.hash != GENESIS_HASH else anchor
    if seq - start[0] > max_events:
        return UpToHere(
            False,
            seq,
            start[0] + 1,
            seq,
            anchor,
            None,
            f"no signed checkpoint within {max_events} events before this one: run a verification of the whole chain",
        )
    end = seq
    if covering is not None and covering.seq - start[0] <= max_events:
        end = covering.seq
    else:
        covering = None
    given = [c for c in (anchor, covering) if c is not None]
    verifier = auditverify.ChainVerifier(
        given, keys, anchor=start, details_text_may_be_canonical=connection.vendor != "postgresql"
    )
    for rows in _event_rows(after_seq=start[0], upto_seq=end, chunk=5000):
        if not verifier.feed(rows):
            break
    report = verifier.finish()
    if not report.ok:
        where = f" at event #{report.first_broken_seq}" if report.first_broken_seq else ""
        return UpToHere(False, seq, start[0] + 1, end, anchor, covering, f"broken{where}: {report.problem}")
    if report.checked < seq:
        return UpToHere(False, seq, start[0] + 1, end, anchor, covering, f"the chain ends at #{report.checked}")
    return UpToHere(True, seq, start[0] + 1, end, anchor, covering)


def configured_outside_checkpoints() -> list[Checkpoint]:
    path = Path(settings.ZT_AUDIT_CHECKPOINT_PATH)
    if not path.exists():
        return []
    return auditverify.read_checkpoints(path)


# --- export ---------------------------------------------------------------------------------------------


def export_events(write: Callable[[str], Any]) -> tuple[AuditCheckpoint, int]:
    """Write every event up to a fresh export checkpoint as JSON Lines (``ztconsole.auditverify`` reads them).

    The checkpoint is signed first, so the file ends exactly at a head the console vouched for and that was
    sent outside the database; returns it and the number of events written.
    """
    made = checkpoint(CheckpointReason.EXPORT)
    assert made is not None  # only periodic checkpoints are ever skipped
    count = 0
    for rows in _event_rows(upto_seq=made.seq):
        for row in rows:
            details = json.loads(row[8]) if isinstance(row[8], str) else row[8]
            write(auditverify.export_line((*row[:8], details, *row[9:12]), row[12]) + "\n")
            count += 1
    return made, count
