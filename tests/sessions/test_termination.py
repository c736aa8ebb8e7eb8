"""Ending real sessions of a real PEP process: the console's Terminate (control API over mutual TLS, from a Celery
worker) and a certificate revoked in the console (its signed delta delivered by the worker); the FIX client gets a
Logout with the reason in 58, the console shows the end.

One PEP process, one venue and FIX clients (simplefix over ssl, not our code), events flowing to the console's
real ASGI server.
"""

from __future__ import annotations

import pytest
from django.test import Client as HttpClient

from policies.distribution.actions import new_token
from policies.distribution.models import EnforcementPoint
from sessions.models import FixSession, TerminationRequest
from tests.conftest import verify_session
from tests.distribution.peps import wait_for
from tests.pep_gateway.harness import (
    Client,
    PepProcess,
    Venue,
    issue_pki,
    payload,
    signed,
    write_config,
)
from ztconsole.core.models import AuditEvent

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]


@pytest.fixture
def gateway(tmp_path, personas, asgi_server, celery_worker_thread):
    """A PEP (uat) reporting to the console, registered there with its token and pinned certificate, trusting the
    console's policy signing key (so that the console's revocation deltas apply)."""
    from certificates.console import issue_console_credential
    from pep.bundle import public_key_pem
    from policies.actions import init_signing_key

    pki = issue_pki(tmp_path / "pki", personas["trader"].user)
    issue_console_credential(None)
    console_key = init_signing_key(None).load_private_key()
    pki.signing_key = console_key
    pki.public_key.write_bytes(public_key_pem(console_key.public_key()))
    token, prefix, token_hash = new_token()
    point = EnforcementPoint.objects.create(
        name="pep-ldn-1",
        environment="uat",
        control_url="https://127.0.0.1:9",
        pinned_sha256=pki.pep.sha256,
        token_prefix=prefix,
        token_hash=token_hash,
    )
    venue = Venue(pki)
    config = write_config(pki, venue.port, console=asgi_server)
    (pki.root / "token").write_text(token + "\n")
    pep = PepProcess(config, pki)
    try:
        EnforcementPoint.objects.filter(pk=point.pk).update(control_url=f"https://127.0.0.1:{pep.control_port}")
        code, body = pep.push(signed(pki, payload(pki, 1)))
        assert (code, body["status"]) == (200, "applied"), body
        yield pki, pep, venue
    finally:
        pep.stop()
        venue.close()


def _logged_on(pki, pep, venue) -> tuple[Client, FixSession]:
    client = Client(pki, pep.port)
    client.logon()
    assert client.receive().get(35) == b"A"
    venue.expect(b"A")
    session = wait_for(
        lambda: FixSession.objects.filter(state="logged_on", sender_comp_id=client.comp).order_by("-id").first(),
        message="the console to show the session logged on",
    )
    return client, session


def test_terminate_and_revocation_end_real_sessions_and_the_console_shows_them_end(gateway, personas):
    pki, pep, venue = gateway
    client, session = _logged_on(pki, pep, venue)
    assert session.tls_version.startswith("TLSv1.") and session.cipher
    assert session.identity_name == pki.client.username and session.identity is not None
    assert session.certificate is not None and session.certificate.sha256 == pki.client.sha256

    # A security officer terminates it through the API (step-up fresh): audited now, sent by the worker.
    officer = verify_session(HttpClient(), personas["security"])
    response = officer.post(
        f"/api/v1/sessions/{session.pk}/terminate/",
        {"reason": "suspicious quoting pattern"},
        content_type="application/json",
    )
    assert response.status_code == 202, response.content
    logout = client.receive(timeout=20)
    assert logout is not None and logout.get(35) == b"5"
    assert logout.get(58) == b"suspicious quoting pattern"
    assert client.closed()
    ended = wait_for(
        lambda: FixSession.objects.filter(pk=session.pk, state="logged_out", ended_at__isnull=False).first(),
        message="the console to show the session ended",
    )
    assert (ended.ended_by, ended.end_reason) == ("console", "suspicious quoting pattern")
    termination = wait_for(lambda: TerminationRequest.objects.filter(session=session, state="terminated").first())
    assert termination.requested_by == personas["security"].user and termination.answered_at is not None
    actions = list(AuditEvent.objects.filter(target_id=str(session.pk)).values_list("action", flat=True))
    assert "sessions.terminate_requested" in actions and "sessions.terminate_answered" in actions
    requested = AuditEvent.objects.get(action="sessions.terminate_requested", target_id=str(session.pk))
    assert requested.details["reason"] == "suspicious quoting pattern" and requested.actor_label == "sam"

    # A session already ended cannot be terminated again.
    again = officer.post(
        f"/api/v1/sessions/{session.pk}/terminate/", {"reason": "again"}, content_type="application/json"
    )
    assert again.status_code == 400

    # Revoking the client's certificate in the console: its delta reaches the PEP (outbox, worker, mutual TLS),
    # which logs the next session out at once; the ingested events show it end on the console.
    from certificates.actions import revoke_certificate
    from certificates.models import Certificate
    from policies.distribution.models import Delivery

    client, session = _logged_on(pki, pep, venue)
    revoke_certificate(
        personas["security"].user, Certificate.objects.get(sha256=pki.client.sha256), reason="keyCompromise"
    )
    logout = client.receive(timeout=20)
    assert logout is not None and logout.get(35) == b"5" and logout.get(58).startswith(b"revocation 1: ")
    revoked = wait_for(
        lambda: FixSession.objects.filter(pk=session.pk, state="logged_out").first(),
        message="the console to show the revoked session ended",
    )
    assert revoked.ended_by == "pep" and revoked.end_reason.startswith("revocation 1: ")
    assert wait_for(lambda: Delivery.objects.filter(kind="revocation", state="acknowledged").exists())
