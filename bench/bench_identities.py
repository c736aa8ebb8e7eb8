"""Identity list page and API at 100k identities: first page, a deep page, each filter and the search."""

from __future__ import annotations

import time

from bench.lists import BATCH, admin_client, deep_cursor, query_count_check, run_cases, settle, steady
from bench.results import Result

LIST_BENCH = True
IDENTITIES = 100_000


def populate() -> float:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password

    from accounts.models import Desk, Identity, IdentityKind, IdentityStatus

    User = get_user_model()
    started = time.perf_counter()
    if Identity.objects.filter(user__username__startswith="bench0").count() >= IDENTITIES:
        return 0.0
    desks = [Desk.objects.get_or_create(name=f"Desk {n}")[0] for n in range(20)]
    unusable = make_password(None)
    sponsor = None
    for start in range(0, IDENTITIES, BATCH):
        users = User.objects.bulk_create(
            [
                User(username=f"bench{n:06d}", email=f"bench{n:06d}@example.test", password=unusable)
                for n in range(start, start + BATCH)
            ]
        )
        rows = []
        for n, user in zip(range(start, start + BATCH), users, strict=True):
            # One in twenty is a trading algorithm (sponsored, with a SenderCompID); one in fifty suspended.
            algo = n % 20 == 7 and sponsor is not None
            rows.append(
                Identity(
                    user=user,
                    kind=IdentityKind.ALGORITHM if algo else IdentityKind.HUMAN,
                    display_name=f"Bench {'Algo' if algo else 'Person'} {n:06d}",
                    desk=desks[n % len(desks)],
                    status=IdentityStatus.SUSPENDED if n % 50 == 3 else IdentityStatus.ACTIVE,
                    sponsor=sponsor if algo else None,
                    environment="uat" if algo else "",
                    sender_comp_ids=[f"ALGO{n:06d}"] if algo else [],
                )
            )
        created = Identity.objects.bulk_create(rows)
        sponsor = sponsor or created[0]
    return time.perf_counter() - started


def run() -> list[Result]:
    from django.urls import reverse

    from accounts.identity_views import LIST_ORDER
    from accounts.models import Desk, Identity
    from ztconsole.core.pagination import IdCursorPagination

    seconds = populate()
    settle("auth_user", "accounts_identity")
    steady()
    client = admin_client()
    page, api = reverse("accounts:identity_list"), reverse("api-identity-list")
    desk = Desk.objects.get(name="Desk 3").pk
    deep = deep_cursor(Identity.objects.all(), LIST_ORDER, IDENTITIES // 2)
    api_deep = deep_cursor(Identity.objects.all(), IdCursorPagination().keyset(), IDENTITIES // 2)
    cases = [
        ("identity list: first page", page, {}),
        ("identity list: deep page (row 50,000)", page, {"cursor": deep}),
        ("identity list: search 'Person 0999'", page, {"q": "Person 0999"}),
        ("identity list: search, no match", page, {"q": "nobody-like-this"}),
        ("identity list: search SenderCompID 'ALGO0042'", page, {"q": "ALGO0042"}),
        ("identity list: desk filter", page, {"desk": desk}),
        ("identity list: desk filter, deep page", page, {"desk": desk, "cursor": deep}),
        ("identity list: kind filter (algorithm)", page, {"kind": "algorithm"}),
        ("identity list: status filter (suspended)", page, {"status": "suspended"}),
        ("identities API: first page (50)", api, {}),
        ("identities API: page_size=200", api, {"page_size": 200}),
        ("identities API: deep page", api, {"cursor": api_deep}),
        ("identities API: search", api, {"q": "Person 0999"}),
        ("identities API: status filter", api, {"status": "suspended"}),
    ]
    rows = [Result(f"populate {IDENTITIES:,} identities", f"{seconds:.1f} s" if seconds else "reused")]
    timed = run_cases(client, cases)
    groups = {
        "pages": ["identity list: first page", "identity list: deep page (row 50,000)"],
        "API": ["identities API: first page (50)", "identities API: page_size=200", "identities API: deep page"],
    }
    return rows + timed + [query_count_check("identities", timed, groups)]
