"""The PEP's fast structural check refuses exactly what the full JSON Schema validation refuses.

Both validators run on the same corpus: every node of a small, complete bundle (optional fields filled, nulls and
non-nulls, windows, expiries, certificates) deleted, duplicated with an unknown sibling, and replaced by values of
every JSON type and by near misses of each constraint (lengths, bounds, patterns, enums, uniqueness).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest

from pep.builder import build_payload
from pep.bundle import (
    SCHEMA_PATH,
    MalformedBundleError,
    bundle_bytes,
    check_structure,
    generate_private_key,
    sign_payload,
    structural_validator,
)
from pep.structural import StructureError, compile_schema
from tests.pep.conftest import LONDON_HOURS

REPLACEMENTS: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    1,
    7,
    101,
    -101,
    1001,
    2**70,
    "",
    "x",
    "X" * 201,
    "gb",
    "GB",
    "GBR",
    "24:00",
    "24:01",
    "7:00",
    "2026-11-23T10:00:00Z",
    "2026-11-23T10:00:00+00:00",
    "2026-11-23T10:00:00Z\n",
    "ab" * 32,
    "AB" * 32,
    "ab" * 31,
    "*",
    "ABCDE",
    "ztc-policy/2",
    "EdDSA",
    "active",
    "asleep",
    "managed_compliant",
    "segment",
    "planet",
    [],
    [1],
    ["x"],
    ["x", "x"],
    ["GB", "GB"],
    [0, 0],
    [0, 7],
    [None],
    {},
    {"timezone": "UTC", "days": [0], "start": "07:00", "end": "18:00"},
    {"timezone": "UTC", "days": [0], "start": "07:00"},
]


def complete_payload() -> dict[str, Any]:
    """A small payload in which every optional part of the format is present at least once."""
    return build_payload(
        environment="prod",
        version=3,
        issued_at="2026-11-22T00:00:00Z",
        identities=[
            {"id": "alice", "expected_countries": ["GB", "US"], "desk": "fx", "certificates": ["ab" * 32]},
            {"id": "erin", "status": "suspended", "trading_hours": LONDON_HOURS, "groups": ["g1"], "roles": ["r1"]},
        ],
        devices={"laptop-a": "managed_compliant"},
        segments=[{"id": "rfq", "resources": [{"id": "rfq-1", "address": "10.1.0.5:9876", "venue": "RFQ1"}]}],
        access_rules=[
            {
                "id": "ar-1",
                "subject": {"kind": "desk", "id": "fx"},
                "target": {"kind": "segment", "id": "rfq"},
                "message_types": ["R", "S"],
            },
            {
                "id": "ar-2",
                "subject": {"kind": "identity", "id": "erin"},
                "target": {"kind": "resource", "id": "rfq-1"},
                "message_types": ["*"],
                "window": {"timezone": "UTC", "days": [6], "start": "22:00", "end": "02:00"},
                "expires_at": "2027-01-01T00:00:00Z",
            },
        ],
        risk_rules=[
            {"id": "r-1", "attribute": "network", "condition": "unknown", "score": 15},
            {"id": "r-2", "attribute": "identity", "condition": "privileged", "score": -5, "enabled": False},
        ],
        network_zones={"office": ["10.1.0.0/16", "2001:db8::/32"]},
        ip_countries={"81.2.0.0/16": "GB"},
    )


def paths(node: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield at
    if isinstance(node, dict):
        for key, value in node.items():
            yield from paths(value, (*at, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from paths(value, (*at, index))


def mutated(doc: dict[str, Any], path: tuple[Any, ...], how: str, value: Any = None) -> dict[str, Any]:
    copied = copy.deepcopy(doc)
    parent = copied
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if how == "delete":
        del parent[last]
    elif how == "replace":
        parent[last] = copy.deepcopy(value)
    elif how == "extra":
        target = parent[last]
        if isinstance(target, dict):
            target["unexpected"] = 1
        elif isinstance(target, list):
            target.append(copy.deepcopy(target[0]) if target else "unexpected")
    return copied


def corpus() -> list[dict[str, Any]]:
    key = generate_private_key()
    envelope = json.loads(bundle_bytes(sign_payload(complete_payload(), key)))
    docs = [envelope]
    for path in paths(envelope):
        if not path:
            continue
        docs.append(mutated(envelope, path, "delete"))
        docs.append(mutated(envelope, path, "extra"))
        docs.extend(mutated(envelope, path, "replace", value) for value in REPLACEMENTS)
    docs.append({**envelope, "unexpected": 1})
    docs.extend([{}, [], "bundle", 1, None])
    return docs


@pytest.fixture(scope="module")
def full_validator() -> Any:
    schema = json.loads(SCHEMA_PATH.read_text())
    return jsonschema.validators.validator_for(schema)(schema)


def refused_by_fast(doc: Any) -> bool:
    try:
        structural_validator()(doc)
    except StructureError:
        return True
    return False


def test_fast_check_refuses_every_document_the_json_schema_refuses(full_validator: Any):
    docs = corpus()
    verdicts = [(full_validator.is_valid(doc), not refused_by_fast(doc)) for doc in docs]
    # The corpus is large and mostly broken, so the comparison means something.
    assert len(docs) > 3000
    assert sum(1 for valid, _ in verdicts if not valid) > 0.8 * len(docs)
    let_through = [json.dumps(doc)[:300] for doc, (full, fast) in zip(docs, verdicts, strict=True) if fast and not full]
    assert let_through == []
    # The other way round, the generated code is stricter in one respect only: it reads a pattern's "$" as the
    # end of the string, as JSON Schema (ECMA-262) means it, where Python's re, which the jsonschema package
    # uses, also lets "$" match before a final newline.
    stricter = [json.dumps(doc) for doc, (full, fast) in zip(docs, verdicts, strict=True) if full and not fast]
    assert all("\\n" in text for text in stricter)


def test_check_structure_names_the_place(full_validator: Any):
    envelope = json.loads(bundle_bytes(sign_payload(complete_payload(), generate_private_key())))
    envelope["payload"]["identities"][1]["status"] = "asleep"
    with pytest.raises(MalformedBundleError, match="identities/1/status"):
        check_structure(envelope)


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "oneOf": [{"required": ["a"]}, {"required": ["b"]}]},
        {"type": "array", "items": {"type": "object"}, "uniqueItems": True},
        {"type": "number", "exclusiveMinimum": 0},
        {"anyOf": [{"type": "string"}, {"type": "integer"}]},
    ],
)
def test_generator_refuses_keywords_it_does_not_implement(schema: dict[str, Any]):
    # A schema change the generator cannot express must stop the PEP at start, never let documents through.
    with pytest.raises(ValueError, match="unsupported"):
        compile_schema(schema)


def test_generated_check_reads_dollar_as_the_end_of_the_string():
    check, _ = compile_schema({"type": "string", "pattern": "^[a-z]{2}$"})
    check("gb")
    with pytest.raises(StructureError):
        check("gb\n")
