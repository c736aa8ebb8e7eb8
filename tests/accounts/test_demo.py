"""`make demo`'s data loader: runs twice, prints credentials only in debug mode."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.models import HardwareToken, Identity

pytestmark = pytest.mark.django_db


def test_load_demo_refuses_outside_debug(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DJANGO_DEBUG=1"):
        call_command("load_demo")


def test_load_demo_twice(settings, capsys):
    settings.DEBUG = True
    call_command("load_demo")
    first = capsys.readouterr().out
    call_command("load_demo")
    second = capsys.readouterr().out
    assert "alice" in first and "otpauth://totp/" in first and "DEMO-HOTP-1" in first
    assert "Internal CA created" in first and "Internal CA created" not in second
    assert Identity.objects.filter(user__username__in=["alice", "sam", "tina", "theo", "carla"]).count() == 5
    assert HardwareToken.objects.filter(serial__startswith="DEMO-HOTP-").count() == 3
