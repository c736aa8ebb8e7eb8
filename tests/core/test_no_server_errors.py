"""The six causes of HTTP 500 the fuzzing run found, each answered with a 4xx in JSON now; API errors are JSON."""

from __future__ import annotations

import base64
import json

import pytest
from django.test import Client, RequestFactory
from django.urls import reverse

from policies.models import RiskRule
from tests.policies.conftest import rfq_policy, signing_key  # noqa: F401 - fixtures
from ztconsole.core.error_pages import server_error

UNICODE_DIGIT = "²"
HUGE = "99999999999999999999999"


def _cursor(raw: str) -> str:
    return base64.b64encode(raw.encode()).decode()


# 1. PUT a risk rule without the optional `enabled` ----------------------------------------------------


@pytest.mark.usefixtures("rfq_policy")
def test_put_risk_rule_without_enabled_keeps_its_value(personas, verified_client):
    rule = RiskRule.objects.filter(environment="prod").first()
    RiskRule.objects.filter(pk=rule.pk).update(enabled=False)
    response = verified_client(personas["admin"]).put(
        f"/api/v1/policy/risk-rules/{rule.pk}/",
        {
            "environment": "prod",
            "name": rule.name,
            "attribute": rule.attribute,
            "condition": rule.condition,
            "score": 7,
        },
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["score"] == 7 and response.json()["enabled"] is False


# 2. Undeclared methods on a view with per-method permissions -------------------------------------------


@pytest.mark.parametrize("method", ["post", "patch", "delete", "options"])
def test_bands_with_other_methods_is_refused_not_a_crash(method, personas, verified_client):
    anonymous = getattr(Client(), method)("/api/v1/policy/bands/")
    assert anonymous.status_code in (401, 403) and anonymous["Content-Type"] == "application/json"
    signed_in = getattr(verified_client(personas["admin"]), method)("/api/v1/policy/bands/")
    assert signed_in.status_code == (200 if method == "options" else 405)
    assert signed_in["Content-Type"] == "application/json"


# 3 and 4. A Unicode digit or a huge number in the certificate identity filter ----------------------------


@pytest.mark.parametrize("value", [UNICODE_DIGIT, HUGE])
def test_certificate_identity_filter_refuses_what_is_not_an_id(value, personas, verified_client):
    client = verified_client(personas["admin"])
    assert client.get("/api/v1/certificates/", {"identity": value}).json()["results"] == []
    assert client.get(reverse("certificates:list"), {"identity": value}).status_code == 200
    pinset = client.get("/api/v1/certificates/pinset/", {"identity": value})
    assert pinset.status_code == 400 and "identity" in pinset.json()
    issue = client.post(reverse("certificates:issue"), {"identity": value, "profile": "fix-client", "csr": "x"})
    assert issue.status_code == 400


# 5. A crafted pagination cursor ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/identities/",
        "/api/v1/audit/events/",
        "/api/v1/devices/",
        "/api/v1/certificates/",
        "/api/v1/policy/segments/",
    ],
)
@pytest.mark.parametrize("position", ["garbage", UNICODE_DIGIT, HUGE, "-1"])
def test_crafted_cursor_is_a_400_naming_it_not_a_crash(path, position, personas, verified_client):
    response = verified_client(personas["admin"]).get(path, {"cursor": _cursor(f"p={position}&r=0")})
    assert response.status_code == 400 and "cursor" in response.json()


def test_page_size_must_be_a_positive_number(personas, verified_client):
    client = verified_client(personas["admin"])
    for bad in ("null", "0", "-3", UNICODE_DIGIT, ""):
        response = client.get("/api/v1/identities/", {"page_size": bad})
        assert response.status_code == 400 and "page_size" in response.json(), bad
    assert client.get("/api/v1/identities/", {"page_size": "2"}).status_code == 200


def test_audit_page_ignores_a_position_that_is_not_a_number(personas, verified_client):
    client = verified_client(personas["admin"])
    for bad in (UNICODE_DIGIT, HUGE):
        assert client.get(reverse("core:audit_list"), {"cursor": _cursor(f"p={bad}&r=0")}).status_code == 200
        assert client.get(reverse("core:audit_list"), {"cursor": bad}).status_code == 200


# 6. Deeply nested JSON -------------------------------------------------------------------------------------


def test_deeply_nested_json_is_a_400_for_any_signed_in_user(personas, verified_client):
    for persona, path in (("trader", "/api/v1/devices/"), ("admin", "/api/v1/policy/segments/")):
        response = verified_client(personas[persona]).post(path, "[" * 5000, content_type="application/json")
        assert response.status_code == 400 and "nested too deeply" in response.json()["detail"], persona


# API errors are JSON, never an HTML page -------------------------------------------------------------------


def test_unknown_api_address_answers_json(personas, verified_client):
    response = verified_client(personas["admin"]).get("/api/v1/no-such-thing/")
    assert response.status_code == 404 and response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Not found."}
    page = verified_client(personas["admin"]).get("/no-such-page/")
    assert page.status_code == 404 and page["Content-Type"].startswith("text/html")


def test_a_crash_under_the_api_answers_json():
    response = server_error(RequestFactory().get("/api/v1/identities/"))
    assert response.status_code == 500 and json.loads(response.content)["detail"].startswith("Internal server error")
    page = server_error(RequestFactory().get("/accounts/profile/"))
    assert page.status_code == 500 and b"<html" in page.content.lower()
