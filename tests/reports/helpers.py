"""Shared by the export tests: build an export synchronously, and run the verifier as an examiner would."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from django.db import transaction

from reports import actions, audit_export
from reports.models import AuditExport
from ztconsole.core import audit

ROOT = Path(__file__).resolve().parents[2]

# The examiner's process: any attempt to import Django fails, and none may have happened by the end.
OFFLINE = """
import runpy, sys

class NoDjango:
    def find_spec(self, name, path=None, target=None):
        if name == "django" or name.startswith("django."):
            raise ImportError("Django is not available to the examiner")
        return None

sys.meta_path.insert(0, NoDjango())
sys.argv = ["verify_export", *sys.argv[1:]]
try:
    runpy.run_module("ztconsole.verify_export", run_name="__main__")
finally:
    loaded = sorted(m for m in sys.modules if m == "django" or m.startswith("django."))
    assert not loaded, loaded
"""


def offline_verify(*args: Path | str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", OFFLINE, *map(str, args)],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def public_key_file(directory: Path) -> Path:
    path = directory / "ztconsole-export-key.pem"
    path.write_text(audit_export.public_keys_pem())
    return path


def record(actor, action: str, details: dict | None = None, target=None) -> None:
    with transaction.atomic():
        audit.record(actor, action, target, details or {})


def export_now(requester, fmt: str = "jsonl", **filters) -> AuditExport:
    """Request an export and build it in this process (the worker's code path, without the broker)."""
    export = actions.request_audit_export(requester, fmt=fmt, filters=filters)
    built = actions.build_audit_export(str(export.pk))
    assert built is not None and built.status == "done", built and built.error
    return built


def archive_of(export: AuditExport) -> Path:
    path = actions.archive_path(export)
    assert path is not None
    return path
