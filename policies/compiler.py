"""Database snapshot -> bundle payload, deterministically (the same database state gives identical bytes).

Pure read-side functions: ``snapshot`` reads an environment's draft and the identities and devices it covers;
``compile_payload`` hands them to ``pep.builder.build_payload``. Signing and storing are actions' business.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Max, Q

from accounts.models import DeviceRegistration, Identity
from pep.builder import DEFAULT_BANDS, build_payload, payload_bytes
from policies.models import AccessRule, Bands, CountryRange, NetworkZone, RiskRule, Segment, SegmentResource
from ztconsole.core.roles import ROLES

EPOCH = "1970-01-01T00:00:00Z"


def utc_text(value) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def identity_id(identity: Identity) -> str:
    """The id a bundle, a decision request and an access rule use for an identity: its username."""
    return identity.user.get_username()


def _identities(environment: str) -> list[dict[str, Any]]:
    """Plain rows, no model instances: at 10k identities building models would dominate compile time."""
    from collections import defaultdict

    from django.contrib.auth import get_user_model

    from certificates.models import Certificate, CertificateStatus

    scope = Q(environment="") | Q(environment=environment)
    rows = Identity.objects.filter(scope).values_list(
        "id",
        "user_id",
        "user__username",
        "status",
        "privileged",
        "expected_countries",
        "trading_hours",
        "desk__name",
        "sponsor__user__username",
    )
    roles: dict[int, list[str]] = defaultdict(list)
    memberships = get_user_model().groups.through.objects.filter(group__name__in=ROLES)
    for user_id, group_name in memberships.values_list("user_id", "group__name"):
        roles[user_id].append(group_name)
    certificates: dict[int, list[str]] = defaultdict(list)
    active = Certificate.objects.filter(status=CertificateStatus.ACTIVE).values_list("identity_id", "sha256")
    for owner_id, sha256 in active:
        certificates[owner_id].append(sha256)
    return [
        {
            "id": username,
            "status": status,
            "privileged": privileged,
            "expected_countries": countries or (),
            "trading_hours": hours,
            "desk": desk,
            "roles": roles.get(user_id, []),
            # Bound certificates: a PEP then requires the mTLS client certificate to be one of them.
            "certificates": certificates.get(pk, []),
            "sponsor": sponsor,
        }
        for pk, user_id, username, status, privileged, countries, hours, desk, sponsor in rows
    ]


def _devices(environment: str) -> list[dict[str, Any]]:
    queryset = DeviceRegistration.objects.filter(Q(owner__environment="") | Q(owner__environment=environment)).order_by(
        "serial"
    )
    return [{"id": device.serial, "health": str(device.health)} for device in queryset]


def _segments(environment: str) -> list[dict[str, Any]]:
    segments = Segment.objects.filter(environment=environment).prefetch_related("resources")
    return [
        {
            "id": segment.name,
            "resources": [
                {"id": r.name, "address": r.address or None, "venue": r.venue or None} for r in segment.resources.all()
            ],
        }
        for segment in segments
    ]


def access_rule_entry(rule: AccessRule) -> dict[str, Any]:
    return {
        "id": rule.name,
        "subject": {"kind": rule.subject_kind, "id": rule.subject_label},
        "target": {"kind": "segment" if rule.target_segment_id else "resource", "id": rule.target_label},
        "message_types": rule.message_types,
        "window": rule.window,
        "expires_at": utc_text(rule.expires_at) if rule.expires_at else None,
    }


def _access_rules(environment: str) -> list[dict[str, Any]]:
    """Plain rows (see _identities); the same entries access_rule_entry gives for one rule."""
    rows = AccessRule.objects.filter(environment=environment).values_list(
        "name",
        "subject_kind",
        "subject_identity__user__username",
        "subject_desk__name",
        "subject_role",
        "target_segment__name",
        "target_resource__name",
        "message_types",
        "window",
        "expires_at",
    )
    entries = []
    for name, kind, username, desk, role, segment, resource, message_types, window, expires_at in rows:
        subject = {"identity": username, "desk": desk}.get(kind, role)
        entries.append(
            {
                "id": name,
                "subject": {"kind": kind, "id": subject or ""},
                "target": {"kind": "segment" if segment else "resource", "id": segment or resource or ""},
                "message_types": message_types,
                "window": window,
                "expires_at": utc_text(expires_at) if expires_at else None,
            }
        )
    return entries


def bands_of(environment: str) -> dict[str, int]:
    bands = Bands.objects.filter(environment=environment).first()
    return {"step_up": bands.step_up, "deny": bands.deny} if bands else dict(DEFAULT_BANDS)


def draft_issued_at(environment: str) -> str:
    """The latest change to the draft: a draft compiled twice without changes gets the same ``issued_at``."""
    latest = None
    for model in (Segment, AccessRule, RiskRule, Bands, NetworkZone, CountryRange):
        value = model.objects.filter(environment=environment).aggregate(m=Max("updated_at"))["m"]
        latest = value if latest is None or (value is not None and value > latest) else latest
    value = SegmentResource.objects.filter(segment__environment=environment).aggregate(m=Max("updated_at"))["m"]
    latest = value if latest is None or (value is not None and value > latest) else latest
    return utc_text(latest) if latest else EPOCH


def _tls_profile() -> dict[str, Any]:
    """The console's TLS profile in the bundle's form (``tls_profile`` in docs/bundle.md)."""
    from certificates.models import TlsProfile
    from certificates.tls import DEFAULT_TLS12_CIPHERS, DEFAULT_TLS13_SUITES

    profile = TlsProfile.objects.filter(pk=1).first()
    return {
        "min_version": profile.min_version if profile else "TLSv1.2",
        "ciphers_tls12": list(profile.tls12_ciphers) if profile else DEFAULT_TLS12_CIPHERS,
        "ciphersuites_tls13": list(profile.tls13_suites) if profile else DEFAULT_TLS13_SUITES,
        "groups": list(TLS_GROUPS),
    }


#: Key-exchange groups the PEPs offer (OpenSSL names); ECDHE only, as certificates/tls.py requires.
TLS_GROUPS = ("X25519", "prime256v1", "secp384r1")


def revocations(environment: str, sequence: int) -> dict[str, Any]:
    """The bundle's ``revocations`` section as of revocation delta ``sequence`` (a rollback refreshes it)."""
    return _revocations(environment, sequence)


def _revocations(environment: str, sequence: int) -> dict[str, Any]:
    """Every revoked certificate, revoked identity and retired device in the environment's scope."""
    from accounts.models import DeviceStatus, IdentityStatus
    from certificates.models import Certificate, CertificateStatus

    scope = Q(environment="") | Q(environment=environment)
    owners = Q(identity__environment="") | Q(identity__environment=environment)
    devices = Q(owner__environment="") | Q(owner__environment=environment)
    return {
        "sequence": sequence,
        "certificates": list(
            Certificate.objects.filter(owners, status=CertificateStatus.REVOKED).values_list("sha256", flat=True)
        ),
        "identities": list(
            Identity.objects.filter(scope, status=IdentityStatus.REVOKED).values_list("user__username", flat=True)
        ),
        "devices": list(
            DeviceRegistration.objects.filter(devices, status=DeviceStatus.RETIRED).values_list("serial", flat=True)
        ),
    }


def _strongest_factor(user) -> str:
    from django_otp import devices_for_user

    from accounts.models import ASSURANCE_RANK, Assurance, device_assurance

    best = Assurance.NONE
    for device in devices_for_user(user, confirmed=True):
        level = device_assurance(device)
        if ASSURANCE_RANK.get(level, 0) > ASSURANCE_RANK[best]:
            best = level
    return str(best)


def _certificate_bindings(environment: str) -> list[dict[str, Any]]:
    """Each active client certificate: its identity, the registered device holding it, and its assurance.

    Assurance rule (docs/pep.md, "Authentication assurance"): ``hardware`` when the certificate is bound to an
    active registered device (its key lives on that device); otherwise the identity's strongest confirmed MFA
    factor (``hardware``, ``software``), else ``none``.
    """
    from accounts.models import DeviceStatus
    from certificates.models import Certificate, CertificateStatus

    owners = Q(identity__environment="") | Q(identity__environment=environment)
    rows = list(
        Certificate.objects.filter(owners, status=CertificateStatus.ACTIVE).values_list(
            "sha256", "identity__user__username", "identity__user_id"
        )
    )
    if not rows:
        return []
    bound = dict(
        DeviceRegistration.objects.filter(
            status=DeviceStatus.ACTIVE, certificate_fingerprint__in=[sha for sha, _, _ in rows]
        ).values_list("certificate_fingerprint", "serial")
    )
    from django.contrib.auth import get_user_model

    users = {u.pk: u for u in get_user_model().objects.filter(pk__in={uid for _, _, uid in rows if uid not in bound})}
    factors: dict[int, str] = {}
    out = []
    for sha256, username, user_id in rows:
        device = bound.get(sha256)
        if device is not None:
            authentication = "hardware"
        else:
            if user_id not in factors:
                factors[user_id] = _strongest_factor(users[user_id]) if user_id in users else "none"
            authentication = factors[user_id]
        out.append({"sha256": sha256, "identity": username, "device": device, "authentication": authentication})
    return out


def compile_payload(environment: str, *, version: int, issued_at: str, revocation_sequence: int = 0) -> dict[str, Any]:
    """The environment's draft as a normalized bundle payload (unsigned, not yet validated).

    ``revocation_sequence`` is the last revocation delta number the bundle's ``revocations`` include (the
    distribution's counter; 0 when none has been sent).
    """
    return build_payload(
        environment=environment,
        version=version,
        issued_at=issued_at,
        identities=_identities(environment),
        devices=_devices(environment),
        segments=_segments(environment),
        access_rules=_access_rules(environment),
        risk_rules=[
            {"id": r.name, "attribute": r.attribute, "condition": r.condition, "score": r.score, "enabled": r.enabled}
            for r in RiskRule.objects.filter(environment=environment)
        ],
        bands=bands_of(environment),
        network_zones=[{"id": z.name, "cidrs": z.cidrs} for z in NetworkZone.objects.filter(environment=environment)],
        ip_countries=[
            {"cidr": c.cidr, "country": c.country} for c in CountryRange.objects.filter(environment=environment)
        ],
        tls_profile=_tls_profile(),
        revocations=_revocations(environment, revocation_sequence),
        certificates=_certificate_bindings(environment),
    )


_DIFF_SECTIONS = ("segments", "access_rules", "risk_rules", "network_zones", "identities", "devices")


def diff_payloads(previous: dict[str, Any] | None, current: dict[str, Any]) -> dict[str, Any]:
    """Per section: ids added, removed and changed; plus bands and the country table when they differ."""
    previous = previous or {}
    result: dict[str, Any] = {}
    for section in _DIFF_SECTIONS:
        before = {item["id"]: item for item in previous.get(section, [])}
        after = {item["id"]: item for item in current.get(section, [])}
        entry = {
            "added": sorted(after.keys() - before.keys()),
            "removed": sorted(before.keys() - after.keys()),
            "changed": sorted(k for k in after.keys() & before.keys() if after[k] != before[k]),
        }
        if any(entry.values()):
            result[section] = entry
    countries_before = {e["cidr"]: e["country"] for e in previous.get("ip_countries", [])}
    countries_after = {e["cidr"]: e["country"] for e in current.get("ip_countries", [])}
    if countries_before != countries_after:
        result["ip_countries"] = {
            "added": sorted(countries_after.keys() - countries_before.keys()),
            "removed": sorted(countries_before.keys() - countries_after.keys()),
            "changed": sorted(
                k for k in countries_after.keys() & countries_before.keys() if countries_after[k] != countries_before[k]
            ),
        }
    if previous.get("bands") != current.get("bands"):
        result["bands"] = {"before": previous.get("bands"), "after": current.get("bands")}
    return result


__all__ = ["bands_of", "compile_payload", "diff_payloads", "draft_issued_at", "identity_id", "payload_bytes"]
