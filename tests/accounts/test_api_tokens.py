"""API tokens: shown once, hashed at rest, scoped, expiring, revocable; bad input gets clear 4xx JSON."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts import actions
from accounts.models import ApiToken
from ztconsole.core.models import AuditEvent

pytestmark = pytest.mark.django_db


def bearer(token: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_ACCEPT="application/json")


@pytest.fixture
def admin_token(personas):
    _, plaintext = actions.create_api_token(
        personas["admin"].user, personas["admin"].user, name="automation", scope="read-write", days=30
    )
    return plaintext


def test_token_is_shown_once_and_stored_as_a_digest(personas, admin_token):
    client = bearer(admin_token)
    response = client.post(
        reverse("api-token-list"),
        data=json.dumps({"identity": "tina", "name": "mdm-feed", "scope": "read", "days": 7}),
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["token"].startswith("zt_") and body["identity"] == "tina" and body["status"] == "active"
    stored = ApiToken.objects.get(pk=body["id"])
    assert body["token"].split("_", 2)[2] not in (stored.secret_hash, stored.prefix)
    listed = client.get(reverse("api-token-detail", kwargs={"pk": body["id"]})).json()
    assert listed["token"] is None
    assert AuditEvent.objects.filter(action="api_token.created", target_id=str(stored.pk)).exists()
    # The new token works, as its identity.
    me = bearer(body["token"]).get(reverse("api-me")).json()
    assert me["username"] == "tina" and me["authenticated_by"] == "api_token"


def test_read_scope_cannot_write(personas):
    _, plaintext = actions.create_api_token(None, personas["admin"].user, name="ro", scope="read", days=1)
    client = bearer(plaintext)
    assert client.get(reverse("api-token-list")).status_code == 200
    response = client.post(reverse("api-token-list"), data={"identity": "tina", "name": "x"})
    assert response.status_code == 403
    assert "scope" in response.json()["detail"]


def test_expired_token_is_refused_with_a_clear_message(personas, admin_token):
    ApiToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = bearer(admin_token).get(reverse("api-me"))
    assert response.status_code == 401
    assert response.json() == {"detail": "This API token has expired."}


def test_revoked_token_is_refused(personas, admin_token):
    token = ApiToken.objects.get()
    response = bearer(admin_token).post(reverse("api-token-revoke", kwargs={"pk": token.pk}))
    assert response.status_code == 200 and response.json()["status"] == "revoked"
    again = bearer(admin_token).get(reverse("api-me"))
    assert again.status_code == 401 and again.json()["detail"] == "This API token has been revoked."
    assert AuditEvent.objects.filter(action="api_token.revoked").exists()


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer zt_nothex_abcdefghijklmnopqrstuvwxyz",
        "Bearer zt_0123456789ab_wrongwrongwrongwrongwrong",
    ],
)
def test_malformed_or_unknown_tokens_get_401(db, header):
    response = Client(HTTP_AUTHORIZATION=header).get(reverse("api-me"))
    assert response.status_code == 401
    assert response.json()["detail"]


def test_malformed_json_is_a_400_naming_the_problem(personas, admin_token):
    response = bearer(admin_token).post(reverse("api-token-list"), data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]


def test_invalid_fields_are_named(personas, admin_token):
    response = bearer(admin_token).post(
        reverse("api-token-list"),
        data=json.dumps({"identity": "nobody", "name": "", "scope": "root", "days": 0}),
        content_type="application/json",
    )
    assert response.status_code == 400
    body = response.json()
    assert {"identity", "name", "scope", "days"} <= set(body)
    assert ApiToken.objects.count() == 1  # nothing partial written


def test_revoking_twice_is_a_clear_400(personas, admin_token):
    actions.create_api_token(None, personas["trader"].user, name="second", scope="read", days=1)
    target = ApiToken.objects.get(name="second")
    client = bearer(admin_token)
    assert client.post(reverse("api-token-revoke", kwargs={"pk": target.pk})).status_code == 200
    response = client.post(reverse("api-token-revoke", kwargs={"pk": target.pk}))
    assert response.status_code == 400
    assert response.json()["detail"] == "this token is already revoked"


def test_password_only_session_cannot_use_the_api(personas):
    client = Client()
    client.force_login(personas["admin"].user)
    response = client.get(reverse("api-me"), HTTP_ACCEPT="application/json")
    assert response.status_code == 401


def test_api_token_created_in_the_browser_is_shown_once(personas, verified_client):
    client = verified_client(personas["admin"])
    response = client.post(
        reverse("accounts:token_create"),
        {"user": personas["trader"].user.pk, "name": "algo-1", "scope": "read", "days": 30},
    )
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    assert b'data-testid="api-token">zt_' in response.content
    listing = client.get(reverse("accounts:token_list"))
    assert b"algo-1" in listing.content and b'data-testid="api-token"' not in listing.content
