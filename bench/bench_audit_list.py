"""Audit log page and API at 1M events: first page, a deep page and each filter.

The events are made by the database itself (INSERT ... SELECT over a number range, 100,000 a batch):
the list reads rows, so how they were appended does not matter to it. Appends through the chain, and its
verification, are measured by bench_audit.
"""

from __future__ import annotations

import time

from bench.lists import admin_client, deep_cursor, query_count_check, run_cases, settle, steady
from bench.results import Result

LIST_BENCH = True
EVENTS = 1_000_000
BATCH = 100_000
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


def _insert_sql(vendor: str) -> str:
    """One INSERT ... SELECT of numbers n in [start, end) with seq = base + n (parameters: base, start, end)."""
    actions = " ".join(f"WHEN {i} THEN 'bench.{name}'" for i, name in enumerate(ACTIONS))
    if vendor == "postgresql":
        numbers = "SELECT generate_series(%s, %s - 1) AS n"
        hex64 = "lpad(to_hex({}), 64, '0')"
        created = "now() - interval '30 days' + n * interval '2 milliseconds'"
        label = "'bench' || lpad((n %% 500)::text, 6, '0')"
        person = "'Bench Person ' || lpad((n %% 100000)::text, 6, '0')"
        details = "json_build_object('n', n)::jsonb"
    else:
        numbers = "WITH RECURSIVE s(n) AS (SELECT %s UNION ALL SELECT n + 1 FROM s WHERE n + 1 < %s) SELECT n FROM s"
        hex64 = "printf('%%064x', {})"
        created = "strftime('%%Y-%%m-%%d %%H:%%M:%%f', 'now', '-30 days', '+' || (n * 2 / 1000.0) || ' seconds')"
        label = "'bench' || printf('%%06d', n %% 500)"
        person = "'Bench Person ' || printf('%%06d', n %% 100000)"
        details = "json_object('n', n)"
    seq = "seq"
    return (
        "INSERT INTO core_auditevent (seq, created_at, actor_label, action, target_type, target_id, target_label, "  # noqa: S608 - constants only; the numbers are parameters
        "details, request_id, prev_hash, hash) "
        f"SELECT {seq}, {created}, {label}, "
        f"CASE WHEN n %% 1000 = 0 THEN 'bench.rare.key_rotated' ELSE CASE n %% {len(ACTIONS)} {actions} END END, "
        f"'accounts.identity', CAST(n %% 100000 AS TEXT), {person}, {details}, '', "
        f"{hex64.format(seq + ' - 1')}, {hex64.format(seq)} "
        f"FROM (SELECT n, %s + n AS seq FROM ({numbers}) AS r) AS numbers"
    )


def populate() -> float:
    """1M events in batches; distinct hashes, so the unique indexes are as large as in production.

    The hashes are not a chain (verifying one is bench_audit's subject); the head is moved past them so
    events appended afterwards through ``audit.record`` keep a contiguous sequence."""
    from django.db import connection, transaction

    from ztconsole.core.audit import GENESIS_HASH
    from ztconsole.core.models import AuditEvent, AuditHead

    started = time.perf_counter()
    if AuditEvent.objects.filter(action__startswith="bench.").count() >= EVENTS:
        return 0.0
    sql = _insert_sql(connection.vendor)
    for start in range(0, EVENTS, BATCH):
        with transaction.atomic(), connection.cursor() as cursor:
            head, _ = AuditHead.objects.select_for_update().get_or_create(
                pk=1, defaults={"seq": 0, "hash": GENESIS_HASH}
            )
            base = head.seq + 1 - start  # seq = base + n for n in [start, start + BATCH)
            cursor.execute(sql, [base, start, start + BATCH])  # seq = base + n
            last = AuditEvent.objects.order_by("-seq").values_list("seq", "hash").first()
            AuditHead.objects.filter(pk=1).update(seq=last[0], hash=last[1])
    return time.perf_counter() - started


def run() -> list[Result]:
    from django.urls import reverse

    from ztconsole.core.models import AuditEvent
    from ztconsole.core.views import AUDIT_ORDER

    seconds = populate()
    settle("core_auditevent")
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
