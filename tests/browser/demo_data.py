"""The data `make demo` loads, for the browser tests that walk the console as a newcomer would.

The same functions as the `load_demo` command (its DEBUG-only guard aside), so the journeys start from what a
newcomer sees: demo personas with their printed passwords and TOTP secrets, the CA, the demo algorithm, the
hardware tokens in stock and the sample policy.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass
from importlib import import_module

from django.conf import settings
from playwright.sync_api import expect

from accounts.actions import VERIFIED_AT_SESSION_KEY
from console.demo import DemoPersona, load_demo_hardware_tokens, load_demo_personas, load_demo_pki
from policies.demo import load_demo_policy

PERSONA_OF_ROLE = {"admin": "alice", "security": "sam", "trader": "tina", "compliance": "carla"}


@dataclass
class Demo:
    personas: dict[str, DemoPersona]  # by username
    tokens: list[tuple[str, str]]  # (serial, hex seed)

    def of(self, role: str) -> DemoPersona:
        return self.personas[PERSONA_OF_ROLE[role]]


def load_demo() -> Demo:
    personas = {p.username: p for p in load_demo_personas()}
    load_demo_pki()
    tokens = load_demo_hardware_tokens()
    load_demo_policy()
    return Demo(personas, tokens)


def totp(secret: str, steps_ago: int = 0) -> str:
    """A TOTP code from oathtool (a tool we did not write), ``steps_ago`` 30-second steps in the past."""
    assert shutil.which("oathtool"), "oathtool is needed: apt-get install oathtool"
    # Near the end of a 30-second step, wait for the next: the code must still be in its step (or, for an old
    # code, within the server's one-step tolerance) when the browser submits it, on a slow machine too.
    remaining = 30 - time.time() % 30
    if remaining < 8:
        time.sleep(remaining + 0.5)
    now = int(time.time()) - 30 * steps_ago
    done = subprocess.run(
        ["oathtool", "--totp", "-b", "-N", f"@{now}", secret], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def hotp(seed_hex: str, counter: int) -> str:
    done = subprocess.run(
        ["oathtool", "--hotp", "-c", str(counter), seed_hex], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def sign_in(page, persona: DemoPersona, code: str | None = None) -> None:
    """Password, then a one-time code (the current TOTP code unless another is given)."""
    page.goto("/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("Username").fill(persona.username)
    page.get_by_label("Password").fill(persona.password)
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Enter your one-time code")).to_be_visible()
    page.get_by_label("One-time code", exact=True).fill(code or totp(persona.totp_secret))
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()


def age_verification(context, seconds: float = 3600) -> None:
    """Make the session's last OTP verification older than the step-up window, as time passing would."""
    cookie = next(c["value"] for c in context.cookies() if c["name"] == settings.SESSION_COOKIE_NAME)
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key=cookie)
    store[VERIFIED_AT_SESSION_KEY] = time.time() - seconds
    store.save()
