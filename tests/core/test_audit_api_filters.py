"""The audit API takes the explorer's index-friendly filters too: period, target, address, request id, text."""

from __future__ import annotations

from datetime import UTC, datetime
from unittest import mock

import pytest
from django.db import transaction
from django.test import RequestFactory

from ztconsole.core import audit

pytestmark = pytest.mark.django_db


def _at(moment, action, target=None, ip="10.9.9.9", request_id="req-1"):
    request = RequestFactory().get("/", REMOTE_ADDR=ip)
    request.request_id = request_id
    with mock.patch("django.utils.timezone.now", return_value=moment), transaction.atomic():
        return audit.record(None, action, target, {}, request=request).seq


@pytest.fixture
def events():
    return {
        "jan": _at(datetime(2026, 1, 5, tzinfo=UTC), "auth.login", ("accounts.identity", "7", "Trader Seven")),
        "feb": _at(
            datetime(2026, 2, 5, tzinfo=UTC), "auth.login", ("accounts.identity", "8", "Desk Eight"), "10.1.1.1"
        ),
        "mar": _at(datetime(2026, 3, 5, tzinfo=UTC), "auth.logout", None, "10.1.1.1", "req-3"),
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("since=2026-02-01T00:00:00Z", {"feb", "mar"}),
        ("until=2026-02-01T00:00:00Z", {"jan"}),
        ("since=2026-01-10T00:00:00Z&until=2026-03-01T00:00:00Z", {"feb"}),
        ("target_type=accounts.identity&target_id=8", {"feb"}),
        ("ip_address=10.1.1.1", {"feb", "mar"}),
        ("request_id=req-3", {"mar"}),
        ("text=seven", {"jan"}),
    ],
)
def test_api_filters(query, expected, events, personas, verified_client):
    response = verified_client(personas["compliance"]).get(f"/api/v1/audit/events/?{query}")
    assert response.status_code == 200, response.content
    assert {row["seq"] for row in response.json()["results"]} == {events[name] for name in expected}


@pytest.mark.parametrize(
    ("query", "field"), [("ip_address=nope", "ip_address"), ("text=ab", "text"), ("since=x", "since")]
)
def test_bad_api_filter_is_a_400_naming_the_field(query, field, events, personas, verified_client):
    response = verified_client(personas["compliance"]).get(f"/api/v1/audit/events/?{query}")
    assert response.status_code == 400 and field in response.json()
