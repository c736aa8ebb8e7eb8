"""The enforcement point runs on a gateway without the console: importing pep must not import Django."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CHECK = """
import sys
import pep, pep.attributes, pep.builder, pep.bundle, pep.canonical, pep.engine, pep.model, pep.__main__
from pep.builder import build_payload
from pep.engine import Engine
Engine.from_payload(build_payload(environment="e", version=1, issued_at="2026-11-22T00:00:00Z"))
loaded = sorted(m for m in sys.modules if m.split(".")[0] in {"django", "ztconsole", "accounts", "policies"})
print(loaded)
sys.exit(1 if loaded else 0)
"""


def test_pep_imports_without_django():
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", CHECK], cwd="/", env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
