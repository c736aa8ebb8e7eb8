"""SIEM destinations come from the environment; a value that cannot be used stops the start-up, naming it."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from tests.core.test_settings import PRODUCTION_ENV, _manage
from ztconsole import env


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("syslog://siem.example:514", "the scheme must be one of udp, tcp, tls"),
        ("tcp://:601", "names no host"),
        ("tls://siem.example:99999", "the port is not a number"),
    ],
)
def test_a_syslog_url_that_cannot_be_used_fails_loudly(monkeypatch, value, says):
    monkeypatch.setenv("ZT_SIEM_SYSLOG_URL", value)
    with pytest.raises(ImproperlyConfigured, match=says):
        env.env_url("ZT_SIEM_SYSLOG_URL", schemes=("udp", "tcp", "tls"))


def test_a_usable_syslog_url_and_an_unset_one(monkeypatch):
    monkeypatch.setenv("ZT_SIEM_SYSLOG_URL", "tls://siem.example:6514")
    assert env.env_url("ZT_SIEM_SYSLOG_URL", schemes=("udp", "tcp", "tls")) == "tls://siem.example:6514"
    monkeypatch.delenv("ZT_SIEM_SYSLOG_URL")
    assert env.env_url("ZT_SIEM_SYSLOG_URL", schemes=("udp", "tcp", "tls")) == ""


def test_production_refuses_a_plain_http_webhook_off_loopback():
    refused = _manage("check", extra_env={**PRODUCTION_ENV, "ZT_SIEM_WEBHOOK_URL": "http://localhost.evil.example/x"})
    assert refused.returncode != 0 and "ZT_SIEM_WEBHOOK_URL must be https://" in refused.stderr
    fine = _manage(
        "check",
        extra_env={
            **PRODUCTION_ENV,
            "ZT_SIEM_WEBHOOK_URL": "https://siem.example/in",
            "ZT_SIEM_SYSLOG_URL": "tls://siem.example",
        },
    )
    assert fine.returncode == 0, fine.stderr
