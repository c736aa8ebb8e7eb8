"""The audit explorer: every filter, their combinations, the URL that holds them, the event page, query counts."""

from __future__ import annotations

from datetime import UTC, datetime
from unittest import mock

import pytest
from django.db import connection, transaction
from django.db.models import Q
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext

from tests.core.audit_helpers import tamper
from ztconsole.core import audit
from ztconsole.core.explorer import is_refusal
from ztconsole.core.models import AuditEvent, CheckpointReason

pytestmark = pytest.mark.django_db

JAN = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
FEB = datetime(2026, 2, 10, 12, 0, tzinfo=UTC)
MAR = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def _request(ip: str, request_id: str):
    request = RequestFactory().get("/", REMOTE_ADDR=ip)
    request.request_id = request_id
    return request


def _at(moment, actor, action, target=None, details=None, request=None):
    with mock.patch("django.utils.timezone.now", return_value=moment), transaction.atomic():
        return audit.record(actor, action, target, details or {}, request=request)


@pytest.fixture
def log(personas):
    """A small log with a known answer for each filter: name -> seq."""
    alice, tina = personas["admin"].user, personas["trader"].user
    tina_identity = tina.identity
    seqs = {}
    seqs["jan_login"] = _at(JAN, alice, "auth.login", request=_request("10.0.0.1", "req-jan")).seq
    seqs["jan_failed"] = _at(
        JAN, None, "auth.login_failed", ("auth.user", "", "tina"), {"username": "tina"}, _request("203.0.113.9", "r2")
    ).seq
    seqs["feb_role"] = _at(
        FEB,
        alice,
        "identity.role_changed",
        tina_identity,
        {"from": "Trader", "to": "Compliance Officer"},
        _request("10.0.0.1", "req-feb"),
    ).seq
    seqs["feb_tina_login"] = _at(FEB, tina, "auth.login", request=_request("198.51.100.7", "req-tina")).seq
    seqs["mar_cert"] = _at(MAR, alice, "certificate.issued", ("certificates.certificate", "42", "CN=algo-rfq-7")).seq
    seqs["mar_rejected"] = _at(
        MAR, alice, "certificate.request_rejected", ("certificates.certificaterequest", "9", "CN=desk-fx-3")
    ).seq
    return seqs


def _seqs(client, query: str) -> set[int]:
    response = client.get(f"/audit/?{query}")
    assert response.status_code == 200, response.content[:500]
    return {event.seq for event in response.context["events"]}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("since=2026-02-01T00:00", {"feb_role", "feb_tina_login", "mar_cert", "mar_rejected"}),
        ("until=2026-02-10T12:00", {"jan_login", "jan_failed"}),
        ("since=2026-02-01T00:00&until=2026-03-01T00:00", {"feb_role", "feb_tina_login"}),
        ("since=2027-01-01T00:00", set()),
        ("actor=tina", {"feb_tina_login"}),
        ("action=auth.", {"jan_login", "jan_failed", "feb_tina_login"}),
        ("action=auth.login&action_match=exact", {"jan_login", "feb_tina_login"}),
        ("action=auth.login&action_match=prefix", {"jan_login", "jan_failed", "feb_tina_login"}),
        ("target_type=certificates.certificate", {"mar_cert"}),
        ("target_type=certificates.certificate&target_id=42", {"mar_cert"}),
        ("target_type=certificates.certificate&target_id=43", set()),
        ("identity=tina", {"jan_failed", "feb_role", "feb_tina_login"}),
        ("identity=nobody-at-all", set()),
        ("outcome=refused", {"jan_failed", "mar_rejected"}),
        ("ip=10.0.0.1", {"jan_login", "feb_role"}),
        ("request_id=req-tina", {"feb_tina_login"}),
        ("text=algo-rfq", {"mar_cert"}),
        ("text=DESK-FX", {"mar_rejected"}),
        ("actor=alice&outcome=success&since=2026-02-01T00:00", {"feb_role", "mar_cert"}),
        ("identity=tina&ip=198.51.100.7", {"feb_tina_login"}),
    ],
)
def test_each_filter_selects_exactly_its_events(query, expected, log, personas, verified_client):
    client = verified_client(personas["compliance"])
    # Signing in records nothing here (verify_session), so the log holds only the fixture's events.
    assert _seqs(client, query) == {log[name] for name in expected}


def test_success_is_everything_that_is_not_a_refusal(log, personas, verified_client):
    client = verified_client(personas["compliance"])
    assert _seqs(client, "outcome=success") == {log[n] for n in ("jan_login", "feb_role", "feb_tina_login", "mar_cert")}
    assert is_refusal("auth.otp_throttled") and is_refusal("enforcement.delivery_refused")
    assert not is_refusal("auth.login") and not is_refusal("identity.role_grant_requested")


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("ip=not-an-address", "ip"),
        ("text=ab", "text"),
        ("since=yesterday", "since"),
        ("since=2026-03-01T00:00&until=2026-02-01T00:00", "until"),
        ("target_id=42", "target_type"),
        ("outcome=maybe", "outcome"),
    ],
)
def test_bad_filter_is_a_400_naming_the_field(query, field, log, personas, verified_client):
    response = verified_client(personas["compliance"]).get(f"/audit/?{query}")
    assert response.status_code == 400
    assert field in response.context["form"].errors
    assert list(response.context["events"]) == []


def test_filters_are_held_in_the_url_across_pages(personas, verified_client):
    alice = personas["admin"].user
    for i in range(7):
        _at(FEB, alice, "identity.updated", ("accounts.identity", str(i), f"Trader {i}"))
        _at(FEB, None, "auth.login_failed", ("auth.user", "", f"user{i}"))
    client = verified_client(personas["compliance"])
    first = client.get("/audit/?actor=alice&action=identity.&page_size=3")
    html = first.content.decode()
    assert 'value="alice"' in html and 'value="identity."' in html
    page = first.context["page_obj"]
    assert [e.target_id for e in page.items] == ["6", "5", "4"]
    second = client.get(f"/audit/?actor=alice&action=identity.&page_size=3&cursor={page.next_cursor}")
    assert [e.target_id for e in second.context["page_obj"].items] == ["3", "2", "1"]
    assert "actor=alice&amp;action=identity.&amp;page_size=3&amp;cursor=" in second.content.decode()


FILTER_SETS = [
    "",
    "since=2026-01-01T00:00&until=2026-12-31T00:00",
    "actor=alice",
    "action=auth.&action_match=prefix",
    "action=auth.login&action_match=exact",
    "target_type=accounts.identity&target_id=1",
    "identity=tina",
    "outcome=refused",
    "outcome=success",
    "ip=10.0.0.1",
    "request_id=req-feb",
    "text=Trader",
    "actor=alice&since=2026-01-01T00:00&outcome=success&text=Trader&ip=10.0.0.1",
]


@pytest.mark.parametrize("query", FILTER_SETS)
def test_query_count_does_not_depend_on_page_size(query, personas, verified_client):
    alice = personas["admin"].user
    for i in range(30):
        _at(
            FEB, alice, "auth.login", ("accounts.identity", "1", f"Trader {i}"), request=_request("10.0.0.1", "req-feb")
        )
    client = verified_client(personas["compliance"])
    counts = []
    for size in (5, 25):
        client.get(f"/audit/?{query}&page_size={size}")  # warm the session and permission caches
        with CaptureQueriesContext(connection) as queries:
            response = client.get(f"/audit/?{query}&page_size={size}")
        assert response.status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1], f"{query}: {counts}"
    assert counts[0] <= 14, counts


def test_event_page_shows_the_whole_event_and_verifies_up_to_here(log, personas, verified_client, settings):
    with transaction.atomic():
        audit.checkpoint(CheckpointReason.MANUAL)
    _at(MAR, personas["admin"].user, "auth.logout")
    event = AuditEvent.objects.get(seq=log["feb_role"])
    response = verified_client(personas["compliance"]).get(f"/audit/{event.seq}/")
    assert response.status_code == 200
    html = response.content.decode()
    for shown in (event.hash, event.prev_hash, "req-feb", "10.0.0.1", "identity.role_changed", "Compliance Officer"):
        assert shown in html
    assert response.context["changes"] == [{"field": "value", "before": "Trader", "after": "Compliance Officer"}]
    check = response.context["check"]
    assert check.ok and check.covering is not None and check.covering.seq == log["mar_rejected"]
    assert 'data-verify-result="ok"' in html
    # An event after the last checkpoint still verifies, from that checkpoint on.
    latest = verified_client(personas["compliance"]).get(f"/audit/{log['mar_rejected'] + 1}/").context["check"]
    assert latest.ok and latest.anchor.seq == log["mar_rejected"] and latest.covering is None


def test_verify_up_to_here_finds_a_modified_event(log, personas, verified_client):
    with transaction.atomic():
        audit.checkpoint(CheckpointReason.MANUAL)
    tamper("UPDATE core_auditevent SET target_label = %s WHERE seq = %s", ["someone else", log["feb_role"]])
    client = verified_client(personas["compliance"])
    response = client.get(f"/audit/{log['feb_tina_login']}/")
    assert response.context["check"].ok is False
    assert f"#{log['feb_role']}" in response.context["check"].problem
    assert 'data-verify-result="fail"' in response.content.decode()


def test_rows_open_their_event_and_unknown_events_are_404(log, personas, verified_client):
    client = verified_client(personas["compliance"])
    assert f'href="/audit/{log["mar_cert"]}/"' in client.get("/audit/").content.decode()
    assert client.get("/audit/99999/").status_code == 404


@pytest.mark.parametrize("query", ["identity=tina", "outcome=refused", "identity=tina&outcome=refused"])
def test_or_filters_page_forwards_and_backwards_like_any_other(query, personas, verified_client):
    alice, tina = personas["admin"].user, personas["trader"].user
    for i in range(9):  # interleaved branches: tina acting, tina's identity targeted, others, refusals
        _at(FEB, tina, "auth.login")
        _at(FEB, alice, "identity.updated", tina.identity, {"i": i})
        _at(FEB, alice, "auth.login")
        _at(FEB, None, "auth.login_failed", ("auth.user", "", "tina" if i % 2 else "someone"))
        _at(FEB, tina, "auth.otp_failed")
    client = verified_client(personas["compliance"])
    concerns_tina = (
        Q(actor_id=tina.pk)
        | Q(target_type="accounts.identity", target_id=str(tina.identity.pk))
        | Q(target_type="auth.user", target_label="tina")
    )
    refused = Q(action__in=["auth.login_failed", "auth.otp_failed"])
    condition = {"identity=tina": concerns_tina, "outcome=refused": refused}.get(query, concerns_tina & refused)
    expected = list(AuditEvent.objects.filter(condition).order_by("-seq").values_list("seq", flat=True))
    assert len(expected) >= 9
    pages, response = [], client.get(f"/audit/?{query}&page_size=4")
    while True:
        page = response.context["page_obj"]
        pages.append([event.seq for event in page.items])
        if not page.has_next:
            break
        response = client.get(f"/audit/?{query}&page_size=4&cursor={page.next_cursor}")
    assert [seq for chunk in pages for seq in chunk] == expected
    back = []
    while page.has_previous:
        response = client.get(f"/audit/?{query}&page_size=4&cursor={page.previous_cursor}")
        page = response.context["page_obj"]
        back.append([event.seq for event in page.items])
    assert back[-1] == pages[0]


def test_verify_up_to_here_starts_after_a_retention_cut(personas, verified_client):
    from tests.core.audit_helpers import record_events

    record_events(6)
    audit.retention_checkpoint(4)
    with transaction.atomic():
        audit.delete_through(4)
    client = verified_client(personas["compliance"])
    response = client.get("/audit/6/")
    check = response.context["check"]
    assert check.ok and check.anchor.seq == 4 and check.from_seq == 5
    assert response.context["previous_seq"] == 5
    assert client.get("/audit/5/").context["previous_seq"] is None
