"""What the list benches share: a verified administrator's client, timed requests, deep-page cursors.

A list bench module sets ``LIST_BENCH = True`` and its ``run()`` returns Results carrying ``p50``/``p95``
and ``queries``; ``python -m bench`` runs those modules once per database and prints them side by side.
"""

from __future__ import annotations

import gc
import statistics
import time

from bench.results import Result

BUDGET_P95_MS = 150.0
ROUNDS = 20
BATCH = 5000


def admin_client():
    """A test client signed in, OTP-verified, as an administrator (who also reads the audit log)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.test import Client
    from django_otp import DEVICE_ID_SESSION_KEY

    from accounts.models import Assurance, Identity, OathDevice, OathKind
    from ztconsole.core.roles import ADMINISTRATOR

    user, created = get_user_model().objects.get_or_create(username="bench-admin")
    if created:
        user.groups.add(Group.objects.get(name=ADMINISTRATOR))
        Identity.objects.create(user=user, display_name="Bench Admin", privileged=True)
    device = OathDevice.objects.filter(user=user).first()
    if device is None:
        device = OathDevice(user=user, name="bench", confirmed=True, assurance=Assurance.HARDWARE, kind=OathKind.TOTP)
        device.set_secret(b"0" * 20)
        device.save()
    client = Client()
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


def deep_cursor(queryset, keyset, offset: int) -> str:
    """The cursor a reader holds after paging to row ``offset`` (found outside the timed part)."""
    from ztconsole.core.keyset import encode

    ordering = keyset.ordering
    row = queryset.order_by(*ordering).values_list(*keyset.names)[offset]
    return encode("n", list(row))


def settle(*tables: str) -> None:
    """Statistics and index maintenance a running database would have done by the time anyone lists: on
    PostgreSQL, VACUUM ANALYZE (which also merges the GIN indexes' pending lists left by the bulk insert);
    on SQLite, ANALYZE."""
    from django.db import connection

    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"{'VACUUM ANALYZE' if connection.vendor == 'postgresql' else 'ANALYZE'} {table}")


def steady() -> None:
    # The model instances built to populate the tables are not part of a serving process; collect them and
    # freeze what remains so the collector does not walk them during the timed requests.
    gc.collect()
    gc.freeze()


def measure(client, url: str, params: dict) -> tuple[list[float], int, int]:
    """Timings (ms) of ROUNDS requests after a warm-up, the queries of the last one, and its row count."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    api = "/api/" in url
    accept = "application/json" if api else "text/html"
    response = client.get(url, params, HTTP_ACCEPT=accept)  # the first request fills per-process caches
    assert response.status_code == 200, (url, params, response.status_code, response.content[:300])
    timings = []
    queries = 0
    for _ in range(ROUNDS):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.get(url, params, HTTP_ACCEPT=accept)
            timings.append((time.perf_counter() - started) * 1000)
        queries = len(captured)
    rows = len(response.json()["results"]) if api else -1
    return timings, queries, rows


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


def run_cases(client, cases: list[tuple[str, str, dict]]) -> list[Result]:
    """One Result per case, plus one per group of cases whose query counts must be equal."""
    rows = []
    for name, url, params in cases:
        timings, queries, _ = measure(client, url, params)
        figure = p95(timings)
        rows.append(
            Result(
                name,
                f"p95 {figure:.1f} ms (p50 {statistics.median(timings):.1f}, {queries} queries)",
                f"p95 ≤ {BUDGET_P95_MS:.0f} ms",
                figure / BUDGET_P95_MS,
                figure <= BUDGET_P95_MS,
                p50=statistics.median(timings),
                p95=figure,
                queries=queries,
            )
        )
    return rows


def query_count_check(name: str, rows: list[Result], groups: dict[str, list[str]]) -> Result:
    """Equal query counts within each group (first page vs deep page, page size 50 vs 200...)."""
    by_name = {row.name: row.queries for row in rows}
    seen = {group: sorted({by_name[case] for case in cases}) for group, cases in groups.items()}
    return Result(
        f"{name}: query count independent of page depth and size",
        ", ".join(f"{group} {counts}" for group, counts in seen.items()),
        "equal within each",
        None,
        all(len(counts) == 1 for counts in seen.values()),
    )
