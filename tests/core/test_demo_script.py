"""`make demo` and `make manage`: the demo's settings for commands, and a quiet stop on a signal."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]


def _env(demo_dir: Path, **extra: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "ZT_", "DATABASE_"))}
    return {**clean, "ZT_DEMO_DIR": str(demo_dir), **extra}


def test_manage_runs_commands_with_the_demo_settings(tmp_path):
    code = (
        "from django.conf import settings; print(settings.DATABASES['default']['NAME']); "
        "print(settings.ZT_SECRETS_KEYS.split(':')[0]); print(settings.DEBUG)"
    )
    result = subprocess.run(
        [sys.executable, "scripts/demo.py", "manage", "shell", "--no-imports", "-c", code],
        cwd=ROOT,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    database, key_id, debug = result.stdout.split()
    assert database == str(tmp_path / "ztconsole.sqlite3")
    assert key_id == (tmp_path / "secrets_keys").read_text().split(":")[0] == "demo1"
    assert debug == "True"
    assert oct((tmp_path / "secrets_keys").stat().st_mode & 0o777) == "0o600"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_signal_stops_the_demo_without_a_traceback(tmp_path, signum):
    demo = subprocess.Popen(
        [sys.executable, "scripts/demo.py"],
        cwd=ROOT,
        env=_env(
            tmp_path,
            ZT_DEMO_PORT=str(_free_port()),
            ZT_DEMO_FIX_PORT=str(_free_port_range(5)),
            REDIS_URL=settings.CACHES["default"]["LOCATION"],
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        seen = ""
        while "Migrating" not in seen and time.monotonic() < deadline:
            seen += demo.stdout.readline()
        assert "Migrating" in seen, seen
        demo.send_signal(signum)  # while `migrate` runs
        out, err = demo.communicate(timeout=60)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    assert demo.returncode == 0, err
    assert "Traceback" not in seen + out + err
    assert "All demo processes stopped." in out
    assert not (tmp_path / "redis_url").exists()


def _free_port_range(count: int) -> int:
    """The first of ``count`` consecutive free loopback ports (the demo's FIX ports are consecutive)."""
    import random

    for _ in range(200):
        base = random.randrange(20000, 30000)
        try:
            sockets = []
            for port in range(base, base + count):
                s = socket.socket()
                sockets.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    raise RuntimeError("no free port range")


SESSION_MARKERS = (
    "[quoter] Quote ",  # allowed: the venue's Quote came back through the prod PEP
    "[uat-quoter] Quote ",  # allowed at the uat PEP
    "[hedger] rejected by the PEP (35=j): MsgType D",  # a forbidden MsgType
    "[roamer] logon refused by the PEP: step-up required",  # unmanaged device
    "[hedger-abroad] logon refused by the PEP: access rule algo-hedger-rfq grants A to rfq-fix; score 55",  # country
    "[stale-quoter] no logon",  # revoked certificate, refused at the handshake
)


def test_make_demo_starts_the_fix_world_and_every_path_happens(tmp_path):
    # Given a fresh demo folder (its own embedded Valkey, free ports), when `make demo` runs,
    out_path = tmp_path / "demo.out"
    with out_path.open("w") as out:
        demo = subprocess.Popen(
            [sys.executable, "scripts/demo.py"],
            cwd=ROOT,
            env=_env(tmp_path, ZT_DEMO_PORT=str(_free_port()), ZT_DEMO_FIX_PORT=str(_free_port_range(5))),
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    try:
        deadline = time.monotonic() + 110
        while "Press Ctrl-C" not in out_path.read_text() and demo.poll() is None and time.monotonic() < deadline:
            time.sleep(0.5)
        printed = out_path.read_text()
        assert "Press Ctrl-C" in printed, printed[-3000:]
        # then it says what it started: the venue, both PEPs converged on the published version, each session,
        assert "RFQ venue RFQVENUE" in printed
        assert "PEP demo-prod" in printed and "PEP demo-uat" in printed and printed.count("policy v1 applied") == 2
        for name in ("quoter", "hedger", "roamer", "hedger-abroad", "stale-quoter", "uat-quoter"):
            assert f"    {name} " in printed
        # and each counterparty session meets its path (QuickFIX's view, through the PEPs and the venue),
        log = tmp_path / "log" / "counterparties.log"
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and not all(m in log.read_text() for m in SESSION_MARKERS):
            time.sleep(0.5)
        missing = [m for m in SESSION_MARKERS if m not in log.read_text()]
        assert not missing, log.read_text()[-3000:]
        # and the console's ledger has both points acknowledging the version in force (Celery's push answered).
        ledger = (
            "from policies.distribution.models import EnforcementPoint as P; "
            "print(sorted((p.name, p.acknowledged_version) for p in P.objects.all()))"
        )
        deadline, seen = time.monotonic() + 30, ""
        while time.monotonic() < deadline and seen != "[('demo-prod', 1), ('demo-uat', 1)]":
            seen = subprocess.run(
                [sys.executable, "scripts/demo.py", "manage", "shell", "--no-imports", "-c", ledger],
                cwd=ROOT,
                env=_env(tmp_path),
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            ).stdout.strip()
        assert seen == "[('demo-prod', 1), ('demo-uat', 1)]"
        assert (tmp_path / "pep-prod.toml").exists() and (tmp_path / "fix" / "manifest.json").exists()
        # When Ctrl-C, everything stops without a traceback.
        demo.send_signal(signal.SIGINT)
        demo.wait(timeout=60)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    printed = out_path.read_text()
    assert demo.returncode == 0, printed[-2000:]
    assert "Traceback" not in printed
    assert "All demo processes stopped." in printed
