"""Configuration a process lacks is explained, never a traceback or a 500: commands, pages and the API."""

from __future__ import annotations

import base64
import os

import pytest
from django.urls import reverse

from policies import actions as policy_actions
from policies.models import SigningKey
from tests.core.test_settings import PRODUCTION_ENV, _manage
from tests.policies.helpers import build_rfq_policy
from ztconsole.core import crypto


def test_command_without_a_secret_key_says_what_to_set():
    without_key = {k: v for k, v in PRODUCTION_ENV.items() if k != "DJANGO_SECRET_KEY"}
    result = _manage("verify_audit", extra_env=without_key)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr + result.stdout
    assert "environment variable DJANGO_SECRET_KEY is required" in result.stderr
    assert "DJANGO_SECRET_KEY_FILE" in result.stderr and "make manage" in result.stderr


def test_unreadable_secret_file_is_one_sentence():
    env = {**PRODUCTION_ENV, "ZT_SECRETS_KEYS_FILE": "/nonexistent/zt-keys"}
    result = _manage("check", extra_env=env)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "ZT_SECRETS_KEYS_FILE='/nonexistent/zt-keys' cannot be read" in result.stderr


def _key_sealed_elsewhere() -> SigningKey:
    """A signing key encrypted under a key id ('elsewhere') this process does not hold."""
    key = policy_actions.init_signing_key(None)
    other = crypto._parse("elsewhere:" + base64.b64encode(os.urandom(32)).decode())
    nonce = bytes(12)
    sealed = crypto.AESGCM(other.keys["elsewhere"]).encrypt(nonce, b"not used", b"policy-signing-key")
    key.private_key = "v1:elsewhere:" + base64.b64encode(nonce + sealed).decode()
    key.save()
    return key


@pytest.mark.django_db
def test_page_names_the_missing_key_instead_of_a_500(personas, verified_client):
    build_rfq_policy(personas)
    _key_sealed_elsewhere()
    client = verified_client(personas["admin"])
    response = client.post(reverse("policies:publish"), {"environment": "prod"})
    assert response.status_code == 503
    html = response.content.decode()
    assert "A stored secret cannot be read" in html
    assert "<code data-missing-key>elsewhere</code>" in html
    assert "ZT_SECRETS_KEYS" in html and "make manage" in html
    assert response.templates[0].name == "secret_unavailable.html"


@pytest.mark.django_db
def test_api_names_the_missing_key(personas, verified_client):
    build_rfq_policy(personas)
    _key_sealed_elsewhere()
    client = verified_client(personas["admin"])
    response = client.post("/api/v1/policy/publications/", {"environment": "prod"}, content_type="application/json")
    assert response.status_code == 503
    body = response.json()
    assert body["code"] == "secret_unavailable" and body["key_id"] == "elsewhere"
    assert "configured key ids" in body["detail"]


def test_explanation_lists_the_configured_key_ids(settings):
    settings.ZT_SECRETS_KEYS = "k7:" + base64.b64encode(os.urandom(32)).decode()
    error = crypto.SecretDecryptionError("no key with id 'dev' is configured", key_id="dev")
    assert "key id 'dev'" in error.explanation and "configured key ids: k7" in error.explanation
