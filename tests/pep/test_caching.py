"""The engine's caches never change an answer: a long-lived engine answers as a fresh one would.

Sessions are cached per session tuple, decisions per (target, message type) for as long as every clock-dependent
input keeps its value (trading hours in the identity's time zone, access-rule windows, expiries), and session
risk is memoised on what the session attributes declare they read. Each test replays requests through one engine
and compares every answer with an engine that has seen nothing.
"""

from __future__ import annotations

import random

from pep.builder import build_payload
from pep.engine import Decision, Engine
from tests.pep.conftest import LONDON_HOURS, MONDAY_10, policy, request

NEW_YORK_HOURS = {"timezone": "America/New_York", "days": [0, 1, 2, 3, 4], "start": "08:00", "end": "17:30"}

RULES = [
    {"id": "late", "attribute": "trading_hours", "condition": "outside", "score": 20},
    {"id": "net", "attribute": "network", "condition": "unknown", "score": 15},
    {"id": "geo", "attribute": "geography", "condition": "anomalous", "score": 40},
    {"id": "pwd", "attribute": "authentication", "condition": "none", "score": 30},
]
EXTRA_RULES = [
    {
        "id": "ar-carol-md",
        "subject": {"kind": "identity", "id": "carol"},
        "target": {"kind": "segment", "id": "market-data"},
        "message_types": ["W"],
        # Friday evening into the weekend in New York, and an expiry inside the replayed fortnight.
        "window": {"timezone": "America/New_York", "days": [4, 6], "start": "20:00", "end": "03:00"},
        "expires_at": "2026-11-30T12:34:56Z",
    },
]


def payload() -> dict:
    base = policy(risk_rules=RULES)
    base["access_rules"] = [*base["access_rules"], *EXTRA_RULES]
    # frank shares carol's trading hours (one window, one remembered answer for both); gina has her own
    base["identities"] = [
        *base["identities"],
        {"id": "frank", "desk": "fx", "trading_hours": LONDON_HOURS},
        {"id": "gina", "desk": "fx", "trading_hours": NEW_YORK_HOURS},
    ]
    return build_payload(**base)


def answer(decision: Decision) -> tuple:
    return (decision.outcome, decision.score, decision.contributions, decision.matched_rule, decision.reason)


def requests(count: int, seed: int) -> list:
    rnd = random.Random(seed)
    people = [
        {"identity": "alice"},
        {"identity": "bob", "certificate_fingerprint": None},
        {"identity": "carol", "certificate_fingerprint": None},
        {"identity": "frank", "certificate_fingerprint": None},
        {"identity": "gina", "certificate_fingerprint": None},
    ]
    out = []
    when = MONDAY_10 - 3 * 86400
    for _ in range(count):
        when += rnd.choice((1, 59, 60, 61, 900, 3600, 5400, 86400 - 1))  # steps that cross minute and window edges
        out.append(
            request(
                **rnd.choice(people),
                target=rnd.choice(("rfq-gateway", "md-1", "market-data", "oms", "oms-1")),
                message_type=rnd.choice(("R", "D", "W")),
                authentication=rnd.choice(("hardware", "software", "none")),
                source_ip=rnd.choice(("81.2.69.7", "10.1.2.3", "5.6.7.8", "2001:db8::1", "203.0.113.5")),
                country=rnd.choice((None, None, "RU")),
                time=when if rnd.random() < 0.9 else when - rnd.randrange(7 * 86400),  # some from the past
            )
        )
    return out


def test_a_long_lived_engine_answers_as_a_fresh_engine_across_windows_expiries_and_time_zones():
    data = payload()
    engine = Engine(data)
    fresh_answers = [answer(Engine(data).decide(r)) for r in requests(600, seed=4)]
    assert [answer(engine.decide(r)) for r in requests(600, seed=4)] == fresh_answers
    # The replay reached every outcome and both sides of the windows, so the comparison covers them.
    assert {a[0] for a in fresh_answers} == {"allow", "step_up", "deny"}
    assert any("outside the window" in a[4] for a in fresh_answers)
    assert any(a[3] == "ar-carol-md" for a in fresh_answers)


def test_memoised_session_risk_equals_evaluating_every_attribute():
    data = payload()
    memoised, direct = Engine(data), Engine(data)
    direct._memo_reads = None  # as when an attribute does not declare what it reads
    for r in requests(400, seed=9):
        assert answer(memoised.decide(r)) == answer(direct.decide(r))


def test_a_used_engine_is_freed_by_reference_counting_alone():
    # The PEP freezes each loaded bundle (gc.freeze): that is only safe if nothing in an engine, its caches
    # included, is held in a reference cycle, which a frozen generation would keep for ever.
    import gc
    import weakref

    data = payload()
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        engine = Engine(data)
        for r in requests(300, seed=3):
            engine.decide(r).reason  # noqa: B018 - formats the explanation, as the gateway's events do
        gone = weakref.ref(engine)
        del engine
        assert gone() is None
        assert gc.collect() == 0  # nothing the engine made was left in a cycle
    finally:
        if was_enabled:
            gc.enable()
