"""The fast canonical layout used to verify a million events agrees byte for byte with the definition."""

from __future__ import annotations

import hashlib
import json

import pytest

from ztconsole import auditverify

TRICKY = [
    (1, "2026-01-01T00:00:00.000000Z", None, "", "a.b", "", "", "", {}, None, "", "0" * 64),
    (
        2,
        "2026-11-30T12:00:00.123456Z",
        7,
        'Zoë "quoted" \\ back',
        "identity.created",
        "accounts.identity",
        "42",
        "Ünïcødé ✓ \u2028 line\nbreak\ttab\x00nul",
        {"z": [1, 2.5, None, True], "a": {"ü": "\u0007", "b": 1e100}, "n": -0.0},
        "2001:db8::1",
        "req-1",
        "f" * 64,
    ),
    (3, "2026-01-01T00:00:00.000000Z", None, "x", "x.y", "t", "i", "l", {"k": "😀"}, "10.0.0.1", "r", "a" * 64),
]


@pytest.mark.parametrize("values", TRICKY)
def test_fast_layout_matches_the_definition(values):
    assert auditverify._fast_canonical(values, values[8]) == auditverify.canonical_event(values)


def test_the_definition_is_sorted_compact_unescaped_json():
    values = TRICKY[1]
    expected = json.dumps(
        dict(zip(auditverify.HASHED_FIELDS, values, strict=True)),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()
    assert auditverify.canonical_event(values) == expected


def test_unexpected_types_take_the_definition_path_in_the_verifier():
    # An exported line with seq as a float or actor_id as text must not be laid out as if it were valid.
    values = list(TRICKY[0])
    good = hashlib.sha256(auditverify.canonical_event(values)).hexdigest()
    verifier = auditverify.ChainVerifier((), None)
    assert verifier.feed([(*values, good)])
    forged = list(TRICKY[0])
    forged[0] = 2
    forged[2] = "null"  # text where an id belongs: hashed as "null" the string, not null
    forged[11] = good
    forged_hash = hashlib.sha256(auditverify.canonical_event([2, *values[1:2], None, *values[3:11], good])).hexdigest()
    assert not verifier.feed([(*forged, forged_hash)])
    assert "modified" in verifier.finish().problem


def test_details_text_that_is_not_json_is_a_modification():
    values = list(TRICKY[2])
    good = hashlib.sha256(auditverify.canonical_event(values)).hexdigest()
    verifier = auditverify.ChainVerifier((), None, anchor=(2, "a" * 64))
    values[8] = '{"k":"😀"'
    assert not verifier.feed([(*values, good)])
    assert verifier.finish().problem == "details are not JSON (modified)"


def test_details_text_already_canonical_verifies_as_stored():
    values = list(TRICKY[1])
    good = hashlib.sha256(auditverify.canonical_event(values)).hexdigest()
    as_text = (*values[:8], auditverify.encode_details(values[8]), *values[9:], good)
    for may_be_canonical in (True, False):
        verifier = auditverify.ChainVerifier(
            (), None, anchor=(1, "f" * 64), details_text_may_be_canonical=may_be_canonical
        )
        assert verifier.feed([as_text]), verifier.finish()
