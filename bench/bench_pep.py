"""PEP: bundle verify + load steps, and decisions on a realistic stream against OPA, Cedar and a plain evaluator.

Workload (bench.pep_workload): 10k identities, 5k access rules, 200 segments; 120k requests from 60k distinct
sessions in time order. Every request is timed on its own (``perf_counter_ns`` around the call; the timer's own
cost is printed in the workload line), with the collector on; a warm-up stream of other sessions runs first and
is not counted. The engine starts empty: the first request of each session is a **cold** decision (the session
is opened: identity, certificate, address lookup, session risk), the others are **warm** (the session is known,
the decision may still be new for its target, message type or time). The anchors and the floor see the same
requests; every one of their answers is compared with ours.

``ZT_BENCH_ANCHOR_REQUESTS=N`` limits the anchors to the first N requests on a machine too busy for 120k OPA and
Cedar calls; the rows then say how many were compared.
"""

from __future__ import annotations

import gc
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.pep_workload import (
    ACCESS_RULES,
    IDENTITIES,
    SEGMENTS,
    PlainEvaluator,
    build_policy,
    build_workload,
)
from bench.results import Result
from pep.builder import build_payload
from pep.bundle import (
    BundleVerifier,
    _parse,
    _payload_bytes,
    _signing_input,
    b64url_decode,
    bundle_bytes,
    check_semantics,
    check_structure,
    collector_paused,
    generate_private_key,
    key_ring,
    sign_payload,
    structural_validator,
    tune_collector,
)
from pep.engine import Engine
from pep.gateway.state import PolicyState

BUDGET_COMPILE_S = 2.0
BUDGET_LOAD_MS = 250.0
BUDGET_WARM = (1.5, 5.0)  # p50, p99 in us
BUDGET_COLD = (3.0, 10.0)
BUDGET_P999_US = 25.0
BUDGET_ANCHOR_RATIO = 30.0
BUDGET_FLOOR_RATIO = 2.0
BUDGET_RSS_MB = 64.0
OPA_BATCH = 100
LOAD_REPEATS = 5
INTERLEAVE = 2_000
ENVIRONMENT = "bench"


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def percentiles(samples_ns: Sequence[float]) -> tuple[float, float, float, float]:
    """p50, p99, p99.9 and max, in microseconds."""
    ordered = sorted(samples_ns)
    n = len(ordered)

    def at(q: float) -> float:
        return ordered[min(n - 1, int(n * q))] / 1000

    return at(0.5), at(0.99), at(0.999), ordered[-1] / 1000


def _fmt(p: tuple[float, float, float, float]) -> str:
    return f"p50 {p[0]:.2f} / p99 {p[1]:.2f} / p99.9 {p[2]:.1f} / max {p[3]:.0f} us"


def time_each(decide: Callable[[Any], Any], inputs: Sequence[Any]) -> tuple[list[int], list[Any]]:
    """Time every call on its own; return the durations (ns) and the answers."""
    clock = time.perf_counter_ns
    durations: list[int] = []
    answers: list[Any] = []
    keep, record = durations.append, answers.append
    for item in inputs:
        t0 = clock()
        answer = decide(item)
        t1 = clock()
        keep(t1 - t0)
        record(answer)
    return durations, answers


def _timer_overhead_ns() -> float:
    clock = time.perf_counter_ns
    samples = []
    for _ in range(20_000):
        t0 = clock()
        t1 = clock()
        samples.append(t1 - t0)
    return sorted(samples)[len(samples) // 2]


# -- bundle load --------------------------------------------------------------------------------------------------


def _median_step(step: Callable[[], Any], *, paused: bool = True) -> tuple[float, float, Any]:
    """Median wall and CPU milliseconds of ``step`` over LOAD_REPEATS runs, and its last result.

    A step of the breakdown runs with the collector paused, as it does inside the PEP's load; the collection the
    pause defers is taken outside the timing (the PEP freezes the loaded bundle instead: the total row).
    """
    walls, cpus, result = [], [], None
    for _ in range(LOAD_REPEATS):
        gc.collect()
        w0, c0 = time.perf_counter(), time.process_time()
        if paused:
            with collector_paused():
                result = step()
        else:
            result = step()
        cpus.append((time.process_time() - c0) * 1000)
        walls.append((time.perf_counter() - w0) * 1000)
    return sorted(walls)[LOAD_REPEATS // 2], sorted(cpus)[LOAD_REPEATS // 2], result


def load_rows(raw: bytes, keys: dict[str, Any]) -> tuple[list[Result], Any]:
    """The PEP's verify + load, end to end and step by step; returns the rows and the verified bundle."""
    t0 = time.perf_counter()
    structural_validator.cache_clear()
    structural_validator()
    generate_ms = (time.perf_counter() - t0) * 1000

    steps: list[tuple[str, float, float]] = []
    wall, cpu, doc = _median_step(lambda: _parse(raw))
    steps.append(("parse", wall, cpu))
    header, payload = doc["header"], doc["payload"]
    wall, cpu, payload_bytes = _median_step(lambda: _payload_bytes(raw, header, payload))
    steps.append(("canonicalise", wall, cpu))
    public_key, signature = keys[header["kid"]], b64url_decode(doc["signature"])
    wall, cpu, _ = _median_step(lambda: public_key.verify(signature, _signing_input(header, payload_bytes)))
    steps.append(("signature", wall, cpu))
    wall, cpu, _ = _median_step(lambda: check_structure(doc))
    steps.append(("structural check", wall, cpu))
    wall, cpu, _ = _median_step(lambda: check_semantics(payload))
    steps.append(("semantic check", wall, cpu))
    verified = BundleVerifier(keys).load(raw)
    wall, cpu, _ = _median_step(lambda: Engine.from_bundle(verified))
    steps.append(("engine build", wall, cpu))

    # End to end, the PEP's own code path (pep.gateway.state.PolicyState.apply_bundle, without the disk write):
    # collect the process's cyclic garbage, verify and build with the collector paused, freeze the result. The
    # bench's own long-lived data (the policy, the Django test settings) is frozen first, as a PEP's would be
    # after its previous load, so that the collection measures a PEP's heap and not the bench's.
    gc.collect()
    gc.freeze()
    with tempfile.TemporaryDirectory() as state_dir:
        total_wall, total_cpu, _ = _median_step(
            lambda: PolicyState(keys, ENVIRONMENT, Path(state_dir)).apply_bundle(raw, persist=False), paused=False
        )
    gc.unfreeze()
    detail = ", ".join(f"{name} {w:.0f}" for name, w, _ in steps)
    rows = [
        Result(
            f"PEP verify + load, {IDENTITIES // 1000}k-identity bundle ({len(raw) / 1e6:.1f} MB), as the PEP"
            f" applies it, median of {LOAD_REPEATS}, wall (CPU)",
            f"{total_wall:.0f} ms ({total_cpu:.0f} ms CPU)",
            f"<= {BUDGET_LOAD_MS:.0f} ms",
            ratio=total_wall / BUDGET_LOAD_MS,
            ok=total_wall <= BUDGET_LOAD_MS,
        ),
        Result("PEP verify + load steps, wall ms", detail, "-"),
        Result(
            "PEP verify + load steps, CPU ms",
            ", ".join(f"{name} {c:.0f}" for name, _, c in steps),
            "-",
        ),
        Result("PEP structural check: code generation, once per process (at PEP start)", f"{generate_ms:.0f} ms", "-"),
    ]
    return rows, verified


# -- decisions ----------------------------------------------------------------------------------------------------


def _anchor_limit(total: int) -> int:
    value = os.environ.get("ZT_BENCH_ANCHOR_REQUESTS")
    return min(total, int(value)) if value else total


def _compare_row(name: str, equal: int, compared: int, what: str, first_mismatch: str = "") -> Result:
    return Result(
        f"{name}: decisions equal to the engine's ({what})",
        f"{equal}/{compared}{first_mismatch}",
        "all",
        ok=equal == compared,
    )


def _ratio_rows(name: str, theirs_p50: float, warm_p50: float, cold_p50: float) -> list[Result]:
    rows = []
    for label, ours in (("warm", warm_p50), ("cold", cold_p50)):
        ratio = theirs_p50 / ours
        rows.append(
            Result(
                f"PEP speed-up over {name} at p50 ({label})",
                f"{ratio:.0f}x",
                f">= {BUDGET_ANCHOR_RATIO:.0f}x",
                ratio=ratio,
                ok=ratio >= BUDGET_ANCHOR_RATIO,
            )
        )
    return rows


def run() -> list[Result]:
    """Compile and sign, verify and load, then decide the stream with the engine, the floor and the anchors."""
    policy = build_policy()
    key = generate_private_key()
    t0 = time.perf_counter()
    payload = build_payload(**policy)
    raw = bundle_bytes(sign_payload(payload, key))
    compile_s = time.perf_counter() - t0
    rows = [
        Result(
            f"PEP compile + sign ({IDENTITIES // 1000}k identities, {ACCESS_RULES // 1000}k rules,"
            f" {SEGMENTS} segments)",
            f"{compile_s:.2f} s",
            f"<= {BUDGET_COMPILE_S:.0f} s",
            ratio=compile_s / BUDGET_COMPILE_S,
            ok=compile_s <= BUDGET_COMPILE_S,
        )
    ]
    keys = key_ring(key.public_key())
    load, verified = load_rows(raw, keys)
    rows += load

    workload = build_workload(payload)
    warmup = build_workload(payload, sessions=5_000, requests=10_000, seed=99)
    requests = workload.requests
    # Built from the verified bundle, as the engine is: its keys are then other string objects than the requests'
    # (as in a PEP, whose requests come from certificates and sockets), rather than the very objects the
    # workload was generated from, which let every dict lookup of the floor skip comparing the strings.
    plain = PlainEvaluator(verified.payload)
    for request in warmup.requests:
        plain.decide(request)
    scratch = Engine.from_bundle(verified)
    for request in warmup.requests:
        scratch.decide(request)
    del scratch

    gc.collect()
    rss_before = _rss_mb()
    engine = Engine.from_bundle(verified)
    gc.collect()
    rss_engine = _rss_mb() - rss_before
    # What a PEP does: its collector thresholds (pep.bundle.tune_collector, at `pep serve`), and after swapping a
    # bundle in, the long-lived objects moved out of the collector's scans.
    thresholds = gc.get_threshold()
    tune_collector()
    gc.freeze()
    timer_ns = _timer_overhead_ns()

    # Engine and floor take turns over blocks of the stream, so that both see the same load on a shared machine.
    durations: list[int] = []
    ours: list[Any] = []
    floor_durations: list[int] = []
    floor_answers: list[Any] = []
    for start in range(0, len(requests), INTERLEAVE):
        block = requests[start : start + INTERLEAVE]
        took, answers = time_each(engine.decide, block)
        durations += took
        ours += answers
        took, answers = time_each(plain.decide, block)
        floor_durations += took
        floor_answers += answers
    rss_sessions = _rss_mb() - rss_before
    cold = percentiles([d for d, first in zip(durations, workload.first, strict=True) if first])
    warm = percentiles([d for d, first in zip(durations, workload.first, strict=True) if not first])
    floor = percentiles(floor_durations)
    # The floor on the same requests as each of our figures: the first request of a session costs the floor more
    # too (the identity, its grants and the address are not in the processor's caches).
    floor_cold = percentiles([d for d, first in zip(floor_durations, workload.first, strict=True) if first])
    floor_warm = percentiles([d for d, first in zip(floor_durations, workload.first, strict=True) if not first])
    expected = [(d.outcome, d.score, d.matched_rule) for d in ours]
    mix = {o: sum(1 for e in expected if e[0] == o) for o in ("allow", "step_up", "deny")}
    load1, _, _ = os.getloadavg()
    rows.append(
        Result(
            f"PEP workload: {len(requests):,} requests, {workload.sessions:,} distinct sessions"
            f" ({sum(workload.first):,} cold), {mix['allow']:,} allow / {mix['step_up']:,} step-up /"
            f" {mix['deny']:,} deny; timer {timer_ns:.0f} ns; GC on; load average {load1:.1f} on"
            f" {os.cpu_count()} CPUs",
            "-",
            "-",
        )
    )
    rows += [
        Result(
            "PEP decision, warm (session known)",
            _fmt(warm),
            f"p50 <= {BUDGET_WARM[0]}, p99 <= {BUDGET_WARM[1]}, p99.9 <= {BUDGET_P999_US:.0f} us",
            ratio=warm[0] / BUDGET_WARM[0],
            ok=warm[0] <= BUDGET_WARM[0] and warm[1] <= BUDGET_WARM[1] and warm[2] <= BUDGET_P999_US,
        ),
        Result(
            "PEP decision, cold (session seen first)",
            _fmt(cold),
            f"p50 <= {BUDGET_COLD[0]}, p99 <= {BUDGET_COLD[1]}, p99.9 <= {BUDGET_P999_US:.0f} us",
            ratio=cold[0] / BUDGET_COLD[0],
            ok=cold[0] <= BUDGET_COLD[0] and cold[1] <= BUDGET_COLD[1] and cold[2] <= BUDGET_P999_US,
        ),
        Result(
            f"PEP engine memory at {IDENTITIES // 1000}k identities: RSS growth loaded / after the stream",
            f"{rss_engine:.1f} MB / {rss_sessions:.1f} MB",
            f"<= {BUDGET_RSS_MB:.0f} MB",
            ratio=rss_engine / BUDGET_RSS_MB,
            ok=rss_engine <= BUDGET_RSS_MB,
        ),
        Result("Floor: plain Python evaluator (no caches, no explanations)", _fmt(floor), "-"),
        Result("Floor on the requests that are cold for the engine (first of their session)", _fmt(floor_cold), "-"),
        Result("Floor on the requests that are warm for the engine", _fmt(floor_warm), "-"),
        _compare_row(
            "Floor",
            sum(1 for e, f in zip(expected, floor_answers, strict=True) if e == f),
            len(requests),
            "outcome, score, rule",
        ),
    ]
    for label, ours_p50, floor_p50 in (("warm", warm[0], floor_warm[0]), ("cold", cold[0], floor_cold[0])):
        ratio = ours_p50 / floor_p50
        rows.append(
            Result(
                f"PEP p50 ({label}) against the floor's p50 on the same requests",
                f"{ratio:.2f}x",
                f"<= {BUDGET_FLOOR_RATIO:.0f}x",
                ratio=ratio / BUDGET_FLOOR_RATIO,
                ok=ratio <= BUDGET_FLOOR_RATIO,
            )
        )
    rows += _anchor_rows(
        payload, requests[: _anchor_limit(len(requests))], warmup.requests[:2_000], expected, warm, cold
    )
    gc.set_threshold(*thresholds)  # the other benchmarks of this process run with the defaults
    return rows


def _anchor_rows(
    payload: dict[str, Any],
    requests: list[Any],
    warmup: list[Any],
    expected: list[tuple[str, int, str | None]],
    warm: tuple[float, ...],
    cold: tuple[float, ...],
) -> list[Result]:
    try:
        from bench.pep_anchors import cedar, cedar_outcome, cedar_request, ip_country, opa, opa_answer, opa_input

        opa_one, opa_batch = opa(payload)
        cedar_one = cedar(payload)
    except ImportError as exc:
        return [Result(f"Anchors: not installed ({exc.name}); `make bench` installs them", "-", "-")]
    rows: list[Result] = []
    country = ip_country(payload)
    compared = len(requests)
    suffix = "" if compared == len(expected) else f" (first {compared:,} requests)"

    # OPA, one input per call.
    inputs = [opa_input(r, country(r.source_ip)) for r in requests]
    for document in (opa_input(r, country(r.source_ip)) for r in warmup):
        opa_one(document)
    durations, answers = time_each(opa_one, inputs)
    got = [opa_answer(a) for a in answers]
    opa_p = percentiles(durations)
    rows.append(Result(f"OPA (Rego, data lookups), one call per decision{suffix}", _fmt(opa_p), "-"))
    rows.append(_equal_row("OPA", expected, got, requests, "outcome, score, rule"))
    rows += _ratio_rows("OPA", opa_p[0], warm[0], cold[0])

    # OPA, batches of OPA_BATCH inputs per call (per-decision figure: the batch's time over its size).
    batches = [inputs[k : k + OPA_BATCH] for k in range(0, len(inputs), OPA_BATCH)]
    batch_durations, batch_answers = time_each(opa_batch, batches)
    got = [opa_answer(a) for answer in batch_answers for a in answer]
    per_decision = [d / len(b) for d, b in zip(batch_durations, batches, strict=True)]
    batch_p = percentiles(per_decision)
    rows.append(Result(f"OPA batch form ({OPA_BATCH} per call), per decision{suffix}", _fmt(batch_p), "-"))
    rows.append(_equal_row("OPA batch", expected, got, requests, "outcome, score, rule"))

    # Cedar.
    prepared = [cedar_request(r, country(r.source_ip)) for r in requests]
    for request in warmup:
        cedar_one(cedar_request(request, country(request.source_ip)))
    durations, answers = time_each(cedar_one, prepared)
    cedar_p = percentiles(durations)
    rows.append(Result(f"Cedar (cedarpy, grants as entity attributes, a policy per band){suffix}", _fmt(cedar_p), "-"))
    outcomes = [cedar_outcome(a) for a in answers]
    rows.append(
        _equal_row("Cedar", [(e[0],) for e in expected], [(o,) for o in outcomes], requests, "outcome: 3 bands")
    )
    rows += _ratio_rows("Cedar", cedar_p[0], warm[0], cold[0])
    return rows


def _equal_row(name: str, expected: list[Any], got: list[Any], requests: list[Any], what: str) -> Result:
    mismatches = [n for n, theirs in enumerate(got) if expected[n] != theirs]
    first = f"; first mismatch #{mismatches[0]}: {requests[mismatches[0]]}" if mismatches else ""
    return _compare_row(name, len(got) - len(mismatches), len(got), what, first)
