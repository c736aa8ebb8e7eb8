"""Personas, verified clients and the real services (ASGI server, Celery worker, Chromium) for every test."""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import shutil
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

import pyotp
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY

from accounts.actions import VERIFIED_AT_SESSION_KEY
from accounts.models import Assurance, Identity, IdentityKind, OathDevice, OathKind
from ztconsole.core.roles import ADMINISTRATOR, COMPLIANCE_OFFICER, SECURITY_OFFICER, TRADER

CI = os.environ.get("CI", "").lower() == "true"
CHROMIUM = os.environ.get("ZT_CHROMIUM", "/usr/bin/chromium")
PASSWORD = "correct-horse-battery-staple-42"


@dataclass
class Persona:
    user: Any
    device: OathDevice | None

    @property
    def username(self) -> str:
        return self.user.get_username()

    def current_code(self, offset_steps: int = 0) -> str:
        """The TOTP code for now (computed independently of the console's verification path)."""
        assert self.device is not None
        return pyotp.TOTP(self.base32_secret, digits=self.device.digits, interval=self.device.period).at(
            time.time() + offset_steps * self.device.period
        )

    @property
    def base32_secret(self) -> str:
        return base64.b32encode(self.device.secret()).decode().rstrip("=")


def make_persona(username: str, role: str | None, *, with_device: bool = True) -> Persona:
    user = get_user_model().objects.create_user(
        username=username, email=f"{username}@example.test", password=PASSWORD, first_name=username.title()
    )
    if role:
        user.groups.add(Group.objects.get(name=role))
    Identity.objects.create(
        user=user,
        kind=IdentityKind.HUMAN,
        display_name=username.title(),
        privileged=role in (ADMINISTRATOR, SECURITY_OFFICER),
    )
    device = None
    if with_device:
        device = OathDevice(
            user=user, name="Test authenticator", confirmed=True, assurance=Assurance.SOFTWARE, kind=OathKind.TOTP
        )
        device.set_secret(secrets.token_bytes(20))
        device.save()
    return Persona(user, device)


@pytest.fixture
def personas(db) -> dict[str, Persona]:
    """An administrator, a security officer, a trader, a compliance officer and an outsider (no role)."""
    return {
        "admin": make_persona("alice", ADMINISTRATOR),
        "security": make_persona("sam", SECURITY_OFFICER),
        "trader": make_persona("tina", TRADER),
        "compliance": make_persona("carla", COMPLIANCE_OFFICER),
        "outsider": make_persona("oscar", None),
    }


def verify_session(client: Client, persona: Persona) -> Client:
    """Signs the client in and marks its session OTP-verified, as the verify step does."""
    client.force_login(persona.user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = persona.device.persistent_id
    session[VERIFIED_AT_SESSION_KEY] = time.time()
    session.save()
    return client


@pytest.fixture
def verified_client():
    def make(persona: Persona) -> Client:
        return verify_session(Client(), persona)

    return make


def run_async(coroutine_function, *args):
    """Runs a coroutine on a fresh event loop in its own thread (browser tests keep a loop in this one)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine_function(*args)).result()


# --- real services -------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _ServerThread(threading.Thread):
    def __init__(self, port: int, proxies: int = 0) -> None:
        super().__init__(daemon=True)
        import uvicorn

        from ztconsole.asgi import application
        from ztconsole.serving import uvicorn_proxy_options

        config = uvicorn.Config(
            application,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            ws="websockets-sansio",
            lifespan="off",
            **uvicorn_proxy_options(proxies),  # as the demo and production start it (ZT_PROXY_COUNT)
        )
        self.server = uvicorn.Server(config)

    def run(self) -> None:
        self.server.run()


@pytest.fixture(scope="session")
def asgi_server(django_db_setup, django_db_blocker):
    """The console's ASGI application (HTTP and websockets) served by uvicorn on a loopback port."""
    port = _free_port()
    thread = _ServerThread(port)
    with django_db_blocker.unblock():
        thread.start()
        deadline = time.monotonic() + 15
        while not thread.server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
        thread.server.should_exit = True
        thread.join(timeout=10)
        _end_foreign_connections()


@pytest.fixture(scope="session")
def celery_worker_thread(django_db_setup, django_db_blocker):
    """A real Celery worker consuming from the real broker (Redis/Valkey), in a thread of this process."""
    from celery.contrib.testing.worker import start_worker

    from ztconsole.celery import app

    with django_db_blocker.unblock():
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
            yield app
        _end_foreign_connections()


def _end_foreign_connections() -> None:
    """Server threads keep their own database connections; end them so the test database can be dropped."""
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )


# --- Chromium through Playwright -------------------------------------------------------------------


@pytest.fixture(scope="session")
def chromium():
    if not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
        if CI:
            pytest.fail(f"CI=true and no Chromium at {CHROMIUM}: install Debian's chromium")
        pytest.skip(f"no Chromium at {CHROMIUM} (install Debian's chromium to run browser tests)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(chromium, asgi_server):
    context = chromium.new_context(base_url=asgi_server, viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()


@pytest.fixture(autouse=True)
def _isolated_cache(settings):
    """Each test starts with an empty Django cache (throttle counters live there), other keys untouched."""
    import redis

    yield
    cache = settings.CACHES["default"]
    client = redis.Redis.from_url(cache["LOCATION"])
    try:
        pattern = f"{cache['KEY_PREFIX']}:{cache.get('VERSION', 1)}:*"  # cache keys only, not Celery's
        keys = list(client.scan_iter(pattern, count=500))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture(autouse=True)
def _isolated_audit_checkpoints(settings, tmp_path):
    """Each test's audit checkpoints go outside the database into its own directory, unseen by other tests."""
    settings.ZT_AUDIT_CHECKPOINT_PATH = str(tmp_path / "audit-checkpoints")
