"""POST /api/v1/enforcement/events: validated, stored once, in order, projected; bad batches refused whole."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from sessions.models import Decision, FixSession, PepEvent
from tests.sessions.helpers import Feed, ndjson, post_events, session_id

pytestmark = pytest.mark.django_db


def test_a_batch_is_stored_and_turned_into_the_session_state(point):
    feed, sid = Feed("pep-ldn"), session_id()
    events = [
        *feed.logged_on(sid),
        feed.event("heartbeat", session=sid, direction="client", msg_seq_num=2, venue_seq=1),
    ]
    response = post_events(point.token, events)
    assert response.status_code == 202, response.content
    assert response.json() == {"received": 5, "sessions": 1}
    session = FixSession.objects.get(session_id=sid)
    assert (session.state, session.point_id, session.environment) == ("logged_on", point.point.pk, "prod")
    assert (session.sender_comp_id, session.target_comp_id, session.identity_name) == ("ALPHA1", "VENUE", "algo-alpha")
    assert (session.tls_version, session.cipher) == ("TLSv1.3", "TLS_AES_256_GCM_SHA384")
    assert (session.outcome, session.score, session.matched_rule, session.bundle_version) == ("allow", 15, "ar-rfq", 3)
    assert session.contributions[0]["rule_id"] == "rr-ip"
    assert (session.heartbeat_interval, session.client_seq, session.venue_seq) == (30, 2, 1)
    assert session.last_message_at is not None and session.ended_at is None
    assert list(PepEvent.objects.order_by("seq").values_list("seq", flat=True)) == [1, 2, 3, 4, 5]
    decision = Decision.objects.get()
    assert (decision.kind, decision.outcome, decision.session_id) == ("logon", "allow", sid)
    assert decision.inputs["sender_comp_id"] == "ALPHA1" and decision.inputs["contributions"]


def test_a_session_split_across_batches_ends_in_the_latest_state(point):
    feed, sid = Feed("pep-ldn"), session_id()
    assert post_events(point.token, feed.logged_on(sid)).status_code == 202
    later = [
        feed.event("logout", session=sid, initiator="client", reason="end of day"),
        feed.event("disconnect", session=sid, reason="closed", messages_in=9, messages_out=8, rejected=0),
    ]
    assert post_events(point.token, later).status_code == 202
    session = FixSession.objects.get(session_id=sid)
    assert (session.state, session.ended_by, session.end_reason) == ("logged_out", "client", "end of day")
    assert (session.messages_in, session.messages_out) == (9, 8)
    assert session.ended_at is not None


def test_a_replayed_batch_stores_nothing_twice_and_never_moves_a_session_back(point):
    feed, sid = Feed("pep-ldn"), session_id()
    first = feed.logged_on(sid)
    assert post_events(point.token, first).status_code == 202
    assert post_events(point.token, [feed.event("disconnect", session=sid, reason="closed")]).status_code == 202
    # The spool delivers the first batch again (a 2xx lost on the way back): nothing changes.
    response = post_events(point.token, first)
    assert response.status_code == 202 and response.json()["sessions"] == 0
    assert PepEvent.objects.count() == 5
    assert Decision.objects.count() == 1
    assert FixSession.objects.get(session_id=sid).state == "disconnected"


def test_a_batch_that_overlaps_stored_events_and_repeats_a_line_stores_each_event_once(point):
    """A spool replay that carries stored events and new ones, a line sent twice in one body, and events of the
    PEP's next run (a new boot, its seq from 1 again): each (boot, seq) is stored once, the new ones all."""
    feed, sid = Feed("pep-ldn"), session_id()
    first = feed.logged_on(sid)
    assert post_events(point.token, first[:3]).status_code == 202
    beat = feed.event("heartbeat", session=sid, direction="client", msg_seq_num=2, venue_seq=1)
    restarted, other = Feed("pep-ldn"), session_id()
    again = [*first, beat, beat, *restarted.logged_on(other)]
    response = post_events(point.token, again)
    assert response.status_code == 202, response.content
    stored = list(PepEvent.objects.order_by("boot", "seq").values_list("boot", "seq"))
    assert sorted(stored) == sorted({(e["boot"], e["seq"]) for e in again})
    assert len(stored) == 5 + 4
    assert Decision.objects.count() == 2
    assert FixSession.objects.get(session_id=sid).state == "logged_on"
    assert FixSession.objects.get(session_id=other).state == "logged_on"


def test_a_line_repeated_in_one_batch_is_applied_once(point):
    """The projection applies what it is given: a repeated line must not count a refused message twice."""
    feed, sid = Feed("pep-ldn"), session_id()
    reject = feed.event(
        "reject", session=sid, msg_type="D", msg_seq_num=2, reject_type="j", rule="ar-rfq", reason="D not granted"
    )
    # the same event again, as another serialisation of the same object (keys in another order)
    again = json.dumps(dict(reversed(list(reject.items()))))
    body = ndjson([*feed.logged_on(sid), reject]) + again.encode() + b"\n"
    assert post_events(point.token, body).status_code == 202
    assert FixSession.objects.get(session_id=sid).rejected == 1
    assert Decision.objects.filter(kind="reject").count() == 1


def test_two_events_under_one_number_refuse_the_batch(point):
    feed, sid = Feed("pep-ldn"), session_id()
    events = feed.logged_on(sid)
    clash = {**events[3], "seq": events[1]["seq"]}
    response = post_events(point.token, [*events, clash])
    assert response.status_code == 400, response.content
    body = response.json()
    assert (body["line"], body["field"]) == (len(events) + 1, "seq"), body
    assert "line 2" in body["detail"]
    assert not PepEvent.objects.exists() and not FixSession.objects.exists()


def test_events_of_several_sessions_in_one_batch_apply_each_in_seq_order(point):
    feed = Feed("pep-ldn")
    a, b = session_id(), session_id()
    events = [*feed.logged_on(a), *feed.logged_on(b), feed.event("disconnect", session=a, reason="gone")]
    # Lines arrive out of order within the batch: the projection still applies each session's events by seq.
    events = [events[8], *events[:8]]
    assert post_events(point.token, events).status_code == 202
    assert FixSession.objects.get(session_id=a).state == "disconnected"
    assert FixSession.objects.get(session_id=b).state == "logged_on"


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda e: e.update(seq="seven"), "seq"),
        (lambda e: e.pop("session"), "session"),
        (lambda e: e.update(session="not-hex"), "session"),
        (lambda e: e.update(type="teleport"), "type"),
        (lambda e: e.update(format="v0"), "format"),
        (lambda e: e.update(time="yesterday"), "time"),
        (lambda e: e.update(outcome="maybe"), "outcome"),
    ],
)
def test_a_bad_event_refuses_the_whole_batch_naming_its_line_and_field(point, mutate, field):
    feed, sid = Feed("pep-ldn"), session_id()
    events = feed.logged_on(sid)
    mutate(events[2])  # the logon decision, third line
    response = post_events(point.token, events)
    assert response.status_code == 400, response.content
    body = response.json()
    assert (body["line"], body["field"]) == (3, field), body
    assert "line 3" in body["detail"]
    assert not PepEvent.objects.exists() and not FixSession.objects.exists() and not Decision.objects.exists()


def test_a_line_that_is_not_json_is_named(point):
    feed = Feed("pep-ldn")
    body = ndjson([feed.event("started", listeners={"rfq": 1})]) + b"{not json\n"
    response = post_events(point.token, body)
    assert response.status_code == 400
    assert (response.json()["line"], response.json()["field"]) == (2, "event")
    assert not PepEvent.objects.exists()


def test_a_pep_reporting_another_peps_session_is_refused(point, other_point):
    nyc, sid = Feed("pep-nyc"), session_id()
    assert post_events(other_point.token, nyc.logged_on(sid)).status_code == 202
    # pep-ldn's token with events that say they are pep-nyc's: refused whole, pep-nyc's session untouched.
    forged = [
        nyc.event("logout", session=sid, initiator="pep", reason="forged"),
        nyc.event("disconnect", session=sid, reason="x"),
    ]
    response = post_events(point.token, forged)
    assert response.status_code == 403
    assert (response.json()["line"], response.json()["field"]) == (1, "pep")
    assert FixSession.objects.get(session_id=sid).state == "logged_on"
    # nor may it claim another environment
    ldn = Feed("pep-ldn", environment="uat")
    response = post_events(point.token, [ldn.event("started", listeners={})])
    assert response.status_code == 403 and response.json()["field"] == "environment"
    # the same session id under pep-ldn's own name is pep-ldn's own session, a different row
    ldn = Feed("pep-ldn")
    assert post_events(point.token, ldn.logged_on(sid)).status_code == 202
    assert FixSession.objects.filter(session_id=sid).count() == 2


def test_only_an_enforcement_points_token_may_post_events(point, personas, verified_client):
    feed = Feed("pep-ldn")
    body = ndjson([feed.event("started", listeners={})])
    assert post_events("ztpep_000000000000_" + "x" * 40, body).status_code in (401, 403)
    admin = verified_client(personas["admin"])
    response = admin.post("/api/v1/enforcement/events", data=body, content_type="application/x-ndjson")
    assert response.status_code in (401, 403)
    assert not PepEvent.objects.exists()


def test_events_must_be_sent_as_json_lines(point):
    feed = Feed("pep-ldn")
    response = post_events(point.token, ndjson([feed.event("started", listeners={})]), content_type="application/json")
    assert response.status_code == 415 and response.json()["field"] == "Content-Type"


def test_identity_and_peer_certificate_are_linked_when_the_console_knows_them(point, personas):
    from certificates.models import Certificate

    cert = Certificate.objects.get(pk=point.certificate.pk)  # any certificate the CA issued will do
    identity = personas["trader"].user.identity
    feed, sid = Feed("pep-ldn"), session_id()
    post_events(point.token, feed.logged_on(sid, identity="tina", fingerprint=cert.sha256))
    session = FixSession.objects.get(session_id=sid)
    assert session.identity_id == identity.pk and session.certificate_id == cert.pk
    assert Decision.objects.get().identity_id == identity.pk
    unknown = session_id()
    post_events(point.token, feed.logged_on(unknown, identity="nobody"))
    session = FixSession.objects.get(session_id=unknown)
    assert session.identity_id is None and session.identity_name == "nobody" and session.certificate_id is None


def test_a_refused_logon_and_a_refused_message_land_in_the_decision_log(point):
    feed, denied, live = Feed("pep-ldn"), session_id(), session_id()
    events = [
        feed.event("connection", session=denied, listener="rfq", source_ip="203.0.113.9"),
        feed.logon(denied, outcome="deny"),
        feed.event("logout", session=denied, initiator="pep", reason="score 45 is in the deny band"),
        feed.event("disconnect", session=denied, reason="refused"),
        *feed.logged_on(live),
        feed.event(
            "reject", session=live, msg_type="D", msg_seq_num=2, reject_type="j", rule="ar-rfq", reason="D not granted"
        ),
    ]
    assert post_events(point.token, events).status_code == 202
    refused = FixSession.objects.get(session_id=denied)
    assert (refused.state, refused.outcome, refused.end_reason) == ("refused", "deny", "score 45 is in the deny band")
    assert FixSession.objects.get(session_id=live).rejected == 1
    log = {(d.kind, d.outcome, d.msg_type) for d in Decision.objects.all()}
    assert log == {("logon", "deny", "A"), ("logon", "allow", "A"), ("reject", "reject", "D")}


def test_a_handshake_refused_is_a_refused_session(point):
    feed, sid = Feed("pep-ldn"), session_id()
    events = [
        feed.event("connection", session=sid, listener="rfq", source_ip="127.0.0.1"),
        feed.event("tls_refused", session=sid, reason="certificate revoked", source_ip="127.0.0.1"),
    ]
    assert post_events(point.token, events).status_code == 202
    session = FixSession.objects.get(session_id=sid)
    assert (session.state, session.end_reason) == ("refused", "certificate revoked")
    assert session.ended_at is not None


def test_point_events_are_stored_without_making_sessions(point):
    feed = Feed("pep-ldn")
    events = [
        feed.event("started", listeners={"rfq": 9876}, version=3),
        feed.event("bundle_applied", source="pull", version=3, sha256="cd" * 32),
        feed.event("console_unreachable", detail="timeout"),
    ]
    assert post_events(point.token, events).json() == {"received": 3, "sessions": 0}
    assert PepEvent.objects.count() == 3 and not FixSession.objects.exists()


def test_a_batch_costs_the_same_number_of_queries_whatever_its_size(point):
    """Batches of 10 and of 500 events (over as many sessions) take the same, small number of statements."""
    from sessions.actions import ingest_events

    feed = Feed("pep-ldn")
    counts = {}
    for size in (10, 500):
        events = []
        while len(events) < size:
            events += feed.logged_on(session_id())
        events = events[:size]
        with CaptureQueriesContext(connection) as queries:
            result = ingest_events(point.point, ndjson(events))
        assert result.received == size
        statements = [q["sql"] for q in queries]
        reads = [sql for sql in statements if sql.startswith("SELECT")]
        # lock, (PostgreSQL) which of the batch's events are stored already, identities, the sessions touched,
        # certificates
        assert len(reads) <= 5, reads
        counts[size] = (len(reads), len(statements))
    assert counts[10][0] == counts[500][0]
    if connection.vendor == "postgresql":
        # SQLite caps the parameters of one statement, so there a big batch's inserts come in chunks.
        assert counts[10] == counts[500] and counts[500][1] <= 11, counts
    stored = json.loads(PepEvent.objects.order_by("seq").first().line)
    assert stored["seq"] == 1 and stored["type"] == "connection"
