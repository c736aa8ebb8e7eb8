"""Every list, HTML and API: keyset pages that walk forwards and back, strict cursors, query counts that do
not grow with the page, and search with the same results on PostgreSQL and SQLite."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts import actions as account_actions
from accounts.models import DeviceRegistration, Identity, IdentityKind
from certificates import actions as certificate_actions
from policies import actions as policy_actions
from tests.certificates.helpers import ec_key, make_algo, make_csr
from tests.policies.helpers import build_rfq_policy
from ztconsole.core.keyset import InvalidCursor, Keyset, decode, encode

HTML_LISTS = [
    "accounts:identity_list",
    "accounts:device_list",
    "accounts:token_list",
    "accounts:token_inventory",
    "certificates:list",
    "core:audit_list",
    "alerts:list",
]
API_LISTS = [
    "api-token-list",
    "api-identity-list",
    "api-device-list",
    "api-certificate-list",
    "api-audit-events",
    "api-policy-segment-list",
    "api-policy-flow-list",
    "api-policy-access-rule-list",
    "api-policy-risk-rule-list",
    "api-policy-zone-list",
    "api-policy-country-list",
    "api-policy-test-case-list",
    "api-policy-publication-list",
]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


GARBAGE_CURSORS = [
    "not a cursor",
    "%%%",
    "x" * 5000,
    "é",
    _b64(b"\xff\xfe"),
    _b64(b"{}"),
    _b64(b"[1, 2, 3]"),
    _b64(json.dumps(["n", []]).encode()),
    _b64(json.dumps(["x", [1]]).encode()),
    _b64(json.dumps(["n", ["1"]]).encode()),
    _b64(json.dumps(["n", [True]]).encode()),
    _b64(json.dumps(["n", [2**70]]).encode()),
    _b64(json.dumps(["n", [1.5]]).encode()),
    _b64(json.dumps(["n", [None]]).encode()),
    _b64(json.dumps(["n", [{"a": 1}]]).encode()),
    _b64(json.dumps(["n", ["abc\x00", 1]]).encode()),
    _b64(json.dumps(["n", ["2026-01-01T00:00:00", 1]]).encode()),
    _b64(json.dumps(["n", [1, 2, 3, 4]]).encode()),
]


# --- the cursor codec ----------------------------------------------------------------------------


def test_cursors_round_trip_typed_values():
    moment = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
    token = encode("p", [moment, 42])
    assert decode(token, ("datetime", "int")) == ("p", [moment, 42])
    assert decode(encode("n", ["Zoë", 7]), ("text", "int")) == ("n", ["Zoë", 7])


@pytest.mark.parametrize("token", GARBAGE_CURSORS)
def test_crafted_cursors_are_refused_by_the_codec(token):
    for kinds in (("int",), ("datetime", "int")):
        with pytest.raises(InvalidCursor):
            decode(token, kinds)


def test_text_values_must_be_plain_strings():
    for values in (["abc\x00", 1], [1, 1], ["x" * 1001, 1]):
        with pytest.raises(InvalidCursor):
            decode(_b64(json.dumps(["n", values]).encode()), ("text", "int"))


def test_a_cursor_for_another_list_is_refused():
    with pytest.raises(InvalidCursor):
        decode(encode("n", ["Alice", 3]), ("datetime", "int"))


# --- seed data for every list --------------------------------------------------------------------


@pytest.fixture
def every_list_has_rows(personas, signing_key):
    """At least three rows behind every list (two publications), with the relations the rows show."""
    admin = personas["admin"].user
    algo = make_algo(personas["trader"].user)
    for n in range(3):
        account_actions.create_api_token(admin, algo.user, name=f"t{n}", scope="read", days=30)
        account_actions.register_device(
            admin,
            owner=personas[("trader", "compliance", "security")[n]].user.identity,
            kind="trader_workstation",
            platform="Windows 11",
            serial=f"LIST-{n}",
            hostname=f"ws-list-{n}.corp.example",
        )
    certificate_actions.init_ca(None)
    profile = certificate_actions.profile_by_name("fix-client")
    for _ in range(3):
        certificate_actions.issue_from_csr(None, identity=algo, profile=profile, csr_pem=make_csr(ec_key()))
    objects = build_rfq_policy(personas)
    for n in range(3):
        segment = policy_actions.create_segment(
            None, environment="prod", name=f"seg-{n}", resources=[{"name": f"r{n}", "address": f"h{n}:1", "venue": "V"}]
        )
        policy_actions.create_flow(None, source=objects["segment"], destination=segment, protocol="fix", port=9000 + n)
        policy_actions.create_access_rule(
            None,
            environment="prod",
            name=f"rule-{n}",
            subject_kind="identity",
            subject_identity=personas["trader"].user.identity,
            target_segment=segment,
            message_types=["R"],
        )
        policy_actions.create_network_zone(None, environment="prod", name=f"zone-{n}", cidrs=[f"10.{n}.0.0/16"])
        policy_actions.create_country_range(None, environment="prod", cidr=f"81.2.{n}.0/24", country="GB")
        policy_actions.create_test_case(
            None,
            environment="prod",
            name=f"case-{n}",
            request_data={"identity": "tina", "target": "rfq-gateway", "message_type": "R"},
            expected_outcome="allow",
        )
    pv = policy_actions.request_publication(personas["admin"].user, environment="prod")
    policy_actions.reject_publication(personas["security"].user, pv, reason="list test")
    policy_actions.request_publication(personas["admin"].user, environment="prod")
    _import_hardware_tokens(admin)
    from alerts.actions import raise_alert

    for n in range(3):
        raise_alert("sign_in_failures_address", f"address:192.0.2.{n}", f"192.0.2.{n}", message=f"burst {n}")


def _import_hardware_tokens(admin) -> None:
    from pathlib import Path

    from accounts.actions import mfa

    data = (Path(__file__).resolve().parents[1] / "oath" / "data" / "tokens.csv").read_bytes()
    summary = mfa.import_token_seeds(admin, data=data, filename="tokens.csv")
    assert len(summary.imported) >= 3


@pytest.fixture
def signing_key(db):
    return policy_actions.init_signing_key(None)


def _queries(client, url: str, params: dict, api: bool) -> tuple[int, int]:
    client.get(url, params)  # warm per-process caches (content types, permissions)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, params, HTTP_ACCEPT="application/json" if api else "text/html")
    assert response.status_code == 200, (url, response.content[:300])
    if api:
        rows = len(response.json()["results"])
    else:
        rows = len(response.context["page_obj"]) if "page_obj" in response.context else -1
    return len(captured), rows


# --- query counts --------------------------------------------------------------------------------


def test_list_query_counts_are_independent_of_page_size(every_list_has_rows, personas, verified_client):
    """Every API list at page_size 1 and 100, every HTML list likewise: the same number of queries."""
    client = verified_client(personas["admin"])
    differing = []
    for name, api in [(n, True) for n in API_LISTS] + [(n, False) for n in HTML_LISTS]:
        small, one = _queries(client, reverse(name), {"page_size": 1}, api=api)
        large, many = _queries(client, reverse(name), {"page_size": 100}, api=api)
        assert one == 1 and many >= 2, (name, many)  # enough rows that an N+1 would show
        if small != large:
            differing.append(f"{name}: {small} queries for 1 row, {large} for {many}")
    assert differing == []


def test_deep_pages_cost_the_same_queries_as_the_first(every_list_has_rows, personas, verified_client):
    client = verified_client(personas["admin"])
    for name in HTML_LISTS:
        first = client.get(reverse(name), {"page_size": 1})
        cursor = first.context["page_obj"].next_cursor
        assert cursor, name
        first_count, _ = _queries(client, reverse(name), {"page_size": 1}, api=False)
        next_count, rows = _queries(client, reverse(name), {"page_size": 1, "cursor": cursor}, api=False)
        assert rows == 1 and next_count == first_count, name


# --- cursors from the query string ---------------------------------------------------------------


@pytest.mark.parametrize("name", API_LISTS)
def test_api_lists_answer_400_naming_the_cursor_for_garbage(name, personas, verified_client):
    client = verified_client(personas["admin"])
    for token in GARBAGE_CURSORS:
        response = client.get(reverse(name), {"cursor": token})
        assert response.status_code == 400, (name, token, response.status_code)
        assert "cursor" in response.json()
    assert client.get(reverse(name), {"page_size": "lots"}).status_code == 400


@pytest.mark.parametrize("name", HTML_LISTS)
def test_html_lists_fall_back_to_the_first_page_for_garbage(name, personas, verified_client):
    client = verified_client(personas["admin"])
    first = client.get(reverse(name))
    for token in GARBAGE_CURSORS:
        response = client.get(reverse(name), {"cursor": token, "page_size": "x"})
        assert response.status_code == 200, (name, token)
        assert list(response.context["page_obj"]) == list(first.context["page_obj"])


def test_html_pages_walk_forwards_and_back_over_every_row(personas, verified_client):
    sponsor = personas["trader"].user.identity
    for n in range(7):
        account_actions.create_non_person_identity(
            None,
            name=f"walk-{n}",
            kind=IdentityKind.SERVICE,
            display_name="Same name",
            sponsor=sponsor,
            environment="dev",
        )
    client = verified_client(personas["admin"])
    url = reverse("accounts:identity_list")
    expected = list(Identity.objects.order_by("display_name", "id").values_list("pk", flat=True))
    seen, pages, params = [], [], {"page_size": 3}
    while True:
        page = client.get(url, params).context["page_obj"]
        pages.append([i.pk for i in page])
        seen.extend(i.pk for i in page)
        if not page.has_next:
            break
        params = {"page_size": 3, "cursor": page.next_cursor}
    assert seen == expected  # ties on display_name are broken by id: nothing skipped or repeated
    backwards = []
    while page.has_previous:
        page = client.get(url, {"page_size": 3, "cursor": page.previous_cursor}).context["page_obj"]
        backwards.append([i.pk for i in page])
    assert backwards[-1] == pages[0] and len(backwards) == len(pages) - 1


def test_api_next_links_walk_every_row_newest_first(personas, verified_client):
    client = verified_client(personas["admin"])
    url, seen = reverse("api-identity-list") + "?page_size=2", []
    while url:
        body = client.get(url).json()
        seen.extend(row["id"] for row in body["results"])
        url = body["next"]
    assert seen == list(Identity.objects.order_by("-id").values_list("pk", flat=True))


def test_keyset_orderings_are_total_and_reversible(db):
    keyset = Keyset(("-created_at", "-id"))
    assert keyset.names == ("created_at", "id")
    with pytest.raises(InvalidCursor):
        keyset.paginate(DeviceRegistration.objects.all(), encode("n", ["yesterday", 1]))


# --- search: one meaning on both databases -------------------------------------------------------


SEARCHES = {
    "orion": {"Orion Desk Lead", "orion-algo"},
    "ORION": {"Orion Desk Lead", "orion-algo"},
    "desk lea": {"Orion Desk Lead"},
    "ALGO7": {"orion-algo"},  # a SenderCompID
    "@example.test": {"Alice", "Sam", "Tina", "Carla", "Oscar", "Orion Desk Lead"},  # e-mail addresses
    "100%": {"Percent 100%"},  # LIKE wildcards are literal
    "o_b": set(),
    'say "hi"': {'They say "hi"'},
    "nothing like this": set(),
}


@pytest.fixture
def searchable(personas):
    admin = personas["admin"].user
    account_actions.create_identity(
        admin,
        username="orion",
        email="orion@example.test",
        full_name="Orion Desk Lead",
        role="Trader",
        password="a-long-enough-password-42",
        desk=None,
        expected_countries=[],
        employment_status="employee",
    )
    account_actions.create_non_person_identity(
        None,
        name="orion-algo",
        kind=IdentityKind.ALGORITHM,
        display_name="orion-algo",
        sponsor=personas["trader"].user.identity,
        environment="uat",
        sender_comp_ids=["ALGO7", "ALGO8"],
    )
    for name in ("Percent 100%", 'They say "hi"'):
        account_actions.create_non_person_identity(
            None,
            name=name.split()[0].lower() + "-svc",
            kind=IdentityKind.SERVICE,
            display_name=name,
            sponsor=personas["trader"].user.identity,
            environment="dev",
        )


@pytest.mark.parametrize("term", list(SEARCHES))
def test_identity_search_finds_substrings_in_every_searchable_field(term, searchable, personas, verified_client):
    client = verified_client(personas["admin"])
    found = {row["display_name"] for row in _all(client, reverse("api-identity-list"), {"q": term})}
    assert found == SEARCHES[term], connection.vendor
    page = client.get(reverse("accounts:identity_list"), {"q": term})
    assert {i.display_name for i in page.context["page_obj"]} == SEARCHES[term]


def test_search_stays_in_sync_with_changes(searchable, personas, verified_client):
    client = verified_client(personas["admin"])
    orion = Identity.objects.get(user__username="orion")
    orion.display_name = "Vega Desk Lead"
    orion.save()
    orion.user.email = "vega@elsewhere.test"
    orion.user.save()
    assert {r["display_name"] for r in _all(client, reverse("api-identity-list"), {"q": "vega"})} == {"Vega Desk Lead"}
    assert _all(client, reverse("api-identity-list"), {"q": "orion@"}) == []
    assert {r["display_name"] for r in _all(client, reverse("api-identity-list"), {"q": "elsewhere"})} == {
        "Vega Desk Lead"
    }


def test_device_search_covers_serial_hostname_and_owner(searchable, personas, verified_client):
    owner = Identity.objects.get(user__username="orion")
    account_actions.register_device(
        personas["admin"].user, owner=owner, kind="server", platform="RHEL 9", serial="SRV-77", hostname="pricer.lon"
    )
    account_actions.register_device(
        personas["admin"].user,
        owner=personas["trader"].user.identity,
        kind="trader_workstation",
        platform="Windows 11",
        serial="WS-12",
        hostname="tina-pc.lon",
    )
    client = verified_client(personas["admin"])
    url = reverse("api-device-list")
    for term, serials in {
        "srv-7": {"SRV-77"},
        "PRICER": {"SRV-77"},
        "desk lead": {"SRV-77"},
        ".lon": {"SRV-77", "WS-12"},
    }.items():
        assert {row["serial"] for row in _all(client, url, {"q": term})} == serials, term
    DeviceRegistration.objects.filter(serial="WS-12").delete()
    assert {row["serial"] for row in _all(client, url, {"q": ".lon"})} == {"SRV-77"}


def test_search_needs_three_characters(personas, verified_client):
    client = verified_client(personas["admin"])
    response = client.get(reverse("api-identity-list"), {"q": "al"})
    assert response.status_code == 400 and "q" in response.json()
    page = client.get(reverse("accounts:identity_list"), {"q": "al"})
    assert page.status_code == 200 and list(page.context["page_obj"]) == []
    assert b"at least 3 characters" in page.content


def test_sqlite_search_triggers_survive_a_table_rebuild(db):
    """Django rebuilds a SQLite table to alter it, dropping its triggers; the post-migrate check restores them."""
    if connection.vendor != "sqlite":
        pytest.skip("FTS5 triggers exist on SQLite only")
    from accounts.search import FTS_INDEXES, IDENTITY_FTS
    from ztconsole.core.search import ensure_fts_indexes

    with connection.cursor() as cursor:
        cursor.execute(f"DROP TRIGGER {IDENTITY_FTS.trigger_names()[0]}")
    assert ensure_fts_indexes(FTS_INDEXES) == [IDENTITY_FTS.table]
    assert ensure_fts_indexes(FTS_INDEXES) == []


def _all(client, url: str, params: dict) -> list[dict]:
    response = client.get(url, {**params, "page_size": 500})
    assert response.status_code == 200, response.content
    return response.json()["results"]


BOUNDED_LISTS = ["accounts:desk_list", "certificates:requests", "policies:publications"]


def _more_rows(personas, algo) -> None:
    from accounts.models import Desk

    for n in range(3):
        Desk.objects.create(name=f"Extra desk {n}")
        desk = Desk.objects.get(name=f"Extra desk {n}")
        Identity.objects.filter(pk=personas["trader"].user.identity.pk).update(desk=desk)
    profile = certificate_actions.profile_by_name("fix-client")
    for _ in range(3):
        certificate_actions.request_certificate(
            personas["trader"].user, identity=algo, profile=profile, csr_pem=make_csr(ec_key())
        )
    pv = policy_actions.request_publication(personas["admin"].user, environment="prod")
    policy_actions.reject_publication(personas["security"].user, pv, reason="more rows")


def test_bounded_lists_cost_the_same_queries_with_more_rows(every_list_has_rows, personas, verified_client):
    """Lists shown whole (desks) or capped (requests, publications): more rows, not more queries."""
    client = verified_client(personas["admin"])
    before = {name: _queries(client, reverse(name), {}, api=False)[0] for name in BOUNDED_LISTS}
    _more_rows(personas, Identity.objects.get(user__username="algo-alpha"))
    after = {name: _queries(client, reverse(name), {}, api=False)[0] for name in BOUNDED_LISTS}
    assert after == before
