"""Same policy in, identical bytes out: what lets the console hash, diff and acknowledge versions."""

from __future__ import annotations

import random

from pep.builder import build_payload, payload_bytes
from pep.bundle import bundle_bytes, generate_private_key, sign_payload
from tests.pep.conftest import policy


def shuffled(items, seed):
    items = list(items)
    random.Random(seed).shuffle(items)
    return items


def test_same_input_in_any_order_gives_identical_bytes():
    base = policy()
    reordered = policy(
        identities=shuffled(
            [{**i, "expected_countries": list(reversed(i.get("expected_countries", [])))} for i in base["identities"]],
            1,
        ),
        access_rules=shuffled(base["access_rules"], 2),
        risk_rules=shuffled(base["risk_rules"], 3),
        devices=dict(shuffled(base["devices"].items(), 4)),
        ip_countries=dict(shuffled(base["ip_countries"].items(), 5)),
    )
    assert payload_bytes(build_payload(**base)) == payload_bytes(build_payload(**reordered))


def test_signed_bundle_bytes_are_deterministic():
    key = generate_private_key()
    first = bundle_bytes(sign_payload(build_payload(**policy()), key))
    second = bundle_bytes(sign_payload(build_payload(**policy()), key))
    assert first == second


def test_canonical_bytes_are_compact_sorted_utf8():
    data = payload_bytes({"b": 1, "a": ["é", True, None]})
    assert data == '{"a":["é",true,null],"b":1}'.encode()


def test_builder_fills_defaults():
    payload = build_payload(environment="dev", version=1, issued_at="2026-11-22T00:00:00Z", identities=[{"id": "x"}])
    assert payload["identities"][0] == {
        "id": "x",
        "status": "active",
        "privileged": False,
        "expected_countries": [],
        "trading_hours": None,
        "desk": None,
        "groups": [],
        "roles": [],
        "certificates": [],
    }
    assert payload["bands"] == {"step_up": 20, "deny": 40}
    assert len(payload["risk_rules"]) == 11


def test_docs_reproduce_the_schema_file():
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    doc = (root / "docs" / "bundle.md").read_text()
    embedded = doc.split("## JSON Schema", 1)[1].split("```json\n", 1)[1].split("\n```", 1)[0]
    assert json.loads(embedded) == json.loads((root / "pep" / "bundle.schema.json").read_text())
