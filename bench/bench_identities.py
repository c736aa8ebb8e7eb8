"""Identity list page and API at 100k identities: p50/p95 latency and query counts per page size/filter."""

from __future__ import annotations

import gc
import statistics
import time

from bench.results import Result

IDENTITIES = 100_000
BUDGET_P95_MS = 150.0
ROUNDS = 30


def _populate() -> None:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password

    from accounts.models import Desk, Identity, IdentityKind

    User = get_user_model()
    if Identity.objects.count() >= IDENTITIES:
        return
    desks = [Desk.objects.get_or_create(name=f"Desk {n}")[0] for n in range(20)]
    unusable = make_password(None)
    batch = 5000
    for start in range(0, IDENTITIES, batch):
        users = User.objects.bulk_create(
            [
                User(username=f"bench{n:06d}", email=f"bench{n:06d}@example.test", password=unusable)
                for n in range(start, start + batch)
            ]
        )
        Identity.objects.bulk_create(
            [
                Identity(
                    user=user,
                    kind=IdentityKind.HUMAN,
                    display_name=f"Bench Person {n:06d}",
                    desk=desks[n % len(desks)],
                )
                for n, user in zip(range(start, start + batch), users, strict=True)
            ]
        )


def _admin_client():
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.test import Client
    from django_otp import DEVICE_ID_SESSION_KEY

    from accounts.models import Assurance, Identity, OathDevice, OathKind
    from ztconsole.core.roles import ADMINISTRATOR

    user, created = get_user_model().objects.get_or_create(username="bench-admin")
    if created:
        user.groups.add(Group.objects.get(name=ADMINISTRATOR))
        Identity.objects.create(user=user, display_name="Bench Admin", privileged=True)
    device = OathDevice.objects.filter(user=user).first()
    if device is None:
        device = OathDevice(user=user, name="bench", confirmed=True, assurance=Assurance.HARDWARE, kind=OathKind.TOTP)
        device.set_secret(b"0" * 20)
        device.save()
    client = Client()
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


def _measure(client, url: str, params: dict) -> tuple[list[float], int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    timings = []
    queries = 0
    accept = "text/html" if "api" not in url else "application/json"
    client.get(url, params, HTTP_ACCEPT=accept)  # steady state: the first request fills per-process caches
    for _ in range(ROUNDS):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.get(url, params, HTTP_ACCEPT=accept)
            timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code)
        queries = len(captured)
    return timings, queries


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


def run() -> list[Result]:
    from django.urls import reverse

    started = time.perf_counter()
    _populate()
    populate_seconds = time.perf_counter() - started
    # The 100k model instances built to populate the table are not part of a serving process; collect them
    # and freeze what remains so the collector does not walk them during the timed requests.
    gc.collect()
    gc.freeze()
    client = _admin_client()
    page_url = reverse("accounts:identity_list")
    api_url = reverse("api-identity-list")
    cases = [
        ("identity list page 1", page_url, {}),
        ("identity list page 1000", page_url, {"page": 1000}),
        ("identity list search", page_url, {"q": "Person 0999"}),
        ("identity list desk filter", page_url, {"desk": 3, "page": 50}),
        ("identities API page 1 (50)", api_url, {}),
        ("identities API page_size=200", api_url, {"page_size": 200}),
    ]
    rows = [Result(f"populate {IDENTITIES:,} identities", f"{populate_seconds:.1f} s")]
    query_counts = {}
    for name, url, params in cases:
        timings, queries = _measure(client, url, params)
        query_counts[name] = queries
        p95 = _p95(timings)
        rows.append(
            Result(
                f"{name}: p50 {statistics.median(timings):.1f} ms, {queries} queries",
                f"p95 {p95:.1f} ms",
                f"p95 ≤ {BUDGET_P95_MS:.0f} ms",
                p95 / BUDGET_P95_MS,
                p95 <= BUDGET_P95_MS,
            )
        )
    pages = {query_counts["identity list page 1"], query_counts["identity list page 1000"]}
    api = {v for k, v in query_counts.items() if k.startswith("identities API")}
    rows.append(
        Result(
            "query count: list page 1 vs page 1000; API page size 50 vs 200",
            f"pages {sorted(pages)}, API {sorted(api)}",
            "equal",
            None,
            len(pages) == 1 and len(api) == 1,
        )
    )
    return rows
