"""X-Forwarded-For is believed only when ZT_PROXY_COUNT declares a proxy (uvicorn started as the demo starts it)."""

from __future__ import annotations

import time

import pytest
import requests

from tests.conftest import _free_port, _ServerThread
from ztconsole.core.models import AuditEvent
from ztconsole.serving import proxy_count, uvicorn_proxy_args

pytestmark = pytest.mark.django_db(transaction=True)


def _serve(proxies: int) -> tuple[_ServerThread, str]:
    port = _free_port()
    thread = _ServerThread(port, proxies=proxies)
    thread.start()
    deadline = time.monotonic() + 15
    while not thread.server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    return thread, f"http://127.0.0.1:{port}"


def _audited_address_of_a_failed_sign_in(proxies: int) -> str | None:
    thread, base = _serve(proxies)
    try:
        http = requests.Session()
        http.get(f"{base}/accounts/login/", timeout=10)  # the CSRF cookie
        http.post(
            f"{base}/accounts/login/",
            data={"username": "nobody", "password": "wrong", "csrfmiddlewaretoken": http.cookies["csrftoken"]},
            headers={"X-Forwarded-For": "203.0.113.9", "Referer": f"{base}/accounts/login/"},
            timeout=10,
        )
    finally:
        thread.server.should_exit = True
        thread.join(timeout=10)
    return AuditEvent.objects.filter(action="auth.login_failed").latest("seq").ip_address


def test_without_a_declared_proxy_a_forged_forwarded_for_is_ignored():
    assert _audited_address_of_a_failed_sign_in(0) == "127.0.0.1"


def test_with_a_declared_proxy_the_forwarded_address_is_the_clients():
    assert _audited_address_of_a_failed_sign_in(1) == "203.0.113.9"


def test_the_demo_passes_the_same_choice_to_uvicorn():
    assert uvicorn_proxy_args(proxy_count({})) == ["--no-proxy-headers"]
    assert uvicorn_proxy_args(proxy_count({"ZT_PROXY_COUNT": "1"}))[0] == "--proxy-headers"
    with pytest.raises(ValueError, match="ZT_PROXY_COUNT"):
        proxy_count({"ZT_PROXY_COUNT": "²"})
