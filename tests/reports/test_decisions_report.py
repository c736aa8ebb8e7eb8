"""The Decisions report and the access review's "last used", from Logon decisions stored through the real
ingestion endpoint (a PEP's bearer token, JSON Lines), checked number by number."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from reports import actions
from reports.catalogue import Period, kinds
from tests.distribution.conftest import pki  # noqa: F401 - the CA the enforcement points' certificates need
from tests.distribution.helpers import register
from tests.reports.helpers import archive_of, offline_verify, public_key_file
from tests.sessions.helpers import Feed, post_events, session_id

pytestmark = pytest.mark.django_db

PERIOD = Period.of_days(date(2026, 11, 24), date(2026, 12, 1))  # 24 to 30 November, daily buckets
DAY = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
DENY_RISK = "score 70 is in the deny band"
STEP_UP = "step-up required"


def _post(point, events) -> None:
    response = post_events(point.token, events)
    assert response.status_code == 202, response.content


@pytest.fixture
def points(pki, personas):  # noqa: F811
    return register("pep-ldn"), register("pep-nyc")


def _logons(feed: Feed, spec) -> list[dict]:
    """``spec``: (identity, outcome, reason, days after DAY), one Logon each in a session of its own."""
    return [
        feed.logon(
            session_id(),
            identity=identity,
            outcome=outcome,
            reason=reason,
            at=DAY + timedelta(days=days, minutes=i),
            matched_rule="trader-rfq" if outcome == "allow" else None,
            target="rfq-gateway",
        )
        for i, (identity, outcome, reason, days) in enumerate(spec)
    ]


@pytest.fixture
def decisions(points):
    ldn, nyc = points
    feed_ldn, feed_nyc = Feed("pep-ldn"), Feed("pep-nyc")
    logons = _logons(
        feed_ldn,
        [
            ("tina", "allow", "allowed", 0),
            ("tina", "allow", "allowed", 0),
            ("tina", "deny", DENY_RISK, 1),
            ("algo-alpha", "step_up", STEP_UP, 1),
            ("algo-alpha", "deny", DENY_RISK, 2),
            ("tina", "allow", "allowed", -3),  # before the period: not counted
        ],
    )
    refused = feed_ldn.event(
        "reject", session=session_id(), msg_type="D", msg_seq_num=2, reject_type="j", rule="x", reason="D"
    )
    _post(ldn, [*logons, refused])
    _post(
        nyc,
        _logons(
            feed_nyc,
            [
                ("algo-alpha", "allow", "allowed", 6),
                ("bob", "deny", "bob may not reach rfq-gateway: no access rule", 6),
                ("bob", "deny", DENY_RISK, 6),
            ],
        ),
    )
    return points


def test_decisions_report_counts_outcomes_per_day_reasons_identities_and_points(decisions):
    report = kinds()["decisions"].build(PERIOD)
    summary = dict(report.summary)
    assert summary["Logon decisions"] == 8 and summary["Allowed"] == 3
    assert summary["Step-up required"] == 1 and summary["Denied"] == 4 and summary["Refused messages"] == 1
    over_time = report.charts[0]
    assert over_time.labels[0] == "2026-11-24" and len(over_time.labels) == 7
    series = {s.name: s.values for s in over_time.series}
    assert series == {
        "allow": [2, 0, 0, 0, 0, 0, 1],
        "step-up": [0, 1, 0, 0, 0, 0, 0],
        "deny": [0, 1, 1, 0, 0, 0, 2],
    }
    reasons = report.table("reasons").rows
    assert [(r["reason"], r["step_up"], r["deny"], r["total"]) for r in reasons] == [
        (DENY_RISK, 0, 3, 3),
        ("bob may not reach rfq-gateway: no access rule", 0, 1, 1),
        (STEP_UP, 1, 0, 1),
    ]
    assert (
        report.charts[1].labels[0] == DENY_RISK
        and report.charts[1].series[0].name == "deny"
        and report.charts[1].series[0].values[0] == 3
    )
    by_identity = {r["identity"]: r for r in report.table("by-identity").rows}
    assert [r["identity"] for r in report.table("by-identity").rows] == ["algo-alpha", "bob", "tina"]
    assert {k: by_identity["tina"][k] for k in ("allow", "step_up", "deny", "total")} == {
        "allow": 2,
        "step_up": 0,
        "deny": 1,
        "total": 3,
    }
    assert by_identity["algo-alpha"]["total"] == 3 and by_identity["algo-alpha"]["last"] == "2026-11-30T09:00:00Z"
    by_pep = {r["pep"]: r for r in report.table("by-pep").rows}
    assert (by_pep["pep-ldn"]["total"], by_pep["pep-ldn"]["rejected_messages"]) == (5, 1)
    assert (by_pep["pep-nyc"]["allow"], by_pep["pep-nyc"]["deny"]) == (1, 2)


def test_a_long_period_is_charted_per_week(decisions):
    report = kinds()["decisions"].build(Period.of_days(date(2026, 10, 1), date(2026, 12, 1)))
    series = {s.name: s.values for s in report.charts[0].series}
    assert len(report.charts[0].labels) == 9 and sum(series["allow"]) == 4  # the early Logon now counts
    assert report.charts[0].labels[-1] == "2026-11-26" and series["deny"][-1] == 3


def _queries() -> int:
    with CaptureQueriesContext(connection) as queries:
        kinds()["decisions"].build(PERIOD)
    return len(queries)


def test_decisions_report_queries_do_not_grow_with_decisions(decisions):
    before = _queries()
    ldn, _ = decisions
    feed = Feed("pep-ldn")
    _post(ldn, _logons(feed, [(f"trader{i}", "deny", f"reason {i}", i % 7) for i in range(30)]))
    assert _queries() == before
    assert dict(kinds()["decisions"].build(PERIOD).summary)["Denied"] == 34


def test_decisions_report_page_names_controls_period_and_reasons(decisions, personas, verified_client):
    html = verified_client(personas["compliance"]).get("/reports/decisions/?since=2026-11-24&until=2026-11-30")
    assert html.status_code == 200
    page = html.content.decode()
    assert "2026-11-24 to 2026-11-30 (UTC, inclusive)" in page and DENY_RISK in page
    assert "NYDFS 23 NYCRR 500.6" in page and page.count("<canvas data-chart=") == 2
    index = verified_client(personas["compliance"]).get("/reports/").content.decode()
    assert 'href="/reports/decisions/"' in index


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "pdf"])
def test_decisions_report_exports_verify_offline(fmt, decisions, personas, tmp_path):
    export = actions.request_report_export(personas["compliance"].user, report="decisions", fmt=fmt, period=PERIOD)
    built = actions.build_audit_export(str(export.pk))
    assert built.status == "done", built.error
    archive = archive_of(built)
    with zipfile.ZipFile(archive) as bundle:
        members = {name.rsplit("/", 1)[-1]: bundle.read(name) for name in bundle.namelist()}
    manifest = json.loads(members["manifest.json"])
    assert manifest["report"]["name"] == "decisions" and len(manifest["report"]["controls"]) == 2
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(members["by-pep.csv"].decode())))
        assert [(r["pep"], r["total"]) for r in rows] == [("pep-ldn", "5"), ("pep-nyc", "3")]
        assert set(members) >= {"reasons.csv", "by-identity.csv", "chart-decisions-over-time.csv"}
    elif fmt == "jsonl":
        reasons = [json.loads(line) for line in members["reasons.jsonl"].decode().splitlines()]
        assert (reasons[0]["reason"], reasons[0]["deny"]) == (DENY_RISK, 3)
    else:
        assert members["report.pdf"].startswith(b"%PDF") and b"ZT Console: Decisions" in members["report.pdf"]
    result = offline_verify(archive, "--public-key", public_key_file(tmp_path))
    assert result.returncode == 0, result.stderr


# --- the access review's "last used" ---------------------------------------------------------------------


def test_access_review_last_used_is_the_last_allowed_logon_through_the_line_rule(decisions, personas):
    from policies import actions as policy_actions
    from tests.policies.helpers import build_rfq_policy

    policy_actions.init_signing_key(None)
    objects = build_rfq_policy(personas)  # trader-rfq: tina, directly, on rfq-gateway
    policy_actions.create_access_rule(
        None,
        environment="prod",
        name="admins-all",
        subject_kind="role",
        subject_role="Administrator",
        target_segment=objects["segment"],
        message_types=["*"],
    )
    request = policy_actions.request_publication(personas["admin"].user, environment="prod")
    version = policy_actions.approve_publication(personas["security"].user, request)
    # The review reads the policy in force at the end of its period: this one was approved the day before
    # the fixed period starts, whatever today's date is.
    type(version).objects.filter(pk=version.pk).update(approved_at=DAY - timedelta(days=1))

    def last_used(period: Period) -> dict[str, str]:
        return {r["identity"]: r["last_used"] for r in kinds()["access-review"].build(period).table("access").rows}

    ldn, _ = decisions
    feed = Feed("pep-ldn")
    # Allowed through another rule, denied, and allowed after the period: none is a use of the line in it.
    other_rule = feed.logon(session_id(), identity="tina", at=DAY + timedelta(days=5), matched_rule="desk-fx")
    denied = feed.logon(session_id(), identity="tina", outcome="deny", at=DAY + timedelta(days=5), reason="x")
    later = feed.logon(
        session_id(), identity="tina", at=DAY + timedelta(days=7), matched_rule="trader-rfq", target="rfq-gateway"
    )
    _post(ldn, [other_rule, denied, later])
    assert last_used(PERIOD) == {"tina": "2026-11-24T09:01:00Z", "alice": "never used"}
    # At a resource of the line's segment: a use; at a target the rule does not reach: none.
    at_resource = feed.logon(
        session_id(), identity="tina", at=DAY + timedelta(days=1), matched_rule="trader-rfq", target="rfq-fix"
    )
    elsewhere = feed.logon(
        session_id(), identity="tina", at=DAY + timedelta(days=2), matched_rule="trader-rfq", target="oms-eu"
    )
    _post(ldn, [at_resource, elsewhere])
    assert last_used(PERIOD) == {"tina": "2026-11-25T09:00:00Z", "alice": "never used"}
    assert last_used(Period.of_days(date(2026, 11, 24), date(2026, 12, 2)))["tina"] == "2026-12-01T09:00:00Z"
    with CaptureQueriesContext(connection) as before:
        kinds()["access-review"].build(PERIOD)
    _post(ldn, [feed.logon(session_id(), identity=f"t{i}", at=DAY, matched_rule="trader-rfq") for i in range(20)])
    with CaptureQueriesContext(connection) as after:
        kinds()["access-review"].build(PERIOD)
    assert len(after) == len(before)
