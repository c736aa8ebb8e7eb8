"""Scale-out as deployed (docs/operations.md): two uvicorn processes, two Celery workers and one beat on one
PostgreSQL and one Redis, all real processes. PostgreSQL only: SQLite is a single-host database by design.

One test drives the whole cluster in phases, so the processes start once (a few seconds each):
sign-in on one web process, a step-up action on the other, a websocket on the first receiving the second's
audit event; beat's periodic task runs once per tick with both workers consuming; 200 concurrent requests
over both web processes stay within each one's connection pool; then one web process and one worker are
killed while blocked mid-request / mid-task, and nothing is lost or done twice.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from tests.conftest import PASSWORD

ROOT = Path(__file__).resolve().parents[2]
POOL_MAX = 4
BEAT_ENTRY = "purge-expired-credentials"
BEAT_TASK = "accounts.tasks.purge_expired_credentials"

# Five Python processes start on the test machine's cores; allow for a busy machine.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(300)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _until(condition, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


class Cluster:
    """The processes, their logs, and a direct PostgreSQL connection for watching and locking rows."""

    def __init__(self, tmp_path: Path) -> None:
        db = connection.settings_dict
        credentials = db["USER"] + (f":{urllib.parse.quote(db['PASSWORD'])}" if db.get("PASSWORD") else "")
        self.dsn = f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
        self.database = db["NAME"]
        self.tmp = tmp_path
        self.prefix = f"{settings.REDIS_KEY_PREFIX}-scale"
        self.celery = self._client_app()
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "ztconsole.settings_test",
            "DATABASE_URL": self.dsn,
            "REDIS_URL": settings.REDIS_URL,
            # Its own key prefix on the same Redis: the suite's in-process worker (another fixture) must not
            # consume the cluster's queue, or it would take the killed worker's redelivered task.
            "ZT_REDIS_PREFIX": self.prefix,
            "ZT_DB_POOL": "1",
            "ZT_DB_POOL_MIN_SIZE": "1",
            "ZT_DB_POOL_MAX_SIZE": str(POOL_MAX),
            "ZT_DB_POOL_TIMEOUT": "60",
            "ZT_CELERY_VISIBILITY_TIMEOUT": "4",
            "ZT_CELERY_RESTORE_INTERVAL": "1",
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
        }
        self.processes: dict[str, subprocess.Popen] = {}
        self.web: dict[str, str] = {}
        import psycopg

        self.watch = psycopg.connect(self.dsn, autocommit=True)

    def _client_app(self):
        """A Celery client on the cluster's broker keys, for sending tasks to its workers and pinging them."""
        from celery import Celery

        options = {**settings.CELERY_BROKER_TRANSPORT_OPTIONS, "global_keyprefix": f"{self.prefix}:celery:"}
        client = Celery("scale-out-client", broker=settings.REDIS_URL, backend=settings.REDIS_URL, set_as_current=False)
        client.conf.update(
            broker_transport_options=options,
            result_backend_transport_options={"global_keyprefix": f"{self.prefix}:celery:"},
            task_serializer="json",
            accept_content=["json"],
        )
        return client

    def start(self, name: str, args: list[str]) -> None:
        output = open(self.tmp / f"{name}.out", "wb")  # noqa: SIM115 - closed by the process's end
        self.processes[name] = subprocess.Popen(
            [sys.executable, *args],
            env={**self.env, "PGAPPNAME": f"zt-{name}"},
            cwd=ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
        )

    def start_web(self, name: str) -> None:
        port = _free_port()
        self.web[name] = f"http://127.0.0.1:{port}"
        self.start(
            name,
            [
                *("-m", "uvicorn", "ztconsole.asgi:application", "--host", "127.0.0.1", "--port", str(port)),
                *("--lifespan", "off", "--ws", "websockets-sansio", "--log-level", "warning"),
            ],
        )

    def log(self, name: str) -> list[list[str]]:
        path = self.tmp / f"{name}.tasks"
        return [line.split() for line in path.read_text().splitlines()] if path.exists() else []

    def output(self, name: str) -> str:
        return (self.tmp / f"{name}.out").read_text(errors="replace")[-3000:]

    def backends(self) -> dict[str, int]:
        rows = self.watch.execute(
            "SELECT application_name, count(*) FROM pg_stat_activity WHERE datname = %s GROUP BY 1", [self.database]
        ).fetchall()
        return dict(rows)

    def blocked(self, prefix: str) -> list[str]:
        rows = self.watch.execute(
            "SELECT application_name FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock' "
            "AND application_name LIKE %s",
            [self.database, f"{prefix}%"],
        ).fetchall()
        return [row[0] for row in rows]

    def kill(self, name: str) -> None:
        process = self.processes[name]
        process.kill()
        process.wait(timeout=10)

    def stop(self) -> None:
        """End every process, then any database session one of them left behind (TRUNCATE would wait on it)."""
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        self.watch.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND application_name LIKE 'zt-%%'",
            [self.database],
        )
        self.watch.close()
        self.celery.close()


class Browser:
    """A cookie-keeping HTTP client; cookies ignore the port, so one session serves both web processes."""

    def __init__(self) -> None:
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def cookie(self, name: str) -> str | None:
        return next((c.value for c in self.jar if c.name == name), None)

    def request(self, method: str, url: str, form: dict | None = None, body: dict | None = None):
        headers = {}
        data = None
        if form is not None:
            data = urllib.parse.urlencode({**form, "csrfmiddlewaretoken": self.cookie("csrftoken") or ""}).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            data = json.dumps(body).encode()
            headers.update({"Content-Type": "application/json", "Accept": "application/json"})
        if method == "POST":
            headers["X-CSRFToken"] = self.cookie("csrftoken") or ""
        request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310 - loopback
        try:
            with self.opener.open(request, timeout=60) as response:
                return response.status, response.geturl(), response.read()
        except urllib.error.HTTPError as error:
            return error.code, url, error.read()


@pytest.fixture
def cluster(transactional_db, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("scale-out runs on PostgreSQL; SQLite is a single-host database")
    cluster = Cluster(tmp_path)
    try:
        cluster.start_web("web-1")
        cluster.start_web("web-2")
        for n in (1, 2):
            name = f"worker-{n}"
            cluster.start(name, ["-m", "tests.core.scale_harness", "worker", name, str(tmp_path / f"{name}.tasks")])
        waiting: list[str] = []

        def ready() -> bool:
            waiting.clear()
            for name, url in cluster.web.items():
                assert cluster.processes[name].poll() is None, cluster.output(name)
                try:
                    urllib.request.urlopen(f"{url}/healthz", timeout=5).close()  # noqa: S310 - loopback
                except urllib.error.HTTPError as error:
                    waiting.append(f"{name}: {error.code} {error.read()[:300]!r}")
                except OSError as error:
                    waiting.append(f"{name}: {error}")
            answered = {next(iter(reply)).split("@")[0] for reply in cluster.celery.control.ping(timeout=1.0)}
            waiting.extend(f"{name} did not answer" for name in {"worker-1", "worker-2"} - answered)
            return not waiting

        try:
            _until(ready, 60, "both web processes and both workers")
        except AssertionError as exc:
            outputs = "\n".join(f"--- {name}\n{cluster.output(name)}" for name in cluster.processes)
            raise AssertionError(f"{exc}: {waiting}\n{outputs}") from None
        yield cluster
    finally:
        cluster.stop()


def _sign_in(browser: Browser, base: str, persona) -> None:
    browser.request("GET", f"{base}/accounts/login/")
    status, where, _ = browser.request(
        "POST", f"{base}/accounts/login/", form={"username": persona.username, "password": PASSWORD}
    )
    assert status == 200 and where.endswith("/accounts/verify/"), (status, where)
    status, where, _ = browser.request(
        "POST",
        f"{base}/accounts/verify/",
        form={"otp_device": persona.device.persistent_id, "otp_token": persona.current_code()},
    )
    assert status == 200 and urllib.parse.urlsplit(where).path == "/", (status, where)


def _suspend(browser: Browser, base: str, identity_id: int):
    return browser.request(
        "POST", f"{base}/api/v1/identities/{identity_id}/suspend/", body={"reason": "scale-out test"}
    )


def test_two_web_processes_two_workers_one_beat_share_postgres_and_redis(cluster, personas):
    from websockets.sync.client import connect

    from accounts.models import Compliance, DeviceKind, DeviceRegistration, Identity, IdentityStatus
    from accounts.tasks import mark_stale_device_posture
    from ztconsole.core import audit
    from ztconsole.core.models import AuditEvent

    web1, web2 = cluster.web["web-1"], cluster.web["web-2"]
    beat_log = str(cluster.tmp / "beat.tasks")
    cluster.start(
        "beat", ["-m", "tests.core.scale_harness", "beat", str(cluster.tmp / "beat.db"), beat_log, BEAT_ENTRY, "1"]
    )

    # Sign-in on web-1; a websocket on web-1; a step-up action (suspension) on web-2 with the same session.
    browser = Browser()
    _sign_in(browser, web1, personas["admin"])
    ws_url = web1.replace("http", "ws") + "/ws/events/"
    with connect(
        ws_url, additional_headers={"Origin": web1, "Cookie": f"sessionid={browser.cookie('sessionid')}"}
    ) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "hello"
        trader = personas["trader"].user.identity
        status, _, body = _suspend(browser, web2, trader.pk)
        assert status == 200 and json.loads(body)["status"] == "suspended", body

        def suspension_seen() -> bool:
            message = json.loads(ws.recv(timeout=10))
            return message["type"] == "audit" and message["event"]["action"] == "identity.suspended"

        _until(suspension_seen, 15, "web-2's audit event on web-1's websocket", interval=0)

    # 200 concurrent requests over both web processes: all answered, each process within its pool.
    peak: dict[str, int] = {}
    sampling = threading.Event()

    def sample() -> None:
        while not sampling.is_set():
            for name, count in cluster.backends().items():
                peak[name] = max(peak.get(name, 0), count)
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    with ThreadPoolExecutor(max_workers=200) as pool:
        urls = [f"{(web1, web2)[n % 2]}/api/v1/me/" for n in range(200)]
        statuses = list(pool.map(lambda url: browser.request("GET", url)[0], urls))
    sampling.set()
    sampler.join(timeout=5)
    assert statuses == [200] * 200
    assert 1 <= peak.get("zt-web-1", 0) <= POOL_MAX and 1 <= peak.get("zt-web-2", 0) <= POOL_MAX, peak

    # Beat: one beat, two workers, every tick's task run exactly once.
    def ticks() -> list[str]:
        return [row[1] for row in cluster.log("beat") if row[0] == "sent" and row[2] == BEAT_TASK]

    _until(lambda: len(ticks()) >= 3, 60, "three beat ticks")
    cluster.processes["beat"].terminate()
    cluster.processes["beat"].wait(timeout=60)
    sent = ticks()

    def runs() -> list[str]:
        return [
            row[1]
            for w in ("worker-1", "worker-2")
            for row in cluster.log(w)
            if row[0] == "done" and row[2] == BEAT_TASK
        ]

    _until(lambda: set(runs()) == set(sent), 20, "every beat task to run")
    assert sorted(runs()) == sorted(sent)  # each once: none lost, none twice

    # A web process killed while its request is blocked mid-action: nothing is written, and the retry on the
    # other process suspends once, with one audit event; a second retry is refused.
    target = personas["compliance"].user.identity
    locker = __import__("psycopg").connect(cluster.dsn)
    locker.execute("SELECT id FROM accounts_identity WHERE id = %s FOR UPDATE", [target.pk])
    outcome: list = []

    def doomed_request() -> None:
        try:
            outcome.append(_suspend(browser, web1, target.pk)[0])
        except OSError as exc:  # the connection dies with the process
            outcome.append(type(exc).__name__)

    request = threading.Thread(target=doomed_request, daemon=True)
    request.start()
    _until(lambda: cluster.blocked("zt-web-1"), 20, "web-1's request to block on the locked row")
    cluster.kill("web-1")
    locker.rollback()
    _until(lambda: "zt-web-1" not in cluster.backends(), 20, "web-1's database sessions to end")
    request.join(timeout=30)
    assert outcome and not isinstance(outcome[0], int), outcome  # no answer from a killed process
    suspended = AuditEvent.objects.filter(action="identity.suspended", target_id=str(target.pk))
    assert Identity.objects.get(pk=target.pk).status == IdentityStatus.ACTIVE and not suspended.exists()
    status, _, body = _suspend(browser, web2, target.pk)
    assert status == 200, body
    status, _, _ = _suspend(browser, web2, target.pk)
    assert status == 400
    assert suspended.count() == 1

    # A worker killed mid-task (blocked on a locked row, acks late): the task is redelivered to the other
    # worker, which finishes it; each device gets exactly one posture_stale event.
    owner = personas["admin"].user.identity
    stale = timezone.now() - timedelta(days=2)
    devices = [
        DeviceRegistration.objects.create(
            owner=owner,
            kind=DeviceKind.TRADER_WORKSTATION,
            platform="Windows 11",
            serial=f"SCALE-{n}",
            compliance=Compliance.COMPLIANT,
            last_posture_at=stale,
            created_at=stale,
        )
        for n in range(3)
    ]
    locker.execute("SELECT id FROM accounts_deviceregistration WHERE id = %s FOR UPDATE", [devices[1].pk])
    task_id = cluster.celery.send_task(mark_stale_device_posture.name).id
    victim = _until(lambda: cluster.blocked("zt-worker-"), 30, "a worker to block on the locked device")[0]
    victim = victim.removeprefix("zt-")
    survivor = {"worker-1": "worker-2", "worker-2": "worker-1"}[victim]
    cluster.kill(victim)
    locker.rollback()
    locker.close()
    _until(
        lambda: ["done", task_id] in [row[:2] for row in cluster.log(survivor)], 40, "the survivor to finish the task"
    )
    assert ["start", task_id] in [row[:2] for row in cluster.log(victim)]
    for device in devices:
        device.refresh_from_db()
        assert device.compliance == Compliance.UNKNOWN
        assert AuditEvent.objects.filter(action="device.posture_stale", target_id=str(device.pk)).count() == 1
    assert audit.verify_chain().ok
