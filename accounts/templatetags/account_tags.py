"""Personal sections (a trader's own MFA devices, devices and sponsored identities) for the dashboard."""

from __future__ import annotations

from django import template

from accounts.models import DeviceRegistration, Identity, OathDevice, StaticCodeDevice, YubikeyDevice

register = template.Library()


@register.inclusion_tag("accounts/_my_access.html", takes_context=True)
def my_access(context) -> dict:
    """What the signed-in person holds: MFA devices (hardware tokens first), registered devices, sponsorships."""
    user = context["request"].user
    identity = Identity.objects.filter(user=user).first()
    oath = list(OathDevice.objects.filter(user=user, confirmed=True).select_related("token"))
    mfa = sorted(oath, key=lambda d: d.token_id is None) + list(YubikeyDevice.objects.filter(user=user, confirmed=True))
    has_backup_codes = StaticCodeDevice.objects.filter(user=user, confirmed=True).exists()
    devices = list(DeviceRegistration.objects.filter(owner=identity).order_by("-created_at")[:20]) if identity else []
    sponsored = (
        list(identity.sponsored.select_related("user").order_by("user__username")[:50]) if identity is not None else []
    )
    return {
        "mfa_devices": mfa,
        "has_backup_codes": has_backup_codes,
        "devices": devices,
        "sponsored": sponsored,
        "signed_in_with": getattr(user, "otp_device", None),
    }
