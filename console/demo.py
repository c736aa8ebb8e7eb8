"""Demo personas for `make demo`: each run gives every persona a fresh password and TOTP secret."""

from __future__ import annotations

import secrets
from base64 import b32encode
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from accounts.models import Assurance, Identity, IdentityKind, IdentityStatus, OathDevice, OathKind
from ztconsole.core import audit
from ztconsole.core.roles import ADMINISTRATOR, COMPLIANCE_OFFICER, ROLES, SECURITY_OFFICER, TRADER

PERSONAS = [
    ("alice", "Alice Admin", ADMINISTRATOR),
    ("sam", "Sam Security", SECURITY_OFFICER),
    ("tina", "Tina Trader", TRADER),
    ("theo", "Theo Trader", TRADER),
    ("carla", "Carla Compliance", COMPLIANCE_OFFICER),
]


@dataclass(frozen=True)
class DemoPersona:
    username: str
    role: str
    password: str
    totp_secret: str
    otpauth_uri: str


@transaction.atomic
def load_demo_personas() -> list[DemoPersona]:
    User = get_user_model()
    result = []
    for username, full_name, role in PERSONAS:
        first, _, last = full_name.partition(" ")
        user, created = User.objects.get_or_create(
            username=username,
            defaults={"first_name": first, "last_name": last, "email": f"{username}@demo.zt.invalid"},
        )
        password = f"{secrets.token_urlsafe(9)}-{secrets.randbelow(90) + 10}"
        user.set_password(password)
        user.is_active = True
        user.save()
        user.groups.remove(*Group.objects.filter(name__in=ROLES))
        user.groups.add(Group.objects.get(name=role))
        Identity.objects.update_or_create(
            user=user,
            defaults={
                "kind": IdentityKind.HUMAN,
                "display_name": full_name,
                "status": IdentityStatus.ACTIVE,
                "privileged": role in (ADMINISTRATOR, SECURITY_OFFICER),
                "expected_countries": ["GB", "US"],
            },
        )
        OathDevice.objects.filter(user=user, token__isnull=True).delete()
        device = OathDevice(
            user=user, name="Demo authenticator", confirmed=True, assurance=Assurance.SOFTWARE, kind=OathKind.TOTP
        )
        device.set_secret(secrets.token_bytes(20))
        device.save()
        audit.record(None, "demo.persona_loaded", user, {"role": role, "created": created})
        secret = b32encode(device.secret()).decode().rstrip("=")
        result.append(DemoPersona(username, role, password, secret, device.config_url))
    return result


def load_demo_hardware_tokens(count: int = 3) -> list[tuple[str, str]]:
    """Put a few HOTP tokens "in stock" so the hardware enrollment flow can be tried with oathtool.

    Returns (serial, hex seed) pairs; serials already in stock are left alone (their seed is not shown again).
    """
    from accounts.actions.mfa import import_token_seeds

    lines, shown = [], []
    for n in range(1, count + 1):
        serial = f"DEMO-HOTP-{n}"
        seed = secrets.token_hex(20)
        lines.append(f"{serial},{seed},hotp,6,0")
        shown.append((serial, seed))
    summary = import_token_seeds(None, data="\n".join(lines).encode(), filename="demo-tokens.csv")
    return [(serial, seed) for serial, seed in shown if serial in summary.imported]


def load_demo_pki() -> str:
    """The internal CA (once) and a sponsored demo algorithm with SenderCompIDs to issue certificates for."""
    from accounts.actions import create_non_person_identity
    from certificates.actions import init_ca
    from certificates.models import CertificateAuthority

    lines = []
    if not CertificateAuthority.objects.exists():
        ca = init_ca(None, common_name="ZT Console Demo")
        lines.append(f"Internal CA created: {ca.name} ({ca.key_description}); chain at /pki/chain.pem")
    if not Identity.objects.filter(user__username="algo-rfq-demo").exists():
        sponsor = Identity.objects.get(user__username="tina")
        create_non_person_identity(
            None,
            name="algo-rfq-demo",
            kind=IdentityKind.ALGORITHM,
            display_name="Demo RFQ algorithm",
            sponsor=sponsor,
            environment="uat",
            sender_comp_ids=["DEMOALGO1"],
            expected_countries=["GB"],
        )
        lines.append("Demo algorithm algo-rfq-demo (SenderCompID DEMOALGO1) sponsored by tina")
    return "\n".join(lines)
