"""Which MFA assurance a user's role demands, and whether the current session meets it."""

from __future__ import annotations

from typing import Any

from django.core.cache import cache

from accounts.models import ASSURANCE_RANK, Assurance, RoleAssurance, device_assurance
from ztconsole.core.roles import role_of

_CACHE_KEY = "zt:role-assurance"


def role_requirements() -> dict[str, str]:
    requirements = cache.get(_CACHE_KEY)
    if requirements is None:
        requirements = dict(RoleAssurance.objects.values_list("role", "minimum"))
        cache.set(_CACHE_KEY, requirements, timeout=300)
    return requirements


def forget_requirements() -> None:
    cache.delete(_CACHE_KEY)


def required_assurance(user: Any) -> str:
    role = role_of(user)
    return role_requirements().get(role, Assurance.SOFTWARE) if role else Assurance.SOFTWARE


def session_meets_requirement(user: Any) -> bool:
    """True when the device that verified this session is at least as strong as the role requires."""
    device = getattr(user, "otp_device", None)
    if device is None:
        return False
    return ASSURANCE_RANK[device_assurance(device)] >= ASSURANCE_RANK[required_assurance(user)]
