"""SIEM forwarding against real listeners: syslog RFC 5424 over UDP, TCP and TLS, and an HTTP webhook."""

from __future__ import annotations

import hashlib
import itertools
import socket
import time
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from alerts import actions, forwarding
from alerts.models import Alert, Detector, SiemCursor, SiemMessage
from alerts.siem import webhook_signature
from tests.alerts.helpers import matrix_alert
from tests.alerts.siem_listeners import StreamListener, UdpListener, WebhookListener, self_signed
from tests.core.audit_helpers import record_events
from ztconsole import auditverify
from ztconsole.core import audit
from ztconsole.core.models import AuditEvent


@pytest.fixture
def udp():
    listener = UdpListener()
    listener.start()
    yield listener
    listener.close()


@pytest.fixture
def webhook():
    listener = WebhookListener()
    listener.start()
    yield listener
    listener.close()


def _wait_for(predicate, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.05)
    return predicate()


@pytest.mark.django_db
def test_alerts_and_signed_checkpoints_reach_a_udp_syslog_listener_as_rfc5424(settings, udp):
    settings.ZT_SIEM_SYSLOG_URL = f"udp://127.0.0.1:{udp.port}"
    settings.ZT_SIEM_SYSLOG_HOSTNAME = "console-1"
    alert_id = matrix_alert()
    signed = audit.checkpoint()  # fires audit_checkpoint_signed: the forwarder's receiver writes the outbox
    assert forwarding.flush() == {"syslog": {"messages": 2, "audit_events": 0}}
    assert _wait_for(lambda: len(udp.messages) == 2)

    alert, checkpoint = udp.messages
    assert (alert.facility, alert.severity) == (13, 4)  # log audit; warning
    assert (alert.hostname, alert.app_name, alert.msgid) == ("console-1", "ztconsole", "alert")
    assert alert.structured == {"type": "alert", "alert": str(alert_id), "event": "raised"}
    assert alert.payload["alert"]["subject"] == "address:192.0.2.7" and alert.payload["event"] == "raised"

    assert checkpoint.msgid == "audit_checkpoint" and checkpoint.severity == 5
    document = checkpoint.payload["checkpoint"]
    assert (document["seq"], document["hash"]) == (signed.seq, signed.hash)
    # The SIEM can check the signature itself with the checkpoint public key.
    assert auditverify.parse_checkpoint(_line(document)).verify(audit.public_keys()) == ""
    assert not SiemMessage.objects.filter(sent_at__isnull=True).exists()


def _line(document: dict) -> str:
    import json

    return json.dumps(document, sort_keys=True, separators=(",", ":"))


@pytest.mark.django_db
@pytest.mark.parametrize("transport", ["tcp", "tls"])
def test_the_audit_stream_goes_over_tcp_and_tls_octet_counted_in_order(settings, tmp_path, transport):
    if transport == "tls":
        cert, key = self_signed(tmp_path)
        listener = StreamListener(cert, key)
        settings.ZT_SIEM_SYSLOG_CA_FILE = str(cert)
        settings.ZT_SIEM_SYSLOG_SERVER_NAME = "localhost"
    else:
        listener = StreamListener()
    listener.start()
    try:
        settings.ZT_SIEM_SYSLOG_URL = f"{transport}://127.0.0.1:{listener.port}"
        settings.ZT_SIEM_FORWARD_AUDIT = True
        settings.ZT_SIEM_BATCH = 4  # several batches, one cursor step each
        record_events(9)
        forwarding.flush()
        total = AuditEvent.objects.count()
        assert _wait_for(lambda: len(listener.messages) == total), (listener.messages, listener.errors)
    finally:
        listener.close()
    assert not listener.errors
    if transport == "tls":
        assert listener.tls_versions and set(listener.tls_versions) <= {"TLSv1.2", "TLSv1.3"}
    events = [message.payload["event"] for message in listener.messages]
    assert [event["seq"] for event in events] == list(range(1, total + 1))
    assert all(
        message.structured["seq"] == str(event["seq"]) for message, event in zip(listener.messages, events, strict=True)
    )
    for before, after in itertools.pairwise(events):
        assert after["prev_hash"] == before["hash"]  # the SIEM can follow the chain
    stored = dict(AuditEvent.objects.values_list("seq", "hash"))
    assert all(stored[event["seq"]] == event["hash"] for event in events)
    # Each event's hash is the SHA-256 of its canonical encoding: the SIEM can recompute it.
    values = tuple(events[-1][name] for name in auditverify.HASHED_FIELDS)
    assert hashlib.sha256(auditverify.canonical_event(values)).hexdigest() == events[-1]["hash"]
    assert SiemCursor.objects.get(destination="syslog").last_seq == total


@pytest.mark.django_db
def test_the_webhook_resumes_after_an_outage_from_the_last_acknowledged_seq(settings, webhook):
    settings.ZT_SIEM_WEBHOOK_URL = f"http://127.0.0.1:{webhook.port}/siem"
    settings.ZT_SIEM_WEBHOOK_SECRET = "shared-hmac-secret"
    settings.ZT_SIEM_FORWARD_AUDIT = True
    record_events(3)
    matrix_alert()
    webhook.failing = True
    forwarding.flush()
    assert webhook.requests == 1 and webhook.messages == []  # the alert went first and was refused: line held
    held = SiemMessage.objects.get(kind="alert")
    assert held.sent_at is None and held.attempts == 1 and held.next_attempt_at > timezone.now()
    assert "503" in held.last_error

    forwarding.flush()  # within the back-off: not even tried
    assert webhook.requests == 1

    webhook.failing = False
    later = timezone.now() + timedelta(seconds=5)
    forwarding.flush(now=later)
    first_total = AuditEvent.objects.count()
    kinds = [message["type"] for message in webhook.messages]
    assert kinds == ["alert"] + ["audit_event"] * first_total
    assert SiemCursor.objects.get(destination="webhook").last_seq == first_total

    # The audit stream's own outage: events recorded meanwhile wait; nothing is sent twice.
    webhook.failing = True
    record_events(2)
    forwarding.flush(now=later)
    cursor = SiemCursor.objects.get(destination="webhook")
    assert cursor.last_seq == first_total and cursor.attempts == 1 and "503" in cursor.last_error
    webhook.failing = False
    forwarding.flush(now=later + timedelta(seconds=10))
    seqs = [message["event"]["seq"] for message in webhook.messages if message["type"] == "audit_event"]
    assert seqs == list(range(1, AuditEvent.objects.count() + 1))  # every event once, in order
    headers, body = webhook.bodies[-1]
    assert {k.lower(): v for k, v in headers.items()}["x-zt-signature"] == webhook_signature("shared-hmac-secret", body)


@pytest.mark.django_db
def test_an_unreachable_syslog_server_never_fails_the_action(settings, personas):
    settings.ZT_SIEM_SYSLOG_URL = f"tcp://127.0.0.1:{_closed_port()}"
    alert_id = matrix_alert()
    actions.acknowledge_alert(personas["security"].user, Alert.objects.get(pk=alert_id), comment="seen")
    assert forwarding.flush() == {"syslog": {"messages": 0, "audit_events": 0}}
    head = SiemMessage.objects.order_by("id").first()
    assert head.attempts == 1 and "Connection refused" in head.last_error
    assert SiemMessage.objects.filter(sent_at__isnull=True).count() == 2  # raised, acknowledged: kept in order


def _closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_forwards_after_the_commit(settings, udp, personas, celery_worker_thread):
    settings.ZT_SIEM_SYSLOG_URL = f"udp://127.0.0.1:{udp.port}"
    with transaction.atomic():
        actions.raise_alert(
            Detector.AUDIT_CHAIN, "audit:chain", "audit chain", message="broken at seq 7", severity="critical"
        )
    assert _wait_for(lambda: len(udp.messages) == 1, seconds=30)
    [message] = udp.messages
    assert message.severity == 2 and message.payload["alert"]["message"] == "broken at seq 7"
