"""Compile + sign from the database: the console side of the bundle budget (≤ 2 s for the reference policy).

bench_pep measures the engine and pep.builder on in-memory data; this measures policies.compiler reading the
draft from the database (identities, devices, segments, access rules, risk rules) plus validation and signing.
"""

from __future__ import annotations

import time

from bench.results import Result

IDENTITIES = 10_000
SEGMENTS = 200
ACCESS_RULES = 5_000
BUDGET_SECONDS = 2.0
ENVIRONMENT = "uat"


def _populate() -> int:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password

    from accounts.models import Identity, IdentityKind
    from policies.actions import seed_policy
    from policies.models import AccessRule, Segment, SegmentResource, SubjectKind

    User = get_user_model()
    existing = Identity.objects.count()
    if existing < IDENTITIES:
        unusable = make_password(None)
        users = User.objects.bulk_create(
            [User(username=f"pol{n:06d}", password=unusable) for n in range(IDENTITIES - existing)]
        )
        Identity.objects.bulk_create(
            [Identity(user=u, kind=IdentityKind.HUMAN, display_name=u.username) for u in users], batch_size=5000
        )
    seed_policy(None, ENVIRONMENT)
    if not Segment.objects.filter(environment=ENVIRONMENT).exists():
        segments = Segment.objects.bulk_create(
            [Segment(environment=ENVIRONMENT, name=f"seg-{n:03d}") for n in range(SEGMENTS)]
        )
        SegmentResource.objects.bulk_create(
            [
                SegmentResource(segment=s, name=f"svc-{n:03d}", address=f"10.1.{n}.1:9876")
                for n, s in enumerate(segments)
            ]
        )
        identity_ids = list(Identity.objects.order_by("id").values_list("id", flat=True)[:IDENTITIES])
        AccessRule.objects.bulk_create(
            [
                AccessRule(
                    environment=ENVIRONMENT,
                    name=f"rule-{n:05d}",
                    subject_kind=SubjectKind.IDENTITY,
                    subject_identity_id=identity_ids[(n * 7) % len(identity_ids)],
                    target_segment=segments[n % SEGMENTS],
                    message_types=["R", "S"],
                )
                for n in range(ACCESS_RULES)
            ],
            batch_size=2000,
        )
    return Identity.objects.count()


def run() -> list[Result]:
    from policies.actions import init_signing_key, sign
    from policies.compiler import compile_payload, draft_issued_at
    from policies.models import SigningKey

    identities = _populate()
    key = SigningKey.objects.filter(active=True).first() or init_signing_key(None)
    timings = []
    size = 0
    for _ in range(3):
        started = time.perf_counter()
        payload = compile_payload(ENVIRONMENT, version=1, issued_at=draft_issued_at(ENVIRONMENT))
        bundle = sign(payload, key)
        timings.append(time.perf_counter() - started)
        size = len(bundle)
    best, worst = min(timings), max(timings)
    return [
        Result(
            f"compile + validate + sign from the database ({identities:,} identities, {ACCESS_RULES:,} access rules, "
            f"{SEGMENTS} segments; {size / 1e6:.1f} MB), worst of 3 (best {best:.2f} s)",
            f"{worst:.2f} s",
            f"≤ {BUDGET_SECONDS:.0f} s",
            worst / BUDGET_SECONDS,
            worst <= BUDGET_SECONDS,
        )
    ]
