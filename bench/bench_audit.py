"""Audit chain: append throughput and verification speed, projected to the 1M-event budget (≤ 20 s)."""

from __future__ import annotations

import time

from bench.results import Result

EVENTS = 20_000
BATCH = 500
VERIFY_BUDGET_SECONDS_PER_MILLION = 20.0


def run() -> list[Result]:
    from django.db import transaction

    from ztconsole.core import audit, live

    started = time.perf_counter()
    for start in range(0, EVENTS, BATCH):
        with transaction.atomic():
            for i in range(start, start + BATCH):
                audit.record(None, "bench.event", ("bench.thing", str(i), f"thing {i}"), {"i": i})
    append_seconds = time.perf_counter() - started
    live.wait_idle()  # the live feed drains in the background; keep it out of the verification figure

    started = time.perf_counter()
    report = audit.verify_chain()
    verify_seconds = time.perf_counter() - started
    if not report.ok:
        raise SystemExit(f"bench: chain did not verify: {report}")
    projected = verify_seconds * 1_000_000 / report.checked
    return [
        Result("audit append (in batches of 500 per transaction)", f"{EVENTS / append_seconds:,.0f} events/s"),
        Result(
            f"audit chain verification, {report.checked:,} events, projected to 1M",
            f"{projected:.1f} s",
            f"≤ {VERIFY_BUDGET_SECONDS_PER_MILLION:.0f} s",
            projected / VERIFY_BUDGET_SECONDS_PER_MILLION,
            projected <= VERIFY_BUDGET_SECONDS_PER_MILLION,
        ),
    ]
