"""A small policy (fx desk, rfq gateway, London office) and signing keys, built with pep.builder; no database."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from pep.builder import SEED_RISK_RULES, build_payload
from pep.bundle import BundleVerifier, bundle_bytes, generate_private_key, key_ring, sign_payload
from pep.engine import DecisionRequest, Engine

# Monday 23 November 2026, 10:00 UTC: inside the London trading day.
MONDAY_10 = int(datetime(2026, 11, 23, 10, 0, tzinfo=UTC).timestamp())
LONDON_HOURS = {"timezone": "Europe/London", "days": [0, 1, 2, 3, 4], "start": "07:00", "end": "18:00"}
CERT = "ab" * 32


def policy(**overrides: Any) -> dict[str, Any]:
    """Keyword arguments for build_payload; each test changes what it is about."""
    base: dict[str, Any] = {
        "environment": "prod",
        "version": 1,
        "issued_at": "2026-11-22T00:00:00Z",
        "identities": [
            {"id": "alice", "expected_countries": ["GB"], "desk": "fx", "certificates": [CERT]},
            {"id": "bob", "privileged": True, "expected_countries": ["GB", "US"], "groups": ["rates"]},
            {"id": "carol", "expected_countries": ["GB"], "trading_hours": LONDON_HOURS, "roles": ["algo"]},
            {"id": "dave", "status": "suspended", "desk": "fx"},
        ],
        "devices": {"laptop-a": "managed_compliant", "laptop-b": "unmanaged", "laptop-c": "non_compliant"},
        "segments": [
            {"id": "rfq-gateway", "resources": [{"id": "rfq-gw-1", "address": "10.1.0.5:9876", "venue": "RFQ1"}]},
            {"id": "market-data", "resources": [{"id": "md-1"}]},
            {"id": "oms", "resources": [{"id": "oms-1"}]},
        ],
        "access_rules": [
            {
                "id": "ar-fx-rfq",
                "subject": {"kind": "desk", "id": "fx"},
                "target": {"kind": "segment", "id": "rfq-gateway"},
                "message_types": ["R", "S"],
            },
            {
                "id": "ar-bob-md",
                "subject": {"kind": "group", "id": "rates"},
                "target": {"kind": "resource", "id": "md-1"},
                "message_types": ["*"],
                "expires_at": "2026-12-01T00:00:00Z",
            },
            {
                "id": "ar-algo-oms",
                "subject": {"kind": "role", "id": "algo"},
                "target": {"kind": "segment", "id": "oms"},
                "message_types": ["D"],
                "window": {"timezone": "UTC", "days": [0, 1, 2, 3, 4], "start": "08:00", "end": "16:00"},
            },
        ],
        "risk_rules": SEED_RISK_RULES,
        "network_zones": {"corp-london": ["10.1.0.0/16"], "corp-v6": ["2001:db8::/32"]},
        "ip_countries": {"81.2.0.0/16": "GB", "81.2.69.0/24": "GB", "5.6.0.0/16": "RU", "8.8.0.0/16": "US"},
    }
    base.update(overrides)
    return base


def engine_for(**overrides: Any) -> Engine:
    """An engine on the (overridden) test policy, through the full sign + verify path."""
    key = generate_private_key()
    raw = bundle_bytes(sign_payload(build_payload(**policy(**overrides)), key))
    return Engine.from_bundle(BundleVerifier(key_ring(key.public_key())).load(raw))


def request(**fields: Any) -> DecisionRequest:
    """alice, from a dynamic GB address, managed laptop, hardware token, QuoteRequest to the RFQ gateway."""
    base: dict[str, Any] = {
        "identity": "alice",
        "target": "rfq-gateway",
        "message_type": "R",
        "authentication": "hardware",
        "device": "laptop-a",
        "source_ip": "81.2.69.7",
        "certificate_fingerprint": CERT,
        "time": MONDAY_10,
    }
    base.update(fields)
    return DecisionRequest(**base)


@pytest.fixture
def engine() -> Engine:
    return engine_for()
