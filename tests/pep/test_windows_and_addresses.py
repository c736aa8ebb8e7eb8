"""Weekly windows across midnight and the week's end; longest-prefix address lookups, IPv6 and mapped IPv4."""

from __future__ import annotations

import ipaddress
import random
from datetime import UTC, datetime

import pytest

from pep.builder import build_payload
from pep.bundle import MalformedBundleError
from pep.engine import Engine
from pep.model import Window
from tests.pep.conftest import policy, request


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
    # What a JSON request may carry instead of a string is refused as an address, not raised.
    for not_text in (81, b"81.2.9.9", ["81.2.9.9"]):
        assert engine.locate(not_text) is None  # type: ignore[arg-type]
    decision = engine.decide(request(source_ip=8122))
    assert decision.outcome == "deny" and "is not an IP address" in decision.reason


def test_ipv4_two_step_table_answers_as_a_scan_of_every_prefix_length():
    # Prefixes shorter than, equal to and longer than /16, nested across both tables, some /16s holding longer
    # prefixes and most not: the indexed lookup must give the most specific zone and country a plain scan gives.
    zones = {
        "wide": ["10.0.0.0/8"],
        "office": ["10.1.0.0/16", "10.1.7.0/24"],
        "vpn": ["172.16.0.0/12", "10.1.7.128/25"],
    }
    countries = {"0.0.0.0/0": "ZZ", "81.0.0.0/8": "DE", "81.2.0.0/16": "GB", "81.2.3.0/24": "IE", "10.1.0.0/17": "GB"}
    engine = Engine.from_payload(build_payload(**policy(ip_countries=countries, network_zones=zones)))
    networks = [(ipaddress.ip_network(c), zone) for zone, cidrs in zones.items() for c in cidrs] + [
        (ipaddress.ip_network(c), country) for c, country in countries.items()
    ]

    def scan(address: ipaddress.IPv4Address, wanted: set) -> str | None:
        hits = [(n.prefixlen, v) for n, v in networks if v in wanted and address in n]
        return max(hits)[1] if hits else None

    rnd = random.Random(7)
    bases = [ipaddress.ip_network(c).network_address for c in [*countries, *(c for v in zones.values() for c in v)]]
    samples = [ipaddress.IPv4Address(rnd.getrandbits(32)) for _ in range(500)]
    samples += [ipaddress.IPv4Address(int(b) + rnd.randrange(1 << rnd.choice((1, 8, 12, 17)))) for b in bases * 40]
    for address in samples:
        expected = (scan(address, set(zones)), scan(address, set(countries.values())))
        assert engine.locate(str(address)) == expected, address


def test_from_payload_validates_unsigned_drafts():
    payload = build_payload(**policy())
    payload["risk_rules"][0]["attribute"] = "astrology"
    with pytest.raises(MalformedBundleError, match="unknown attribute"):
        Engine.from_payload(payload)
