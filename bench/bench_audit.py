"""Audit chain on SQLite and PostgreSQL side by side: append rates and verification time against the budgets.

Budgets (docs/audit.md, issue "production scale"): appends ≥ 5,000 events/s in batches and ≥ 1,000 events/s one
per transaction, verification of 1M events ≤ 10 s. The bench measures on the database it was started with and,
in a child process, on the other one: a fresh SQLite file, or a fresh PostgreSQL database
(``ZT_BENCH_POSTGRES_URL``'s server, database ``<name>_audit``, dropped afterwards) when one is reachable.
``ZT_BENCH_AUDIT_EVENTS`` (default 100,000) sets the chain length verified; the time is projected to 1M.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from bench.results import Result

EVENTS = int(os.environ.get("ZT_BENCH_AUDIT_EVENTS", "100000"))
BATCH = 500
SINGLE = 2_000
BATCH_BUDGET = 5_000.0  # events/s
SINGLE_BUDGET = 1_000.0  # events/s
VERIFY_BUDGET_SECONDS_PER_MILLION = 10.0
DEFAULT_PG_URL = "postgres://postgres@127.0.0.1:5432/ztconsole_bench"
_CHILD = "ZT_BENCH_AUDIT_CHILD"


def measure() -> dict[str, float]:
    """Figures on the database Django is set up with (a fresh one: the chain must start empty)."""
    from django.db import connection, transaction

    from ztconsole.core import audit, live

    figures: dict[str, float] = {"bare_commit": _bare_commits_per_second()}
    started = time.perf_counter()
    for i in range(SINGLE):
        audit.record(None, "bench.single", ("bench.thing", str(i), f"thing {i}"), {"i": i})
    figures["single"] = SINGLE / (time.perf_counter() - started)

    started = time.perf_counter()
    with transaction.atomic():
        for i in range(BATCH * 4):
            audit.record(None, "bench.in_transaction", ("bench.thing", str(i), f"thing {i}"), {"i": i})
    figures["in_transaction"] = BATCH * 4 / (time.perf_counter() - started)

    bulk = max(EVENTS - SINGLE - BATCH * 4, BATCH)
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
    figures["verify_per_million"] = seconds * 1_000_000 / report.checked
    return figures


def _bare_commits_per_second(count: int = 500) -> float:
    """What the database and disk allow at all: one-row INSERTs, each its own transaction (same run)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE bench_commit_probe (id integer PRIMARY KEY, note varchar(16))")
        started = time.perf_counter()
        for i in range(count):
            cursor.execute("INSERT INTO bench_commit_probe (id, note) VALUES (%s, %s)", [i, "probe"])
        seconds = time.perf_counter() - started
        cursor.execute("DROP TABLE bench_commit_probe")
    return count / seconds


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
    load = os.getloadavg()[0]
    return [
        row(f"audit append, record_batch of {BATCH} per transaction", "batch", "events/s", BATCH_BUDGET, True),
        row("audit append, one record() per transaction", "single", "events/s", SINGLE_BUDGET, True),
        Result(
            "anchor: a bare one-row INSERT per transaction, same database, same run",
            " · ".join(f"{db} {columns[db]['bare_commit']:,.0f} commits/s" for db in order),
        ),
        Result(
            f"audit append, {BATCH * 4:,} record() calls in one transaction",
            " · ".join(f"{db} {columns[db]['in_transaction']:,.0f} events/s" for db in order),
        ),
        row(
            f"audit chain verification, {verified:,} events, projected to 1M",
            "verify_per_million",
            "s",
            VERIFY_BUDGET_SECONDS_PER_MILLION,
            False,
        ),
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
