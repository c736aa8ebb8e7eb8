"""The audit core: ``record`` appends a hash-chained event; ``verify_chain`` walks the chain.

``record`` must be called inside the transaction of the action it describes, so the event and the state
change commit or roll back together.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import connection, transaction
from django.db.models import Model
from django.http import HttpRequest
from django.utils import timezone

from ztconsole.core.models import AuditEvent, AuditHead
from ztconsole.logging import redact_value, request_id_var

logger = logging.getLogger(__name__)

GENESIS_HASH = "0" * 64
# Any fixed 64-bit number: PostgreSQL transaction-level advisory lock serialising chain appends.
_PG_CHAIN_LOCK = 0x5A54_4155_4449_5400 & 0x7FFF_FFFF_FFFF_FFFF
AUDIT_GROUP = "audit"


def _ts(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_bytes(event: AuditEvent) -> bytes:
    """Canonical encoding covered by the hash: sorted keys, no whitespace, UTF-8."""
    document = {
        "seq": event.seq,
        "created_at": _ts(event.created_at),
        "actor_id": event.actor_id,
        "actor_label": event.actor_label,
        "action": event.action,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "target_label": event.target_label,
        "details": event.details,
        "ip_address": event.ip_address,
        "request_id": event.request_id,
        "prev_hash": event.prev_hash,
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


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
    """Tell live audit views about the event; the event is already safe in the database."""
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    if layer is None:
        return
    message = {"type": "audit.event", "event": summarize(event)}
    try:
        async_to_sync(layer.group_send)(AUDIT_GROUP, message)
    except Exception:  # a Redis outage must not fail the action that was audited
        logger.warning("audit event %s not broadcast", event.seq, exc_info=True)


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


def _walk(batch: int = 5000) -> Iterator[AuditEvent]:
    # Keyset pagination keeps memory flat over millions of rows.
    last_id = 0
    while True:
        rows = list(AuditEvent.objects.filter(id__gt=last_id).order_by("id")[:batch])
        if not rows:
            return
        yield from rows
        last_id = rows[-1].id


def verify_chain() -> ChainReport:
    """Walk the chain in insertion order and report the first event that does not hold."""
    expected_prev = GENESIS_HASH
    expected_seq = 1
    checked = 0
    for event in _walk():
        if event.seq != expected_seq:
            kind = "missing or reordered event" if event.seq > expected_seq else "reordered event"
            return ChainReport(False, checked, event.seq, f"{kind}: expected seq {expected_seq}")
        if event.prev_hash != expected_prev:
            return ChainReport(False, checked, event.seq, "prev_hash does not match the previous event")
        if compute_hash(event) != event.hash:
            return ChainReport(False, checked, event.seq, "content does not match its hash (modified)")
        expected_prev = event.hash
        expected_seq += 1
        checked += 1
    head = AuditHead.objects.filter(pk=1).first()
    head_seq, head_hash = (head.seq, head.hash) if head else (0, GENESIS_HASH)
    if head_seq != checked or head_hash != expected_prev:
        return ChainReport(
            False, checked, checked + 1, f"chain ends at seq {checked} but head says {head_seq}"
        )
    return ChainReport(True, checked)
