"""Receivers of the domain-event hooks (ztconsole/core/hooks.py): each revocation becomes a signed delta.

They run inside the firing action's transaction, so the delta and its deliveries commit or roll back with the
revocation; the sends are queued for after the commit.
"""

from __future__ import annotations

from typing import Any

from policies.distribution.actions import record_revocation


def certificate_revoked(actor: Any, certificate: Any, *, request: Any = None) -> None:
    """A certificate on the CRL: the points refuse it at once (its identity's environment, or every one)."""
    record_revocation(
        environment=certificate.identity.environment,
        certificates=[certificate.sha256],
        identities=[],
        devices=[],
        actor=actor,
        request=request,
    )


def identity_blocked(actor: Any, identity: Any, *, request: Any = None) -> None:
    """An identity suspended or revoked: the points end its sessions and refuse its logons."""
    record_revocation(
        environment=identity.environment,
        certificates=[],
        identities=[identity.username],
        devices=[],
        actor=actor,
        request=request,
    )


def device_retired(actor: Any, device: Any, *, request: Any = None) -> None:
    """A registered device taken out of use: the points stop trusting it (every environment)."""
    record_revocation(
        environment="", certificates=[], identities=[], devices=[device.serial], actor=actor, request=request
    )
