"""Certificate list page and API at 100k certificates: first page, a deep page and each filter."""

from __future__ import annotations

import hashlib
import time
from datetime import timedelta

from bench.lists import BATCH, admin_client, deep_cursor, query_count_check, run_cases, settle, steady
from bench.results import Result

LIST_BENCH = True
CERTIFICATES = 100_000


def populate() -> float:
    from django.utils import timezone

    from accounts.models import Identity
    from certificates import actions
    from certificates.models import Certificate, CertificateAuthority, CertificateStatus
    from certificates.profiles import ensure_default_profiles

    started = time.perf_counter()
    if Certificate.objects.filter(subject__startswith="CN=bench-list").count() >= CERTIFICATES:
        return 0.0
    ensure_default_profiles()
    if not CertificateAuthority.objects.filter(active=True).exists():
        actions.init_ca(None)
    ca = actions.issuing_ca()
    profiles = [actions.profile_by_name("fix-client"), actions.profile_by_name("console")]
    owners = list(Identity.objects.order_by("id").values_list("id", flat=True)[:50_000])
    statuses = [CertificateStatus.ACTIVE] * 6 + [CertificateStatus.REVOKED, CertificateStatus.EXPIRED]
    now = timezone.now()
    for start in range(0, CERTIFICATES, BATCH):
        rows = []
        for n in range(start, start + BATCH):
            digest = hashlib.sha256(f"bench-list-{n}".encode()).hexdigest()
            status = statuses[n % len(statuses)]
            rows.append(
                Certificate(
                    serial=digest[:38],
                    identity_id=owners[n % len(owners)],
                    profile=profiles[n % 2],
                    issuer=ca,
                    pem="",
                    subject=f"CN=bench-list-{n}",
                    key_description="ECDSA secp256r1",
                    not_before=now - timedelta(days=30),
                    not_after=now + timedelta(days=1 + n % 365),
                    status=status,
                    revocation_reason="superseded" if status == CertificateStatus.REVOKED else "",
                    revoked_at=now if status == CertificateStatus.REVOKED else None,
                    sha256=digest,
                    spki_sha256=hashlib.sha256(digest.encode()).hexdigest(),
                )
            )
        Certificate.objects.bulk_create(rows)
    return time.perf_counter() - started


def run() -> list[Result]:
    from django.urls import reverse

    from bench.bench_identities import populate as populate_identities
    from certificates.models import Certificate
    from certificates.views import LIST_ORDER
    from ztconsole.core.pagination import IdCursorPagination

    populate_identities()
    seconds = populate()
    settle("certificates_certificate")
    steady()
    client = admin_client()
    page, api = reverse("certificates:list"), reverse("api-certificate-list")
    deep = deep_cursor(Certificate.objects.all(), LIST_ORDER, CERTIFICATES // 2)
    api_deep = deep_cursor(Certificate.objects.all(), IdCursorPagination().keyset(), CERTIFICATES // 2)
    holder = Certificate.objects.filter(subject="CN=bench-list-777").values_list("identity__user__username", flat=True)[
        0
    ]
    cases = [
        ("certificate list: first page", page, {}),
        ("certificate list: deep page (row 50,000)", page, {"cursor": deep}),
        ("certificate list: identity filter (username)", page, {"identity": holder}),
        ("certificate list: profile filter", page, {"profile": "console"}),
        ("certificate list: status filter (revoked)", page, {"status": "revoked"}),
        ("certificate list: expiring within 7 days", page, {"expiring": "7"}),
        ("certificates API: first page (50)", api, {}),
        ("certificates API: page_size=200", api, {"page_size": 200}),
        ("certificates API: deep page", api, {"cursor": api_deep}),
        ("certificates API: status filter", api, {"status": "expired"}),
    ]
    rows = [Result(f"populate {CERTIFICATES:,} certificates", f"{seconds:.1f} s" if seconds else "reused")]
    timed = run_cases(client, cases)
    groups = {
        "pages": ["certificate list: first page", "certificate list: deep page (row 50,000)"],
        "API": ["certificates API: first page (50)", "certificates API: page_size=200", "certificates API: deep page"],
    }
    return rows + timed + [query_count_check("certificates", timed, groups)]
