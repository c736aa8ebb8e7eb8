"""Signed audit export and its offline verification against the budgets (docs/compliance.md).

Budgets (issue 12): exporting 1M audit events to CSV or JSON Lines ≤ 30 s with peak RSS ≤ 250 MB; offline
verification of a 1M-event export ≤ 15 s. The chain holds 1M events, appended through the chain as production
appends them; ``ZT_BENCH_EXPORT_EVENTS`` sets a smaller chain for a quick look, whose times are then projected
linearly to 1M (peak RSS is always reported as measured). Each export runs in its own process (the Celery task's
code path, without the broker) so its peak RSS is its own; each format's archive is then verified by the
examiner's command, run as its own process.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.results import Result

EVENTS = int(os.environ.get("ZT_BENCH_EXPORT_EVENTS", "1000000"))
BATCH = 1000
EXPORT_BUDGET_SECONDS_PER_MILLION = 30.0
RSS_BUDGET_MB = 250.0
VERIFY_BUDGET_SECONDS_PER_MILLION = 15.0
_CHILD = "ZT_BENCH_EXPORT_CHILD"


def _fill() -> int:
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from ztconsole.core import audit, live

    user = get_user_model().objects.create_user(username="bench-exporter", password=None)
    for start in range(0, EVENTS, BATCH):
        batch = [
            (None, "bench.export", ("bench.thing", str(i), f"thing {i}"), {"i": i, "note": 'Zoë, "quoted"'})
            for i in range(start, min(start + BATCH, EVENTS))
        ]
        with transaction.atomic():
            audit.record_batch(batch)
    live.wait_idle(timeout=900)
    return user.pk


def _child(fmt: str, user_id: int, export_dir: str) -> dict:
    env = {**os.environ, _CHILD: json.dumps({"fmt": fmt, "user": user_id, "dir": export_dir})}
    done = subprocess.run(
        [sys.executable, "-m", "bench.bench_export"], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"bench: export child failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _verify(archive: str, key: Path) -> tuple[float, float]:
    """Wall time and CPU time of the examiner's verifier run as its own process."""
    started, cpu = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        [sys.executable, "-m", "ztconsole.verify_export", archive, "--public-key", str(key)],
        capture_output=True,
        text=True,
        check=False,
    )
    seconds, after = time.perf_counter() - started, resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"bench: the export did not verify:\n{done.stderr[-2000:]}")
    return seconds, (after.ru_utime + after.ru_stime) - (cpu.ru_utime + cpu.ru_stime)


def run() -> list[Result]:
    from reports import audit_export

    started = time.perf_counter()
    user_id = _fill()
    filled = time.perf_counter() - started
    export_dir = tempfile.mkdtemp(prefix="zt-bench-export-")
    key = Path(export_dir) / "key.pem"
    key.write_text(audit_export.public_keys_pem())
    rows = [Result(f"append {EVENTS:,} audit events through the chain (setup)", f"{filled:.1f} s")]
    for fmt in ("csv", "jsonl"):
        figures = _child(fmt, user_id, export_dir)
        scope = f"{figures['events']:,} events" + (", projected to 1M" if figures["events"] < 1_000_000 else "")
        per_million = figures["seconds"] * 1_000_000 / figures["events"]
        cpu_per_million = figures["cpu"] * 1_000_000 / figures["events"]
        rows.append(
            Result(
                f"audit export to {fmt.upper()}, {scope}",
                f"{per_million:.1f} s (CPU {cpu_per_million:.1f} s)",
                f"≤ {EXPORT_BUDGET_SECONDS_PER_MILLION:.0f} s",
                per_million / EXPORT_BUDGET_SECONDS_PER_MILLION,
                per_million <= EXPORT_BUDGET_SECONDS_PER_MILLION,
            )
        )
        rows.append(
            Result(
                f"audit export to {fmt.upper()}, {figures['events']:,} events, peak RSS of the exporting process",
                f"{figures['rss_mb']:.0f} MB",
                f"≤ {RSS_BUDGET_MB:.0f} MB",
                figures["rss_mb"] / RSS_BUDGET_MB,
                figures["rss_mb"] <= RSS_BUDGET_MB,
            )
        )
        # Both formats: an examiner may be handed either.
        wall, cpu = _verify(figures["archive"], key)
        verify_per_million = wall * 1_000_000 / figures["events"]
        verify_cpu = cpu * 1_000_000 / figures["events"]
        rows.append(
            Result(
                f"offline verification of the {fmt.upper()} export (python -m ztconsole.verify_export), {scope}",
                f"{verify_per_million:.1f} s (CPU {verify_cpu:.1f} s)",
                f"≤ {VERIFY_BUDGET_SECONDS_PER_MILLION:.0f} s",
                verify_per_million / VERIFY_BUDGET_SECONDS_PER_MILLION,
                verify_per_million <= VERIFY_BUDGET_SECONDS_PER_MILLION,
            )
        )
    return rows


def _child_main(spec: dict) -> None:
    import django

    django.setup()
    from django.conf import settings

    from reports import actions
    from reports.models import AuditExport

    settings.ZT_EXPORT_DIR = spec["dir"]
    export = AuditExport.objects.create(requested_by_id=spec["user"], format=spec["fmt"])
    started, cpu = time.perf_counter(), time.process_time()
    built = actions.build_audit_export(str(export.pk))
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    if built is None or built.status != "done":
        raise SystemExit(f"export failed: {built and built.error}")
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux
    archive = str(actions.archive_path(built))
    print(json.dumps({"seconds": seconds, "cpu": cpu, "events": built.written, "rss_mb": rss_mb, "archive": archive}))


if __name__ == "__main__":
    if os.environ.get(_CHILD) is None:
        raise SystemExit("run the export bench with `python -m bench bench_export`")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ztconsole.settings_test")
    _child_main(json.loads(os.environ[_CHILD]))
