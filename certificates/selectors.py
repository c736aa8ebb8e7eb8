"""Read-side queries shared by pages, the API and reports."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Count, Q
from django.utils import timezone

from certificates import pki
from certificates.actions import CertificateError, check_key
from certificates.models import Certificate, CertificateRequest, CertificateStatus, ExpiryNotice, RequestStatus


def pinset(identity) -> list[dict]:
    """Pins of an identity's usable certificates (active, or superseded but unexpired): rollover-friendly."""
    now = timezone.now()
    rows = Certificate.objects.filter(
        identity=identity,
        status__in=(CertificateStatus.ACTIVE, CertificateStatus.SUPERSEDED),
        not_after__gt=now,
    ).order_by("-not_after")
    return [{"serial": c.serial, "sha256": c.sha256, "spki_sha256": c.spki_sha256, "status": c.status} for c in rows]


def violations(cert: Certificate) -> list[str]:
    """Why a certificate no longer meets its profile as it stands today (weak key, SHA-1, too long a life)."""
    problems: list[str] = []
    decoded = pki.decode(pki.load_certificate(cert.pem))
    try:
        check_key(cert.profile, decoded.key)
    except CertificateError as exc:
        problems.append(str(exc))
    if decoded.signature_hash in ("sha1", "md5"):
        problems.append(f"signed with {decoded.signature_hash.upper()}")
    if cert.lifetime_days > cert.profile.max_lifetime_days + 1 / 24:
        problems.append(f"lifetime {cert.lifetime_days:.0f} days exceeds {cert.profile.max_lifetime_days}")
    if decoded.ekus and not set(decoded.ekus) <= set(cert.profile.extended_key_usage):
        problems.append(f"EKU {', '.join(decoded.ekus)} outside {', '.join(cert.profile.extended_key_usage)}")
    return problems


def noncompliant(queryset) -> list[tuple[Certificate, list[str]]]:
    result = []
    for cert in queryset.filter(status=CertificateStatus.ACTIVE).for_list().iterator(chunk_size=500):
        problems = violations(cert)
        if problems:
            result.append((cert, problems))
    return result


def dashboard_counts(queryset, user) -> dict:
    now = timezone.now()
    counts = queryset.aggregate(
        active=Count("id", filter=Q(status=CertificateStatus.ACTIVE, not_after__gt=now)),
        revoked=Count("id", filter=Q(status=CertificateStatus.REVOKED)),
        expiring_30=Count(
            "id",
            filter=Q(status=CertificateStatus.ACTIVE, not_after__gt=now, not_after__lte=now + timedelta(days=30)),
        ),
        expiring_7=Count(
            "id", filter=Q(status=CertificateStatus.ACTIVE, not_after__gt=now, not_after__lte=now + timedelta(days=7))
        ),
    )
    counts["notices"] = ExpiryNotice.objects.filter(certificate__in=queryset, certificate__status="active").count()
    from ztconsole.core.roles import ISSUE_CERTIFICATES

    pending = CertificateRequest.objects.filter(status=RequestStatus.PENDING)
    if not user.has_perm(ISSUE_CERTIFICATES):
        pending = pending.filter(requested_by=user)
    counts["pending_requests"] = pending.count()
    return counts
