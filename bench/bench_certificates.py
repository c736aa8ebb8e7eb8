"""The internal CA: issuance throughput from CSRs, and CRL generation with 100k revoked entries.

CSRs and their keys are made outside the timed part, as clients make them locally; the timed part is the
whole action (CSR verification, profile checks, signing, the row and its audit event).
"""

from __future__ import annotations

import hashlib
import os
import time
from datetime import timedelta

from bench.results import Result

ISSUED = 300
REVOKED = 100_000


def _setup():
    from django.contrib.auth import get_user_model

    from accounts.models import Identity, IdentityKind
    from certificates import actions
    from certificates.models import CertificateAuthority

    if not CertificateAuthority.objects.filter(active=True).exists():
        actions.init_ca(None)
    User = get_user_model()
    sponsor_user, _ = User.objects.get_or_create(username="bench-ca-sponsor")
    sponsor, _ = Identity.objects.get_or_create(user=sponsor_user, defaults={"display_name": "Bench sponsor"})
    algo_user, _ = User.objects.get_or_create(username="bench-ca-algo")
    algo, _ = Identity.objects.get_or_create(
        user=algo_user,
        defaults={
            "display_name": "Bench algo",
            "kind": IdentityKind.ALGORITHM,
            "sponsor": sponsor,
            "environment": "uat",
            "sender_comp_ids": ["BENCHCA1"],
        },
    )
    return algo


def _csrs(count: int) -> list[str]:
    from tests.certificates.helpers import ec_key, make_csr

    return [make_csr(ec_key()) for _ in range(count)]


def _bulk_revoked(algo, count: int) -> None:
    from django.utils import timezone

    from certificates import actions
    from certificates.models import Certificate, CertificateStatus

    ca = actions.issuing_ca()
    profile = actions.profile_by_name("fix-client")
    now = timezone.now()
    batch = 5000
    for start in range(0, count, batch):
        rows = []
        for n in range(start, min(start + batch, count)):
            serial = hashlib.sha1(f"bench-{n}-{os.getpid()}".encode(), usedforsecurity=False).hexdigest()[:38]
            rows.append(
                Certificate(
                    serial=serial,
                    identity=algo,
                    profile=profile,
                    issuer=ca,
                    pem="",
                    subject="CN=bench",
                    key_description="ECDSA secp256r1",
                    not_before=now - timedelta(days=10),
                    not_after=now + timedelta(days=80),
                    status=CertificateStatus.REVOKED,
                    revocation_reason=("keyCompromise", "superseded", "cessationOfOperation")[n % 3],
                    revoked_at=now - timedelta(seconds=n),
                    sha256=hashlib.sha256(serial.encode()).hexdigest(),
                    spki_sha256=serial,
                )
            )
        Certificate.objects.bulk_create(rows)


def run() -> list[Result]:
    from certificates import actions

    algo = _setup()
    profile = actions.profile_by_name("fix-client")
    csrs = _csrs(ISSUED)
    started = time.perf_counter()
    for csr in csrs:
        actions.issue_from_csr(None, identity=algo, profile=profile, csr_pem=csr)
    issue_seconds = time.perf_counter() - started

    started = time.perf_counter()
    _bulk_revoked(algo, REVOKED)
    populate_seconds = time.perf_counter() - started
    started = time.perf_counter()
    state = actions.generate_crl()
    crl_seconds = time.perf_counter() - started
    from certificates.models import Certificate, CertificateStatus

    victim = Certificate.objects.filter(identity=algo, status=CertificateStatus.ACTIVE).first()
    started = time.perf_counter()
    actions.revoke_certificate(None, victim, reason="keyCompromise")
    revoke_seconds = time.perf_counter() - started
    return [
        Result(
            f"certificate issuance from CSRs ({ISSUED}, ECDSA P-256 clients, P-384 CA)",
            f"{ISSUED / issue_seconds:.0f} certs/s ({issue_seconds / ISSUED * 1000:.1f} ms each)",
        ),
        Result(f"populate {REVOKED:,} revoked certificates", f"{populate_seconds:.1f} s"),
        Result(
            f"CRL generation, {state.entries:,} revoked entries (signed, DER {len(bytes(state.der)) / 1e6:.1f} MB)",
            f"{crl_seconds:.2f} s",
        ),
        Result(
            f"revoke one certificate, CRL re-signed in the same transaction ({REVOKED:,} entries)",
            f"{revoke_seconds:.2f} s",
        ),
    ]
