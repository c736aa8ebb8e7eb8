"""Guards added after the security review of the accounts code."""

from __future__ import annotations

import json
import time

import pytest
from django.test import Client
from django.urls import reverse

from accounts import actions
from accounts.actions import VERIFIED_AT_SESSION_KEY
from accounts.actions import mfa as mfa_actions
from tests.conftest import make_persona, run_async, verify_session
from ztconsole.core.roles import SECURITY_OFFICER, TRADER

pytestmark = pytest.mark.django_db


def test_suspending_a_device_ends_the_sessions_it_verified(personas, verified_client):
    client = verified_client(personas["trader"])
    assert client.get(reverse("core:dashboard")).status_code == 200
    mfa_actions.suspend_device(personas["security"].user, personas["trader"].device, reason="stolen")
    assert client.get(reverse("core:dashboard")).status_code == 302
    assert client.get(reverse("api-me"), HTTP_ACCEPT="application/json").status_code == 401


def test_temporary_codes_are_not_a_way_around_enrollment(personas):
    newcomer = make_persona("nina", TRADER, with_device=False)
    with pytest.raises(actions.ActionError, match="never enrolled"):
        mfa_actions.issue_temporary_codes(personas["security"].user, newcomer.user)
    with pytest.raises(actions.ActionError, match="themselves"):
        mfa_actions.issue_temporary_codes(personas["security"].user, personas["security"].user)


def test_whoever_grants_a_privileged_role_cannot_also_issue_the_enrollment_code(personas):
    user = actions.create_identity(
        personas["admin"].user,
        username="sofia",
        email="sofia@example.test",
        full_name="Sofia Officer",
        role=SECURITY_OFFICER,
        password="a-long-enough-passphrase-9",
    )
    second_admin = make_persona("adam", "Administrator")
    actions.approve_role_grant(second_admin.user, user.role_grants.get())
    with pytest.raises(actions.ActionError, match="another person must issue"):
        actions.issue_enrollment_code(personas["admin"].user, user)
    actions.issue_enrollment_code(second_admin.user, user)


def test_adding_a_security_key_to_a_verified_account_needs_step_up(personas, verified_client):
    client = verified_client(personas["trader"])
    session = client.session
    session[VERIFIED_AT_SESSION_KEY] = time.time() - 3600
    session.save()
    response = client.post(reverse("otp_webauthn:credential-registration-begin"))
    assert response.status_code == 403 and json.loads(response.content)["code"] == "step_up_required"


def test_verifying_rotates_the_session_key(personas):
    trader = personas["trader"]
    client = Client()
    client.post(reverse("accounts:login"), {"username": "tina", "password": "correct-horse-battery-staple-42"})
    before = client.cookies["sessionid"].value
    client.post(
        reverse("accounts:verify"), {"otp_device": trader.device.persistent_id, "otp_token": trader.current_code()}
    )
    assert client.cookies["sessionid"].value != before


@pytest.mark.django_db(transaction=True)
def test_signing_out_closes_the_users_websockets(asgi_server, personas):
    import websockets

    client = verify_session(Client(), personas["trader"])
    cookie = f"sessionid={client.cookies['sessionid'].value}"

    async def scenario():
        url = asgi_server.replace("http://", "ws://") + "/ws/events/"
        socket = await websockets.connect(url, additional_headers={"Origin": asgi_server, "Cookie": cookie})
        await socket.recv()  # hello
        import asyncio

        await asyncio.to_thread(client.post, reverse("accounts:logout"))
        with pytest.raises(websockets.exceptions.ConnectionClosed) as info:
            await asyncio.wait_for(socket.recv(), timeout=10)
        return info.value.rcvd.code

    assert run_async(scenario) == 4401
