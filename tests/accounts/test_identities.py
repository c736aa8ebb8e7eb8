"""Identity lifecycle in the pages and the API: one action per verb, audited, with clear errors."""

from __future__ import annotations

import json
import time

import pytest
from django.test import Client
from django.urls import reverse

from accounts import actions
from accounts.actions import VERIFIED_AT_SESSION_KEY
from accounts.models import ApiToken, Desk, Identity, IdentityKind, IdentityStatus
from tests.conftest import PASSWORD
from ztconsole.core.models import AuditEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def algo(personas):
    return actions.create_non_person_identity(
        personas["admin"].user,
        name="algo-rfq-1",
        kind=IdentityKind.ALGORITHM,
        display_name="RFQ algo 1",
        sponsor=personas["trader"].user.identity,
        environment="uat",
        sender_comp_ids=["ALGO1", "ALGO1B"],
    )


def test_non_person_identity_has_sponsor_environment_and_comp_ids(algo, personas):
    assert algo.sponsor == personas["trader"].user.identity
    assert algo.sender_comp_ids == ["ALGO1", "ALGO1B"]
    assert not algo.user.has_usable_password()
    event = AuditEvent.objects.get(action="identity.created", target_id=str(algo.pk))
    assert event.details["sponsor"] == "tina"


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"sponsor": None}, "sponsor", "needs a human sponsor"),
        ({"environment": "moon"}, "environment", "prod, uat or dev"),
        ({"sender_comp_ids": []}, "sender_comp_ids", "at least one SenderCompID"),
        ({"sender_comp_ids": ["ALGO1"]}, "sender_comp_ids", "already belongs to"),
        ({"sender_comp_ids": ["bad id!"]}, "sender_comp_ids", "not a valid FIX CompID"),
        ({"name": "Bad Name"}, "name", "lower-case"),
    ],
)
def test_non_person_identity_bad_input(algo, personas, changes, field, message):
    arguments = {
        "name": "algo-rfq-2",
        "kind": IdentityKind.ALGORITHM,
        "display_name": "RFQ algo 2",
        "sponsor": personas["trader"].user.identity,
        "environment": "uat",
        "sender_comp_ids": ["ALGO2"],
    } | changes
    with pytest.raises(actions.ActionError, match=message) as info:
        actions.create_non_person_identity(personas["admin"].user, **arguments)
    assert info.value.field == field
    assert not Identity.objects.filter(user__username="algo-rfq-2").exists()


def test_a_non_person_identity_cannot_sponsor(algo, personas):
    with pytest.raises(actions.ActionError, match="must be a person"):
        actions.change_sponsor(personas["admin"].user, algo, algo)


def test_suspend_stops_sign_in_and_reactivate_restores_it(personas):
    tina = personas["trader"].user.identity
    actions.suspend_identity(personas["security"].user, tina, reason="lost laptop")
    response = Client().post(reverse("accounts:login"), {"username": "tina", "password": PASSWORD})
    assert response.status_code == 400
    actions.reactivate_identity(personas["admin"].user, tina)
    response = Client().post(reverse("accounts:login"), {"username": "tina", "password": PASSWORD})
    assert response.status_code == 302
    assert list(AuditEvent.objects.filter(target_id=str(tina.pk)).values_list("action", flat=True)) == [
        "identity.reactivated",
        "identity.suspended",
    ]


def test_revocation_is_final_and_revokes_api_tokens(personas, algo):
    actions.create_api_token(None, algo.user, name="algo", scope="read", days=5)
    actions.revoke_identity(personas["admin"].user, algo, reason="decommissioned")
    algo.refresh_from_db()
    assert algo.status == IdentityStatus.REVOKED
    assert ApiToken.objects.get(user=algo.user).revoked_at is not None
    with pytest.raises(actions.ActionError, match="cannot become active"):
        actions.reactivate_identity(personas["admin"].user, algo)


def test_sponsor_cannot_be_revoked_while_sponsoring(personas, algo):
    with pytest.raises(actions.ActionError, match="sponsors active identities"):
        actions.revoke_identity(personas["admin"].user, personas["trader"].user.identity, reason="left")
    actions.change_sponsor(personas["admin"].user, algo, personas["admin"].user.identity)
    actions.revoke_identity(personas["admin"].user, personas["trader"].user.identity, reason="left")


def test_security_officer_suspends_in_the_browser_with_a_reason(personas, verified_client):
    client = verified_client(personas["security"])
    tina = personas["trader"].user.identity
    url = reverse("accounts:identity_suspend", kwargs={"pk": tina.pk})
    assert client.post(url, {"reason": ""}).status_code == 400
    response = client.post(url, {"reason": "phishing report"})
    assert response.status_code == 302
    tina.refresh_from_db()
    assert tina.status == IdentityStatus.SUSPENDED and tina.status_reason == "phishing report"
    # Revocation is an administrator's call.
    assert client.post(reverse("accounts:identity_revoke", kwargs={"pk": tina.pk}), {"reason": "x"}).status_code == 403


def test_identity_list_filters_and_searches(personas, algo, verified_client):
    client = verified_client(personas["compliance"])
    page = client.get(reverse("accounts:identity_list"), {"kind": "algorithm"})
    assert b"RFQ algo 1" in page.content and b">Tina</a>" not in page.content
    page = client.get(reverse("accounts:identity_list"), {"q": "ALGO1B"})
    assert b"RFQ algo 1" in page.content
    page = client.get(reverse("accounts:identity_list"), {"status": "nonsense"})
    assert page.status_code == 200 and b"No identities match" in page.content


def test_identity_list_query_count_is_independent_of_page_size(
    personas, verified_client, django_assert_max_num_queries
):
    client = verified_client(personas["admin"])
    for n in range(60):
        actions.create_non_person_identity(
            None,
            name=f"svc-{n}",
            kind=IdentityKind.SERVICE,
            display_name=f"Service {n}",
            sponsor=personas["trader"].user.identity,
            environment="dev",
        )
    client.get(reverse("accounts:identity_list"))  # warm caches (content types, permissions)
    with django_assert_max_num_queries(12):
        response = client.get(reverse("accounts:identity_list"))
    assert response.status_code == 200
    assert response.content.count(b'href="/accounts/identities/') >= 50


def _api(persona, verified_client):
    client = verified_client(persona)
    return client


def test_api_create_and_lifecycle(personas, verified_client):
    client = verified_client(personas["admin"])
    body = {
        "kind": "fix_gateway",
        "username": "gw-ldn-1",
        "display_name": "London gateway",
        "environment": "prod",
        "sponsor": "sam",
        "sender_comp_ids": ["GWLDN1"],
    }
    response = client.post(reverse("api-identity-list"), json.dumps(body), content_type="application/json")
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["sponsor"] == "sam" and created["kind"] == "fix_gateway" and created["role"] is None
    url = reverse("api-identity-suspend", kwargs={"pk": created["id"]})
    missing = client.post(url, "{}", content_type="application/json")
    assert missing.status_code == 400 and "reason" in missing.json()
    done = client.post(url, json.dumps({"reason": "maintenance"}), content_type="application/json")
    assert done.json()["status"] == "suspended"
    listed = client.get(reverse("api-identity-list"), {"status": "suspended"}).json()
    assert [r["username"] for r in listed["results"]] == ["gw-ldn-1"]


def test_api_person_needs_email_role_and_strong_password(personas, verified_client):
    client = verified_client(personas["admin"])
    body = {"kind": "human", "username": "pat", "display_name": "Pat", "password": "short"}
    response = client.post(reverse("api-identity-list"), json.dumps(body), content_type="application/json")
    assert response.status_code == 400
    assert {"email", "role", "password"} <= set(response.json())
    assert not Identity.objects.filter(user__username="pat").exists()


def test_api_sensitive_verbs_need_step_up_in_a_session(personas, verified_client):
    client = verified_client(personas["admin"])
    session = client.session
    session[VERIFIED_AT_SESSION_KEY] = time.time() - 3600
    session.save()
    tina = personas["trader"].user.identity
    response = client.post(
        reverse("api-identity-suspend", kwargs={"pk": tina.pk}),
        json.dumps({"reason": "x"}),
        content_type="application/json",
    )
    assert response.status_code == 403 and "fresh one-time code" in response.json()["detail"]
    assert client.get(reverse("api-identity-list")).status_code == 200


def test_desks_are_created_and_identities_moved(personas, verified_client):
    client = verified_client(personas["admin"])
    assert client.post(reverse("accounts:desk_list"), {"name": "Rates RFQ"}).status_code == 302
    duplicate = client.post(reverse("accounts:desk_list"), {"name": "rates rfq"})
    assert duplicate.status_code == 400 and b"already exists" in duplicate.content
    desk = Desk.objects.get(name="Rates RFQ")
    tina = personas["trader"].user.identity
    client.post(reverse("accounts:identity_desk", kwargs={"pk": tina.pk}), {"desk": desk.pk})
    tina.refresh_from_db()
    assert tina.desk == desk
    assert {"desk.created", "identity.desk_changed"} <= set(AuditEvent.objects.values_list("action", flat=True))
    assert verified_client(personas["compliance"]).post(reverse("accounts:desk_list"), {"name": "X"}).status_code == 403


def test_trading_hours_are_validated_audited_and_compiled(personas, verified_client):
    from policies.compiler import _identities

    client = verified_client(personas["admin"])
    tina = personas["trader"].user.identity
    url = reverse("accounts:identity_hours", kwargs={"pk": tina.pk})
    client.post(url, {"timezone": "Mars/Olympus", "days": [0], "start": "08:00", "end": "17:00"})
    tina.refresh_from_db()
    assert tina.trading_hours is None
    client.post(url, {"timezone": "Europe/London", "days": [0, 1, 2, 3, 4], "start": "07:30", "end": "17:30"})
    tina.refresh_from_db()
    assert tina.trading_hours == {
        "timezone": "Europe/London",
        "days": [0, 1, 2, 3, 4],
        "start": "07:30",
        "end": "17:30",
    }
    assert AuditEvent.objects.filter(action="identity.trading_hours_changed", target_id=str(tina.pk)).exists()
    assert any(i["trading_hours"] == tina.trading_hours for i in _identities("prod"))
