"""Runs every benchmark module in bench/ and prints markdown tables.

A benchmark module defines ``run() -> list[Result]``. Figures are measured in this run only; ratios compare
figures taken in the same run, never against a number stored from another machine.

List benches (modules with ``LIST_BENCH = True``) run once on a fresh SQLite database and once on
PostgreSQL when it is reachable (``ZT_BENCH_POSTGRES_URL``, default
``postgres://postgres@127.0.0.1:5432/ztconsole_bench``, created if missing and reused between runs, as
populating it is the slow part), each in its own process, and their figures are printed side by side.
``ZT_BENCH_SQLITE_URL`` names a SQLite database to reuse instead of a fresh one. With ``DATABASE_URL`` set,
every selected bench runs in this process on that database only.
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from bench.results import Result

PACKAGE = Path(__file__).parent
DEFAULT_PG_URL = "postgres://postgres@127.0.0.1:5432/ztconsole_bench"


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ztconsole.settings_test")
    if "DATABASE_URL" not in os.environ:
        path = Path(tempfile.mkdtemp(prefix="zt-bench-")) / "bench.sqlite3"
        os.environ["DATABASE_URL"] = f"sqlite:///{path}"
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def _modules(selected: set[str]) -> list[str]:
    names = sorted(m.name for m in pkgutil.iter_modules([str(PACKAGE)]) if m.name.startswith("bench_"))
    return [name for name in names if not selected or name in selected]


def _is_list_bench(name: str) -> bool:
    return bool(getattr(importlib.import_module(f"bench.{name}"), "LIST_BENCH", False))


def _run_here(modules: list[str]) -> list[Result]:
    _setup_django()
    rows: list[Result] = []
    for module in modules:
        rows.extend(importlib.import_module(f"bench.{module}").run())
    return rows


def _print_table(rows: list[Result]) -> None:
    print("| benchmark | figure | budget / anchor | ratio | verdict |")
    print("|---|---|---|---|---|")
    for row in rows:
        print(row.markdown())


def _postgres_url() -> str | None:
    """The bench database on PostgreSQL, created when missing; None when no server answers."""
    from ztconsole.testing.services import reachable

    url = os.environ.get("ZT_BENCH_POSTGRES_URL", DEFAULT_PG_URL)
    parts = urlsplit(url)
    if not reachable(parts.hostname or "127.0.0.1", parts.port or 5432):
        return None
    import psycopg

    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as connection:
        if connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
            connection.execute(f'CREATE DATABASE "{name}"')  # the operator's own setting, not input
    return url


def _run_in_child(modules: list[str], database_url: str) -> list[Result] | None:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as out:
        path = out.name
    env = {**os.environ, "DATABASE_URL": database_url}
    done = subprocess.run([sys.executable, "-m", "bench", "--json", path, *modules], env=env, check=False)
    try:
        data = json.loads(Path(path).read_text() or "[]")
    finally:
        os.unlink(path)
    if done.returncode not in (0, 1) or not data:
        print(f"bench: list benches on {urlsplit(database_url).scheme} exited {done.returncode}", file=sys.stderr)
        return None
    return [Result(**row) for row in data]


def _side_by_side(columns: dict[str, list[Result]]) -> bool:
    """One row per list figure: each database's p95 (p50, queries); within budget only if all are."""
    names: list[str] = []
    by_db: dict[str, dict[str, Result]] = {}
    for db, rows in columns.items():
        by_db[db] = {row.name: row for row in rows}
        names.extend(row.name for row in rows if row.name not in names)
    dbs = list(columns)
    print("| list figure | " + " | ".join(dbs) + " | budget | verdict |")
    print("|---|" + "---|" * len(dbs) + "---|---|")
    ok = True
    for name in names:
        cells, verdicts, budget = [], [], "-"
        for db in dbs:
            row = by_db[db].get(name)
            if row is None:
                cells.append("—")
                continue
            budget = row.budget if row.budget != "-" else budget
            if row.p95 is not None:
                cells.append(f"p95 {row.p95:.1f} ms (p50 {row.p50:.1f}, {row.queries} q)")
            else:
                cells.append(row.figure)
            verdicts.append(row.ok)
        verdict = (
            "-" if all(v is None for v in verdicts) else ("within" if all(v is not False for v in verdicts) else "OVER")
        )
        ok = ok and verdict != "OVER"
        print(f"| {name} | " + " | ".join(cells) + f" | {budget} | {verdict} |")
    return ok


def main(argv: list[str]) -> int:
    # Before anything imports ztconsole (whose package sets the production settings module as a default),
    # so the benches' child processes inherit the test settings too.
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ztconsole.settings_test")
    json_out = None
    if argv[:1] == ["--json"]:
        json_out, argv = argv[1], argv[2:]
    modules = _modules(set(argv))
    if json_out is not None or "DATABASE_URL" in os.environ:
        rows = _run_here(modules)
        _print_table(rows)
        if json_out is not None:
            Path(json_out).write_text(json.dumps([row.as_dict() for row in rows]))
        return 0 if all(r.ok is not False for r in rows) else 1

    list_modules = [m for m in modules if _is_list_bench(m)]
    other = [m for m in modules if m not in list_modules]
    ok = True
    if list_modules:
        sqlite_path = Path(tempfile.mkdtemp(prefix="zt-bench-")) / "lists.sqlite3"
        sqlite_url = os.environ.get("ZT_BENCH_SQLITE_URL", f"sqlite:///{sqlite_path}")
        columns = {"SQLite": _run_in_child(list_modules, sqlite_url)}
        pg_url = _postgres_url()
        if pg_url is None:
            print("\n!!! PostgreSQL is not reachable: list figures are for SQLite only. !!!", file=sys.stderr)
        else:
            columns["PostgreSQL"] = _run_in_child(list_modules, pg_url)
        failed = [db for db, rows in columns.items() if rows is None]
        print("\n## Lists and search (p95 per database)\n")
        ok = _side_by_side({db: rows for db, rows in columns.items() if rows is not None}) and not failed
    if other:
        rows = _run_here(other)
        print("\n## Other benchmarks (SQLite)\n")
        _print_table(rows)
        ok = ok and all(r.ok is not False for r in rows)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
