"""MFA coverage: every person, each enrolled factor with its assurance; who lacks a hardware-bound factor first."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.contrib.auth import get_user_model
from django_otp_webauthn.models import WebAuthnCredential

from accounts.models import (
    ASSURANCE_RANK,
    Assurance,
    Identity,
    IdentityKind,
    IdentityStatus,
    OathDevice,
    RoleAssurance,
    StaticCodeDevice,
    YubikeyDevice,
)
from accounts.webauthn import credential_assurance
from reports.catalogue import NYDFS_500_12, Chart, Period, Report, ReportKind, Series, Table
from ztconsole.core.roles import PRIVILEGED_ROLES, ROLES, TRADER


def _factors() -> dict[int, list[dict[str, Any]]]:
    """user id -> confirmed, usable factors: name, type, assurance, enrolled at. Four queries whatever the size."""
    factors: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for device in OathDevice.objects.filter(confirmed=True, suspended_at__isnull=True).only(
        "user_id", "name", "kind", "assurance", "token_id", "created_at"
    ):
        kind = "hardware OATH token" if device.token_id else f"authenticator app ({device.kind.upper()})"
        factors[device.user_id].append(
            {"type": kind, "name": device.name, "assurance": device.assurance, "since": device.created_at}
        )
    for device in YubikeyDevice.objects.filter(confirmed=True, suspended_at__isnull=True).only(
        "user_id", "name", "created_at"
    ):
        factors[device.user_id].append(
            {"type": "YubiKey OTP", "name": device.name, "assurance": Assurance.HARDWARE, "since": device.created_at}
        )
    for credential in WebAuthnCredential.objects.filter(confirmed=True):
        factors[credential.user_id].append(
            {
                "type": "security key (WebAuthn)",
                "name": credential.name,
                "assurance": credential_assurance(credential),
                "since": credential.created_at,
            }
        )
    for device in StaticCodeDevice.objects.filter(confirmed=True).only("user_id", "name", "purpose", "created_at"):
        factors[device.user_id].append(
            {"type": f"{device.purpose} codes", "name": device.name, "assurance": Assurance.SOFTWARE, "since": None}
        )
    return factors


def _strongest(items: list[dict[str, Any]]) -> str:
    best = Assurance.NONE
    for item in items:
        if ASSURANCE_RANK.get(item["assurance"], 0) > ASSURANCE_RANK[best]:
            best = item["assurance"]
    return str(best)


def build(period: Period) -> Report:
    User = get_user_model()
    people = list(
        Identity.objects.filter(kind=IdentityKind.HUMAN)
        .exclude(status=IdentityStatus.REVOKED)
        .select_related("user")
        .order_by("user__username")
    )
    roles: dict[int, str] = {}
    for user_id, name in User.groups.through.objects.filter(group__name__in=ROLES).values_list(
        "user_id", "group__name"
    ):
        roles[user_id] = name
    required = dict(RoleAssurance.objects.values_list("role", "minimum"))
    factors = _factors()
    rows = []
    for person in people:
        role = roles.get(person.user_id, "")
        items = factors.get(person.user_id, [])
        strongest = _strongest(items)
        hardware = strongest == Assurance.HARDWARE
        privileged = person.privileged or role in PRIVILEGED_ROLES
        must_have_hardware = role == TRADER or privileged
        minimum = required.get(role, Assurance.SOFTWARE) if role else Assurance.SOFTWARE
        rows.append(
            {
                "priority": "hardware missing" if must_have_hardware and not hardware else "",
                "username": person.user.get_username(),
                "name": person.display_name,
                "role": role or "none",
                "privileged": privileged,
                "status": person.status,
                "factors": "; ".join(f"{f['type']} [{f['assurance']}]" for f in items) or "none",
                "factor_count": len(items),
                "strongest": strongest,
                "required": str(minimum),
                "meets_requirement": ASSURANCE_RANK.get(strongest, 0) >= ASSURANCE_RANK.get(minimum, 1),
                "_since": [f["since"] for f in items if f["assurance"] == Assurance.HARDWARE and f["since"]],
                "_any_since": [f["since"] for f in items if f["since"]],
                "_group": "traders" if role == TRADER else "privileged" if privileged else "other people",
            }
        )
    rows.sort(key=lambda r: (r["priority"] == "", r["_group"] == "other people", r["username"]))

    groups = ["traders", "privileged", "other people"]
    levels = [Assurance.HARDWARE, Assurance.SOFTWARE, Assurance.NONE]
    by_level = Chart(
        id="mfa-by-assurance",
        title="People by strongest enrolled factor",
        kind="bar",
        labels=groups,
        series=[
            Series(
                str(level.label), [sum(1 for r in rows if r["_group"] == g and r["strongest"] == level) for g in groups]
            )
            for level in levels
        ],
        x_title="population",
        y_title="people",
        stacked=True,
    )
    weeks = period.weeks()
    trend_labels = [(end.date().isoformat()) for _, end in weeks]
    total = len(rows) or 1

    def share(key: str, end) -> float:
        return round(100 * sum(1 for r in rows if any(s < end for s in r[key])) / total, 1)

    trend = Chart(
        id="mfa-trend",
        title="Share of people with an enrolled factor, week by week",
        kind="line",
        labels=trend_labels,
        series=[
            Series("hardware-bound factor (%)", [share("_since", end) for _, end in weeks]),
            Series("any factor (%)", [share("_any_since", end) for _, end in weeks]),
        ],
        x_title="week ending (UTC)",
        y_title="% of people",
        percent=True,
    )
    missing = [r for r in rows if r["priority"]]
    with_hardware = sum(1 for r in rows if r["strongest"] == Assurance.HARDWARE)
    table = Table(
        id="people",
        title="Every person and their factors (traders and privileged users without a hardware-bound factor first)",
        columns=[
            ("priority", "Attention"),
            ("username", "Username"),
            ("name", "Name"),
            ("role", "Role"),
            ("privileged", "Privileged"),
            ("status", "Status"),
            ("factors", "Enrolled factors [assurance]"),
            ("strongest", "Strongest"),
            ("required", "Role requires"),
            ("meets_requirement", "Meets requirement"),
        ],
        rows=[{k: v for k, v in row.items() if not k.startswith("_")} for row in rows],
        empty="No person.",
    )
    return Report(
        slug=KIND.slug,
        title=KIND.title,
        controls=list(KIND.controls),
        period=period,
        description=(
            "Every person (revoked identities excluded) with each confirmed, unsuspended factor and its assurance. "
            "Hardware-bound: an OATH token from the inventory, a YubiKey, or a security key whose model is on the "
            "hardware allowlist. Backup and temporary codes count as software."
        ),
        summary=[
            ("People", len(rows)),
            ("With a hardware-bound factor", f"{with_hardware} ({round(100 * with_hardware / total)}%)"),
            ("Traders and privileged users without one", len(missing)),
            ("Below their role's required assurance", sum(1 for r in rows if not r["meets_requirement"])),
        ],
        charts=[by_level, trend],
        tables=[table],
        notes=[
            "The trend counts today's factors by the date they were enrolled: a factor removed since is not "
            "counted in earlier weeks."
        ],
    )


KIND = ReportKind(
    slug="mfa-coverage",
    title="MFA coverage",
    controls=(NYDFS_500_12,),
    summary="Every person with the assurance of each enrolled factor; traders and privileged users lacking "
    "hardware first; trend.",
    build=build,
)
