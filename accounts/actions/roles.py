"""Roles: a privileged role is granted by two people, and the grantee's earlier MFA does not carry over.

One administrator must not be able to make an administrator on their own: creating a person with a
privileged role, or giving one to an existing person, files a ``RoleGrant`` that a second privileged person
approves with step-up. On approval every MFA device the subject had is set aside (unconfirmed): they enroll
again with a new enrollment code, which neither the requester nor the subject's creator may issue.
Demotions and non-privileged roles take effect at once: removing privilege needs no second pair of eyes.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone
from django_otp import devices_for_user

from accounts.models import EnrollmentCode, Identity, RoleGrant, RoleGrantState
from ztconsole.core import audit, live
from ztconsole.core.errors import ActionError
from ztconsole.core.models import AuditEvent
from ztconsole.core.roles import ADMINISTRATOR, APPROVE_ROLE_GRANTS, PRIVILEGED_ROLES, ROLES, role_of

User = get_user_model()


def creator_of(user: Any) -> int | None:
    """Who created this person's identity (and so chose their first password), from the audit chain."""
    identity = Identity.objects.filter(user=user).only("pk").first()
    if identity is None:
        return None
    created = (
        AuditEvent.objects.filter(
            target_type="accounts.identity", target_id=str(identity.pk), action="identity.created"
        )
        .order_by("seq")
        .only("actor_id")
        .first()
    )
    return created.actor_id if created else None


def latest_grant(user: Any) -> RoleGrant | None:
    return RoleGrant.objects.filter(subject=user, state=RoleGrantState.APPROVED).order_by("-decided_at", "-id").first()


def check_may_hand_credentials(actor: Any, user: Any, *, what: str) -> None:
    """Four eyes on the credentials of a privileged person (enrollment codes, temporary codes).

    Refused to whoever created the person or requested their privileged role: with the password they chose
    and a code they issued, they could act as that person.
    """
    actor_id = getattr(actor, "pk", None)
    if actor_id is None or role_of(user) not in PRIVILEGED_ROLES:
        return
    grant = latest_grant(user)
    if actor_id == creator_of(user) or (grant is not None and grant.requested_by_id == actor_id):
        raise ActionError(
            f"you created this person or requested their privileged role: another person must issue their {what}",
            field="user",
        )


def _apply_role(user: Any, role: str | None) -> None:
    user.groups.remove(*Group.objects.filter(name__in=ROLES))
    if role:
        user.groups.add(Group.objects.get(name=role))
    Identity.objects.filter(user=user).update(privileged=role in PRIVILEGED_ROLES)


def _guard_last_administrator(user: Any, previous: str | None) -> None:
    if previous == ADMINISTRATOR:
        remaining = User.objects.filter(groups__name=ADMINISTRATOR, is_active=True).exclude(pk=user.pk)
        if not remaining.exists():
            raise ActionError("this is the last active administrator; appoint another first", field="role")


def request_privileged_role(actor: Any, user: Any, role: str, *, request: HttpRequest | None = None) -> RoleGrant:
    """File the request (inside the caller's transaction); the role changes only on approval."""
    if getattr(actor, "pk", None) == user.pk:
        raise ActionError("nobody requests a privileged role for themselves", field="role")
    try:
        with transaction.atomic():
            grant = RoleGrant.objects.create(
                subject=user, role=role, previous_role=role_of(user) or "", requested_by=_person(actor)
            )
    except IntegrityError:
        raise ActionError(f"{user.get_username()} already has a role request pending approval", field="role") from None
    audit.record(
        actor,
        "identity.role_grant_requested",
        user.identity,
        {"grant": grant.pk, "role": role, "from": grant.previous_role or None},
        request=request,
    )
    return grant


def _person(actor: Any) -> Any:
    return actor if getattr(actor, "is_authenticated", False) else None


@transaction.atomic
def change_role(actor: Any, user: Any, role: str, request: HttpRequest | None = None) -> RoleGrant | None:
    """Give ``user`` exactly one role, or, for a privileged role, file the request a second person approves.

    Returns the pending ``RoleGrant`` when the change waits for approval, None when it took effect. A
    privileged role is applied at once only without a person behind it (``bootstrap_admin``, ``load_demo``).
    """
    if role not in ROLES:
        raise ActionError(f"unknown role {role!r}", field="role")
    user = User.objects.select_for_update().get(pk=user.pk)
    previous = role_of(user)
    if previous == role:
        raise ActionError(f"{user.get_username()} already has the role {role}", field="role")
    if role in PRIVILEGED_ROLES and getattr(actor, "pk", None) is not None:
        return request_privileged_role(actor, user, role, request=request)
    _guard_last_administrator(user, previous)
    _apply_role(user, role)
    audit.record(actor, "identity.role_changed", user.identity, {"from": previous, "to": role}, request=request)
    return None


def _lock_pending(grant: RoleGrant) -> RoleGrant:
    locked = RoleGrant.objects.select_for_update().select_related("subject").get(pk=grant.pk)
    if locked.state != RoleGrantState.PENDING:
        raise ActionError(f"this request is already {locked.state}", field="state")
    return locked


@transaction.atomic
def approve_role_grant(actor: Any, grant: RoleGrant, *, request: HttpRequest | None = None) -> RoleGrant:
    """Checker: a privileged person who is neither the requester, the subject, nor the subject's creator.

    The role takes effect now; every MFA device the subject held is set aside, unused enrollment codes
    expire, and their sessions end: they enroll again under the privileged rules.
    """
    if not actor.has_perm(APPROVE_ROLE_GRANTS):
        raise ActionError("only an Administrator or a Security Officer approves a privileged role", field="state")
    grant = _lock_pending(grant)
    subject = User.objects.select_for_update().get(pk=grant.subject_id)
    if actor.pk == grant.requested_by_id:
        raise ActionError("you requested this role: a second person must approve it", field="state")
    if actor.pk == subject.pk:
        raise ActionError("nobody approves a role for themselves", field="state")
    if actor.pk == creator_of(subject):
        raise ActionError("you created this person: someone else must approve their privileged role", field="state")
    if not subject.is_active:
        raise ActionError(f"{subject.get_username()} is not active", field="state")
    now = timezone.now()
    RoleGrant.objects.filter(pk=grant.pk).update(state=RoleGrantState.APPROVED, decided_by=actor, decided_at=now)
    previous = role_of(subject)
    _apply_role(subject, grant.role)
    devices = _set_aside_devices(subject)
    codes = EnrollmentCode.objects.filter(user=subject, used_at__isnull=True, expires_at__gt=now).update(expires_at=now)
    live.end_sessions(subject.pk)
    identity = subject.identity
    audit.record(
        actor,
        "identity.role_grant_approved",
        identity,
        {
            "grant": grant.pk,
            "role": grant.role,
            "requested_by": grant.requested_by.username if grant.requested_by else None,
        },
        request=request,
    )
    audit.record(actor, "identity.role_changed", identity, {"from": previous, "to": grant.role}, request=request)
    audit.record(
        actor,
        "mfa.devices_set_aside",
        identity,
        {"devices": devices, "enrollment_codes_expired": codes, "why": "privileged role granted"},
        request=request,
    )
    grant.refresh_from_db()
    return grant


def _set_aside_devices(user: Any) -> list[str]:
    """Unconfirm every MFA device (a session verified with one stops being verified at once)."""
    set_aside = []
    for device in devices_for_user(user, confirmed=True):
        type(device).objects.filter(pk=device.pk).update(confirmed=False)
        set_aside.append(device.persistent_id)
    return set_aside


@transaction.atomic
def reject_role_grant(actor: Any, grant: RoleGrant, *, reason: str, request: HttpRequest | None = None) -> RoleGrant:
    """An approver refuses, or the requester withdraws; the subject keeps their role."""
    if not reason.strip():
        raise ActionError("give a reason", field="reason")
    grant = _lock_pending(grant)
    if actor.pk != grant.requested_by_id and not actor.has_perm(APPROVE_ROLE_GRANTS):
        raise ActionError("only an approver or the requester may reject this request", field="state")
    if actor.pk == grant.subject_id:
        raise ActionError("nobody decides a role request about themselves", field="state")
    RoleGrant.objects.filter(pk=grant.pk).update(
        state=RoleGrantState.REJECTED, decided_by=actor, decided_at=timezone.now(), reason=reason.strip()[:200]
    )
    audit.record(
        actor,
        "identity.role_grant_rejected",
        grant.subject.identity,
        {"grant": grant.pk, "role": grant.role, "reason": reason.strip()[:200]},
        request=request,
    )
    grant.refresh_from_db()
    return grant
