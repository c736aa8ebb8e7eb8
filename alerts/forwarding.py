"""The SIEM forwarder: an outbox for alerts and signed checkpoints, a cursor for the audit stream.

Whatever must reach the SIEM is written here in the transaction that made it (``enqueue``), then sent by the
``alerts.siem_flush`` Celery task: after the commit, and every ZT_SIEM_FLUSH_SECONDS from beat. A request never
waits for the network. Per destination, messages leave in the order they were written; a failure holds the
line back and the destination is tried again after an exponential back-off (ZT_SIEM_BACKOFF_*). The audit
stream, when ZT_SIEM_FORWARD_AUDIT is on, is read straight from the chain in seq order from the destination's
cursor (the last seq it acknowledged), so an outage of any length resumes where it stopped.
"""

from __future__ import annotations

import logging
import secrets
import socket
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from alerts.models import Destination, SiemCursor, SiemMessage
from alerts.siem import SendError, SyslogTarget, WebhookTarget, format_rfc5424
from ztconsole.auditverify import HASHED_FIELDS, Checkpoint
from ztconsole.core.models import AuditEvent

logger = logging.getLogger(__name__)
MAX_BATCHES_PER_RUN = 25
LOCK_SECONDS = 300


class SyslogSender:
    def __init__(self) -> None:
        self.target = SyslogTarget.parse(
            settings.ZT_SIEM_SYSLOG_URL,
            ca_file=settings.ZT_SIEM_SYSLOG_CA_FILE,
            client_cert_file=settings.ZT_SIEM_SYSLOG_CLIENT_CERT_FILE,
            client_key_file=settings.ZT_SIEM_SYSLOG_CLIENT_KEY_FILE,
            server_name=settings.ZT_SIEM_SYSLOG_SERVER_NAME,
            timeout=float(settings.ZT_SIEM_TIMEOUT_SECONDS),
        )
        self.hostname = settings.ZT_SIEM_SYSLOG_HOSTNAME or settings.ZT_CONSOLE_NAME or socket.gethostname()

    def frame(self, payload: dict[str, Any]) -> bytes:
        kind = payload.get("type", "message")
        structured = {"type": kind}
        severity = "info"
        if kind == "alert":
            structured["alert"] = str(payload["alert"]["id"])
            structured["event"] = payload["event"]
            severity = payload["alert"]["severity"]
        elif kind == "audit_event":
            structured["seq"] = str(payload["event"]["seq"])
        elif kind == "audit_checkpoint":
            structured["seq"] = str(payload["checkpoint"]["seq"])
            severity = "notice"
        return format_rfc5424(
            payload,
            hostname=self.hostname,
            app_name=settings.ZT_SIEM_SYSLOG_APP_NAME,
            msgid=kind,
            severity=severity,
            facility=settings.ZT_SIEM_SYSLOG_FACILITY,
            structured=structured,
        )

    def send(self, payloads: list[dict[str, Any]]) -> None:
        self.target.send([self.frame(payload) for payload in payloads])


class WebhookSender:
    def __init__(self) -> None:
        self.target = WebhookTarget(
            settings.ZT_SIEM_WEBHOOK_URL,
            secret=settings.ZT_SIEM_WEBHOOK_SECRET,
            bearer_token=settings.ZT_SIEM_WEBHOOK_TOKEN,
            ca_file=settings.ZT_SIEM_WEBHOOK_CA_FILE,
            timeout=float(settings.ZT_SIEM_TIMEOUT_SECONDS),
        )

    def send(self, payloads: list[dict[str, Any]]) -> None:
        self.target.send(payloads)


def configured() -> list[str]:
    """The destinations the environment names (none: forwarding is off)."""
    names = []
    if settings.ZT_SIEM_SYSLOG_URL:
        names.append(Destination.SYSLOG)
    if settings.ZT_SIEM_WEBHOOK_URL:
        names.append(Destination.WEBHOOK)
    return names


def sender_for(destination: str) -> SyslogSender | WebhookSender:
    return SyslogSender() if destination == Destination.SYSLOG else WebhookSender()


def backoff_seconds(attempts: int) -> int:
    base, ceiling = settings.ZT_SIEM_BACKOFF_BASE_SECONDS, settings.ZT_SIEM_BACKOFF_MAX_SECONDS
    return min(ceiling, base * 2 ** max(0, min(attempts - 1, 20)))


def kick() -> None:
    """Ask a worker to flush now; if the broker is away the beat schedule catches up, the caller never fails."""
    from alerts import tasks

    try:
        tasks.siem_flush.apply_async(retry=False)
    except Exception:  # any broker error: forwarding must never fail the console
        logger.warning("SIEM flush not enqueued; the periodic flush will send it", exc_info=True)


def enqueue(kind: str, payload: dict[str, Any]) -> int:
    """Write ``payload`` to the outbox of every configured destination, in the caller's transaction."""
    names = configured()
    if not names:
        return 0
    now = timezone.now()
    SiemMessage.objects.bulk_create(
        [SiemMessage(destination=name, kind=kind, payload=payload, created_at=now) for name in names]
    )
    transaction.on_commit(kick)
    return len(names)


def checkpoint_signed(actor: Any, subject: Checkpoint, *, request: Any = None) -> None:
    """Receiver of the ``audit_checkpoint_signed`` hook: the signed checkpoint goes to the SIEM as well."""
    import json

    enqueue("audit_checkpoint", {"type": "audit_checkpoint", "checkpoint": json.loads(subject.to_json())})


# --- sending ------------------------------------------------------------------------------------------------


class _Lock:
    """One flusher per destination at a time, across workers (a Redis key with an expiry)."""

    def __init__(self, destination: str) -> None:
        self.key = f"alerts:siem-flush:{destination}"
        self.token = secrets.token_hex(8)

    def __enter__(self) -> bool:
        self.held = cache.add(self.key, self.token, LOCK_SECONDS)
        return self.held

    def __exit__(self, *exc: object) -> None:
        if self.held and cache.get(self.key) == self.token:
            cache.delete(self.key)


def _flush_outbox(destination: str, sender: Any, now: datetime) -> tuple[int, bool, bool]:
    """Returns (sent, more waiting now, the destination is failing or backing off)."""
    sent = 0
    for _ in range(MAX_BATCHES_PER_RUN):
        batch = list(
            SiemMessage.objects.filter(destination=destination, sent_at__isnull=True).order_by("id")[
                : settings.ZT_SIEM_BATCH
            ]
        )
        if not batch:
            return sent, False, False
        head = batch[0]
        if head.next_attempt_at and head.next_attempt_at > now:
            return sent, False, True
        try:
            sender.send([message.payload for message in batch])
        except SendError as exc:
            attempts = head.attempts + 1
            SiemMessage.objects.filter(pk=head.pk).update(
                attempts=F("attempts") + 1,
                next_attempt_at=now + timedelta(seconds=backoff_seconds(attempts)),
                last_error=str(exc)[:300],
            )
            logger.warning("SIEM %s: %s (attempt %s)", destination, exc, attempts)
            return sent, False, True
        SiemMessage.objects.filter(pk__in=[message.pk for message in batch]).update(
            sent_at=timezone.now(), last_error="", next_attempt_at=None
        )
        sent += len(batch)
    return sent, True, False


def _ts(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def audit_event_payload(values: tuple) -> dict[str, Any]:
    """One audit event as the SIEM gets it: every hashed field and the hash, as an export line has them."""
    document = dict(zip((*HASHED_FIELDS, "hash"), values, strict=True))
    document["created_at"] = _ts(document["created_at"])
    if document["ip_address"] is not None:
        document["ip_address"] = str(document["ip_address"])
    return {"type": "audit_event", "event": document}


def _flush_audit(destination: str, sender: Any, now: datetime) -> tuple[int, bool]:
    cursor, _ = SiemCursor.objects.get_or_create(destination=destination)
    if cursor.next_attempt_at and cursor.next_attempt_at > now:
        return 0, False
    sent = 0
    last_seq = cursor.last_seq
    for _ in range(MAX_BATCHES_PER_RUN):
        rows = list(
            AuditEvent.objects.filter(seq__gt=last_seq)
            .order_by("seq")
            .values_list(*HASHED_FIELDS, "hash")[: settings.ZT_SIEM_BATCH]
        )
        if not rows:
            return sent, False
        try:
            sender.send([audit_event_payload(row) for row in rows])
        except SendError as exc:
            attempts = cursor.attempts + 1
            SiemCursor.objects.filter(destination=destination).update(
                attempts=attempts,
                next_attempt_at=now + timedelta(seconds=backoff_seconds(attempts)),
                last_error=str(exc)[:300],
            )
            logger.warning("SIEM %s audit stream at seq %s: %s (attempt %s)", destination, last_seq, exc, attempts)
            return sent, False
        acknowledged = rows[-1][0]
        moved = SiemCursor.objects.filter(destination=destination, last_seq=last_seq).update(
            last_seq=acknowledged, attempts=0, next_attempt_at=None, last_error="", updated_at=timezone.now()
        )
        if moved != 1:  # someone moved it (an operator reset): stop, the next run starts from there
            return sent, False
        cursor.attempts = 0
        last_seq = acknowledged
        sent += len(rows)
    return sent, True


def flush(now: datetime | None = None) -> dict[str, dict[str, int]]:
    """Send what is due to every configured destination; returns counts per destination."""
    now = now or timezone.now()
    report: dict[str, dict[str, int]] = {}
    more = False
    for destination in configured():
        with _Lock(destination) as held:
            if not held:
                continue
            sender = sender_for(destination)
            messages, more_messages, failing = _flush_outbox(destination, sender, now)
            events, more_events = (0, False)
            # A destination that just refused the outbox is not tried again for the stream in the same run.
            if settings.ZT_SIEM_FORWARD_AUDIT and not failing:
                events, more_events = _flush_audit(destination, sender, now)
            report[destination] = {"messages": messages, "audit_events": events}
            more = more or more_messages or more_events
    if more:
        kick()
    return report
