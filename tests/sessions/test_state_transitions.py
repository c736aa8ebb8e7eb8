"""The event-to-state table of docs/sessions.md, one row per path a session takes."""

from __future__ import annotations

import pytest

from sessions.models import FixSession
from tests.sessions.helpers import Feed, post_events, session_id

pytestmark = pytest.mark.django_db

TLS = {"tls_version": "TLSv1.2", "cipher": "ECDHE-ECDSA-AES256-GCM-SHA384", "peer_fingerprint": "ab" * 32}


def _events(feed: Feed, sid: str, path: list[str]) -> list[dict]:
    out = []
    for step in path:
        if step == "connection":
            out.append(feed.event("connection", session=sid, listener="rfq", source_ip="127.0.0.1"))
        elif step == "tls":
            out.append(feed.event("tls_handshake", session=sid, **TLS))
        elif step == "tls_refused":
            out.append(feed.event("tls_refused", session=sid, reason="no shared cipher"))
        elif step in ("allow", "deny", "step_up"):
            out.append(feed.logon(sid, outcome=step))
        elif step == "live":
            out.append(feed.event("session_live", session=sid, venue_seq=1))
        elif step == "heartbeat":
            out.append(feed.event("heartbeat", session=sid, direction="venue", msg_seq_num=5, client_seq=4))
        elif step == "protocol_error":
            out.append(feed.event("protocol_error", session=sid, state="logon", reason="bad checksum"))
        elif step.startswith("logout:"):
            out.append(feed.event("logout", session=sid, initiator=step.split(":")[1], reason="bye"))
        elif step == "disconnect":
            out.append(feed.event("disconnect", session=sid, reason="closed"))
    return out


@pytest.mark.parametrize(
    ("path", "states"),
    [
        (["connection"], ["connecting"]),
        (["connection", "tls"], ["connecting", "tls_established"]),
        (["connection", "tls", "allow"], ["connecting", "tls_established", "tls_established"]),
        (["connection", "tls", "allow", "live", "heartbeat"], [None, None, None, "logged_on", "logged_on"]),
        (["connection", "tls_refused", "disconnect"], ["connecting", "refused", "refused"]),
        (["connection", "tls", "deny", "logout:pep", "disconnect"], [None, None, "refused", "refused", "refused"]),
        (["connection", "tls", "step_up", "logout:pep", "disconnect"], [None, None, "refused", "refused", "refused"]),
        (["connection", "tls", "allow", "live", "logout:client", "disconnect"], [None] * 4 + ["logged_out"] * 2),
        (["connection", "tls", "allow", "live", "logout:console", "disconnect"], [None] * 4 + ["logged_out"] * 2),
        (["connection", "tls", "allow", "live", "disconnect"], [None] * 4 + ["disconnected"]),
        (["connection", "tls", "protocol_error", "disconnect"], [None, None, "tls_established", "disconnected"]),
    ],
)
def test_each_event_moves_the_session_as_the_table_says(point, path, states):
    feed, sid = Feed("pep-ldn"), session_id()
    for event, expected in zip(_events(feed, sid, path), states, strict=True):
        assert post_events(point.token, [event]).status_code == 202
        if expected is not None:
            assert FixSession.objects.get(session_id=sid).state == expected, (event["type"], expected)
    session = FixSession.objects.get(session_id=sid)
    assert (session.ended_at is not None) == (session.state in ("logged_out", "disconnected", "refused"))


def test_a_session_first_seen_mid_way_is_still_shown(point):
    """Events whose connection was lost from a full spool still make a row, from the first event seen."""
    feed, sid = Feed("pep-ldn"), session_id()
    _events(feed, sid, ["connection", "tls"])  # emitted, never delivered
    assert post_events(point.token, _events(feed, sid, ["allow", "live"])).status_code == 202
    assert FixSession.objects.get(session_id=sid).state == "logged_on"
