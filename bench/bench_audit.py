"""Audit chain on SQLite and PostgreSQL side by side: append rates and verification time against the budgets.

Budgets (docs/audit.md, issue "production scale"): appends ≥ 5,000 events/s in batches and ≥ 1,000 events/s one
per transaction, verification of 1M events ≤ 10 s. The bench measures on the database it was started with and,
in a child process, on the other one: a fresh SQLite file, or a fresh PostgreSQL database
(``ZT_BENCH_POSTGRES_URL``'s server, database ``<name>_audit``, dropped afterwards) when one is reachable.
``ZT_BENCH_AUDIT_EVENTS`` (default 1,000,000) sets the chain length verified; below 1M the time is projected.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from bench.results import Result

EVENTS = int(os.environ.get("ZT_BENCH_AUDIT_EVENTS", "1000000"))
BATCH = 500
SINGLE = 500  # events per round, each form
ROUNDS = 5
WRITERS = 4  # concurrent appenders, each on its own connection
PER_WRITER = 500
BATCH_BUDGET = 5_000.0  # events/s
SINGLE_BUDGET = 1_000.0  # events/s
VERIFY_BUDGET_SECONDS_PER_MILLION = 10.0
DEFAULT_PG_URL = "postgres://postgres@127.0.0.1:5432/ztconsole_bench"
_CHILD = "ZT_BENCH_AUDIT_CHILD"


def measure() -> dict[str, float]:
    """Figures on the database Django is set up with (a fresh one: the chain must start empty)."""
    from django.db import connection, transaction

    from ztconsole.core import audit, live

    # One event per transaction, in rounds that alternate with the bare-commit anchor so that both see the same
    # machine; the median round of each is reported. In transaction.atomic(), as the actions write it (the action's
    # BEGIN … COMMIT holds the event); outside any transaction (failed sign-ins, commands), where the append
    # statement is the transaction.
    samples: dict[str, list[float]] = {"bare_commit": [], "bare_commit_atomic": [], "single": [], "autocommit": []}
    for round_ in range(ROUNDS):
        for key, value in _bare_commits_per_second(round_).items():
            samples[key].append(value)
        started = time.perf_counter()
        for i in range(SINGLE):
            with transaction.atomic():
                audit.record(None, "bench.single", ("bench.thing", str(i), f"thing {i}"), {"i": i})
        samples["single"].append(SINGLE / (time.perf_counter() - started))
        started = time.perf_counter()
        for i in range(SINGLE):
            audit.record(None, "bench.autocommit", ("bench.thing", str(i), f"thing {i}"), {"i": i})
        samples["autocommit"].append(SINGLE / (time.perf_counter() - started))
    figures = {key: statistics.median(values) for key, values in samples.items()}
    figures.update(_concurrent_singles())

    started = time.perf_counter()
    with transaction.atomic():
        for i in range(BATCH * 4):
            audit.record(None, "bench.in_transaction", ("bench.thing", str(i), f"thing {i}"), {"i": i})
    figures["in_transaction"] = BATCH * 4 / (time.perf_counter() - started)

    appended = ROUNDS * SINGLE * 2 + WRITERS * PER_WRITER + BATCH * 4
    bulk = max(EVENTS - appended, BATCH)
    started = time.perf_counter()
    for start in range(0, bulk, BATCH):
        batch = [
            (None, "bench.batch", ("bench.thing", str(i), f"thing {i}"), {"i": i})
            for i in range(start, min(start + BATCH, bulk))
        ]
        with transaction.atomic():
            audit.record_batch(batch)
    figures["batch"] = bulk / (time.perf_counter() - started)
    live.wait_idle(timeout=900)  # the live feed drains in the background; keep it out of the verification figure

    started = time.perf_counter()
    report = audit.verify_chain()
    seconds = time.perf_counter() - started
    if not report.ok:
        raise SystemExit(f"bench: chain did not verify on {connection.vendor}: {report.summary()}")
    figures["verified"] = report.checked
    figures["verify_seconds"] = seconds
    figures["verify_per_million"] = seconds * 1_000_000 / report.checked
    return figures


def _concurrent(work) -> float:
    """WRITERS threads, each on its own connection, each calling ``work(n, i)`` PER_WRITER times: calls per second."""
    import threading

    from django.db import connections

    barrier = threading.Barrier(WRITERS + 1)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            connections["default"].ensure_connection()
            barrier.wait()
            for i in range(PER_WRITER):
                work(n, i)
        except BaseException as exc:  # re-raised by the caller
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return WRITERS * PER_WRITER / (time.perf_counter() - started)


def _concurrent_singles() -> dict[str, float]:
    """Concurrent appenders, one event per transaction each: the head lock, held until each COMMIT returns,
    serialises them, so the disk's group commit cannot merge their flushes. The anchor: the same writers with
    bare one-row INSERTs, which it can merge."""
    from django.db import connection, transaction

    from ztconsole.core import audit

    def append(n: int, i: int) -> None:
        with transaction.atomic():
            audit.record(None, "bench.concurrent", ("bench.thing", f"{n}-{i}", "thing"), {"n": n, "i": i})

    def bare(n: int, i: int) -> None:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("INSERT INTO bench_commit_probe (id, note) VALUES (%s, %s)", [n * PER_WRITER + i, "probe"])

    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE bench_commit_probe (id integer PRIMARY KEY, note varchar(16))")
    try:
        figures = {"concurrent_bare": _concurrent(bare), "concurrent": _concurrent(append)}
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE bench_commit_probe")
    return figures


def _bare_commits_per_second(round_: int, count: int = 500) -> dict[str, float]:
    """What the database and disk allow at all, same run: a one-row INSERT per transaction, on its own
    (autocommit: one round trip) and inside transaction.atomic() (BEGIN, INSERT, COMMIT: three)."""
    from django.db import connection, transaction

    with connection.cursor() as cursor:
        if round_ == 0:
            cursor.execute("CREATE TABLE bench_commit_probe (id integer PRIMARY KEY, note varchar(16))")
        base = round_ * 2 * count
        started = time.perf_counter()
        for i in range(base, base + count):
            cursor.execute("INSERT INTO bench_commit_probe (id, note) VALUES (%s, %s)", [i, "probe"])
        autocommit = count / (time.perf_counter() - started)
        started = time.perf_counter()
        for i in range(base + count, base + 2 * count):
            with transaction.atomic():
                cursor.execute("INSERT INTO bench_commit_probe (id, note) VALUES (%s, %s)", [i, "probe"])
        atomic = count / (time.perf_counter() - started)
        if round_ == ROUNDS - 1:
            cursor.execute("DROP TABLE bench_commit_probe")
    return {"bare_commit": autocommit, "bare_commit_atomic": atomic}


def _postgres_database() -> str | None:
    """A fresh database on the bench's PostgreSQL server, or None when no server answers."""
    from ztconsole.testing.services import reachable

    parts = urlsplit(os.environ.get("ZT_BENCH_POSTGRES_URL", DEFAULT_PG_URL))
    if not reachable(parts.hostname or "127.0.0.1", parts.port or 5432):
        return None
    import psycopg

    name = parts.path.lstrip("/") + "_audit"
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')  # derived from the operator's setting, not input
        admin.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(parts._replace(path=f"/{name}"))


def _drop_postgres_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{parts.path.lstrip("/")}"')


def _in_child(database_url: str) -> dict[str, float]:
    env = {**os.environ, "DATABASE_URL": database_url, _CHILD: "1"}
    done = subprocess.run(
        [sys.executable, "-m", "bench.bench_audit"], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"bench: audit bench on {urlsplit(database_url).scheme} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run() -> list[Result]:
    from django.db import connection

    here = "PostgreSQL" if connection.vendor == "postgresql" else "SQLite"
    columns = {here: measure()}
    if here == "PostgreSQL":
        path = Path(tempfile.mkdtemp(prefix="zt-bench-audit-")) / "audit.sqlite3"
        columns["SQLite"] = _in_child(f"sqlite:///{path}")
    else:
        url = _postgres_database()
        if url is None:
            print("\n!!! PostgreSQL is not reachable: audit figures are for SQLite only. !!!", file=sys.stderr)
        else:
            try:
                columns["PostgreSQL"] = _in_child(url)
            finally:
                _drop_postgres_database(url)
    order = [db for db in ("SQLite", "PostgreSQL") if db in columns]

    def row(name: str, key: str, unit: str, budget: float, higher_is_better: bool) -> Result:
        figure = " · ".join(f"{db} {columns[db][key]:,.{1 if unit == 's' else 0}f} {unit}" for db in order)
        ratios = [(budget / columns[db][key]) if higher_is_better else (columns[db][key] / budget) for db in order]
        sign = "≥" if higher_is_better else "≤"
        return Result(name, figure, f"{sign} {budget:,.0f} {unit}", max(ratios), max(ratios) <= 1.0)

    verified = int(min(columns[db]["verified"] for db in order))
    if verified >= 1_000_000:
        verify_name = f"audit chain verification of {verified:,} events (measured, in seconds per 1M)"
    else:
        verify_name = f"audit chain verification, {verified:,} events, projected to 1M"
    load = os.getloadavg()[0]

    def figures(key: str, unit: str) -> str:
        return " · ".join(f"{db} {columns[db][key]:,.0f} {unit}" for db in order)

    return [
        row(f"audit append, record_batch of {BATCH} per transaction", "batch", "events/s", BATCH_BUDGET, True),
        row(
            "audit append, one record() per transaction.atomic() (as actions do: BEGIN, append, COMMIT)",
            "single",
            "events/s",
            SINGLE_BUDGET,
            True,
        ),
        Result(
            "anchor: a bare one-row INSERT per transaction.atomic(), same database, same run",
            figures("bare_commit_atomic", "commits/s"),
        ),
        Result(
            "audit append, one record() outside any transaction (the statement commits)",
            figures("autocommit", "events/s"),
        ),
        Result(
            "anchor: a bare one-row INSERT in autocommit (one round trip), same database, same run",
            figures("bare_commit", "commits/s"),
        ),
        Result(
            f"audit append, {WRITERS} writers on their own connections, one record() per transaction.atomic() each",
            figures("concurrent", "events/s"),
        ),
        Result(
            f"anchor: {WRITERS} writers, a bare one-row INSERT per transaction.atomic() each (group commit)",
            figures("concurrent_bare", "commits/s"),
        ),
        Result(f"audit append, {BATCH * 4:,} record() calls in one transaction", figures("in_transaction", "events/s")),
        row(verify_name, "verify_per_million", "s", VERIFY_BUDGET_SECONDS_PER_MILLION, False),
        # Wall-clock figures depend on what else runs: say how busy the machine was.
        Result("machine load at the end (1-min load average / CPUs)", f"{load:.1f} / {os.cpu_count()}"),
    ]


def _child_main() -> None:
    """``python -m bench.bench_audit`` with DATABASE_URL set: measure there, print the figures as JSON."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ztconsole.settings_test")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    print(json.dumps(measure()))


if __name__ == "__main__":
    if os.environ.get(_CHILD) != "1":
        raise SystemExit("run the audit bench with `python -m bench bench_audit`")
    _child_main()
