"""Hypothesis settings shared by the property tests of this directory.

Hypothesis caches constants under ./.hypothesis even with database=None; pointing its storage at the
temporary directory keeps the working tree clean. Set at import, i.e. during collection, before any
example runs (Hypothesis resolves the directory lazily).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import settings

STORAGE = Path(tempfile.gettempdir()) / "ztconsole-hypothesis"
os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", str(STORAGE))

# database=None: failing examples are not replayed from disk; the tests stay reproducible from the seed.
PROPERTY = settings(database=None, deadline=None, max_examples=200)
# Each example starts a process: fewer of them.
SUBPROCESS_PROPERTY = settings(database=None, deadline=None, max_examples=25)
