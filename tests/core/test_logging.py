"""Logs are JSON lines with the request id, and never carry a password, OTP code or token."""

from __future__ import annotations

import io
import json
import logging

import pytest
from django.test import Client
from django.urls import reverse

from accounts import actions
from ztconsole.logging import JsonFormatter, RedactSecretsFilter, RequestIdFilter

pytestmark = pytest.mark.django_db


@pytest.fixture
def log_stream():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s"))
    handler.addFilter(RequestIdFilter())
    handler.addFilter(RedactSecretsFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    previous = root.level
    root.setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    root.setLevel(previous)


def test_sign_in_flow_logs_no_secret(personas, log_stream):
    trader = personas["trader"]
    client = Client()
    client.post(reverse("accounts:login"), {"username": "tina", "password": "wrong-password-123"})
    client.post(reverse("accounts:login"), {"username": "tina", "password": "correct-horse-battery-staple-42"})
    code = trader.current_code()
    client.post(reverse("accounts:verify"), {"otp_device": trader.device.persistent_id, "otp_token": "000000"})
    service = actions.create_non_person_identity(
        None, name="svc-log", kind="service", display_name="svc", sponsor=trader.user.identity, environment="dev"
    )
    _, token = actions.create_api_token(None, service.user, name="t", scope="read", days=1)
    Client(HTTP_AUTHORIZATION=f"Bearer {token}").get(reverse("api-me"))
    Client(HTTP_AUTHORIZATION=f"Bearer {token}x").get(reverse("api-me"))
    logging.getLogger("ztconsole.test").warning("login with password=%s token %s", "hunter2secret", token)
    output = log_stream.getvalue()
    assert output, "the flow logged something"
    for secret in (
        "wrong-password-123",
        "correct-horse-battery-staple-42",
        "hunter2secret",
        token,
        token[10:],
    ):
        assert secret not in output
    assert code not in output or code == "000000"
    for line in output.splitlines():
        record = json.loads(line)
        assert {"levelname", "name", "message", "request_id"} <= set(record)


def test_request_id_is_returned_and_logged(personas, log_stream):
    response = Client().get(reverse("accounts:login"), HTTP_X_REQUEST_ID="trace-abc-12345")
    assert response["X-Request-ID"] == "trace-abc-12345"
    bad = Client().get(reverse("accounts:login"), HTTP_X_REQUEST_ID="bad id with spaces")
    assert bad["X-Request-ID"] != "bad id with spaces" and len(bad["X-Request-ID"]) == 32
