"""Real enforcement points for the tests: `python -m pep serve` processes, and the console-side services.

Every PEP gets its own certificate from our CA (registered through the console's action), the policy
signing public key and the CA chain, and listens for the control API on a port chosen here so that the
registered control URL stays valid across a restart.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


_TAKEN: set[int] = set()
_ports = random.SystemRandom()


def free_port() -> int:
    """A port free now, below the kernel's ephemeral range, and never one already handed out in this process.

    The port is written into a PEP's configuration and bound by the PEP a moment later. A port from
    ``bind(("127.0.0.1", 0))`` comes from the ephemeral range, which the kernel also hands out to every outgoing
    connection and to every listener bound to port 0, and one of them took it in between once in CI ("Address
    already in use"). Below that range only another explicit bind can take it; remembering the ports handed out
    keeps two PEPs started in one test from drawing the same one (a hundred random draws collide about one run
    in five). bench/bench_distribution.py uses this too.
    """
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768  # Linux's default
    for _ in range(1000 if low > 11000 else 0):
        port = _ports.randrange(10000, low)
        if port in _TAKEN:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _TAKEN.add(port)
        return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.1, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {message}")
        time.sleep(interval)


class PepProcess:
    """One `python -m pep serve` process; ``start`` returns once it printed its ready line."""

    def __init__(self, creds, workdir: Path, *, environment: str, control_port: int, console_url: str | None = None):
        from certificates.actions import chain_pem
        from policies.models import SigningKey

        self.creds, self.name, self.control_port = creds, creds.name, control_port
        self.dir = workdir / creds.name
        cert, key = creds.write(self.dir)
        (self.dir / "chain.pem").write_text(chain_pem())
        keys = []
        for index, signing_key in enumerate(SigningKey.objects.order_by("created_at")):
            path = self.dir / f"signing-{index}.pem"
            path.write_text(signing_key.public_key_pem)
            keys.append(path.name)
        console = ""
        if console_url:
            (self.dir / "token").write_text(creds.token + "\n")
            console = f'[console]\nurl = "{console_url}"\ntoken_file = "token"\npoll_interval_seconds = 1.0\n'
        self.config = self.dir / "pep.toml"
        self.config.write_text(
            f'[pep]\nname = "{creds.name}"\nenvironment = "{environment}"\nstate_dir = "state"\n'
            f"public_keys = {json.dumps(keys)}\n\n"
            f'[tls]\nca_chain = "chain.pem"\ncertificate = "{cert.name}"\nprivate_key = "{key.name}"\n\n'
            f'[control]\nlisten = "127.0.0.1:{control_port}"\n\n{console}\n'
            f'[[listeners]]\nname = "rfq"\nlisten = "127.0.0.1:0"\ntarget = "rfq-gateway"\nupstream = "127.0.0.1:9"\n'
        )
        self.process: subprocess.Popen | None = None
        self.ready: dict = {}

    def start(self, timeout: float = 30.0) -> PepProcess:
        log = open(self.dir / "pep.log", "ab")  # noqa: SIM115 - handed to the child
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pep", "serve", "--config", str(self.config)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=log,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        deadline = time.monotonic() + timeout
        line = b""
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if line.startswith(b"{"):
                break
            if self.process.poll() is not None:
                break
        if not line.startswith(b"{"):
            self.stop()
            raise RuntimeError(f"{self.name} did not start: {(self.dir / 'pep.log').read_text()[-2000:]}")
        self.ready = json.loads(line)
        return self

    def stop(self) -> None:
        _terminate(self.process, grace=10)
        self.process = None

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)
        self.process = None

    def status(self) -> dict:
        """GET /status over the control API with the console's own client (a real mutual-TLS call)."""
        from policies.distribution.actions import control_client

        answer = control_client().call(
            f"https://127.0.0.1:{self.control_port}", "GET", "/status", None, pinned=self.creds.certificate.sha256
        )
        return answer.body


class PepHost:
    """One `python -m pep serve --config a.toml --config b.toml ...` process hosting several registered points;
    ``start`` returns once it printed one ready line per point (``ready`` maps point names to them)."""

    def __init__(self, peps: list[PepProcess], workdir: Path, name: str = "host") -> None:
        self.peps, self.log_path = peps, workdir / f"{name}.log"
        self.process: subprocess.Popen | None = None
        self.ready: dict[str, dict] = {}

    def start(self, timeout: float = 60.0) -> PepHost:
        command = [sys.executable, "-m", "pep", "serve"]
        for pep in self.peps:
            command += ["--config", str(pep.config)]
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        self.process = subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.PIPE, stderr=log, env={**os.environ, "PYTHONPATH": str(ROOT)}
        )
        deadline = time.monotonic() + timeout
        self.ready = {}
        while len(self.ready) < len(self.peps) and time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if line.startswith(b"{"):
                ready = json.loads(line)
                self.ready[ready["pep"]] = ready
            elif self.process.poll() is not None:
                break
        if len(self.ready) < len(self.peps):
            self.stop()
            raise RuntimeError(f"the host did not start every point: {self.log_path.read_text()[-2000:]}")
        return self

    def stop(self) -> None:
        _terminate(self.process, grace=15)
        self.process = None

    kill = stop


def _terminate(process: subprocess.Popen | None, *, grace: float) -> None:
    """SIGTERM, then SIGKILL if it has not exited within ``grace`` seconds."""
    if process is not None and process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def database_url() -> str:
    """The test database as a URL, for worker processes started by a test."""
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings['NAME']}"
    host, port, user = settings.get("HOST") or "127.0.0.1", settings.get("PORT") or 5432, settings.get("USER")
    return f"postgres://{user}@{host}:{port}/{settings['NAME']}"


class WorkerProcess:
    """A Celery worker (and, with ``beat``, the beat scheduler) in its own process, on the test database."""

    def __init__(
        self, workdir: Path, *, redis_url: str, beat: bool = False, reconcile_seconds: int = 2, concurrency: int = 4
    ):
        self.workdir, self.redis_url, self.beat = workdir, redis_url, beat
        self.reconcile_seconds, self.concurrency = reconcile_seconds, concurrency
        self.process: subprocess.Popen | None = None
        self.env_extra: dict[str, str] = {}

    def env(self) -> dict:
        from django.conf import settings

        return {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "DJANGO_SETTINGS_MODULE": "ztconsole.settings_test",
            "DATABASE_URL": database_url(),
            "REDIS_URL": self.redis_url,
            "ZT_REDIS_PREFIX": settings.REDIS_KEY_PREFIX,
            "ZT_RECONCILE_SECONDS": str(self.reconcile_seconds),
            "ZT_DELIVERY_BACKOFF_MAX_SECONDS": "4",
            "ZT_DELIVERY_CLAIM_SECONDS": "5",
            "ZT_DELIVERY_TIMEOUT_SECONDS": "4",
            **self.env_extra,
        }

    def start(self) -> WorkerProcess:
        self.workdir.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "ztconsole",
            "worker",
            "--pool=threads",
            f"--concurrency={self.concurrency}",
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
            f"--hostname=test-{os.getpid()}-{time.monotonic_ns()}@%h",
        ]
        if self.beat:
            command += ["--beat", f"--schedule={self.workdir / 'beat-schedule'}"]
        log = open(self.workdir / "worker.log", "ab")  # noqa: SIM115 - handed to the child
        self.process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=self.env())
        return self

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.process = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None
