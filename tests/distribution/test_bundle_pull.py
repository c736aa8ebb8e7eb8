"""GET /api/v1/enforcement/bundle: a point's own token, its own environment, ETag and 304."""

import json

from django.test import Client

from policies.distribution.models import EnforcementPoint
from tests.distribution.helpers import register

URL = "/api/v1/enforcement/bundle"


def _get(token: str, environment: str = "prod", **headers):
    return Client().get(URL, {"environment": environment}, HTTP_AUTHORIZATION=f"Bearer {token}", **headers)


def test_a_point_fetches_the_version_in_force_then_gets_304(personas, published):
    creds = register("pep-pull")
    assert _get(creds.token).status_code == 404  # nothing published yet
    pv = published()
    response = _get(creds.token)
    assert response.status_code == 200
    assert response.content == pv.bundle.encode()
    assert json.loads(response.content)["payload"]["version"] == pv.version
    assert response["ETag"] == f'"{pv.sha256}"'
    again = _get(creds.token, HTTP_IF_NONE_MATCH=f'"{pv.sha256}"')
    assert again.status_code == 304 and again.content == b""
    assert EnforcementPoint.objects.get(pk=creds.point.pk).last_contact_at is not None


def test_only_its_own_environment_and_a_valid_token(personas, published):
    creds = register("pep-pull")
    published()
    assert _get(creds.token, environment="uat").status_code == 403
    assert _get(creds.token, environment="nowhere").status_code == 400
    assert _get(creds.token[:-2] + "xx").status_code == 401
    assert _get("zt_000000000000_notapeptokenatall12345").status_code == 401
    assert Client().get(URL, {"environment": "prod"}).status_code in (401, 403)


def test_a_session_cannot_fetch_bundles(personas, published, verified_client):
    published()
    response = verified_client(personas["admin"]).get(URL, {"environment": "prod"})
    assert response.status_code in (401, 403)


def test_a_retired_points_token_stops_working(personas, published):
    from policies.distribution.actions import retire_enforcement_point

    creds = register("pep-pull")
    published()
    retire_enforcement_point(None, creds.point, reason="gone")
    assert _get(creds.token).status_code == 401
