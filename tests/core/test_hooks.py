"""Domain-event hooks (ztconsole/core/hooks.py): fired by lower-layer actions inside their transaction."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from django.db import transaction

from accounts import actions
from accounts.actions import mfa as mfa_actions
from accounts.models import Identity, IdentityStatus
from ztconsole.core import hooks
from ztconsole.core.models import AuditEvent


@contextmanager
def receiving(hook: hooks.Hook, receiver):
    hook.connect(receiver)
    try:
        yield
    finally:
        hook.disconnect(receiver)


class Recorder:
    """Remembers each call and whether it ran inside a transaction, with the subject's state at that moment."""

    def __init__(self, read=None) -> None:
        self.calls: list[dict] = []
        self.read = read

    def __call__(self, actor, subject, *, request=None) -> None:
        self.calls.append(
            {
                "actor": actor,
                "subject": subject,
                "request": request,
                "in_transaction": transaction.get_connection().in_atomic_block,
                "state": self.read(subject) if self.read else None,
            }
        )


def test_a_hook_refuses_to_fire_outside_a_transaction():
    hook = hooks.Hook("test_hook", "this test")
    with pytest.raises(RuntimeError, match="outside a transaction"):
        hook.fire(None, object())


def test_receivers_run_once_each_in_connection_order(db):
    hook = hooks.Hook("test_hook", "this test")
    seen: list[str] = []

    def first(actor, subject, *, request=None):
        seen.append(f"first:{subject}")

    def second(actor, subject, *, request=None):
        seen.append(f"second:{subject}")

    assert hook.connect(first) is first
    hook.connect(second)
    hook.connect(first)  # connecting again changes nothing
    assert hook.receivers == (first, second)
    with transaction.atomic():
        hook.fire(None, "x")
    assert seen == ["first:x", "second:x"]
    hook.disconnect(first)
    assert hook.receivers == (second,)


def test_suspending_an_identity_fires_identity_suspended_after_its_change(personas):
    admin, trader = personas["admin"].user, personas["trader"].user
    recorder = Recorder(read=lambda identity: Identity.objects.get(pk=identity.pk).status)
    with receiving(hooks.identity_suspended, recorder):
        actions.suspend_identity(admin, trader.identity, reason="left the desk")
    [call] = recorder.calls
    assert call["actor"] == admin and call["subject"].pk == trader.identity.pk
    assert call["in_transaction"] and call["state"] == IdentityStatus.SUSPENDED


def test_a_failing_receiver_rolls_the_whole_action_back(personas):
    admin, trader = personas["admin"].user, personas["trader"].user
    before = AuditEvent.objects.count()

    def refuse(actor, subject, *, request=None):
        raise actions.ActionError("a higher layer refused", field="status")

    with receiving(hooks.identity_revoked, refuse), pytest.raises(actions.ActionError, match="higher layer"):
        actions.revoke_identity(admin, trader.identity, reason="left the firm")
    trader.refresh_from_db()
    assert Identity.objects.get(pk=trader.identity.pk).status == IdentityStatus.ACTIVE
    assert trader.is_active and trader.has_usable_password()
    assert AuditEvent.objects.count() == before


def test_suspending_an_mfa_device_fires_device_suspended(personas):
    trader = personas["trader"]
    recorder = Recorder(read=lambda device: type(device).objects.get(pk=device.pk).suspended_at is not None)
    with receiving(hooks.device_suspended, recorder):
        mfa_actions.suspend_device(trader.user, trader.device, reason="lost on the train", lost=True)
    [call] = recorder.calls
    assert call["subject"].pk == trader.device.pk and call["in_transaction"] and call["state"] is True


def test_retiring_a_device_fires_device_retired(personas):
    admin, trader = personas["admin"].user, personas["trader"]
    device = actions.register_device(
        trader.user, owner=trader.user.identity, kind="trader_workstation", platform="Windows 11", serial="WS-HOOK"
    )
    recorder = Recorder(read=lambda d: type(d).objects.get(pk=d.pk).status)
    with receiving(hooks.device_retired, recorder):
        actions.retire_device(admin, device, reason="replaced")
    [call] = recorder.calls
    assert call["subject"].pk == device.pk and call["in_transaction"] and call["state"] == "retired"


def test_hooks_are_the_documented_ones():
    assert {hook.name for hook in hooks.ALL} == {
        "identity_suspended",
        "identity_revoked",
        "device_suspended",
        "device_retired",
        "certificate_revoked",
        "audit_checkpoint_signed",
        "sign_in_failed",
        "fix_logons_flagged",
    }
