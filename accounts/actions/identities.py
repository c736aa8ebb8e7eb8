"""Lifecycle of identities: non-person identities, suspension, reactivation, revocation, sponsorship."""

from __future__ import annotations

import re
import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from accounts.actions.core import ActionError, normalize_countries
from accounts.models import ApiToken, Desk, Environment, Identity, IdentityKind, IdentityStatus
from ztconsole.core import audit, hooks, live, validators

User = get_user_model()
_COMP_ID = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")
_NAME = re.compile(r"^[a-z][a-z0-9._-]{1,63}$")


def _check_sponsor(sponsor: Identity | None) -> Identity:
    if sponsor is None:
        raise ActionError("a non-person identity needs a human sponsor", field="sponsor")
    if not sponsor.is_human:
        raise ActionError("the sponsor must be a person, not another non-person identity", field="sponsor")
    if sponsor.status != IdentityStatus.ACTIVE:
        raise ActionError(f"the sponsor {sponsor} is {sponsor.status}", field="sponsor")
    return sponsor


def normalize_comp_ids(values: list[str], *, exclude: Identity | None = None) -> list[str]:
    """FIX CompIDs: well-formed, unique within the identity and across every other identity."""
    result: list[str] = []
    for value in values:
        value = value.strip()
        if not value:
            continue
        if not _COMP_ID.match(value):
            raise ActionError(f"{value!r} is not a valid FIX CompID (1-32 of A-Z a-z 0-9 _ . -)", "sender_comp_ids")
        if value in result:
            continue
        result.append(value)
    # Membership in a JSON list is not portable across SQLite and PostgreSQL; narrow with a text match,
    # then check exactly.
    others = Identity.objects.exclude(pk=getattr(exclude, "pk", None))
    for comp_id in result:
        for other in others.filter(sender_comp_ids__icontains=comp_id).only("id", "display_name", "sender_comp_ids"):
            if comp_id in other.sender_comp_ids:
                raise ActionError(f"CompID {comp_id} already belongs to {other}", field="sender_comp_ids")
    return result


@transaction.atomic
def create_non_person_identity(
    actor: Any,
    *,
    name: str,
    kind: str,
    display_name: str,
    sponsor: Identity | None,
    environment: str,
    sender_comp_ids: list[str] | None = None,
    desk: Desk | None = None,
    expected_countries: list[str] | None = None,
    request: HttpRequest | None = None,
) -> Identity:
    """An algorithm, service or FIX gateway: no password, a human sponsor, an environment, its CompIDs.

    ``expected_countries`` (ISO alpha-2) are where its connections are expected from: the geography risk
    attribute scores a connection from anywhere else as anomalous. Empty: no expectation to violate.
    """
    if kind not in IdentityKind.values or kind == IdentityKind.HUMAN:
        raise ActionError("kind must be algorithm, service or fix_gateway", field="kind")
    if not _NAME.match(name):
        raise ActionError("name: 2-64 lower-case letters, digits, '.', '_' or '-', starting with a letter", "name")
    if environment not in Environment.values:
        raise ActionError("environment must be prod, uat or dev", field="environment")
    if User.objects.filter(username__iexact=name).exists():
        raise ActionError(f"an identity named {name!r} already exists", field="name")
    _check_sponsor(sponsor)
    comp_ids = normalize_comp_ids(sender_comp_ids or [])
    countries = normalize_countries(expected_countries or [])
    if kind in (IdentityKind.ALGORITHM, IdentityKind.FIX_GATEWAY) and not comp_ids:
        raise ActionError("an identity that speaks FIX needs at least one SenderCompID", field="sender_comp_ids")
    user = User.objects.create_user(username=name, password=None)
    user.set_unusable_password()
    user.save(update_fields=["password"])
    identity = Identity.objects.create(
        user=user,
        kind=kind,
        display_name=display_name.strip() or name,
        sponsor=sponsor,
        environment=environment,
        sender_comp_ids=comp_ids,
        desk=desk,
        expected_countries=countries,
    )
    details = {"kind": kind, "environment": environment, "sponsor": sponsor.username, "sender_comp_ids": comp_ids}
    if countries:
        details["expected_countries"] = countries
    audit.record(
        actor,
        "identity.created",
        identity,
        details,
        request=request,
    )
    return identity


def _transition(identity: Identity, allowed_from: tuple[str, ...], to: str, reason: str) -> Identity:
    changed = Identity.objects.filter(pk=identity.pk, status__in=allowed_from).update(
        status=to, status_reason=reason[:200], status_changed_at=timezone.now()
    )
    if changed != 1:
        current = Identity.objects.get(pk=identity.pk).status
        raise ActionError(f"{identity} is {current}; it cannot become {to}", field="status")
    User.objects.filter(pk=identity.user_id).update(is_active=to == IdentityStatus.ACTIVE)
    if to != IdentityStatus.ACTIVE:
        live.end_sessions(identity.user_id)
    identity.refresh_from_db()
    return identity


@transaction.atomic
def suspend_identity(actor: Any, identity: Identity, *, reason: str, request: HttpRequest | None = None) -> Identity:
    """Stop an identity at once (sign-in, API tokens); reversible by reactivation."""
    if not reason.strip():
        raise ActionError("give a reason for the suspension", field="reason")
    _guard_last_administrator(identity)
    identity = _transition(identity, (IdentityStatus.ACTIVE,), IdentityStatus.SUSPENDED, reason)
    audit.record(actor, "identity.suspended", identity, {"reason": reason}, request=request)
    hooks.identity_suspended.fire(actor, identity, request=request)
    return identity


@transaction.atomic
def reactivate_identity(actor: Any, identity: Identity, *, request: HttpRequest | None = None) -> Identity:
    identity = _transition(identity, (IdentityStatus.SUSPENDED,), IdentityStatus.ACTIVE, "")
    audit.record(actor, "identity.reactivated", identity, {}, request=request)
    return identity


@transaction.atomic
def revoke_identity(actor: Any, identity: Identity, *, reason: str, request: HttpRequest | None = None) -> Identity:
    """Final: the identity never acts again; its API tokens are revoked with it."""
    if not reason.strip():
        raise ActionError("give a reason for the revocation", field="reason")
    _guard_last_administrator(identity)
    if identity.is_human and identity.sponsored.exclude(status=IdentityStatus.REVOKED).exists():
        raise ActionError("this person sponsors active identities; give them a new sponsor first", "status")
    identity = _transition(identity, (IdentityStatus.ACTIVE, IdentityStatus.SUSPENDED), IdentityStatus.REVOKED, reason)
    tokens = ApiToken.objects.filter(user_id=identity.user_id, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoked_by=actor if getattr(actor, "is_authenticated", False) else None
    )
    # A revoked identity's password can never be used again, even if someone flips is_active by hand.
    User.objects.filter(pk=identity.user_id).update(password=f"!revoked-{secrets.token_hex(8)}")
    audit.record(actor, "identity.revoked", identity, {"reason": reason, "api_tokens_revoked": tokens}, request)
    hooks.identity_revoked.fire(actor, identity, request=request)  # e.g. certificates: all go on the CRL
    return identity


@transaction.atomic
def change_sponsor(
    actor: Any, identity: Identity, sponsor: Identity | None, *, request: HttpRequest | None = None
) -> Identity:
    if identity.is_human:
        raise ActionError("people have no sponsor", field="sponsor")
    if identity.status == IdentityStatus.REVOKED:
        raise ActionError(f"{identity} is revoked", field="sponsor")
    _check_sponsor(sponsor)
    previous = identity.sponsor.username if identity.sponsor else None
    Identity.objects.filter(pk=identity.pk).update(sponsor=sponsor)
    identity.refresh_from_db()
    audit.record(
        actor,
        "identity.sponsor_changed",
        identity,
        {"from": previous, "to": sponsor.username},
        request=request,
    )
    return identity


def _guard_last_administrator(identity: Identity) -> None:
    from ztconsole.core.roles import ADMINISTRATOR

    if not identity.user.groups.filter(name=ADMINISTRATOR).exists():
        return
    others = User.objects.filter(groups__name=ADMINISTRATOR, is_active=True).exclude(pk=identity.user_id)
    if not others.exists():
        raise ActionError("this is the last active administrator; appoint another first", field="status")


@transaction.atomic
def create_desk(actor: Any, *, name: str, description: str = "", request: HttpRequest | None = None) -> Desk:
    """A desk (group) that holds identities; access rules can name it as their subject."""
    name = name.strip()
    if not name or len(name) > 80:
        raise ActionError("a desk needs a name of at most 80 characters", field="name")
    if Desk.objects.filter(name__iexact=name).exists():
        raise ActionError(f"a desk named {name!r} already exists", field="name")
    desk = Desk.objects.create(name=name, description=description.strip()[:200])
    audit.record(actor, "desk.created", desk, {"name": name}, request=request)
    return desk


@transaction.atomic
def move_to_desk(actor: Any, identity: Identity, desk: Desk | None, *, request: HttpRequest | None = None) -> None:
    if identity.status == IdentityStatus.REVOKED:
        raise ActionError(f"{identity} is revoked", field="desk")
    previous = identity.desk.name if identity.desk else None
    Identity.objects.filter(pk=identity.pk).update(desk=desk)
    audit.record(
        actor, "identity.desk_changed", identity, {"from": previous, "to": desk.name if desk else None}, request=request
    )


@transaction.atomic
def reset_lockout(actor: Any, identity: Identity, *, request: HttpRequest | None = None) -> int:
    """Lift a sign-in lockout (django-axes) for this identity's username, from every address."""
    from axes.utils import reset

    if getattr(actor, "pk", None) is not None and identity.user_id == actor.pk:
        raise ActionError("another officer must lift your own sign-in lockout", field="status")
    cleared = reset(username=identity.username)
    audit.record(actor, "auth.lockout_reset", identity, {"records_cleared": cleared}, request=request)
    return cleared


@transaction.atomic
def set_trading_hours(
    actor: Any, identity: Identity, window: dict[str, Any] | None, *, request: HttpRequest | None = None
) -> Identity:
    """When the identity normally trades; the risk engine scores requests outside this window."""
    if identity.status == IdentityStatus.REVOKED:
        raise ActionError(f"{identity} is revoked", field="trading_hours")
    try:
        cleaned = validators.time_window(window)
    except ValueError as exc:
        raise ActionError(str(exc), field="trading_hours") from None
    previous = identity.trading_hours
    Identity.objects.filter(pk=identity.pk).update(trading_hours=cleaned)
    identity.refresh_from_db()
    audit.record(actor, "identity.trading_hours_changed", identity, {"from": previous, "to": cleaned}, request=request)
    return identity
