"""Device list page and API at 100k devices: first page, a deep page, each filter and the search."""

from __future__ import annotations

import time

from bench.lists import BATCH, admin_client, deep_cursor, query_count_check, run_cases, settle, steady
from bench.results import Result

LIST_BENCH = True
DEVICES = 100_000


def populate() -> float:
    from accounts.models import Compliance, DeviceKind, DeviceRegistration, DeviceStatus, Identity

    started = time.perf_counter()
    if DeviceRegistration.objects.filter(serial__startswith="BENCH-").count() >= DEVICES:
        return 0.0
    owners = list(Identity.objects.order_by("id").values_list("id", flat=True)[:20_000])
    kinds = list(DeviceKind.values)
    compliance = [Compliance.COMPLIANT, Compliance.COMPLIANT, Compliance.UNKNOWN, Compliance.NON_COMPLIANT]
    for start in range(0, DEVICES, BATCH):
        DeviceRegistration.objects.bulk_create(
            [
                DeviceRegistration(
                    owner_id=owners[n % len(owners)],
                    kind=kinds[n % len(kinds)],
                    platform="Windows 11" if n % 2 else "RHEL 9",
                    serial=f"BENCH-{n:06d}",
                    hostname=f"ws{n:06d}.desk.example.test",
                    managed=n % 2 == 0,
                    compliance=compliance[n % len(compliance)],
                    status=DeviceStatus.RETIRED if n % 40 == 1 else DeviceStatus.ACTIVE,
                )
                for n in range(start, start + BATCH)
            ]
        )
    return time.perf_counter() - started


def run() -> list[Result]:
    from django.urls import reverse

    from accounts.device_views import LIST_ORDER
    from accounts.models import DeviceRegistration
    from bench.bench_identities import populate as populate_identities
    from ztconsole.core.pagination import IdCursorPagination

    populate_identities()
    seconds = populate()
    settle("accounts_deviceregistration")
    steady()
    client = admin_client()
    page, api = reverse("accounts:device_list"), reverse("api-device-list")
    deep = deep_cursor(DeviceRegistration.objects.all(), LIST_ORDER, DEVICES // 2)
    api_deep = deep_cursor(DeviceRegistration.objects.all(), IdCursorPagination().keyset(), DEVICES // 2)
    owner = DeviceRegistration.objects.filter(serial="BENCH-000123").values_list("owner__user__username", flat=True)[0]
    cases = [
        ("device list: first page", page, {}),
        ("device list: deep page (row 50,000)", page, {"cursor": deep}),
        ("device list: search hostname 'ws0999'", page, {"q": "ws0999"}),
        ("device list: search owner name 'Person 0123'", page, {"q": "Person 012345"}),
        ("device list: search, no match", page, {"q": "nothing-like-this"}),
        ("device list: owner filter", page, {"owner": owner}),
        ("device list: kind filter", page, {"kind": "server"}),
        ("device list: compliance filter (non-compliant)", page, {"compliance": "non_compliant"}),
        ("device list: managed filter", page, {"managed": "true"}),
        ("device list: status filter (retired)", page, {"status": "retired"}),
        ("devices API: first page (50)", api, {}),
        ("devices API: page_size=200", api, {"page_size": 200}),
        ("devices API: deep page", api, {"cursor": api_deep}),
        ("devices API: search", api, {"q": "ws0999"}),
    ]
    rows = [Result(f"populate {DEVICES:,} devices", f"{seconds:.1f} s" if seconds else "reused")]
    timed = run_cases(client, cases)
    groups = {
        "pages": ["device list: first page", "device list: deep page (row 50,000)"],
        "API": ["devices API: first page (50)", "devices API: page_size=200", "devices API: deep page"],
    }
    return rows + timed + [query_count_check("devices", timed, groups)]
