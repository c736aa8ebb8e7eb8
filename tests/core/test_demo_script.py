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
        env=_env(tmp_path, ZT_DEMO_PORT=str(_free_port()), REDIS_URL=settings.CACHES["default"]["LOCATION"]),
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
