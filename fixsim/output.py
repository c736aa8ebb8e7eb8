"""One line per event on standard output (the demo supervisor sends it to var/demo/log/)."""

from __future__ import annotations

import sys
import threading
from datetime import UTC, datetime

_lock = threading.Lock()


def say(who: str, text: str) -> None:
    stamp = datetime.now(UTC).strftime("%H:%M:%S")
    with _lock:
        sys.stdout.write(f"{stamp} [{who}] {text}\n")
        sys.stdout.flush()
