"""The control API: bundle pushes (applied, refused, re-decided), revocation deltas, terminate, status, mTLS."""

import json
import time

from pep.bundle import generate_private_key
from tests.pep_gateway.harness import Client, payload, revocation_delta, signed, spooled_events, tamper, wait_for


def _live(pki, pep, venue, party=None):
    client = Client(pki, pep.port, party)
    client.logon()
    assert client.receive().get(35) == b"A"
    venue.expect(b"A")
    return client


def test_a_pushed_bundle_that_withdraws_access_logs_the_session_out_with_the_reason(pki, venue, pep):
    client = _live(pki, pep, venue)
    started = time.monotonic()
    code, body = pep.push(signed(pki, payload(pki, 2, grant=False)))
    assert (code, body["status"], body["version"]) == (200, "applied", 2)
    logout = client.receive(timeout=1)
    assert time.monotonic() - started < 1.5
    assert logout.get(35) == b"5"
    assert logout.get(58).startswith(b"policy version 2: ") and b"default deny" in logout.get(58)
    assert client.closed()
    # the venue is told too
    assert b"session ended by the enforcement point" in venue.expect(b"5").get(58)
    assert pep.status()["sessions"]["live"] == 0


def test_a_pushed_bundle_that_keeps_access_keeps_the_session_and_applies_new_message_types(pki, venue, pep):
    client = _live(pki, pep, venue)
    client.send("D", (11, "O-1"))
    assert client.receive().get(35) == b"j"
    assert pep.push(signed(pki, payload(pki, 2, message_types=("A", "R", "D"))))[1]["status"] == "applied"
    client.send("D", (11, "O-2"))
    assert venue.expect(b"D").get(11) == b"O-2"
    assert pep.status()["sessions"]["live"] == 1


def test_a_tampered_or_older_bundle_is_refused_and_the_old_one_stays_in_force(pki, venue, pep):
    v2 = signed(pki, payload(pki, 2))
    code, applied = pep.push(v2)
    assert code == 200
    code, body = pep.push(tamper(v2))
    assert (code, body["status"], body["reason"]) == (422, "refused", "bad_signature")
    code, body = pep.push(signed(pki, payload(pki, 1)))
    assert (code, body["reason"], body["version"], body["sha256"]) == (409, "lower_version", 2, applied["sha256"])
    code, body = pep.push(v2)
    assert (code, body["status"]) == (200, "already_applied")
    other_key = generate_private_key()
    from pep.bundle import bundle_bytes, sign_payload

    code, body = pep.push(bundle_bytes(sign_payload(payload(pki, 3), other_key)))
    assert (code, body["reason"]) == (422, "unknown_key")
    wrong_env = payload(pki, 3)
    wrong_env["environment"] = "prod"
    assert pep.push(signed(pki, wrong_env))[1]["reason"] == "wrong_environment"
    assert pep.push(b"{not json")[1]["reason"] == "malformed"
    status = pep.status()
    assert (status["version"], status["sha256"]) == (2, applied["sha256"])
    # still enforced: D refused under v2's rule, R relayed
    client = _live(pki, pep, venue)
    client.send("D", (11, "O-1"))
    assert b"ar-rfq" in client.receive().get(58)
    wanted = {"bad_signature", "lower_version", "unknown_key", "malformed"}

    def refusals() -> set[str]:  # the feed flushes to the spool every flush interval: wait for the last one
        reasons = {e["reason"] for e in spooled_events(pki.root / "state") if e["type"] == "bundle_refused"}
        return reasons if reasons >= wanted else set()

    assert wait_for(refusals, 10) >= wanted


def test_a_revocation_delta_ends_the_session_at_once_and_gaps_are_refused(pki, venue, pep):
    client = _live(pki, pep, venue)
    bystander = _live(pki, pep, venue)
    code, body = pep.control("POST", "/revocations", revocation_delta(pki, 2, certificates=[pki.client.sha256]))
    assert (code, body) == (409, {"status": "refused", "reason": "sequence_gap", "sequence": 0})
    started = time.monotonic()
    code, body = pep.control("POST", "/revocations", revocation_delta(pki, 1, certificates=[pki.client.sha256]))
    assert (code, body["status"], body["sequence"]) == (200, "applied", 1)
    assert len(body["terminated"]) == 2
    logout = client.receive(timeout=1)
    assert time.monotonic() - started < 1.5
    assert logout.get(58) == b"revocation 1: certificate revoked"
    assert bystander.closed()
    code, body = pep.control("POST", "/revocations", revocation_delta(pki, 1, certificates=[pki.client.sha256]))
    assert (code, body) == (200, {"status": "already_applied", "sequence": 1})
    # the next number is accepted; a bad signature is not
    forged = revocation_delta(pki, 2, identities=[pki.other_client.username], key=generate_private_key())
    assert pep.control("POST", "/revocations", forged)[1]["reason"] == "unknown_key"
    doc = json.loads(revocation_delta(pki, 2, identities=["x"]))
    doc["payload"]["identities"] = [pki.other_client.username]
    assert pep.control("POST", "/revocations", json.dumps(doc).encode())[1]["reason"] == "bad_signature"
    assert pep.control("POST", "/revocations", revocation_delta(pki, 2, devices=["laptop-1"]))[1]["status"] == "applied"
    assert pep.status()["revocation_sequence"] == 2
    # the revoked certificate cannot come back
    again = Client(pki, pep.port)
    assert again.closed()


def test_a_revoked_identity_is_refused_at_logon(pki, venue, pep):
    assert pep.control("POST", "/revocations", revocation_delta(pki, 1, identities=[pki.client.username]))[0] == 200
    client = Client(pki, pep.port)
    client.logon()
    assert client.receive().get(58) == f"identity {pki.client.username} revoked".encode()


def test_terminate_ends_one_session_with_the_reason(pki, venue, pep):
    client = _live(pki, pep, venue)
    session = pep.status()["sessions"]["list"][0]["id"]
    code, body = pep.control("POST", f"/sessions/{session}/terminate", {"reason": "security officer: suspicious"})
    assert (code, body) == (200, {"status": "terminated", "session": session})
    assert client.receive().get(58) == b"security officer: suspicious"
    assert pep.control("POST", f"/sessions/{session}/terminate", {"reason": "again"}) == (404, {"status": "not_found"})
    code, body = pep.control("POST", "/sessions/abc/terminate", {"reason": ""})
    assert code == 422 and body["status"] == "refused"


def test_status_reports_version_age_sessions_and_counters(pki, venue, pep):
    client = _live(pki, pep, venue)
    status = pep.status()
    assert status["status"] == "ok" and status["pep"] == "pep-ldn-1" and status["environment"] == "uat"
    assert status["version"] == 1 and len(status["sha256"]) == 64
    assert status["bundle_issued_at"] == "2026-11-30T12:00:00Z"
    assert 0 <= status["bundle_age_seconds"] < 60 and status["max_bundle_age_seconds"] == 3600
    assert status["sessions"]["live"] == 1 and status["counters"]["logons_allow"] == 1
    assert status["counters"]["logon_decision_p99_ns"] > 0
    client.close()


def test_only_the_consoles_certificate_may_call_the_control_api(pki, pep):
    code, body = pep.control("GET", "/status", party=pki.client)
    assert (code, body["status"]) == (403, "forbidden")
    code, body = pep.control("PUT", "/bundle", signed(pki, payload(pki, 5)), party=pki.pep)
    assert code == 403
    assert pep.status()["version"] == 1
    assert pep.control("GET", "/nothing") == (404, {"status": "not_found"})


def test_revocations_survive_a_restart(pki, venue, start_pep):
    pep = start_pep()
    pep.push(signed(pki, payload(pki, 1)))
    pep.control("POST", "/revocations", revocation_delta(pki, 1, identities=[pki.client.username]))
    pep.stop()
    again = start_pep()
    status = again.status()
    assert (status["version"], status["revocation_sequence"]) == (1, 1)
    client = Client(pki, again.port)
    client.logon()
    assert b"revoked" in client.receive().get(58)
