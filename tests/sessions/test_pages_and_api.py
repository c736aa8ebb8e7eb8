"""The sessions page, a session's detail, the API lists and filters, and who sees what."""

from __future__ import annotations

import pytest

from accounts.actions import create_non_person_identity
from sessions.models import FixSession
from tests.sessions.helpers import Feed, post_events, session_id

pytestmark = pytest.mark.django_db


@pytest.fixture
def traffic(point, personas):
    """Three sessions at pep-ldn: the trader's algorithm (logged on), the trader's own (refused), a stranger's
    algorithm (ended)."""
    trader = personas["trader"].user.identity
    algo = create_non_person_identity(
        None,
        name="algo-tina",
        kind="algorithm",
        display_name="Tina's algo",
        sponsor=trader,
        environment="prod",
        sender_comp_ids=["TINA1"],
    )
    stranger = create_non_person_identity(
        None,
        name="algo-other",
        kind="algorithm",
        display_name="Other algo",
        sponsor=personas["admin"].user.identity,
        environment="prod",
        sender_comp_ids=["OTHER1"],
    )
    feed = Feed("pep-ldn")
    ids = {"sponsored": session_id(), "own": session_id(), "stranger": session_id()}
    events = [
        *feed.logged_on(ids["sponsored"], identity=algo.user.username, comp="TINA1"),
        feed.event("connection", session=ids["own"], listener="rfq", source_ip="198.51.100.7"),
        feed.logon(ids["own"], identity="tina", comp="TINA2", outcome="deny"),
        *feed.logged_on(ids["stranger"], identity=stranger.user.username, comp="OTHER1"),
        feed.event("disconnect", session=ids["stranger"], reason="closed"),
    ]
    assert post_events(point.token, events).status_code == 202
    return ids


def _ids(response) -> set[str]:
    return {row["session_id"] for row in response.json()["results"]}


def test_officers_see_every_session_and_traders_only_those_of_identities_they_are_or_sponsor(
    traffic, personas, verified_client
):
    for persona in ("admin", "security", "compliance"):
        assert _ids(verified_client(personas[persona]).get("/api/v1/sessions/")) == set(traffic.values())
    trader = verified_client(personas["trader"])
    assert _ids(trader.get("/api/v1/sessions/")) == {traffic["sponsored"], traffic["own"]}
    stranger = FixSession.objects.get(session_id=traffic["stranger"])
    assert trader.get(f"/api/v1/sessions/{stranger.pk}/").status_code == 404
    assert trader.get(f"/sessions/{stranger.pk}/").status_code == 404
    page = trader.get("/sessions/").content.decode()
    assert traffic["sponsored"] in page and traffic["stranger"] not in page
    decisions = trader.get("/api/v1/decisions/").json()["results"]
    assert {d["session_id"] for d in decisions} == {traffic["sponsored"], traffic["own"]}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("state=logged_on", {"sponsored"}),
        ("state=live", {"sponsored"}),
        ("state=ended", {"own", "stranger"}),
        ("state=refused", {"own"}),
        ("outcome=deny", {"own"}),
        ("identity=tina", {"own"}),
        ("pep=pep-ldn", {"sponsored", "own", "stranger"}),
        ("pep=pep-nyc", set()),
        ("environment=uat", set()),
    ],
)
def test_the_session_list_filters(traffic, personas, verified_client, query, expected):
    client = verified_client(personas["security"])
    assert _ids(client.get(f"/api/v1/sessions/?{query}")) == {traffic[k] for k in expected}
    page = client.get(f"/sessions/?{query}").content.decode()
    for key, sid in traffic.items():
        assert (sid in page) == (key in expected), (query, key)


def test_bad_filters_and_cursors_are_400s_naming_the_field(traffic, personas, verified_client):
    client = verified_client(personas["admin"])
    response = client.get("/api/v1/sessions/?state=sideways")
    assert response.status_code == 400 and "state" in response.json()
    response = client.get("/api/v1/sessions/?cursor=garbage")
    assert response.status_code == 400 and "cursor" in response.json()
    assert client.get("/sessions/?cursor=garbage&state=sideways").status_code == 200


def test_the_session_list_pages_by_keyset(point, personas, verified_client):
    feed = Feed("pep-ldn")
    events = [feed.event("connection", session=session_id(), listener="rfq", source_ip="127.0.0.1") for _ in range(7)]
    post_events(point.token, events)
    client = verified_client(personas["admin"])
    seen, url = [], "/api/v1/sessions/?page_size=3"
    while url:
        body = client.get(url).json()
        seen += _ids_list(body)
        url = body["next"]
    assert len(seen) == 7 and len(set(seen)) == 7


def _ids_list(body) -> list[str]:
    return [row["session_id"] for row in body["results"]]


def test_the_decision_log_is_queryable(traffic, personas, verified_client):
    client = verified_client(personas["compliance"])
    denied = client.get("/api/v1/decisions/?outcome=deny").json()["results"]
    assert [d["session_id"] for d in denied] == [traffic["own"]]
    assert denied[0]["inputs"]["source_ip"] == "127.0.0.1" and denied[0]["score"] == 45
    assert {d["session_id"] for d in client.get("/api/v1/decisions/?kind=logon&outcome=allow").json()["results"]} == {
        traffic["sponsored"],
        traffic["stranger"],
    }
    detail = client.get(f"/api/v1/decisions/{denied[0]['id']}/").json()
    assert detail["reason"] == "score 45 is in the deny band"


def test_the_detail_page_shows_the_timeline_tls_and_score(traffic, personas, verified_client):
    session = FixSession.objects.get(session_id=traffic["sponsored"])
    html = verified_client(personas["compliance"]).get(f"/sessions/{session.pk}/").content.decode()
    for text in ("TLSv1.3", "TLS_AES_256_GCM_SHA384", "ar-rfq", "rr-ip", "logon_decision", "session_live", "TINA1"):
        assert text in html, text
    assert "Terminate session" not in html  # compliance officers watch, they do not end sessions
    html = verified_client(personas["security"]).get(f"/sessions/{session.pk}/").content.decode()
    assert "Terminate session" in html
    from django.urls import reverse

    assert f'href="{reverse("policies:enforcement_point", args=[session.point_id])}"' in html
    trader_html = verified_client(personas["trader"]).get(f"/sessions/{session.pk}/").content.decode()
    assert "TINA1" in trader_html and "/policies/enforcement" not in trader_html  # no link to a page they may not open
    api = verified_client(personas["security"]).get(f"/api/v1/sessions/{session.pk}/").json()
    assert [e["type"] for e in api["timeline"]] == ["connection", "tls_handshake", "logon_decision", "session_live"]


def test_the_dashboard_tile_counts_sessions(traffic, personas, verified_client):
    import re

    def tile(persona) -> dict[str, str]:
        html = verified_client(personas[persona]).get("/").content.decode()
        article = html.split('data-testid="sessions-tile"', 1)[1].split("</article>", 1)[0]
        return dict(re.findall(r'data-count="([a-z_]+)">(\d+)<', article))

    assert tile("admin") == {"live": "1", "logged_on": "1", "refused": "1", "total": "3"}
    assert tile("trader") == {"live": "1", "logged_on": "1", "refused": "1", "total": "2"}


def test_terminating_needs_a_reason_and_a_live_session(traffic, personas, verified_client):
    from sessions.models import TerminationRequest

    client = verified_client(personas["security"])
    live = FixSession.objects.get(session_id=traffic["sponsored"])
    response = client.post(f"/api/v1/sessions/{live.pk}/terminate/", {}, content_type="application/json")
    assert response.status_code == 400 and "reason" in response.json()
    ended = FixSession.objects.get(session_id=traffic["stranger"])
    response = client.post(f"/api/v1/sessions/{ended.pk}/terminate/", {"reason": "x"}, content_type="application/json")
    assert response.status_code == 400 and response.json()["field"] == "session"
    response = client.post(f"/sessions/{live.pk}/terminate/", {"reason": "   "})
    assert response.status_code == 302 and not TerminationRequest.objects.exists()


def test_terminating_needs_a_fresh_code(traffic, personas, verified_client):
    from ztconsole.core.permissions import VERIFIED_AT_SESSION_KEY

    client = verified_client(personas["admin"])
    session = client.session
    session[VERIFIED_AT_SESSION_KEY] = 0
    session.save()
    live = FixSession.objects.get(session_id=traffic["sponsored"])
    response = client.post(f"/api/v1/sessions/{live.pk}/terminate/", {"reason": "x"}, content_type="application/json")
    assert response.status_code == 403
    response = client.post(f"/sessions/{live.pk}/terminate/", {"reason": "suspicious"})
    assert response.status_code == 302 and "/accounts/step-up/" in response["Location"]


def test_the_terminate_button_records_the_request_and_the_audit_event(traffic, personas, verified_client):
    from sessions.models import TerminationRequest
    from ztconsole.core.models import AuditEvent

    live = FixSession.objects.get(session_id=traffic["sponsored"])
    client = verified_client(personas["admin"])
    response = client.post(f"/sessions/{live.pk}/terminate/", {"reason": "desk closed early"})
    assert response.status_code == 302 and response["Location"] == f"/sessions/{live.pk}/"
    request = TerminationRequest.objects.get(session=live)
    assert (request.state, request.reason, request.requested_by) == (
        "pending",
        "desk closed early",
        personas["admin"].user,
    )
    event = AuditEvent.objects.get(action="sessions.terminate_requested")
    assert event.details["fix_session_id"] == live.session_id and event.details["reason"] == "desk closed early"
    page = client.get(f"/sessions/{live.pk}/").content.decode()
    assert "desk closed early" in page and "pending" in page
    # a second request while the first is pending is refused, and says why
    response = client.post(f"/sessions/{live.pk}/terminate/", {"reason": "again"}, follow=True)
    assert "already being terminated" in response.content.decode()
    assert TerminationRequest.objects.filter(session=live).count() == 1
    # unanswered for more than a minute (its task lost): asking again takes over
    from datetime import timedelta

    from django.utils import timezone

    TerminationRequest.objects.filter(pk=request.pk).update(requested_at=timezone.now() - timedelta(seconds=61))
    client.post(f"/sessions/{live.pk}/terminate/", {"reason": "again"})
    states = dict(TerminationRequest.objects.filter(session=live).values_list("reason", "state"))
    assert states == {"desk closed early": "failed", "again": "pending"}
