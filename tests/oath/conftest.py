"""Local fixtures for the OATH tests. No Django, no database."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture
def sample() -> Callable[[str], bytes]:
    """Return a function reading a file from tests/oath/data as bytes."""

    def read(name: str) -> bytes:
        return (DATA / name).read_bytes()

    return read
