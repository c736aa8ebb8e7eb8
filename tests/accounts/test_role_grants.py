"""Four eyes on privileged roles: the puppet-administrator path, grants, and the MFA that does not carry over."""

from __future__ import annotations

import time

import pyotp
import pytest
from django.test import Client
from django.urls import reverse

from accounts import actions
from accounts.models import Identity, OathDevice, RoleGrant, RoleGrantState
from policies.models import PolicyVersion, PublicationState
from tests.conftest import make_persona, verify_session
from tests.policies.conftest import rfq_policy, signing_key  # noqa: F401 - fixtures of the publication
from ztconsole.core.models import AuditEvent
from ztconsole.core.roles import ADMINISTRATOR, SECURITY_OFFICER, TRADER, role_of

PUPPET_PASSWORD = "puppet-strings-attached-2026"


def _totp(secret: str, steps_ahead: int = 0) -> str:
    return pyotp.TOTP(secret).at(time.time() + steps_ahead * 30)


def _puppet_enrolls(code: str) -> tuple[Client, str]:
    """The puppet's first sign-in: password, enrollment code, a TOTP app confirmed by a code."""
    puppet = Client()
    assert puppet.post(reverse("accounts:login"), {"username": "pat", "password": PUPPET_PASSWORD}).status_code == 302
    response = puppet.post(reverse("accounts:enroll"), {"code": code})
    assert response.status_code == 200, response.content[:500]
    secret = response.context["secret"]
    response = puppet.post(reverse("accounts:enroll"), {"token": _totp(secret)})
    assert response.status_code == 302 and puppet.get(reverse("accounts:profile")).status_code == 200
    return puppet, secret


def _step_up_and_approve(puppet: Client, secret: str, publication: PolicyVersion):
    oath = OathDevice.objects.filter(user__username="pat").order_by("-id").first()
    puppet.post(reverse("accounts:step_up"), {"otp_device": oath.persistent_id, "otp_token": _totp(secret, 1)})
    return puppet.post(reverse("policies:approve", kwargs={"pk": publication.pk}))


@pytest.mark.usefixtures("rfq_policy")
def test_one_administrator_cannot_approve_their_own_publication_through_a_puppet(personas):
    # Given an administrator with a pending production publication of their own
    alice = verify_session(Client(), personas["admin"])
    assert alice.post(reverse("policies:publish"), {"environment": "prod"}).status_code == 302
    publication = PolicyVersion.objects.get(environment="prod", state=PublicationState.PENDING)

    # When she creates a trader with a password of her choosing, issues its enrollment code, enrolls its TOTP,
    # promotes it to Administrator, then steps up as that puppet and approves
    response = alice.post(
        reverse("accounts:identity_create"),
        {
            "username": "pat",
            "full_name": "Pat Puppet",
            "email": "pat@example.test",
            "role": TRADER,
            "password": PUPPET_PASSWORD,
            "employment_status": "employee",
        },
    )
    assert response.status_code == 302, response.content[:800]
    pat = Identity.objects.get(user__username="pat")
    response = alice.post(reverse("accounts:enrollment_code_issue", kwargs={"pk": pat.pk}))
    assert response.status_code == 200
    puppet, secret = _puppet_enrolls(response.context["code"])
    alice.post(reverse("accounts:identity_detail", kwargs={"pk": pat.pk}), {"role": ADMINISTRATOR})
    _step_up_and_approve(puppet, secret, publication)

    # Then the promotion waits for a second person, and the publication is still pending
    publication.refresh_from_db()
    assert publication.state == PublicationState.PENDING
    assert role_of(pat.user) == TRADER
    assert RoleGrant.objects.get(subject=pat.user).state == RoleGrantState.PENDING

    # Nor can she approve her own request, nor the puppet its own promotion
    refused = alice.post(reverse("accounts:role_grant_approve", kwargs={"pk": pat.user.role_grants.get().pk}))
    assert refused.status_code == 302 and pat.user.role_grants.get().state == RoleGrantState.PENDING
    assert role_of(pat.user) == TRADER

    # And when a second officer approves in good faith, the TOTP the puppet enrolled before is set aside:
    # the puppet's session is no longer verified and it cannot step up, and Alice may not issue its new code
    sam = verify_session(Client(), personas["security"])
    assert (
        sam.post(reverse("accounts:role_grant_approve", kwargs={"pk": pat.user.role_grants.get().pk})).status_code
        == 302
    )
    assert role_of(pat.user) == ADMINISTRATOR
    assert puppet.get(reverse("core:dashboard")).status_code == 302
    _step_up_and_approve(puppet, secret, publication)
    publication.refresh_from_db()
    assert publication.state == PublicationState.PENDING
    with pytest.raises(actions.ActionError, match="another person must issue"):
        actions.issue_enrollment_code(personas["admin"].user, pat.user)


def test_a_privileged_role_takes_effect_only_on_a_second_persons_approval(personas):
    trader = personas["trader"].user
    grant = actions.change_role(personas["admin"].user, trader, SECURITY_OFFICER)
    assert grant is not None and role_of(trader) == TRADER
    assert AuditEvent.objects.filter(action="identity.role_grant_requested").count() == 1
    with pytest.raises(actions.ActionError, match="second person"):
        actions.approve_role_grant(personas["admin"].user, grant)
    with pytest.raises(actions.ActionError, match="only an Administrator or a Security Officer"):
        actions.approve_role_grant(personas["compliance"].user, grant)
    actions.approve_role_grant(personas["security"].user, grant)
    assert role_of(trader) == SECURITY_OFFICER and Identity.objects.get(user=trader).privileged
    personas["trader"].device.refresh_from_db()
    assert personas["trader"].device.confirmed is False  # enrolled under the trader's rules: set aside
    assert AuditEvent.objects.filter(action="mfa.devices_set_aside", actor_label="sam").exists()


def test_nobody_approves_a_grant_about_themselves_or_about_someone_they_created(personas):
    second_admin = make_persona("adam", ADMINISTRATOR)
    created = actions.create_identity(
        second_admin.user,
        username="nora",
        email="nora@example.test",
        full_name="Nora New",
        role=TRADER,
        password="a-long-enough-passphrase-9",
    )
    grant = actions.change_role(personas["admin"].user, created, ADMINISTRATOR)
    with pytest.raises(actions.ActionError, match="you created this person"):
        actions.approve_role_grant(second_admin.user, grant)
    own = actions.change_role(second_admin.user, personas["security"].user, ADMINISTRATOR)
    with pytest.raises(actions.ActionError, match="for themselves"):
        actions.approve_role_grant(personas["security"].user, own)


def test_demotion_is_immediate_and_a_second_pending_request_is_refused(personas):
    actions.change_role(personas["admin"].user, personas["security"].user, TRADER)
    assert role_of(personas["security"].user) == TRADER
    actions.change_role(personas["admin"].user, personas["compliance"].user, ADMINISTRATOR)
    with pytest.raises(actions.ActionError, match="already has a role request pending"):
        actions.change_role(personas["admin"].user, personas["compliance"].user, SECURITY_OFFICER)


def test_rejecting_a_grant_keeps_the_role(personas, verified_client):
    grant = actions.change_role(personas["admin"].user, personas["trader"].user, ADMINISTRATOR)
    response = verified_client(personas["security"]).post(
        reverse("accounts:role_grant_reject", kwargs={"pk": grant.pk}), {"reason": "not approved by the desk head"}
    )
    assert response.status_code == 302
    grant.refresh_from_db()
    assert grant.state == RoleGrantState.REJECTED and role_of(personas["trader"].user) == TRADER


def test_role_grants_through_the_api(personas, verified_client):
    admin = verified_client(personas["admin"])
    url = reverse("api-identity-role", kwargs={"pk": personas["trader"].user.identity.pk})
    response = admin.post(url, {"role": ADMINISTRATOR}, content_type="application/json")
    assert response.status_code == 202 and response.json()["state"] == "pending"
    grant_id = response.json()["id"]
    refused = admin.post(reverse("api-role-grant-approve", kwargs={"pk": grant_id}))
    assert refused.status_code == 400 and refused.json()["field"] == "state"
    approved = verified_client(personas["security"]).post(reverse("api-role-grant-approve", kwargs={"pk": grant_id}))
    assert approved.status_code == 200 and approved.json()["state"] == "approved"
    assert role_of(personas["trader"].user) == ADMINISTRATOR


def test_nobody_lifts_their_own_sign_in_lockout(personas):
    officer = personas["security"].user
    with pytest.raises(actions.ActionError, match="your own sign-in lockout"):
        actions.reset_lockout(officer, officer.identity)
    assert actions.reset_lockout(personas["admin"].user, officer.identity) == 0
