"""Role changes: administrators only, audited, step-up protected, never leaving no administrator."""

from __future__ import annotations

import time

import pytest
from django.urls import reverse

from accounts.actions import VERIFIED_AT_SESSION_KEY
from accounts.models import Identity
from ztconsole.core.models import AuditEvent
from ztconsole.core.roles import ADMINISTRATOR, COMPLIANCE_OFFICER, TRADER, role_of

pytestmark = pytest.mark.django_db


def test_administrator_changes_a_role_and_it_is_audited(personas, verified_client):
    client = verified_client(personas["admin"])
    url = reverse("accounts:identity_detail", kwargs={"pk": personas["trader"].user.identity.pk})
    response = client.post(url, {"role": COMPLIANCE_OFFICER})
    assert response.status_code == 302
    assert role_of(personas["trader"].user) == COMPLIANCE_OFFICER
    event = AuditEvent.objects.get(action="identity.role_changed")
    assert event.details == {"from": TRADER, "to": COMPLIANCE_OFFICER}
    assert event.actor == personas["admin"].user


def test_stale_verification_requires_step_up(personas, verified_client):
    client = verified_client(personas["admin"])
    session = client.session
    session[VERIFIED_AT_SESSION_KEY] = time.time() - 3600
    session.save()
    url = reverse("accounts:identity_detail", kwargs={"pk": personas["trader"].user.identity.pk})
    response = client.post(url, {"role": COMPLIANCE_OFFICER}, HTTP_REFERER=f"http://testserver{url}")
    assert response.status_code == 302 and response["Location"].startswith(reverse("accounts:step_up"))
    assert role_of(personas["trader"].user) == TRADER
    admin = personas["admin"]
    step_up = client.post(response["Location"], {"otp_token": admin.current_code()})
    # The kept change comes back as a form that posts it to the page it was made on.
    assert step_up.status_code == 200 and step_up.context["action"] == url
    assert step_up.context["fields"] == [["role", COMPLIANCE_OFFICER]]
    assert client.post(url, dict(step_up.context["fields"])).status_code == 302
    assert role_of(personas["trader"].user) == COMPLIANCE_OFFICER
    assert AuditEvent.objects.filter(action="auth.step_up").exists()


def test_last_administrator_cannot_be_demoted(personas, verified_client):
    client = verified_client(personas["admin"])
    url = reverse("accounts:identity_detail", kwargs={"pk": personas["admin"].user.identity.pk})
    response = client.post(url, {"role": TRADER})
    assert response.status_code == 400
    assert b"last active administrator" in response.content
    assert role_of(personas["admin"].user) == ADMINISTRATOR


def test_unknown_role_is_a_form_error(personas, verified_client):
    client = verified_client(personas["admin"])
    url = reverse("accounts:identity_detail", kwargs={"pk": personas["trader"].user.identity.pk})
    response = client.post(url, {"role": "God"})
    assert response.status_code == 400
    assert b"Select a valid choice" in response.content


def test_create_identity_and_issue_enrollment_code(personas, verified_client):
    client = verified_client(personas["admin"])
    response = client.post(
        reverse("accounts:identity_create"),
        {
            "username": "newbie",
            "full_name": "New Trader",
            "email": "newbie@example.test",
            "role": TRADER,
            "password": "a-long-enough-passphrase-9",
            "employment_status": "employee",
            "expected_countries": "gb, US",
        },
    )
    assert response.status_code == 302
    pk = int(response["Location"].rstrip("/").split("/")[-1])
    assert Identity.objects.get(pk=pk).expected_countries == ["GB", "US"]
    issued = client.post(reverse("accounts:enrollment_code_issue", kwargs={"pk": pk}))
    assert issued.status_code == 200 and b'data-testid="enrollment-code"' in issued.content
    assert issued["Cache-Control"] == "no-store"
    assert AuditEvent.objects.filter(action__in=["identity.created", "enrollment_code.issued"]).count() == 2


def test_weak_password_and_duplicate_username_are_form_errors(personas, verified_client):
    client = verified_client(personas["admin"])
    response = client.post(
        reverse("accounts:identity_create"),
        {"username": "tina", "full_name": "X", "email": "bad", "role": TRADER, "password": "short"},
    )
    assert response.status_code == 400
    for text in (b"already exists", b"valid email", b"too short"):
        assert text in response.content
