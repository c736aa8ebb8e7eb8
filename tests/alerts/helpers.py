"""Objects the alerts tests and the cross-cutting tests (authorization matrix, page fit) share."""

from __future__ import annotations

from alerts import actions
from alerts.models import Detector, Severity


def matrix_alert() -> int:
    alert, _ = actions.raise_alert(
        Detector.SIGN_IN_FAILURES_ADDRESS,
        "address:192.0.2.7",
        "192.0.2.7",
        message="9 failed sign-ins for address 192.0.2.7 within 300 s",
        severity=Severity.WARNING,
        details={"failures": 9, "window_seconds": 300, "users": ["tina", "unknown"]},
    )
    return alert.pk


def wrong_passwords(username: str, count: int, *, address: str = "192.0.2.10") -> None:
    """``count`` sign-ins with a wrong password through the real login view (axes answers 429 once locked)."""
    from django.test import Client
    from django.urls import reverse

    client = Client(REMOTE_ADDR=address)
    for _ in range(count):
        response = client.post(reverse("accounts:login"), {"username": username, "password": "wrong-password-123"})
        assert response.status_code in (400, 429), response.status_code


def wrong_codes(persona, count: int, *, address: str = "192.0.2.11") -> None:
    """The right password, then ``count`` wrong one-time codes through the real verify view."""
    from django.test import Client
    from django.urls import reverse

    from tests.conftest import PASSWORD

    client = Client(REMOTE_ADDR=address)
    client.post(reverse("accounts:login"), {"username": persona.username, "password": PASSWORD})
    wrong = str((int(persona.current_code()) + 1) % 1_000_000).zfill(6)
    for _ in range(count):
        response = client.post(
            reverse("accounts:verify"), {"otp_device": persona.device.persistent_id, "otp_token": wrong}
        )
        assert response.status_code in (400, 429), response.status_code


def sign_in(persona, *, address: str, step: int = 0) -> None:
    """A whole successful sign-in (password, then the right one-time code) from ``address``; a second sign-in
    within the same 30 s uses the next code (``step=1``): a code is never accepted twice."""
    from django.test import Client
    from django.urls import reverse

    from tests.conftest import PASSWORD

    client = Client(REMOTE_ADDR=address)
    client.post(reverse("accounts:login"), {"username": persona.username, "password": PASSWORD})
    response = client.post(
        reverse("accounts:verify"),
        {"otp_device": persona.device.persistent_id, "otp_token": persona.current_code(step)},
    )
    assert response.status_code == 302 and response["Location"] == reverse("core:dashboard"), response.status_code
