"""Shared by the audit tests: append events, and change rows behind the application's back."""

from __future__ import annotations

from django.db import connection, transaction

from ztconsole.core import audit
from ztconsole.core.models import AuditEvent


def record_events(n: int) -> list[AuditEvent]:
    events = []
    for i in range(n):
        with transaction.atomic():
            events.append(audit.record(None, "test.event", ("test.thing", str(i), f"thing {i}"), {"i": i}))
    return events


def tamper(sql: str, params: list | None = None) -> None:
    """Changes rows behind the application's back, as an attacker with database access would."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Superuser-only: bypasses the append-only triggers for this session.
            cursor.execute("SET session_replication_role = replica")
        try:
            cursor.execute(sql, params or [])
        finally:
            if connection.vendor == "postgresql":
                cursor.execute("SET session_replication_role = DEFAULT")
