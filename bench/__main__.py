"""Runs every benchmark module in bench/ and prints one markdown table.

A benchmark module defines ``run() -> list[Result]``. Figures are measured in this run only; ratios compare
figures taken in the same run, never against a number stored from another machine.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
import tempfile
from pathlib import Path

from bench.results import Result


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ztconsole.settings_test")
    if "DATABASE_URL" not in os.environ:
        path = Path(tempfile.mkdtemp(prefix="zt-bench-")) / "bench.sqlite3"
        os.environ["DATABASE_URL"] = f"sqlite:///{path}"
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def main(argv: list[str]) -> int:
    selected = set(argv)
    _setup_django()
    rows: list[Result] = []
    package = Path(__file__).parent
    for module in sorted(m.name for m in pkgutil.iter_modules([str(package)]) if m.name.startswith("bench_")):
        if selected and module not in selected:
            continue
        rows.extend(importlib.import_module(f"bench.{module}").run())
    print("| benchmark | figure | budget / anchor | ratio | verdict |")
    print("|---|---|---|---|---|")
    for row in rows:
        print(row.markdown())
    return 0 if all(r.ok is not False for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
