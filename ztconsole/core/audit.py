"""The audit core: ``record`` appends a hash-chained event; ``verify_chain`` walks the chain.

``record`` must be called inside the transaction of the action it describes, so the event and the state
change commit or roll back together.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import connection, transaction
from django.db.models import Model
from django.http import HttpRequest
from django.utils import timezone

from ztconsole.core import live
from ztconsole.core.models import AuditEvent, AuditHead
from ztconsole.logging import redact_value, request_id_var

GENESIS_HASH = "0" * 64
# Any fixed 64-bit number: PostgreSQL transaction-level advisory lock serialising chain appends.
_PG_CHAIN_LOCK = 0x5A54_4155_4449_5400 & 0x7FFF_FFFF_FFFF_FFFF
AUDIT_GROUP = "audit"


def _ts(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


_HASHED_FIELDS = (
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


def _canonical(values: tuple) -> bytes:
    document = dict(zip(_HASHED_FIELDS, values, strict=True))
    document["created_at"] = _ts(document["created_at"])
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def canonical_bytes(event: AuditEvent) -> bytes:
    """Canonical encoding covered by the hash: every column but id and hash, sorted keys, no whitespace."""
    return _canonical(tuple(getattr(event, name) for name in _HASHED_FIELDS))


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
    if not action or len(action) > 64:
        raise ValueError("action must be 1-64 characters")
    target_type, target_id, target_label = _describe_target(target)
    actor_obj = actor if getattr(actor, "is_authenticated", False) else None
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_PG_CHAIN_LOCK])
        # On SQLite the IMMEDIATE transaction mode already holds the database write lock here.
        head, _ = AuditHead.objects.get_or_create(pk=1, defaults={"seq": 0, "hash": GENESIS_HASH})
        event = AuditEvent(
            seq=head.seq + 1,
            created_at=timezone.now(),
            actor=actor_obj,
            actor_label=actor_obj.get_username() if actor_obj else "",
            action=action,
            target_type=target_type,
            target_id=target_id,
            target_label=target_label,
            details=redact_value(details or {}),
            ip_address=_client_ip(request),
            request_id=getattr(request, "request_id", None) or request_id_var.get().strip("-"),
            prev_hash=head.hash,
        )
        event.hash = compute_hash(event)
        event.save()
        AuditHead.objects.filter(pk=1).update(seq=event.seq, hash=event.hash)
        transaction.on_commit(lambda: _broadcast(event))
    return event


def _broadcast(event: AuditEvent) -> None:
    """Tell live audit views about the event; it is already safe in the database."""
    live.publish(AUDIT_GROUP, {"type": "audit.event", "event": summarize(event)})


def summarize(event: AuditEvent) -> dict[str, Any]:
    return {
        "seq": event.seq,
        "created_at": _ts(event.created_at),
        "actor": event.actor_label or "system",
        "action": event.action,
        "target": event.target_label,
        "target_type": event.target_type,
        "ip_address": event.ip_address,
        "hash": event.hash,
    }


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    checked: int
    first_broken_seq: int | None = None
    problem: str = ""


def _walk(batch: int = 5000) -> Iterator[tuple]:
    # Keyset pagination over plain tuples keeps memory flat and skips model instantiation.
    last_id = 0
    columns = ("id", "hash", *_HASHED_FIELDS)
    while True:
        rows = list(AuditEvent.objects.filter(id__gt=last_id).order_by("id").values_list(*columns)[:batch])
        if not rows:
            return
        yield from rows
        last_id = rows[-1][0]


def verify_chain() -> ChainReport:
    """Walk the chain in insertion order and report the first event that does not hold."""
    expected_prev = GENESIS_HASH
    expected_seq = 1
    checked = 0
    prev_index = 2 + _HASHED_FIELDS.index("prev_hash")
    for row in _walk():
        stored_hash, seq, prev_hash = row[1], row[2], row[prev_index]
        if seq != expected_seq:
            kind = "missing or reordered event" if seq > expected_seq else "reordered event"
            return ChainReport(False, checked, seq, f"{kind}: expected seq {expected_seq}")
        if prev_hash != expected_prev:
            return ChainReport(False, checked, seq, "prev_hash does not match the previous event")
        if hashlib.sha256(_canonical(row[2:])).hexdigest() != stored_hash:
            return ChainReport(False, checked, seq, "content does not match its hash (modified)")
        expected_prev = stored_hash
        expected_seq += 1
        checked += 1
    head = AuditHead.objects.filter(pk=1).first()
    head_seq, head_hash = (head.seq, head.hash) if head else (0, GENESIS_HASH)
    if head_seq != checked or head_hash != expected_prev:
        return ChainReport(False, checked, checked + 1, f"chain ends at seq {checked} but head says {head_seq}")
    return ChainReport(True, checked)
