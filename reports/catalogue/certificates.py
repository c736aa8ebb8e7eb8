"""Certificates: issued, renewed and revoked (with reasons) in the period, expiring soon, violating the profile."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from certificates.models import Certificate, CertificateStatus, RevocationReason
from certificates.selectors import noncompliant
from reports.catalogue import NYDFS_500_7, REG_SCI, Chart, Period, Report, ReportKind, Series, Table, utc_text

EXPIRING_DAYS = 30


def _row(cert: Certificate) -> dict:
    return {
        "serial": cert.serial,
        "identity": cert.identity.user.get_username(),
        "profile": cert.profile.name,
        "key": cert.key_description,
        "not_before": utc_text(cert.not_before),
        "not_after": utc_text(cert.not_after),
        "status": cert.status,
        "issued_by": cert.issued_by.get_username() if cert.issued_by else "",
        "sha256": cert.sha256,
    }


BASE_COLUMNS = [
    ("serial", "Serial"),
    ("identity", "Identity"),
    ("profile", "Profile"),
    ("key", "Key"),
    ("not_before", "Not before (UTC)"),
    ("not_after", "Not after (UTC)"),
    ("status", "Status"),
    ("issued_by", "Issued by"),
]


def build(period: Period) -> Report:
    certificates = Certificate.objects.select_related("identity__user", "profile", "issued_by", "revoked_by")
    issued = list(certificates.filter(created_at__gte=period.since, created_at__lt=period.until).order_by("created_at"))
    renewals = {
        old.superseded_by_id: old
        for old in Certificate.objects.filter(superseded_by__in=[c.pk for c in issued]).only("serial", "superseded_by")
    }
    revoked = list(
        certificates.filter(revoked_at__gte=period.since, revoked_at__lt=period.until).order_by("revoked_at")
    )
    expiring = list(
        certificates.filter(
            status=CertificateStatus.ACTIVE,
            not_after__gte=period.until,
            not_after__lt=period.until + timedelta(days=EXPIRING_DAYS),
        ).order_by("not_after")
    )
    violating = noncompliant(Certificate.objects.select_related("issued_by"))
    issued_rows = [{**_row(c), "renewal_of": renewals[c.pk].serial if c.pk in renewals else ""} for c in issued]
    revoked_rows = [
        {
            **_row(c),
            "revoked_at": utc_text(c.revoked_at),
            "reason": c.revocation_reason,
            "comment": c.revocation_comment,
            "revoked_by": c.revoked_by.get_username() if c.revoked_by else "system",
        }
        for c in revoked
    ]
    weeks = period.weeks()

    def count(items, attribute: str, start, end, only=None) -> int:
        return sum(1 for c in items if start <= getattr(c, attribute) < end and (only is None or only(c)))

    activity = Chart(
        id="certificates-per-week",
        title="Certificates issued, renewed and revoked per week",
        kind="bar",
        labels=[start.date().isoformat() for start, _ in weeks],
        series=[
            Series(
                "issued (new)", [count(issued, "created_at", s, e, lambda c: c.pk not in renewals) for s, e in weeks]
            ),
            Series("renewed", [count(issued, "created_at", s, e, lambda c: c.pk in renewals) for s, e in weeks]),
            Series("revoked", [count(revoked, "revoked_at", s, e) for s, e in weeks]),
        ],
        x_title="week starting (UTC)",
        y_title="certificates",
    )
    reasons = Counter(c.revocation_reason or "unspecified" for c in revoked)
    reason_labels = [r.value for r in RevocationReason if reasons.get(r.value)]
    by_reason = Chart(
        id="certificates-revocation-reasons",
        title="Revocations by reason (RFC 5280)",
        kind="bar",
        labels=reason_labels or ["none"],
        series=[Series("revocations", [reasons[r] for r in reason_labels] or [0])],
        x_title="reason",
        y_title="certificates",
    )
    return Report(
        slug=KIND.slug,
        title=KIND.title,
        controls=list(KIND.controls),
        period=period,
        description=(
            "Client certificates of the internal CA: issued in the period (a renewal names the certificate it "
            "replaces), revoked in the period with the RFC 5280 reason, active ones expiring within "
            f"{EXPIRING_DAYS} days after the period, and active ones that no longer meet their profile today."
        ),
        summary=[
            ("Issued", len(issued) - len(renewals)),
            ("Renewed", len(renewals)),
            ("Revoked", len(revoked)),
            (f"Expiring within {EXPIRING_DAYS} days after the period", len(expiring)),
            ("Violating their profile", len(violating)),
        ],
        charts=[activity, by_reason],
        tables=[
            Table(
                id="issued",
                title="Issued and renewed",
                columns=[*BASE_COLUMNS, ("renewal_of", "Renewal of"), ("sha256", "SHA-256")],
                rows=issued_rows,
            ),
            Table(
                id="revoked",
                title="Revoked, with reasons",
                columns=[
                    ("serial", "Serial"),
                    ("identity", "Identity"),
                    ("revoked_at", "Revoked (UTC)"),
                    ("reason", "Reason"),
                    ("comment", "Comment"),
                    ("revoked_by", "Revoked by"),
                    ("profile", "Profile"),
                ],
                rows=revoked_rows,
            ),
            Table(
                id="expiring",
                title=f"Expiring within {EXPIRING_DAYS} days after the period",
                columns=BASE_COLUMNS,
                rows=[_row(c) for c in expiring],
                empty="None.",
            ),
            Table(
                id="violating",
                title="Active certificates violating their profile",
                columns=[*BASE_COLUMNS, ("problems", "Problems")],
                rows=[{**_row(c), "problems": "; ".join(problems)} for c, problems in violating],
                empty="None.",
            ),
        ],
    )


KIND = ReportKind(
    slug="certificates",
    title="Certificates",
    controls=(NYDFS_500_7, REG_SCI),
    summary="Issued, renewed, revoked with reasons, expiring, violating the profile.",
    build=build,
)
