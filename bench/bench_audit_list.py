"""Audit log page and API at 1M events: first page, a deep page and each filter.

The events are written straight into the table (the list reads rows; it does not check the chain), with
distinct hashes so the unique index is as large as in production. Appends through the chain are measured by
bench_audit.
"""

from __future__ import annotations

import hashlib
import time
from datetime import timedelta

from bench.lists import admin_client, deep_cursor, query_count_check, run_cases, steady
from bench.results import Result

LIST_BENCH = True
EVENTS = 1_000_000
BATCH = 10_000
ACTIONS = [
    "auth.login",
    "auth.login_failed",
    "auth.otp_verified",
    "identity.created",
    "identity.suspended",
    "device.registered",
    "device.posture_reported",
    "certificate.issued",
    "certificate.revoked",
    "policy.published",
]


def populate() -> float:
    from django.utils import timezone

    from ztconsole.core.models import AuditEvent

    started = time.perf_counter()
    first = AuditEvent.objects.filter(action__startswith="bench.").count()
    if first >= EVENTS:
        return 0.0
    base = (AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0) + 1
    now = timezone.now() - timedelta(days=30)
    previous = "0" * 64
    for start in range(0, EVENTS, BATCH):
        rows = []
        for n in range(start, start + BATCH):
            digest = hashlib.sha256(f"bench-audit-{base + n}".encode()).hexdigest()
            rows.append(
                AuditEvent(
                    seq=base + n,
                    created_at=now + timedelta(milliseconds=n * 2),
                    actor_label=f"bench{n % 500:06d}",
                    action=f"bench.{ACTIONS[n % len(ACTIONS)]}" if n % 1000 else "bench.rare.key_rotated",
                    target_type="accounts.identity",
                    target_id=str(n % 100_000),
                    target_label=f"Bench Person {n % 100_000:06d}",
                    details={"n": n},
                    prev_hash=previous,
                    hash=digest,
                )
            )
            previous = digest
        AuditEvent.objects.bulk_create(rows)
    return time.perf_counter() - started


def run() -> list[Result]:
    from django.urls import reverse

    from ztconsole.core.models import AuditEvent
    from ztconsole.core.views import AUDIT_ORDER

    seconds = populate()
    steady()
    client = admin_client()
    page, api = reverse("core:audit_list"), reverse("api-audit-events")
    deep = deep_cursor(AuditEvent.objects.all(), AUDIT_ORDER, EVENTS // 2)
    cases = [
        ("audit log: first page", page, {}),
        ("audit log: deep page (event 500,000)", page, {"cursor": deep}),
        ("audit log: action prefix filter 'bench.certificate.'", page, {"action": "bench.certificate."}),
        ("audit log: rare action (1 in 1,000)", page, {"action": "bench.rare."}),
        ("audit log: actor filter", page, {"actor": "bench000042"}),
        ("audit log: actor filter, deep page", page, {"actor": "bench000042", "cursor": deep}),
        ("audit API: first page (100)", api, {}),
        ("audit API: page_size=500", api, {"page_size": 500}),
        ("audit API: deep page", api, {"cursor": deep}),
        ("audit API: action filter", api, {"action": "bench.identity.suspended"}),
        ("audit API: actor filter", api, {"actor_label": "bench000042"}),
    ]
    rows = [Result(f"populate {EVENTS:,} audit events", f"{seconds:.1f} s" if seconds else "reused")]
    timed = run_cases(client, cases)
    groups = {
        "pages": ["audit log: first page", "audit log: deep page (event 500,000)"],
        "API": ["audit API: first page (100)", "audit API: page_size=500", "audit API: deep page"],
    }
    return rows + timed + [query_count_check("audit log", timed, groups)]
