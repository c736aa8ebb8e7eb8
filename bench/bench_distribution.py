"""Distribution to 100 real enforcement points: publish -> every PEP acknowledged, revocation -> every PEP applied.

The 100 endpoints are 100 enforcement points, each registered in the console with its own certificate (pinned),
name, control port and state directory, served by ZT_BENCH_PEP_PROCESSES (default 4) `python -m pep serve`
processes on loopback, 25 points each (`--config` repeated: docs/pep.md, "Several points, one process"), holding
the reference 10k-identity policy (bench_compile's). The console side is the real path: the approval writes the
outbox rows, ZT_BENCH_WORKERS (default 2, one per core) Celery worker processes with ZT_BENCH_WORKER_THREADS
(16) threads each send them over mutual TLS (gzip-compressed), and each point checks, swaps and answers with the
hash; the latency of a point is from the approval's start to its acknowledgement as the console recorded it.

The floor, in the same run: the same bundle copied to the same 100 endpoints by a plain sequential loop of HTTPS
PUTs (same client certificate, same pinning, the same compressed bytes, compressed inside the timed span), each
point's latency from the loop's start. The revocation rows time a suspension (the real action: a signed delta and
its 100 deliveries) from the action's start to each point's acknowledgement.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.results import Result

POINTS = int(os.environ.get("ZT_BENCH_PEPS", "100"))
PROCESSES = int(os.environ.get("ZT_BENCH_PEP_PROCESSES", "4"))
WORKERS = int(os.environ.get("ZT_BENCH_WORKERS", "2"))  # Celery worker processes (thread pool each): one per core
WORKER_THREADS = int(os.environ.get("ZT_BENCH_WORKER_THREADS", "16"))
PUBLISH_BUDGET = 2.0
REVOCATION_BUDGET = 1.0
ROUNDS = int(os.environ.get("ZT_BENCH_ROUNDS", "3"))
REVOCATION_ROUNDS = 5
ROOT = Path(__file__).resolve().parents[1]
CLIENT_TIMEOUT = 120  # a PEP's answer includes verifying and loading the bundle: never cut a slow one short


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _pep_key_and_csr(name: str):
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return key_pem, csr.public_bytes(serialization.Encoding.PEM).decode()


class _Fleet:
    def __init__(self, environment: str, workdir: Path) -> None:
        self.environment, self.workdir = environment, workdir
        self.processes: list[subprocess.Popen] = []
        self.points = []

    def register_and_start(self, count: int) -> None:
        from certificates.actions import chain_pem
        from policies.distribution.actions import register_enforcement_point
        from policies.distribution.models import EnforcementPoint
        from policies.models import SigningKey
        from tests.distribution.peps import free_port  # the one port picker of the PEP harnesses

        chain = chain_pem()
        public = SigningKey.objects.get(active=True).public_key_pem
        from policies.distribution.models import PointStatus

        # Points of an earlier run on the same database are drained: this run's fleet is the only one served.
        EnforcementPoint.objects.filter(name__startswith="bench-").update(status=PointStatus.DRAINING)
        run = secrets.token_hex(3)
        for n in range(count):
            name = f"bench-{run}-{n:03d}"
            key_pem, csr = _pep_key_and_csr(name)
            port = free_port()
            point, cert, _ = register_enforcement_point(
                None,
                name=name,
                environment=self.environment,
                control_url=f"https://127.0.0.1:{port}",
                csr_pem=csr,
            )
            directory = self.workdir / name
            directory.mkdir(parents=True)
            (directory / "pep.crt").write_text(cert.pem)
            (directory / "pep.key").write_bytes(key_pem)
            (directory / "chain.pem").write_text(chain)
            (directory / "signing.pem").write_text(public)
            (directory / "pep.toml").write_text(
                f'[pep]\nname = "{name}"\nenvironment = "{self.environment}"\nstate_dir = "state"\n'
                'public_keys = ["signing.pem"]\n\n'
                '[tls]\nca_chain = "chain.pem"\ncertificate = "pep.crt"\nprivate_key = "pep.key"\n\n'
                f'[control]\nlisten = "127.0.0.1:{port}"\n\n'
                '[[listeners]]\nname = "rfq"\nlisten = "127.0.0.1:0"\ntarget = "seg-000"\nupstream = "127.0.0.1:9"\n'
            )
            self.points.append(point)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        # PROCESSES hosts, each serving its share of the points (`serve --config a.toml --config b.toml ...`).
        groups = [self.points[i::PROCESSES] for i in range(PROCESSES)]
        for index, group in enumerate(g for g in groups if g):
            command = [sys.executable, "-m", "pep", "serve"]
            for point in group:
                command += ["--config", str(self.workdir / point.name / "pep.toml")]
            process = subprocess.Popen(
                command,
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=open(self.workdir / f"host-{index}.log", "wb"),  # noqa: SIM115 - handed to the child
                env=env,
            )
            self.processes.append(process)
        for index, (process, group) in enumerate(zip(self.processes, groups, strict=False)):
            for _ in group:  # one ready line per enforcement point
                line = process.stdout.readline()
                if not line.startswith(b"{"):
                    log = (self.workdir / f"host-{index}.log").read_text(errors="replace")[-1500:]
                    raise RuntimeError(f"PEP host {index} did not start: {line[:200]!r}\n{log}")

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()


def _worker(workdir: Path, concurrency: int, index: int = 0) -> subprocess.Popen:
    from django.conf import settings
    from django.db import connection

    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "ztconsole.settings_test"),
        "DATABASE_URL": os.environ["DATABASE_URL"],
        "REDIS_URL": settings.REDIS_URL,
        "ZT_REDIS_PREFIX": settings.REDIS_KEY_PREFIX,
        "ZT_DELIVERY_TIMEOUT_SECONDS": str(CLIENT_TIMEOUT),
    }
    assert connection.settings_dict["NAME"]
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "ztconsole",
            "worker",
            "--pool=threads",
            f"--concurrency={concurrency}",
            "--without-gossip",
            "--without-mingle",
            "--loglevel=WARNING",
            f"--hostname=bench-{os.getpid()}-{index}@%h",
        ],
        cwd=ROOT,
        env=env,
        stdout=open(workdir / f"worker-{index}.log", "wb"),
        stderr=subprocess.STDOUT,
    )


def _wait(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def _floor(fleet: _Fleet, text: str) -> list[float]:
    """The plain loop: one HTTPS PUT after another of the same bytes the console sends (compressed once, as the
    console does, inside the timed span), same client certificate and pinning; each PEP's latency from the start."""
    import gzip

    from django.conf import settings

    from policies.distribution.actions import control_client

    client = control_client()
    started = time.perf_counter()
    body, encoding = text.encode(), None
    if settings.ZT_DELIVERY_GZIP:
        body, encoding = gzip.compress(body, compresslevel=6, mtime=0), "gzip"
    latencies = []
    for point in fleet.points:
        answer = client.call(
            point.control_url, "PUT", "/bundle", body, pinned=point.pinned_sha256, content_encoding=encoding
        )
        if answer.body.get("status") not in ("applied", "already_applied"):
            raise RuntimeError(f"{point.name} refused the floor's bundle: {answer.body}")
        latencies.append(time.perf_counter() - started)
    return latencies


def _publish_round(environment: str, fleet: _Fleet, admin, officer, tag: int) -> tuple[list[float], int]:
    from django.utils import timezone

    from policies.actions import approve_publication, create_network_zone, request_publication
    from policies.distribution.models import Delivery, DeliveryKind, DeliveryState

    create_network_zone(None, environment=environment, name=f"bench-zone-{tag}", cidrs=[f"10.{tag % 250}.0.0/16"])
    pv = request_publication(admin, environment=environment)
    approved_at = timezone.now()
    approve_publication(officer, pv)
    ids = [p.pk for p in fleet.points]
    done = _wait(
        lambda: (
            Delivery.objects.filter(
                point_id__in=ids, kind=DeliveryKind.BUNDLE, number=pv.version, state=DeliveryState.ACKNOWLEDGED
            ).count()
            == len(ids)
        ),
        timeout=300,
    )
    if not done:
        raise RuntimeError(f"v{pv.version} not acknowledged by every PEP within 300 s")
    acks = Delivery.objects.filter(point_id__in=ids, kind=DeliveryKind.BUNDLE, number=pv.version).values_list(
        "acknowledged_at", flat=True
    )
    return [(a - approved_at).total_seconds() for a in acks], pv.version


def _revocation_round(environment: str, fleet: _Fleet, victim) -> list[float]:
    from django.utils import timezone

    from accounts.actions import suspend_identity
    from policies.distribution.models import Delivery, DeliveryKind, DeliveryState, RevocationDelta

    # From the revoking action's start (the delta's created_at is stored to the second: not a clock to time by).
    revoked_at = timezone.now()
    suspend_identity(None, victim, reason="bench")
    delta = RevocationDelta.objects.filter(environment=environment).order_by("-sequence").first()
    ids = [p.pk for p in fleet.points]
    done = _wait(
        lambda: (
            Delivery.objects.filter(
                point_id__in=ids, kind=DeliveryKind.REVOCATION, number=delta.sequence, state=DeliveryState.ACKNOWLEDGED
            ).count()
            == len(ids)
        ),
        timeout=120,
    )
    if not done:
        raise RuntimeError(f"revocation #{delta.sequence} not applied by every PEP within 120 s")
    from accounts.actions import reactivate_identity

    reactivate_identity(None, victim)
    acks = Delivery.objects.filter(point_id__in=ids, kind=DeliveryKind.REVOCATION, number=delta.sequence)
    return [(a - revoked_at).total_seconds() for a in acks.values_list("acknowledged_at", flat=True)]


def run() -> list[Result]:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from accounts.actions import create_non_person_identity
    from accounts.models import Identity, IdentityKind
    from bench.bench_compile import ENVIRONMENT, _populate
    from certificates.actions import init_ca
    from certificates.console import active_credential, issue_console_credential
    from certificates.models import CertificateAuthority
    from policies.actions import init_signing_key, request_publication
    from policies.models import SigningKey
    from ztconsole.celery import app
    from ztconsole.core.roles import ADMINISTRATOR, SECURITY_OFFICER

    identities = _populate()
    if not CertificateAuthority.objects.filter(active=True).exists():
        init_ca(None)
    if active_credential() is None:
        issue_console_credential(None)
    if not SigningKey.objects.filter(active=True).exists():
        init_signing_key(None)
    User = get_user_model()
    people = {}
    for username, role in (("bench-admin", ADMINISTRATOR), ("bench-officer", SECURITY_OFFICER)):
        user, created = User.objects.get_or_create(username=username)
        if created:
            user.groups.add(Group.objects.get(name=role))
            Identity.objects.create(user=user, kind=IdentityKind.HUMAN, display_name=username)
        people[role] = user
    victim = Identity.objects.filter(user__username="bench-victim").first() or create_non_person_identity(
        None,
        name="bench-victim",
        kind=IdentityKind.SERVICE,
        display_name="bench",
        sponsor=people[ADMINISTRATOR].identity,
        environment=ENVIRONMENT,
    )

    workdir = Path(tempfile.mkdtemp(prefix="zt-bench-peps-"))
    fleet = _Fleet(ENVIRONMENT, workdir)
    app.control.purge()
    workers: list[subprocess.Popen] = []
    try:
        started = time.perf_counter()
        fleet.register_and_start(POINTS)
        setup = time.perf_counter() - started
        # The floor first, with a pending (unapproved) version: the PEPs apply it, then the console publishes
        # versions above it.
        pending = request_publication(people[ADMINISTRATOR], environment=ENVIRONMENT)
        body = pending.bundle.encode()
        floor = _floor(fleet, pending.bundle)
        workers = [_worker(workdir, concurrency=WORKER_THREADS, index=n) for n in range(WORKERS)]
        time.sleep(3)  # the worker connects to the broker
        # New points are sent the revocation deltas of earlier runs on this database first: let that settle.
        from policies.distribution.models import Delivery, DeliveryState

        if not _wait(
            lambda: (
                not Delivery.objects.filter(
                    point__in=[p.pk for p in fleet.points], state=DeliveryState.PENDING
                ).exists()
            ),
            timeout=300,
        ):
            raise RuntimeError("the fleet's catch-up deliveries did not settle within 300 s")
        publish: list[float] = []
        last: list[float] = []
        for tag in range(ROUNDS):
            latencies, _ = _publish_round(
                ENVIRONMENT, fleet, people[ADMINISTRATOR], people[SECURITY_OFFICER], tag + int(time.time()) % 1000
            )
            publish += latencies
            last.append(max(latencies))
        revocation: list[float] = []
        for _ in range(REVOCATION_ROUNDS):
            revocation += _revocation_round(ENVIRONMENT, fleet, victim)
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(20)
            except subprocess.TimeoutExpired:
                worker.kill()
        fleet.stop()
        app.control.purge()
        if not os.environ.get("ZT_BENCH_KEEP"):
            shutil.rmtree(workdir, ignore_errors=True)

    size = len(body) / 1e6
    p99, floor_p99, revocation_p99 = _percentile(publish, 0.99), _percentile(floor, 0.99), _percentile(revocation, 0.99)
    return [
        Result(
            f"publish -> {POINTS} real PEP control endpoints in {PROCESSES} `pep serve` processes acknowledged "
            f"({identities:,}-identity bundle, {size:.1f} MB; {WORKERS} Celery worker process(es) x {WORKER_THREADS} "
            f"threads; "
            f"{ROUNDS} approvals, p50 {_percentile(publish, 0.5):.2f} s, last ack worst {max(last):.2f} s; "
            f"fleet started in {setup:.0f} s)",
            f"p99 {p99:.2f} s",
            f"≤ {PUBLISH_BUDGET:.0f} s",
            p99 / PUBLISH_BUDGET,
            p99 <= PUBLISH_BUDGET,
        ),
        Result(
            f"floor: the same-sized bundle to the {POINTS} PEPs by a plain sequential loop of HTTPS PUTs "
            f"(p50 {_percentile(floor, 0.5):.2f} s, last {max(floor):.2f} s)",
            f"p99 {floor_p99:.2f} s",
            f"console p99 {p99:.2f} s",
            floor_p99 / p99 if p99 else None,
            None,
        ),
        Result(
            f"revocation delta -> {POINTS} PEPs applied ({REVOCATION_ROUNDS} revocations, "
            f"p50 {_percentile(revocation, 0.5):.3f} s, worst {max(revocation):.3f} s)",
            f"p99 {revocation_p99:.3f} s",
            f"≤ {REVOCATION_BUDGET:.0f} s",
            revocation_p99 / REVOCATION_BUDGET,
            revocation_p99 <= REVOCATION_BUDGET,
        ),
    ]
