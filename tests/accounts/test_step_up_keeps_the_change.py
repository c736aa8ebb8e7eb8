"""A sensitive form sent after the step-up window is not lost: after the fresh code it is completed."""

from __future__ import annotations

import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from accounts.actions import VERIFIED_AT_SESSION_KEY
from accounts.models import Identity
from accounts.stepup import PENDING_MAX_AGE_SECONDS, PENDING_SESSION_KEY

pytestmark = pytest.mark.django_db


def _stale(client) -> None:
    session = client.session
    session[VERIFIED_AT_SESSION_KEY] = time.time() - 3600
    session.save()


def test_kept_change_comes_back_as_a_form_that_completes_it(personas, verified_client):
    admin = personas["admin"]
    client = verified_client(admin)
    _stale(client)
    url = reverse("accounts:identity_suspend", kwargs={"pk": personas["trader"].user.identity.pk})
    page = reverse("accounts:identity_detail", kwargs={"pk": personas["trader"].user.identity.pk})
    refused = client.post(url, {"reason": "left the desk"}, HTTP_REFERER=f"http://testserver{page}")
    assert refused.status_code == 302 and refused["Location"].startswith(reverse("accounts:step_up"))
    assert Identity.objects.get(user=personas["trader"].user).status == "active"

    resume = client.post(refused["Location"], {"otp_token": admin.current_code()})
    assert resume.status_code == 200
    html = resume.content.decode()
    assert f'action="{url}"' in html and "data-autosubmit" in html
    assert 'name="reason" value="left the desk"' in html
    assert "csrfmiddlewaretoken" in html  # a fresh token, not the one from the refused POST
    # The browser (console.js, or the button) sends the form: the change happens once, with the new code.
    done = client.post(url, {"reason": "left the desk"})
    assert done.status_code == 302
    assert Identity.objects.get(user=personas["trader"].user).status == "suspended"
    assert PENDING_SESSION_KEY not in client.session


def test_a_kept_file_upload_returns_to_its_form(personas, verified_client):
    admin = personas["admin"]
    client = verified_client(admin)
    _stale(client)
    form_page = reverse("accounts:token_import")
    upload = SimpleUploadedFile("seeds.csv", b"HW-9,3132333435363738393031323334353637383930,hotp,6,0\n")
    refused = client.post(form_page, {"file": upload}, HTTP_REFERER=f"http://testserver{form_page}")
    assert refused.status_code == 302
    response = client.post(refused["Location"], {"otp_token": admin.current_code()})
    assert response.status_code == 302 and response["Location"] == f"http://testserver{form_page}"
    messages = [str(m) for m in response.wsgi_request._messages]
    assert any("Choose the file again" in m for m in messages)


def test_an_old_kept_change_is_not_replayed(personas, verified_client):
    admin = personas["admin"]
    client = verified_client(admin)
    _stale(client)
    url = reverse("accounts:identity_suspend", kwargs={"pk": personas["trader"].user.identity.pk})
    refused = client.post(url, {"reason": "left the desk"})
    session = client.session
    session[PENDING_SESSION_KEY]["at"] = time.time() - PENDING_MAX_AGE_SECONDS - 1
    session.save()
    response = client.post(refused["Location"], {"otp_token": admin.current_code()})
    assert response.status_code == 302  # back to the page, nothing resent
    assert Identity.objects.get(user=personas["trader"].user).status == "active"


def test_a_resume_link_from_elsewhere_does_not_replay_a_kept_change(personas, verified_client):
    """The security-key path comes back to the step-up page with a one-time value; without it (a link from
    another site, say) a kept change is not sent again, even within the step-up window."""
    admin = personas["admin"]
    client = verified_client(admin)
    _stale(client)
    url = reverse("accounts:identity_suspend", kwargs={"pk": personas["trader"].user.identity.pk})
    refused = client.post(url, {"reason": "left the desk"})
    assert refused.status_code == 302 and PENDING_SESSION_KEY in client.session
    session = client.session
    session[VERIFIED_AT_SESSION_KEY] = time.time()  # verified again meanwhile, by whatever means
    session.save()
    for forged in ("1", "guess"):
        page = client.get(reverse("accounts:step_up"), {"resume": forged, "next": "/"})
        assert page.status_code == 200 and b"data-autosubmit" not in page.content
    assert PENDING_SESSION_KEY in client.session  # still kept for a genuine step-up
    assert Identity.objects.get(user=personas["trader"].user).status == "active"
