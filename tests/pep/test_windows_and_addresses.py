"""Weekly windows across midnight and the week's end; longest-prefix address lookups, IPv6 and mapped IPv4."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pep.builder import build_payload
from pep.bundle import MalformedBundleError
from pep.engine import Engine
from pep.model import Window
from tests.pep.conftest import policy


def at(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()


def test_window_running_past_midnight_and_past_sunday():
    window = Window.compile({"timezone": "UTC", "days": [4, 6], "start": "22:00", "end": "02:00"})
    assert window is not None
    assert window.contains(at(2026, 11, 27, 23, 0))  # Friday 23:00
    assert window.contains(at(2026, 11, 28, 1, 59))  # Saturday 01:59, still Friday's window
    assert not window.contains(at(2026, 11, 28, 2, 0))
    assert window.contains(at(2026, 11, 29, 22, 30))  # Sunday 22:30
    assert window.contains(at(2026, 11, 30, 1, 0))  # Monday 01:00, Sunday's window wrapped round the week
    assert not window.contains(at(2026, 11, 30, 3, 0))


def test_window_follows_daylight_saving_in_its_time_zone():
    window = Window.compile({"timezone": "Europe/London", "days": [0], "start": "07:00", "end": "08:00"})
    assert window is not None
    assert window.contains(at(2026, 11, 23, 7, 30))  # GMT: 07:30 local
    assert window.contains(at(2026, 6, 22, 6, 30))  # BST: 07:30 local is 06:30 UTC
    assert not window.contains(at(2026, 6, 22, 7, 30))


def test_most_specific_cidr_wins_and_ipv6_and_mapped_ipv4_resolve():
    engine = Engine.from_payload(
        build_payload(
            **policy(
                ip_countries={"81.0.0.0/8": "DE", "81.2.0.0/16": "GB", "2a00::/16": "FR"},
                network_zones={"corp": ["10.1.0.0/16", "2001:db8::/32"]},
            )
        )
    )
    assert engine.locate("81.9.9.9") == (None, "DE")
    assert engine.locate("81.2.9.9") == (None, "GB")
    assert engine.locate("2a00:1450::1") == (None, "FR")
    assert engine.locate("2001:db8::7") == ("corp", None)
    assert engine.locate("::ffff:10.1.2.3") == ("corp", None)
    assert engine.locate("bogus") is None
    assert engine.locate(None) == (None, None)


def test_from_payload_validates_unsigned_drafts():
    payload = build_payload(**policy())
    payload["risk_rules"][0]["attribute"] = "astrology"
    with pytest.raises(MalformedBundleError, match="unknown attribute"):
        Engine.from_payload(payload)
