"""Domain-event hooks: the one way a lower layer lets a higher one react (docs/architecture.md, "Layers").

A lower app never imports a higher one. When its action changes something a higher app must react to
(an identity revoked: its certificates go on the CRL), the action fires a hook here, inside its own
transaction, after its own change and audit event. Each higher app connects its reaction, an action of
its own with the signature ``(actor, subject, *, request=None)``, in its ``AppConfig.ready()``.

Receivers run in the order they were connected, synchronously and in the same transaction: if one
raises, the whole action rolls back (the identity is not revoked unless its certificates are too).
Work that must wait for the commit (a push to the enforcement points) is enqueued by the receiver with
``transaction.on_commit``, as every action does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import transaction

Receiver = Callable[..., Any]


class Hook:
    """A named event with an ordered list of receivers."""

    def __init__(self, name: str, fired_by: str) -> None:
        self.name = name
        self.fired_by = fired_by
        self._receivers: list[Receiver] = []

    def __repr__(self) -> str:
        return f"<Hook {self.name}: {len(self._receivers)} receiver(s)>"

    @property
    def receivers(self) -> tuple[Receiver, ...]:
        return tuple(self._receivers)

    def connect(self, receiver: Receiver) -> Receiver:
        """Add ``receiver`` once (connecting it again changes nothing); returns it, so it works as a decorator."""
        if receiver not in self._receivers:
            self._receivers.append(receiver)
        return receiver

    def disconnect(self, receiver: Receiver) -> None:
        if receiver in self._receivers:
            self._receivers.remove(receiver)

    def fire(self, actor: Any, subject: Any, *, request: Any = None) -> None:
        """Run every receiver now. Only inside the firing action's transaction: reactions commit with it."""
        if not transaction.get_connection().in_atomic_block:
            raise RuntimeError(f"hook {self.name} fired outside a transaction; fire it inside the action")
        for receiver in tuple(self._receivers):
            receiver(actor, subject, request=request)


identity_suspended = Hook("identity_suspended", "accounts.actions.suspend_identity (subject: the Identity)")
identity_revoked = Hook("identity_revoked", "accounts.actions.revoke_identity (subject: the Identity)")
device_suspended = Hook(
    "device_suspended", "accounts.actions.mfa.suspend_device: a lost or broken MFA device (subject: the device)"
)
device_retired = Hook("device_retired", "accounts.actions.retire_device (subject: the DeviceRegistration)")
certificate_revoked = Hook(
    "certificate_revoked",
    "certificates.actions.revoke_certificate, renew_certificate (revoke_old) and revoke_certificates_of_identity, "
    "once per certificate (subject: the Certificate)",
)

audit_checkpoint_signed = Hook(
    "audit_checkpoint_signed",
    "ztconsole.core.audit, each time the audit chain's head is signed (subject: the auditverify.Checkpoint; "
    "actor: None); the way checkpoints leave the console besides ZT_AUDIT_CHECKPOINT_PATH (the SIEM forwarder)",
)

sign_in_failed = Hook(
    "sign_in_failed",
    "accounts.actions.record_password_failure (a wrong password or a locked-out attempt), verify_otp and "
    "verify_otp_any (a wrong or throttled code), complete_totp_enrollment and the WebAuthn sign-in (a wrong code "
    "or assertion), after the failure's audit event (subject: the username tried, as audited; actor: the user "
    "when known, else None); the alerts app's detectors wake up from here",
)

fix_logons_flagged = Hook(
    "fix_logons_flagged",
    "sessions.actions.ingest_events, when a batch holds a denied FIX Logon or one whose risk contributions include "
    "the unexpected-country signal (subject: the EnforcementPoint; actor: None); the alerts app's decision-log "
    "detectors wake up from here",
)

ALL = (
    identity_suspended,
    identity_revoked,
    device_suspended,
    device_retired,
    certificate_revoked,
    audit_checkpoint_signed,
    sign_in_failed,
    fix_logons_flagged,
)


# --- Read-side sources ------------------------------------------------------------------------------------------
#
# The same rule for reading: a lower app's page sometimes shows what a higher app records (the policy simulator
# replays the decision log of sessions/). The lower app reads through a Source here; the higher app connects a
# supplier in its ``AppConfig.ready()``. A supplier takes keyword arguments only and returns a list; no transaction
# is involved and nothing is changed. With no supplier connected, ``collect`` returns an empty list: the page
# shows nothing recorded rather than failing.

Supplier = Callable[..., list[Any]]


class Source:
    """A named read-side registry: suppliers from higher layers, collected (concatenated, in connection order)."""

    def __init__(self, name: str, supplied_by: str) -> None:
        self.name = name
        self.supplied_by = supplied_by
        self._suppliers: list[Supplier] = []

    def __repr__(self) -> str:
        return f"<Source {self.name}: {len(self._suppliers)} supplier(s)>"

    @property
    def suppliers(self) -> tuple[Supplier, ...]:
        return tuple(self._suppliers)

    def connect(self, supplier: Supplier) -> Supplier:
        if supplier not in self._suppliers:
            self._suppliers.append(supplier)
        return supplier

    def disconnect(self, supplier: Supplier) -> None:
        if supplier in self._suppliers:
            self._suppliers.remove(supplier)

    def collect(self, **kwargs: Any) -> list[Any]:
        out: list[Any] = []
        for supplier in tuple(self._suppliers):
            out.extend(supplier(**kwargs))
        return out


recorded_decisions = Source(
    "recorded_decisions",
    "sessions.selectors.recorded_logon_decisions: the decision log's Logon decisions that the policy engine made, "
    "newest first, that ``user`` may see (kwargs: user, environment, limit); each a dict with the request the PEP "
    "decided on (policies.selectors.replay_recorded_decisions reads it)",
)

SOURCES = (recorded_decisions,)
