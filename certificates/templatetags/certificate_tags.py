"""Certificate sections that pages of lower apps can show without importing this app (a template tag)."""

from __future__ import annotations

from django import template

from certificates.models import Certificate
from ztconsole.core.roles import ISSUE_CERTIFICATES, VIEW_CERTIFICATES

register = template.Library()

IDENTITY_CERTIFICATES_SHOWN = 20


@register.inclusion_tag("certificates/_identity_certificates.html", takes_context=True)
def identity_certificates(context, identity) -> dict:
    """The certificates of one identity that the viewer may see, newest first."""
    user = context["request"].user
    if not user.has_perm(VIEW_CERTIFICATES):
        return {"visible": False}
    queryset = Certificate.objects.for_list().restrict(user).filter(identity=identity).order_by("-created_at", "-id")
    return {
        "visible": True,
        "identity": identity,
        "certificates": list(queryset[:IDENTITY_CERTIFICATES_SHOWN]),
        "total": queryset.count(),
        "can_issue": user.has_perm(ISSUE_CERTIFICATES),
    }


@register.inclusion_tag("certificates/_my_certificates.html", takes_context=True)
def my_certificates(context) -> dict:
    """Certificates of the signed-in person and of the identities they sponsor."""
    from django.db.models import Q

    user = context["request"].user
    queryset = (
        Certificate.objects.for_list()
        .filter(Q(identity__user=user) | Q(identity__sponsor__user=user))
        .order_by("-created_at", "-id")
    )
    return {"certificates": list(queryset[:IDENTITY_CERTIFICATES_SHOWN]), "total": queryset.count()}
