"""Allowed sessions are relayed byte for byte; refused message types are answered naming the rule."""

import json
from pathlib import Path

import jsonschema

from tests.pep_gateway.harness import Client, spooled_events, wait_for

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "pep" / "events.schema.json").read_text())


def test_allowed_logon_and_quote_request_are_relayed_to_the_venue(pki, venue, pep):
    client = Client(pki, pep.port)
    logon = client.logon()
    assert venue.expect(b"A").encode() == logon
    reply = client.receive()
    assert reply.get(35) == b"A" and reply.get(56) == b"ALPHA1"
    quote_request = client.send("R", (131, "Q-1"), (55, "EUR/USD"), (38, 1_000_000))
    relayed = venue.expect(b"R")
    assert relayed.encode() == quote_request
    # the PEP's own certificate reached the venue
    assert venue.peers and venue.peers[0]
    status = pep.status()
    assert status["status"] == "ok" and status["sessions"]["live"] == 1
    assert status["sessions"]["list"][0]["identity"] == pki.client.username
    client.close()


def test_new_order_single_is_refused_with_the_rule_named_and_numbering_kept(pki, venue, pep):
    client = Client(pki, pep.port)
    client.logon()
    venue.expect(b"A")
    assert client.receive().get(35) == b"A"
    client.send("D", (11, "ORD-1"), (55, "EUR/USD"), (54, 1), (38, 100), (40, 1))
    reject = client.receive()
    assert reject.get(35) == b"j"
    assert reject.get(372) == b"D" and reject.get(45) == b"2" and reject.get(380) == b"6"
    assert b"ar-rfq" in reject.get(58)
    assert reject.get(34) == b"2"  # after the venue's Logon (1): the PEP numbers in the venue's stream
    gap_fill = venue.expect(b"4")
    assert (gap_fill.get(34), gap_fill.get(36), gap_fill.get(123)) == (b"2", b"3", b"Y")
    client.send("R", (131, "Q-2"), (55, "EUR/USD"))
    assert venue.expect(b"R").get(34) == b"3"
    client.send("5", (58, "bye"))
    venue.expect(b"5")
    logout = client.receive()
    # the venue's Logout (its seq 2) is renumbered after the PEP's reject: 3
    assert logout.get(35) == b"5" and logout.get(34) == b"3"
    client.close()
    events = wait_for(lambda: [e for e in spooled_events(pki.root / "state") if e["type"] == "disconnect"], 10)
    assert events


def test_every_event_matches_the_schema(pki, venue, pep):
    client = Client(pki, pep.port)
    client.logon()
    client.receive()
    client.send("0")
    client.send("D", (11, "X"))
    client.receive()
    client.close()
    events = wait_for(
        lambda: (e := spooled_events(pki.root / "state")) and any(x["type"] == "disconnect" for x in e) and e, 10
    )
    kinds = {e["type"] for e in events}
    assert {"connection", "tls_handshake", "logon_decision", "heartbeat", "reject", "disconnect"} <= kinds
    for event in events:
        jsonschema.validate(event, SCHEMA)
    decision = next(e for e in events if e["type"] == "logon_decision")
    assert decision["outcome"] == "allow" and decision["matched_rule"] == "ar-rfq"
    assert decision["bundle_version"] == 1 and decision["certificate_fingerprint"] == pki.client.sha256
    assert sum(c["score"] for c in decision["contributions"]) == decision["score"]
    handshake = next(e for e in events if e["type"] == "tls_handshake")
    assert handshake["tls_version"] in ("TLSv1.2", "TLSv1.3") and handshake["peer_fingerprint"] == pki.client.sha256
    assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)
