"""API tokens: for non-person identities only, shown once, hashed at rest, scoped, expiring, revocable."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts import actions
from accounts.actions import VERIFIED_AT_SESSION_KEY
from accounts.models import ApiToken, IdentityKind
from ztconsole.core.models import AuditEvent

pytestmark = pytest.mark.django_db


def bearer(token: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_ACCEPT="application/json")


def post_json(client: Client, url: str, body) -> object:
    return client.post(url, data=json.dumps(body), content_type="application/json")


@pytest.fixture
def service(personas):
    """An automation identity that may read identities and create them (permissions granted directly)."""
    identity = actions.create_non_person_identity(
        personas["admin"].user,
        name="svc-automation",
        kind=IdentityKind.SERVICE,
        display_name="Automation",
        sponsor=personas["admin"].user.identity,
        environment="prod",
    )
    for codename in ("view_console", "view_identities", "manage_identities"):
        identity.user.user_permissions.add(Permission.objects.get(codename=codename))
    return identity


@pytest.fixture
def service_token(service):
    _, plaintext = actions.create_api_token(None, service.user, name="automation", scope="read-write", days=30)
    return plaintext


def test_token_is_shown_once_and_stored_as_a_digest(personas, service, verified_client):
    client = verified_client(personas["admin"])
    body = {"identity": "svc-automation", "name": "ci", "scope": "read", "days": 7}
    response = post_json(client, reverse("api-token-list"), body)
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["token"].startswith("zt_") and created["identity"] == "svc-automation"
    assert response["Cache-Control"] == "no-store"
    stored = ApiToken.objects.get(pk=created["id"])
    assert created["token"].split("_", 2)[2] not in (stored.secret_hash, stored.prefix)
    assert client.get(reverse("api-token-detail", kwargs={"pk": created["id"]})).json()["token"] is None
    assert AuditEvent.objects.filter(action="api_token.created", target_id=str(stored.pk)).exists()
    me = bearer(created["token"]).get(reverse("api-me")).json()
    assert me["username"] == "svc-automation" and me["authenticated_by"] == "api_token"


def test_people_get_no_tokens(personas, verified_client):
    client = verified_client(personas["admin"])
    for username in ("tina", "alice"):
        response = post_json(client, reverse("api-token-list"), {"identity": username, "name": "x"})
        assert response.status_code == 400 and "identity" in response.json()
    with pytest.raises(actions.ActionError, match="non-person identities"):
        actions.create_api_token(None, personas["admin"].user, name="x", scope="read", days=1)
    assert not ApiToken.objects.exists()


def test_tokens_cannot_mint_tokens(service, service_token):
    service.user.user_permissions.add(Permission.objects.get(codename="manage_api_tokens"))
    response = post_json(bearer(service_token), reverse("api-token-list"), {"identity": "svc-automation", "name": "y"})
    assert response.status_code == 403 and "console session" in response.json()["detail"]


def test_creating_a_token_from_a_stale_session_needs_step_up(personas, service, verified_client):
    client = verified_client(personas["admin"])
    session = client.session
    session[VERIFIED_AT_SESSION_KEY] = time.time() - 3600
    session.save()
    response = post_json(client, reverse("api-token-list"), {"identity": "svc-automation", "name": "z"})
    assert response.status_code == 403 and "fresh one-time code" in response.json()["detail"]


def test_read_scope_cannot_write(personas, service):
    _, read_only = actions.create_api_token(None, service.user, name="ro", scope="read", days=1)
    client = bearer(read_only)
    assert client.get(reverse("api-identity-list")).status_code == 200
    body = {"kind": "service", "username": "svc-x", "display_name": "x", "environment": "dev", "sponsor": "alice"}
    response = post_json(client, reverse("api-identity-list"), body)
    assert response.status_code == 403 and "scope" in response.json()["detail"]
    assert post_json(bearer_rw(service), reverse("api-identity-list"), body).status_code == 201


def bearer_rw(service) -> Client:
    _, plaintext = actions.create_api_token(None, service.user, name="rw", scope="read-write", days=1)
    return bearer(plaintext)


def test_expired_token_is_refused_with_a_clear_message(service_token):
    ApiToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = bearer(service_token).get(reverse("api-me"))
    assert response.status_code == 401
    assert response.json() == {"detail": "This API token has expired."}


def test_revoked_token_is_refused(personas, service_token, verified_client):
    token = ApiToken.objects.get()
    response = verified_client(personas["security"]).post(reverse("api-token-revoke", kwargs={"pk": token.pk}))
    assert response.status_code == 200 and response.json()["status"] == "revoked"
    again = bearer(service_token).get(reverse("api-me"))
    assert again.status_code == 401 and again.json()["detail"] == "This API token has been revoked."
    assert AuditEvent.objects.filter(action="api_token.revoked").exists()


def test_revoking_twice_is_a_clear_400(personas, service_token, verified_client):
    token = ApiToken.objects.get()
    client = verified_client(personas["admin"])
    assert client.post(reverse("api-token-revoke", kwargs={"pk": token.pk})).status_code == 200
    response = client.post(reverse("api-token-revoke", kwargs={"pk": token.pk}))
    assert response.status_code == 400
    assert response.json()["detail"] == "this token is already revoked"


@pytest.mark.parametrize(
    "header",
    ["Bearer", "Bearer zt_nothex_abcdefghijklmnopqrstuvwxyz", "Bearer zt_0123456789ab_wrongwrongwrongwrongwrong"],
)
def test_malformed_or_unknown_tokens_get_401(db, header):
    response = Client(HTTP_AUTHORIZATION=header).get(reverse("api-me"))
    assert response.status_code == 401
    assert response.json()["detail"]


def test_malformed_json_is_a_400_naming_the_problem(personas, verified_client):
    response = verified_client(personas["admin"]).post(
        reverse("api-token-list"), data="{not json", content_type="application/json"
    )
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]


def test_invalid_fields_are_named(personas, service, verified_client):
    body = {"identity": "nobody", "name": "", "scope": "root", "days": 0}
    response = post_json(verified_client(personas["admin"]), reverse("api-token-list"), body)
    assert response.status_code == 400
    assert {"identity", "name", "scope", "days"} <= set(response.json())
    assert not ApiToken.objects.exists()  # nothing partial written


def test_password_only_session_cannot_use_the_api(personas):
    client = Client()
    client.force_login(personas["admin"].user)
    assert client.get(reverse("api-me"), HTTP_ACCEPT="application/json").status_code == 401


def test_api_token_created_in_the_browser_is_shown_once(personas, service, verified_client):
    client = verified_client(personas["admin"])
    response = client.post(
        reverse("accounts:token_create"), {"user": service.user.pk, "name": "algo-1", "scope": "read", "days": 30}
    )
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    assert b'data-testid="api-token">zt_' in response.content
    listing = client.get(reverse("accounts:token_list"))
    assert b"algo-1" in listing.content and b'data-testid="api-token"' not in listing.content
    # People are not offered in the form.
    form = client.get(reverse("accounts:token_create"))
    assert b">tina<" not in form.content and b">svc-automation<" in form.content
