"""One line per event on standard output (the demo supervisor sends it to var/demo/log/).

QuickFIX's TLS code prints a certificate-verification trace with C's printf on file descriptor 1.
``divert_native_stdout`` moves descriptor 1 to a file, keeping our own lines on the original output.
"""

from __future__ import annotations

import os
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

_lock = threading.Lock()


def divert_native_stdout(path: Path) -> None:
    """Native writes to descriptor 1 go to ``path`` from now on; ``sys.stdout`` keeps the original output."""
    sys.stdout.flush()
    path.parent.mkdir(parents=True, exist_ok=True)
    original = os.dup(1)
    target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(target, 1)
    os.close(target)
    sys.stdout = os.fdopen(original, "w", buffering=1, encoding="utf-8")


def say(who: str, text: str) -> None:
    stamp = datetime.now(UTC).strftime("%H:%M:%S")
    with _lock:
        sys.stdout.write(f"{stamp} [{who}] {text}\n")
        sys.stdout.flush()
