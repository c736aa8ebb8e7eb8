"""Step-up for algorithms, the console's rules: only the sponsor decides, never after expiry, approval only with a
fresh hardware-token step-up; the PEP-facing answer; ingestion of ``step_up_requested``."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from sessions.models import StepUpRequest
from tests.accounts.test_mfa import _enroll, hotp_code, stock_token
from tests.conftest import verify_session
from tests.sessions.helpers import Feed, pending_step_up, post_events, session_id
from ztconsole.core.models import AuditEvent

pytestmark = pytest.mark.django_db


def _approve(client: Client, step_up: StepUpRequest):
    return client.post(reverse("sessions:step_up_approve", kwargs={"pk": step_up.pk}), follow=True)


def _refuse(client: Client, step_up: StepUpRequest):
    return client.post(reverse("sessions:step_up_refuse", kwargs={"pk": step_up.pk}), follow=True)


def _messages(response) -> str:
    return " ".join(str(m) for m in response.context["messages"])


def _with_hardware_step_up(personas) -> Client:
    """The trader, stepped up just now with a hardware OTP token."""
    stock_token("HW-RULES")
    client = verify_session(Client(), personas["trader"])
    assert _enroll(client, "HW-RULES", hotp_code(0), hotp_code(1)).status_code == 302
    verify_session(client, personas["trader"])
    assert client.post(reverse("accounts:step_up"), {"otp_token": hotp_code(2), "next": "/"}).status_code == 302
    return client


def test_a_software_factor_cannot_approve(point, personas):
    step_up = pending_step_up(point.point.pk, personas["trader"].user.identity, name="algo-soft")
    response = _approve(verify_session(Client(), personas["trader"]), step_up)
    assert "software factor" in _messages(response) and "hardware token" in _messages(response)
    step_up.refresh_from_db()
    assert step_up.state == "pending" and step_up.decided_by is None
    assert not AuditEvent.objects.filter(action="sessions.step_up_approved").exists()
    page = Client()
    verify_session(page, personas["trader"])
    shown = page.get(reverse("sessions:step_up", kwargs={"pk": step_up.pk}))
    assert b'data-testid="hardware-needed"' in shown.content


def test_only_the_sponsor_decides(point, personas):
    step_up = pending_step_up(point.point.pk, personas["trader"].user.identity, name="algo-other")
    officer = verify_session(Client(), personas["security"])
    assert officer.get(reverse("sessions:step_up", kwargs={"pk": step_up.pk})).status_code == 200
    for verb in (_approve, _refuse):
        response = verb(officer, step_up)
        assert "only algo-other's sponsor, tina, may decide" in _messages(response)
    step_up.refresh_from_db()
    assert step_up.state == "pending"
    # Another trader does not even see it.
    from tests.conftest import make_persona
    from ztconsole.core.roles import TRADER

    other = verify_session(Client(), make_persona("tom", TRADER))
    assert other.get(reverse("sessions:step_up", kwargs={"pk": step_up.pk})).status_code == 404


def test_never_after_expiry(point, personas):
    step_up = pending_step_up(point.point.pk, personas["trader"].user.identity, name="algo-late", seconds=-1)
    client = _with_hardware_step_up(personas)
    response = _approve(client, step_up)
    assert "already expired" in _messages(response)
    step_up.refresh_from_db()
    assert step_up.state == "expired" and step_up.decided_by is None
    assert "already expired" in _messages(_refuse(client, step_up))


def test_the_sponsor_approves_with_hardware_or_refuses_and_each_is_audited(point, personas):
    sponsor = personas["trader"].user.identity
    first = pending_step_up(point.point.pk, sponsor, name="algo-yes", session_id="0000000000000001")
    second = pending_step_up(point.point.pk, sponsor, name="algo-no", session_id="0000000000000002")
    client = _with_hardware_step_up(personas)
    assert "goes through to the venue" in _messages(_approve(client, first))
    assert "answered with a Logout" in _messages(_refuse(client, second))
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.state, first.decided_by, second.state) == ("approved", personas["trader"].user, "refused")
    approved = AuditEvent.objects.get(action="sessions.step_up_approved", target_id=str(first.pk))
    assert approved.details["assurance"] == "hardware" and approved.actor_label == "tina"
    assert AuditEvent.objects.filter(action="sessions.step_up_refused", target_id=str(second.pk)).exists()
    assert "already approved" in _messages(_refuse(client, first))


def test_a_yubikey_step_up_approves(point, personas):
    """A YubiKey OTP is a hardware factor: the sponsor who stepped up by touching one may approve."""
    from accounts.actions import mfa as mfa_actions
    from accounts.models import YubikeyDevice
    from tests.accounts.test_yubikey import SimulatedYubikey

    key = SimulatedYubikey()
    data = (key.export_line() + "\n").encode()
    mfa_actions.import_token_seeds(personas["admin"].user, data=data, filename="yubikeys.csv")
    client = verify_session(Client(), personas["trader"])
    assert client.post(reverse("accounts:yubikey_enroll"), {"otp": key.touch()}).status_code == 302
    device = YubikeyDevice.objects.get(public_id=key.public_id)
    verify_session(client, personas["trader"])  # signed in with the app: a software factor
    step_up = pending_step_up(point.point.pk, personas["trader"].user.identity, name="algo-yubi")
    assert "software factor" in _messages(_approve(client, step_up))
    stepped = client.post(
        reverse("accounts:step_up"), {"otp_device": device.persistent_id, "otp_token": key.touch(), "next": "/"}
    )
    assert stepped.status_code == 302, stepped.content[:300]
    assert "goes through to the venue" in _messages(_approve(client, step_up))
    step_up.refresh_from_db()
    assert step_up.state == "approved" and step_up.decision_note == f"approved with {device.name}"
    event = AuditEvent.objects.get(action="sessions.step_up_approved", target_id=str(step_up.pk))
    assert event.details["device"] == device.persistent_id and event.details["assurance"] == "hardware"


def test_the_pep_asks_about_its_own_sessions_only(point, other_point, personas):
    step_up = pending_step_up(point.point.pk, personas["trader"].user.identity, name="algo-api")
    url = f"/api/v1/enforcement/step-up/{step_up.session_id}"

    def ask(token):
        return Client().get(url, HTTP_AUTHORIZATION=f"Bearer {token}")

    answer = ask(point.token)
    assert answer.status_code == 200 and answer.json()["status"] == "pending"
    assert ask(other_point.token).status_code == 404  # another point's session: as unknown
    assert Client().get(url).status_code in (401, 403)
    assert verify_session(Client(), personas["security"]).get(url).status_code in (401, 403)
    StepUpRequest.objects.filter(pk=step_up.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert ask(point.token).json()["status"] == "expired"
    StepUpRequest.objects.filter(pk=step_up.pk).update(
        state="approved", decided_by=personas["trader"].user, expires_at=timezone.now() + timedelta(seconds=5)
    )
    assert ask(point.token).json() | {"expires_at": None} == {
        "status": "approved",
        "approver": "tina",
        "expires_at": None,
    }


def test_ingestion_holds_a_request_for_the_sponsor_and_ends_it_with_the_logon_decision(point, personas):
    from accounts.actions import create_non_person_identity

    create_non_person_identity(
        None,
        name="algo-feed",
        kind="algorithm",
        display_name="Algo Feed",
        sponsor=personas["trader"].user.identity,
        environment="prod",
        sender_comp_ids=["ALGOFEED"],
    )
    feed = Feed("pep-ldn")
    sid, person = session_id(), session_id()
    expires = (timezone.now() + timedelta(seconds=10)).isoformat().replace("+00:00", "Z")
    events = [
        feed.event("step_up_requested", session=sid, identity="algo-feed", reason="step-up required", expires=expires),
        # A person has no sponsor: nobody to ask, nothing held.
        feed.event("step_up_requested", session=person, identity="tina", reason="step-up required", expires=expires),
    ]
    assert post_events(point.token, events).status_code == 202
    held = StepUpRequest.objects.get()
    assert (held.session_id, held.sponsor, held.state) == (sid, personas["trader"].user.identity, "pending")
    assert AuditEvent.objects.filter(action="sessions.step_up_requested", target_id=str(held.pk)).exists()
    page = verify_session(Client(), personas["trader"]).get(reverse("core:dashboard"))
    from sessions.models import FixSession

    shown = FixSession.objects.get(session_id=sid)  # the held session is the sponsor's to see while it waits
    assert shown.identity == held.identity and shown.decision_reason == "step-up required"
    assert held.expires_at > timezone.now()  # the PEP's expiry, though the feed's clock is hours behind
    assert reverse("sessions:step_up", kwargs={"pk": held.pk}).encode() in page.content.split(b"step-up-banner")[1]
    assert post_events(point.token, events).status_code == 202  # a replay holds nothing twice
    assert StepUpRequest.objects.count() == 1
    # The PEP's Logon decision (here: it gave up) ends the request.
    assert post_events(point.token, [feed.logon(sid, identity="algo-feed", outcome="step_up")]).status_code == 202
    held.refresh_from_db()
    assert held.state == "expired"


def test_old_step_up_requests_are_pruned_with_their_audit_event(point, personas, settings):
    from sessions import actions

    sponsor = personas["trader"].user.identity
    old = pending_step_up(point.point.pk, sponsor, name="algo-old", session_id="00000000000000aa")
    recent = pending_step_up(point.point.pk, sponsor, name="algo-new", session_id="00000000000000bb")
    StepUpRequest.objects.filter(pk=old.pk).update(
        requested_at=timezone.now() - timedelta(days=settings.ZT_SESSION_RETENTION_DAYS + 1)
    )
    assert actions.prune()["step_ups"] == 1
    assert list(StepUpRequest.objects.values_list("pk", flat=True)) == [recent.pk]
    assert AuditEvent.objects.get(action="sessions.pruned").details["step_ups"] == 1
