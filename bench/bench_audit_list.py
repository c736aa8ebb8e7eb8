"""Audit log page and API at 1M events: first page, a deep page and each filter.

The events are made by the database itself (INSERT ... SELECT over a number range, 100,000 a batch):
the list reads rows, so how they were appended does not matter to it. Appends through the chain, and its
verification, are measured by bench_audit.
"""

from __future__ import annotations

import time
from datetime import timedelta

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
        created = "now() - interval '30 days' + n * interval '2592 milliseconds'"
        label = "'bench' || lpad((n %% 500)::text, 6, '0')"
        person = "'Bench Person ' || lpad((n %% 100000)::text, 6, '0')"
        details = "json_build_object('n', n)::jsonb"
        ip = "('10.0.' || (n %% 4000 / 250) || '.' || (n %% 250))::inet"
        request = "'req-' || lpad((n %% 200000)::text, 6, '0')"
    else:
        numbers = "WITH RECURSIVE s(n) AS (SELECT %s UNION ALL SELECT n + 1 FROM s WHERE n + 1 < %s) SELECT n FROM s"
        hex64 = "printf('%%064x', {})"
        created = "strftime('%%Y-%%m-%%d %%H:%%M:%%f', 'now', '-30 days', '+' || (n * 2592 / 1000.0) || ' seconds')"
        label = "'bench' || printf('%%06d', n %% 500)"
        person = "'Bench Person ' || printf('%%06d', n %% 100000)"
        details = "json_object('n', n)"
        ip = "'10.0.' || (n %% 4000 / 250) || '.' || (n %% 250)"
        request = "'req-' || printf('%%06d', n %% 200000)"
    seq = "seq"
    return (
        "INSERT INTO core_auditevent (seq, created_at, actor_label, action, target_type, target_id, target_label, "  # noqa: S608 - constants only; the numbers are parameters
        "details, ip_address, request_id, prev_hash, hash) "
        f"SELECT {seq}, {created}, {label}, "
        f"CASE WHEN n %% 1000 = 0 THEN 'bench.rare.key_rotated' ELSE CASE n %% {len(ACTIONS)} {actions} END END, "
        f"'accounts.identity', CAST(n %% 100000 AS TEXT), {person}, {details}, {ip}, {request}, "
        f"{hex64.format(seq + ' - 1')}, {hex64.format(seq)} "
        f"FROM (SELECT n, %s + n AS seq FROM ({numbers}) AS r) AS numbers"
    )


def _remove_bench_events(connection) -> None:
    """The append-only triggers refuse deletes; a bench database's owner sets them aside for this session."""
    if connection.vendor != "postgresql":
        raise SystemExit(
            "bench: this SQLite database holds audit events of an older bench_audit_list; "
            "unset ZT_BENCH_SQLITE_URL or remove the file, and run again"
        )
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        try:
            cursor.execute("DELETE FROM core_auditevent WHERE action LIKE 'bench.%%'")
        finally:
            cursor.execute("SET session_replication_role = DEFAULT")


def populate() -> float:
    """1M events in batches over the last 30 days (one every 2.6 s); distinct hashes, so the unique indexes are as
    large as in production.

    The hashes are not a chain (verifying one is bench_audit's subject); the head is moved past them so
    events appended afterwards through ``audit.record`` keep a contiguous sequence."""
    from django.db import connection, transaction

    from ztconsole.core.audit import GENESIS_HASH
    from ztconsole.core.models import AuditEvent, AuditHead

    started = time.perf_counter()
    bench_events = AuditEvent.objects.filter(action__startswith="bench.")
    replaced = False
    if bench_events.count() >= EVENTS:
        times = bench_events.values_list("created_at", flat=True)
        first, last = times.order_by("seq")[0], times.order_by("-seq")[0]
        if bench_events.filter(ip_address__isnull=False).exists() and last - first > timedelta(days=29):
            return 0.0
        # Populated by an older version of this bench (no source addresses, or 1M events in 33 minutes): again.
        _remove_bench_events(connection)
        replaced = True
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
    if replaced:
        # A million deleted rows leave the trigram GIN index three to seven times slower to search than a
        # database that never held them (measured: 112 ms against 30 ms for one name): rebuilt, as a fresh one.
        with connection.cursor() as cursor:
            cursor.execute("REINDEX TABLE core_auditevent")
    return time.perf_counter() - started


def run() -> list[Result]:
    from django.urls import reverse

    from ztconsole.core.models import AuditEvent
    from ztconsole.core.views import AUDIT_ORDER

    seconds = populate()
    settle("core_auditevent")
    client = admin_client()
    steady()
    # One day in the middle of the month the events cover (about 33,000 events).
    bench_events = AuditEvent.objects.filter(action__startswith="bench.").order_by("seq")
    start = bench_events.values_list("created_at", flat=True)[0]
    since = start + timedelta(days=12)
    period = {"since": f"{since:%Y-%m-%dT%H:%M:%S}", "until": f"{since + timedelta(days=1):%Y-%m-%dT%H:%M:%S}"}
    page, api = reverse("core:audit_list"), reverse("api-audit-events")
    deep = deep_cursor(AuditEvent.objects.all(), AUDIT_ORDER, EVENTS // 2)
    cases = [
        ("audit log: first page", page, {}),
        ("audit log: deep page (event 500,000)", page, {"cursor": deep}),
        ("audit log: action prefix filter 'bench.certificate.'", page, {"action": "bench.certificate."}),
        ("audit log: rare action (1 in 1,000)", page, {"action": "bench.rare."}),
        ("audit log: actor filter", page, {"actor": "bench000042"}),
        ("audit log: actor filter, deep page", page, {"actor": "bench000042", "cursor": deep}),
        ("explorer: time range (one day, 33,000 events)", page, period),
        ("explorer: action exact", page, {"action": "bench.identity.suspended", "action_match": "exact"}),
        ("explorer: target type and id (10 events)", page, {"target_type": "accounts.identity", "target_id": "4242"}),
        ("explorer: identity concerned (bench-admin)", page, {"identity": "bench-admin"}),
        ("explorer: outcome refused (1 in 10)", page, {"outcome": "refused"}),
        ("explorer: outcome refused, deep page", page, {"outcome": "refused", "cursor": deep}),
        ("explorer: outcome success", page, {"outcome": "success"}),
        ("explorer: source address (250 events)", page, {"ip": "10.0.3.42"}),
        ("explorer: request id (5 events)", page, {"request_id": "req-004242"}),
        ("explorer: text, one person (10 events)", page, {"text": "Person 004242"}),
        ("explorer: text, 1 in 100 events", page, {"text": "Person 042"}),
        ("explorer: actor + action prefix + time range", page, {"actor": "bench000042", "action": "bench.", **period}),
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
