"""Processes of the demo's FIX world in tests: a subprocess with its output in a file, killed at the end."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Child:
    """A subprocess with its output in a file, stopped (then killed) at the end whatever happens."""

    def __init__(self, name: str, argv: list[str], folder: Path) -> None:
        self.log = folder / f"{name}.log"
        self.proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def stopped_at_end():
    """For a fixture: yields a list; every Child the test appends to it is stopped after it, last started first."""
    started: list[Child] = []
    yield started
    for child in reversed(started):
        child.stop()
