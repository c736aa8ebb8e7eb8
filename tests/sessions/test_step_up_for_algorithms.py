"""Step-up for algorithms with a real PEP process: an algorithm's Logon lands in the step-up band, the PEP holds it
and asks the console; its sponsor approves with a hardware token step-up and the venue answers the Logon, or
nobody does and the client gets a Logout when the window ends.

One PEP process (``python -m pep serve``), a venue, a FIX client (simplefix over ssl), the console's real ASGI
server receiving the events and answering the PEP's questions.
"""

from __future__ import annotations

import pytest
from django.test import Client as HttpClient
from django.urls import reverse

from policies.distribution.actions import new_token
from policies.distribution.models import EnforcementPoint
from sessions.models import FixSession, StepUpRequest
from tests.accounts.test_mfa import _enroll, hotp_code, stock_token
from tests.conftest import verify_session
from tests.distribution.peps import wait_for
from tests.pep_gateway.harness import Client, PepProcess, Venue, issue_pki, payload, signed, write_config
from ztconsole.core.models import AuditEvent

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]


def _step_up_bundle(pki, sponsor: str | None) -> bytes:
    """The harness policy, with the client's certificate unauthenticated (+30: the step-up band) and the
    algorithms' sponsor named, as the console's compiler writes it for non-person identities."""
    body = payload(pki, 1)
    body["certificates"] = [dict(c, authentication="none") for c in body["certificates"]]
    if sponsor:
        body["identities"] = [dict(i, sponsor=sponsor) for i in body["identities"]]
    return signed(pki, body)


def _gateway(tmp_path, personas, asgi_server, *, approval: float, logon_timeout: float, sponsored: bool = True):
    pki = issue_pki(tmp_path / "pki", personas["trader"].user)
    token, prefix, token_hash = new_token()
    EnforcementPoint.objects.create(
        name="pep-ldn-1",
        environment="uat",
        control_url="https://127.0.0.1:9",
        pinned_sha256=pki.pep.sha256,
        token_prefix=prefix,
        token_hash=token_hash,
    )
    venue = Venue(pki)
    config = write_config(pki, venue.port, console=asgi_server, step_up_approval=approval, logon_timeout=logon_timeout)
    (pki.root / "token").write_text(token + "\n")
    pep = PepProcess(config, pki)
    code, body = pep.push(_step_up_bundle(pki, personas["trader"].username if sponsored else None))
    assert (code, body["status"]) == (200, "applied"), body
    return pki, pep, venue


@pytest.fixture
def approvable(tmp_path, personas, asgi_server):
    pki, pep, venue = _gateway(tmp_path, personas, asgi_server, approval=20, logon_timeout=25)
    try:
        yield pki, pep, venue
    finally:
        pep.stop()
        venue.close()


@pytest.fixture
def unattended(tmp_path, personas, asgi_server):
    pki, pep, venue = _gateway(tmp_path, personas, asgi_server, approval=1.5, logon_timeout=5)
    try:
        yield pki, pep, venue
    finally:
        pep.stop()
        venue.close()


@pytest.fixture
def unsponsored(tmp_path, personas, asgi_server):
    pki, pep, venue = _gateway(tmp_path, personas, asgi_server, approval=3, logon_timeout=5, sponsored=False)
    try:
        yield pki, pep, venue
    finally:
        pep.stop()
        venue.close()


def test_the_sponsor_approves_with_a_hardware_token_and_the_venue_answers_the_logon(approvable, personas):
    pki, pep, venue = approvable
    # The sponsor (tina, a trader) holds a hardware OTP token besides her authenticator app.
    stock_token("HW-SPONSOR")
    sponsor = verify_session(HttpClient(), personas["trader"])
    assert _enroll(sponsor, "HW-SPONSOR", hotp_code(0), hotp_code(1)).status_code == 302
    verify_session(sponsor, personas["trader"])  # signed in with the app again

    client = Client(pki, pep.port)
    client.logon()
    held = wait_for(
        lambda: StepUpRequest.objects.filter(identity_name=pki.client.username, state="pending").first(),
        message="the console to hold a step-up request for the sponsor",
    )
    assert held.sponsor == personas["trader"].user.identity and held.score is not None
    assert held.reason.startswith("step-up required") and held.expires_at > held.requested_at
    with pytest.raises(TimeoutError):  # held: no answer yet, the connection open, nothing sent to the venue
        client.receive(timeout=0.5)
    assert venue.messages.empty()

    # The banner on the sessions page names it; approving with the app's code is refused, clearly.
    page = sponsor.get(reverse("sessions:list"))
    assert reverse("sessions:step_up", kwargs={"pk": held.pk}).encode() in page.content
    refused = sponsor.post(reverse("sessions:step_up_approve", kwargs={"pk": held.pk}), follow=True)
    assert b"hardware token" in refused.content and b"software factor" in refused.content
    assert StepUpRequest.objects.get(pk=held.pk).state == "pending"

    # A fresh step-up with the hardware token, then Approve: the PEP lets the Logon through to the venue.
    device_id = sponsor.session.get("otp_device_id")
    response = sponsor.post(reverse("accounts:step_up"), {"otp_token": hotp_code(2), "next": "/"})
    assert response.status_code == 302, response.content[:500]
    assert sponsor.session.get("otp_device_id") != device_id
    approved = sponsor.post(reverse("sessions:step_up_approve", kwargs={"pk": held.pk}))
    assert approved.status_code == 302
    assert StepUpRequest.objects.get(pk=held.pk).state == "approved"

    answer = client.receive(timeout=15)
    assert answer is not None and answer.get(35) == b"A", answer
    venue.expect(b"A")
    session = wait_for(
        lambda: FixSession.objects.filter(session_id=held.session_id, state="logged_on").first(),
        message="the console to show the session logged on",
    )
    assert session.outcome == "allow" and session.decision_reason == "step-up approved by tina"
    audit = AuditEvent.objects.get(action="sessions.step_up_approved", target_id=str(held.pk))
    assert audit.actor_label == "tina" and audit.details["assurance"] == "hardware"
    client.close()


def test_nobody_approves_and_the_client_gets_a_logout_when_the_window_ends(unattended, personas):
    pki, pep, venue = unattended
    client = Client(pki, pep.port)
    client.logon()
    logout = client.receive(timeout=15)
    assert logout is not None and logout.get(35) == b"5", logout
    reason = logout.get(58).decode()
    assert reason.startswith("step-up required") and reason.endswith("no approval within 1.5 s")
    assert client.closed()
    held = wait_for(
        lambda: StepUpRequest.objects.filter(identity_name=pki.client.username, state="expired").first(),
        message="the console to record the step-up request as expired",
    )
    session = wait_for(lambda: FixSession.objects.filter(session_id=held.session_id, state="refused").first())
    assert session.outcome == "step_up" and session.end_reason == reason
    assert pep.status()["counters"]["step_ups_expired"] == 1
    assert venue.messages.empty()  # the held Logon never reached the venue


def test_the_sponsor_refuses_and_the_client_gets_a_logout_naming_them(approvable, personas):
    pki, pep, venue = approvable
    client = Client(pki, pep.port)
    client.logon()
    held = wait_for(lambda: StepUpRequest.objects.filter(state="pending").first(), message="the held request")
    sponsor = verify_session(HttpClient(), personas["trader"])  # refusing needs no hardware factor
    assert sponsor.post(reverse("sessions:step_up_refuse", kwargs={"pk": held.pk})).status_code == 302
    logout = client.receive(timeout=15)
    assert logout is not None and logout.get(35) == b"5", logout
    assert logout.get(58).decode().endswith("; step-up refused by tina in the console")
    assert venue.messages.empty()
    assert pep.status()["counters"]["step_ups_refused"] == 1


def test_without_a_sponsor_in_the_bundle_a_step_up_logon_is_refused_at_once(unsponsored):
    """A person (no sponsor in the bundle) is not held, whatever the config: Logout ``step-up required``."""
    pki, pep, _venue = unsponsored
    client = Client(pki, pep.port)
    client.logon()
    logout = client.receive(timeout=10)
    assert logout is not None and logout.get(35) == b"5" and logout.get(58).startswith(b"step-up required")
    assert b"no approval" not in logout.get(58) and b"console" not in logout.get(58)  # not held, not asked
    assert pep.status()["counters"].get("step_ups_held", 0) == 0
    assert not StepUpRequest.objects.exists()


def test_a_second_logon_of_the_same_algorithm_is_refused_while_the_first_awaits_approval(approvable):
    """One held Logon per identity: an algorithm reconnecting in a loop does not queue approvals."""
    pki, pep, venue = approvable
    first = Client(pki, pep.port)
    first.logon()
    wait_for(lambda: StepUpRequest.objects.filter(state="pending").first(), message="the first Logon held")
    second = Client(pki, pep.port)
    second.logon()
    logout = second.receive(timeout=10)
    assert logout is not None and logout.get(35) == b"5", logout
    reason = logout.get(58).decode()
    assert reason.startswith("step-up required") and "already awaits its sponsor's approval" in reason
    assert pep.status()["counters"]["step_ups_refused_busy"] == 1
    assert StepUpRequest.objects.count() == 1  # the sponsor sees one request, not one per attempt
    with pytest.raises(TimeoutError):  # the first is still held, untouched
        first.receive(timeout=0.3)
    assert venue.messages.empty()
    first.close()
