import pytest

from certificates.actions import init_ca
from certificates.console import issue_console_credential
from policies import actions as policy_actions


@pytest.fixture
def pki(db):
    """The internal CA and the console's client certificate, as `manage.py init_ca` leaves them."""
    ca = init_ca(None)
    return {"ca": ca, "console": issue_console_credential(None)}


@pytest.fixture
def signing_key(db):
    return policy_actions.init_signing_key(None)


@pytest.fixture
def published(personas, pki, signing_key):
    """A prod policy approved by the security officer (requested by the administrator): version 1 in force."""
    from tests.policies.helpers import build_rfq_policy

    build_rfq_policy(personas)

    def publish(environment: str = "prod"):
        pv = policy_actions.request_publication(personas["admin"].user, environment=environment)
        return policy_actions.approve_publication(personas["security"].user, pv)

    return publish


@pytest.fixture
def pep_fleet(tmp_path):
    """Starts real `python -m pep serve` processes for registered points; stops them all at the end."""
    from tests.distribution.helpers import register
    from tests.distribution.peps import PepProcess, free_port

    started = []

    class Fleet:
        def register(self, name: str, environment: str = "prod", port: int | None = None):
            return register(name, environment=environment, port=port or free_port())

        def process(self, creds, *, control_port=None, console_url=None, environment="prod") -> PepProcess:
            port = control_port or int(creds.point.control_url.rsplit(":", 1)[1])
            pep = PepProcess(creds, tmp_path, environment=environment, control_port=port, console_url=console_url)
            started.append(pep)
            return pep

        def start(self, creds, **kwargs) -> PepProcess:
            return self.process(creds, **kwargs).start()

    yield Fleet()
    for pep in started:
        pep.kill()


def purge_queue() -> None:
    """Drop task messages left by earlier tests (their rows are gone; a fresh row may reuse the id)."""
    from ztconsole.celery import app

    app.control.purge()


@pytest.fixture
def quiet_queue():
    """For tests that call deliver() themselves: nothing delivers behind their back.

    The suite's in-process worker (started by an earlier test, session-wide) would otherwise race the test
    for the deliveries its approval queues: it stops consuming for the test's duration, stale messages go.
    """
    from ztconsole.celery import app

    queue = app.conf.task_default_queue
    listening = app.control.cancel_consumer(queue, reply=True, timeout=2.0)
    purge_queue()
    yield
    purge_queue()
    if listening:
        app.control.add_consumer(queue, reply=True, timeout=2.0)


@pytest.fixture
def worker_process(transactional_db, tmp_path):
    """A Celery worker process with the beat scheduler (reconcile every 2 s), on the shared Redis."""
    from django.conf import settings

    from tests.distribution.peps import WorkerProcess

    purge_queue()
    worker = WorkerProcess(tmp_path / "worker", redis_url=settings.REDIS_URL, beat=True).start()
    yield worker
    worker.stop()
    purge_queue()
