"""The simulator replays the decision log (sessions.Decision, through hooks.recorded_decisions) against the draft
and shows which recorded Logon decisions the draft would decide differently."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from accounts.models import DeviceRegistration
from policies import actions, selectors
from ztconsole.core import hooks

WHEN = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


@pytest.fixture
def managed_laptop(personas):
    return DeviceRegistration.objects.create(
        owner=personas["trader"].user.identity,
        kind="trader_workstation",
        platform="Windows 11",
        serial="WS-TINA-1",
        managed=True,
        compliance="compliant",
    )


def _recorded(personas, n: int, *, identity: str, outcome: str, score: int | None, environment: str = "prod", **inputs):
    """A Logon decision as ingestion stores it (the logon_decision event's fields in ``inputs``)."""
    from policies.distribution.models import EnforcementPoint
    from sessions.models import Decision, FixSession
    from tests.distribution.helpers import matrix_point

    existing = EnforcementPoint.objects.filter(name="pep-matrix").values_list("pk", flat=True).first()
    point_id = existing or matrix_point(personas)
    session_id = f"{n:016x}"
    FixSession.objects.create(
        point_id=point_id,
        environment=environment,
        session_id=session_id,
        boot="0123456789ab",
        last_seq=n,
        state="logged_on" if outcome == "allow" else "refused",
        identity_name=identity,
        started_at=WHEN,
        updated_at=WHEN,
    )
    request = {"target": "rfq-gateway", "device": "WS-TINA-1", "source_ip": "81.2.69.7", **inputs}
    return Decision.objects.create(
        point_id=point_id,
        boot="0123456789ab",
        seq=n,
        environment=environment,
        session_id=session_id,
        time=WHEN + timedelta(minutes=n),
        kind="logon",
        outcome=outcome,
        identity_name=identity,
        sender_comp_id=f"C{n}",
        score=score,
        matched_rule="trader-rfq" if outcome == "allow" else "",
        bundle_version=1,
        inputs={"identity": identity, "certificate_fingerprint": None, "outcome": outcome, **request},
    )


def test_the_sessions_app_supplies_the_decision_log_to_the_policies_layer():
    from sessions.selectors import recorded_logon_decisions

    assert recorded_logon_decisions in hooks.recorded_decisions.suppliers
    assert {source.name for source in hooks.SOURCES} == {"recorded_decisions"}


@pytest.fixture
def logon_granted(rfq_policy, managed_laptop, personas):
    """The trader may log on (MsgType A) to the RFQ gateway: what a PEP decides for a Logon."""
    actions.create_access_rule(
        None,
        environment="prod",
        name="trader-logon",
        subject_kind="identity",
        subject_identity=personas["trader"].user.identity,
        target_segment=rfq_policy["segment"],
        message_types=["A"],
    )


def test_recorded_decisions_the_draft_decides_differently_are_counted_and_listed(
    logon_granted, personas, verified_client
):
    # Under the draft, tina's Logon from the office zone scores 30 (password only: no certificate binding) and
    # steps up; from an unknown network it scores 45 and is denied; carla has no access rule.
    office = _recorded(personas, 1, identity="tina", outcome="step_up", score=30, source_ip="10.20.3.4")
    home = _recorded(personas, 2, identity="tina", outcome="allow", score=15)  # allowed by an older bundle
    carla = _recorded(personas, 3, identity="carla", outcome="deny", score=15)
    _recorded(personas, 4, identity="tina", outcome="deny", score=None)  # refused before the engine: revoked
    _recorded(personas, 5, identity="tina", outcome="allow", score=15, environment="uat")
    security = personas["security"].user

    impact = selectors.replay_recorded_decisions("prod", security)
    assert impact.replayed == 3  # not the refusal made before the engine, not the other environment
    assert [(row.record["id"], row.replayed.outcome) for row in impact.changed] == [(home.pk, "deny")]

    page = verified_client(personas["security"]).get("/policies/simulator/", {"environment": "prod"})
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-changed="1"' in html and "of 3 recorded decisions would change" in html
    assert f'data-decision="{home.pk}"' in html
    assert f'data-decision="{office.pk}"' not in html and f'data-decision="{carla.pk}"' not in html
    assert f'href="/sessions/{session_pk_of(home)}/"' in html

    # Bands raised in the draft: the office Logon would now be allowed, the home one would step up.
    actions.update_bands(None, environment="prod", step_up=40, deny=60)
    impact = selectors.replay_recorded_decisions("prod", security)
    assert {row.record["id"]: row.replayed.outcome for row in impact.changed} == {
        office.pk: "allow",
        home.pk: "step_up",
    }
    html = verified_client(personas["security"]).get("/policies/simulator/").content.decode()
    assert 'data-changed="2"' in html and f'data-decision="{office.pk}"' in html


def session_pk_of(decision) -> int:
    from sessions.models import FixSession

    return FixSession.objects.get(point_id=decision.point_id, session_id=decision.session_id).pk


def test_the_draft_binding_of_the_recorded_certificate_decides_identity_and_authentication(
    logon_granted, personas, signing_key
):
    """A recorded Logon is replayed as the PEP would build it under the draft: a certificate the draft binds
    gives its identity's MFA assurance (a score the draft lowers), as pep/gateway/server.py evaluate does."""
    bindings = {
        "ab" * 32: {"sha256": "ab" * 32, "identity": "tina", "device": "WS-TINA-1", "authentication": "hardware"}
    }
    record = {
        "request": {
            "identity": "someone",
            "target": "rfq-gateway",
            "message_type": "A",
            "device": None,
            "source_ip": "10.20.3.4",
            "certificate_fingerprint": "ab" * 32,
            "time": WHEN.timestamp(),
        }
    }
    request = selectors.replay_request(record, bindings)
    assert (request.identity, request.device, request.authentication) == ("tina", "WS-TINA-1", "hardware")
    unbound = selectors.replay_request(
        {"request": {**record["request"], "certificate_fingerprint": "cd" * 32}}, bindings
    )
    assert (unbound.identity, unbound.authentication) == ("someone", "none")
    engine_decision = selectors.draft_engine("prod").decide(request)
    assert (engine_decision.outcome, engine_decision.score) == ("allow", 0)


def test_a_trader_replays_only_the_decisions_of_identities_they_are_or_sponsor(logon_granted, personas):
    from sessions.models import Decision

    mine = _recorded(personas, 1, identity="tina", outcome="allow", score=15)
    theirs = _recorded(personas, 2, identity="carla", outcome="allow", score=15)
    Decision.objects.filter(pk=mine.pk).update(identity=personas["trader"].user.identity)
    Decision.objects.filter(pk=theirs.pk).update(identity=personas["compliance"].user.identity)
    records = hooks.recorded_decisions.collect(user=personas["trader"].user, environment="prod", limit=10)
    assert [r["id"] for r in records] == [mine.pk]
    assert hooks.recorded_decisions.collect(user=personas["outsider"].user, environment="prod", limit=10) == []
    everything = hooks.recorded_decisions.collect(user=personas["compliance"].user, environment="prod", limit=10)
    assert [r["id"] for r in everything] == [theirs.pk, mine.pk]  # newest first
    assert [
        r["id"] for r in hooks.recorded_decisions.collect(user=personas["admin"].user, environment="prod", limit=1)
    ] == [theirs.pk]


def test_a_publication_page_replays_the_recorded_decisions_against_its_version(
    logon_granted, personas, verified_client
):
    office = _recorded(personas, 1, identity="tina", outcome="step_up", score=30, source_ip="10.20.3.4")
    home = _recorded(personas, 2, identity="tina", outcome="deny", score=45)
    actions.update_bands(None, environment="prod", step_up=40, deny=60)  # office allowed, home stepped up
    pv = actions.request_publication(personas["admin"].user, environment="prod")
    actions.update_bands(None, environment="prod", step_up=20, deny=40)  # the draft moves back on: not this version
    impact = selectors.replay_recorded_decisions("prod", personas["security"].user, payload=json.loads(pv.payload))
    assert {row.record["id"]: row.replayed.outcome for row in impact.changed} == {
        office.pk: "allow",
        home.pk: "step_up",
    }
    assert selectors.replay_recorded_decisions("prod", personas["security"].user).changed == []

    html = verified_client(personas["security"]).get(f"/policies/publications/{pv.pk}/").content.decode()
    assert "Recorded decisions against this version" in html and 'data-changed="2"' in html
    assert f'data-decision="{office.pk}"' in html and f'data-decision="{home.pk}"' in html
