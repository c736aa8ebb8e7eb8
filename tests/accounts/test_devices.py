"""Devices: registration, approval, posture from device-scoped tokens or an MDM identity, staleness, visibility."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts import actions
from accounts.models import (
    ApiToken,
    Compliance,
    DeviceHealth,
    DeviceRegistration,
    DeviceStatus,
    IdentityKind,
    PostureReport,
)
from accounts.tasks import mark_stale_device_posture
from tests.conftest import make_persona
from ztconsole.core.models import AuditEvent

pytestmark = pytest.mark.django_db

GOOD_REPORT = {"os_version": "Windows 11 23H2", "disk_encryption": True, "screen_lock": True, "edr_running": True}


def bearer(token: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_ACCEPT="application/json")


def post_json(client: Client, url: str, body) -> object:
    data = body if isinstance(body, str) else json.dumps(body)
    return client.post(url, data=data, content_type="application/json")


def posture_url(device: DeviceRegistration) -> str:
    return reverse("api-device-posture", kwargs={"pk": device.pk})


def register(persona, serial: str = "WS-0001", **changes) -> DeviceRegistration:
    arguments = {
        "owner": persona.user.identity,
        "kind": "trader_workstation",
        "platform": "Windows 11",
        "serial": serial,
        "hostname": "ws-ldn-01.corp.example",
    } | changes
    return actions.register_device(persona.user, **arguments)


@pytest.fixture
def device(personas) -> DeviceRegistration:
    return register(personas["trader"])


@pytest.fixture
def device_token(personas, device) -> str:
    _, plaintext = actions.create_device_token(personas["admin"].user, device, days=30)
    return plaintext


# --- registration ------------------------------------------------------------------------------------


def test_trader_registers_own_device_through_the_api_and_it_is_audited(personas, verified_client):
    client = verified_client(personas["trader"])
    response = post_json(
        client,
        reverse("api-device-list"),
        {"kind": "trader_workstation", "platform": "macOS 14", "serial": "MAC-42", "hostname": "tina-mbp"},
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["owner"] == "tina" and body["managed"] is False and body["compliance"] == "unknown"
    assert body["health"] == DeviceHealth.UNMANAGED
    event = AuditEvent.objects.get(action="device.registered")
    assert event.actor == personas["trader"].user and event.details["serial"] == "MAC-42"


def test_trader_registers_own_device_in_the_page_without_choosing_an_owner(personas, verified_client):
    client = verified_client(personas["trader"])
    form = client.get(reverse("accounts:device_register"))
    assert form.status_code == 200 and b'name="owner"' not in form.content
    response = client.post(
        reverse("accounts:device_register"),
        {"kind": "trader_workstation", "platform": "Windows 11", "serial": "WS-PAGE-1", "hostname": ""},
    )
    device = DeviceRegistration.objects.get(serial="WS-PAGE-1")
    assert response.status_code == 302 and response["Location"] == reverse("accounts:device_detail", args=[device.pk])
    assert device.owner == personas["trader"].user.identity


def test_administrator_registers_for_an_owner_named_by_username_in_the_page(personas, verified_client):
    client = verified_client(personas["admin"])
    assert b'name="owner"' in client.get(reverse("accounts:device_register")).content
    data = {"owner": "tina", "kind": "algo_host", "platform": "RHEL 9", "serial": "ALGO-HOST-1", "hostname": ""}
    assert client.post(reverse("accounts:device_register"), data).status_code == 302
    assert DeviceRegistration.objects.get(serial="ALGO-HOST-1").owner == personas["trader"].user.identity
    unknown = client.post(reverse("accounts:device_register"), data | {"owner": "nobody", "serial": "X-2"})
    assert unknown.status_code == 400 and b"No identity is named" in unknown.content


def test_duplicate_serial_is_refused_naming_the_field(personas, device, verified_client):
    with pytest.raises(actions.ActionError, match="already registered") as info:
        register(personas["admin"], serial="ws-0001")  # case does not make a new asset tag
    assert info.value.field == "serial"
    response = post_json(
        verified_client(personas["trader"]),
        reverse("api-device-list"),
        {"kind": "server", "platform": "RHEL 9", "serial": "WS-0001"},
    )
    assert response.status_code == 400
    assert response.json()["field"] == "serial" and "serial" in response.json()
    assert DeviceRegistration.objects.count() == 1


def test_suspended_owner_cannot_get_a_device(personas):
    tina = personas["trader"].user.identity
    actions.suspend_identity(personas["security"].user, tina, reason="on leave")
    with pytest.raises(actions.ActionError, match="suspended") as info:
        register(personas["trader"], serial="WS-SUSP")
    assert info.value.field == "owner"
    assert not DeviceRegistration.objects.exists()


def test_only_device_managers_register_for_someone_else(personas, verified_client):
    with pytest.raises(actions.ActionError, match="only for yourself"):
        actions.register_device(
            personas["trader"].user,
            owner=personas["compliance"].user.identity,
            kind="trader_workstation",
            platform="Windows 11",
            serial="WS-OTHER",
        )
    body = {"owner": "carla", "kind": "trader_workstation", "platform": "Windows 11", "serial": "WS-OTHER"}
    refused = post_json(verified_client(personas["trader"]), reverse("api-device-list"), body)
    assert refused.status_code == 403 and "manage_devices" in refused.json()["detail"]
    allowed = post_json(verified_client(personas["admin"]), reverse("api-device-list"), body)
    assert allowed.status_code == 201 and allowed.json()["owner"] == "carla"


# --- approval and retirement -------------------------------------------------------------------------


def test_administrator_approves_a_device_as_managed_once(personas, device, verified_client):
    client = verified_client(personas["admin"])
    url = reverse("api-device-approve", kwargs={"pk": device.pk})
    response = client.post(url)
    assert response.status_code == 200, response.content
    assert response.json()["managed"] is True and response.json()["approved_by"] == "alice"
    event = AuditEvent.objects.get(action="device.approved")
    assert event.actor == personas["admin"].user and event.target_id == str(device.pk)
    again = client.post(url)
    assert again.status_code == 400 and "already approved" in again.json()["detail"]
    assert AuditEvent.objects.filter(action="device.approved").count() == 1


def test_approve_in_the_page_needs_step_up_and_manage_devices(personas, device, verified_client):
    url = reverse("accounts:device_approve", kwargs={"pk": device.pk})
    assert verified_client(personas["trader"]).post(url).status_code == 403
    response = verified_client(personas["admin"]).post(url)
    assert response.status_code == 302
    device.refresh_from_db()
    assert device.managed and device.approved_by == personas["admin"].user


def test_retiring_revokes_the_posture_token_and_refuses_later_reports(personas, device, device_token):
    actions.retire_device(personas["admin"].user, device, reason="replaced")
    device.refresh_from_db()
    assert device.status == DeviceStatus.RETIRED and device.health == DeviceHealth.UNMANAGED
    assert ApiToken.objects.get(device=device).revoked_at is not None
    assert AuditEvent.objects.get(action="device.retired").details["revoked_api_access"] == 1
    response = post_json(bearer(device_token), posture_url(device), GOOD_REPORT)
    assert response.status_code == 401
    with pytest.raises(actions.ActionError, match="retired"):
        actions.retire_device(personas["admin"].user, device)


# --- posture with a device-scoped token ---------------------------------------------------------------


def test_compliant_report_makes_a_managed_device_managed_compliant(personas, device, device_token):
    actions.approve_device(personas["admin"].user, device)
    response = post_json(bearer(device_token), posture_url(device), GOOD_REPORT)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["compliant"] is True and body["failures"] == []
    assert body["compliance"] == Compliance.COMPLIANT and body["health"] == DeviceHealth.MANAGED_COMPLIANT
    device.refresh_from_db()
    assert device.compliance == Compliance.COMPLIANT and device.last_posture_at is not None
    assert device.last_posture["os_version"] == "Windows 11 23H2"
    report = PostureReport.objects.get(device=device)
    assert report.disk_encrypted and report.screen_lock and report.edr_running
    assert report.source == f"posture:{device.serial}"
    reported = AuditEvent.objects.get(action="device.posture_reported")
    assert reported.actor == personas["trader"].user
    changed = AuditEvent.objects.get(action="device.compliance_changed")
    assert changed.details == {"from": "unknown", "to": "compliant", "failures": []}


def test_non_compliant_report_lists_the_failed_checks(personas, device, device_token):
    post_json(bearer(device_token), posture_url(device), GOOD_REPORT)
    report = {"os_version": "Windows 11 23H2", "disk_encryption": False, "screen_lock": True}  # no EDR reported
    response = post_json(bearer(device_token), posture_url(device), report)
    assert response.status_code == 201
    assert response.json()["failures"] == ["disk_encryption", "edr_running"]
    device.refresh_from_db()
    assert device.compliance == Compliance.NON_COMPLIANT and device.health == DeviceHealth.UNMANAGED
    actions.approve_device(personas["admin"].user, device)
    device.refresh_from_db()
    assert device.health == DeviceHealth.NON_COMPLIANT
    changed = AuditEvent.objects.filter(action="device.compliance_changed").order_by("seq").last()
    assert changed.details == {
        "from": "compliant",
        "to": "non_compliant",
        "failures": ["disk_encryption", "edr_running"],
    }
    assert PostureReport.objects.filter(device=device).count() == 2  # history is kept


def test_posture_accepts_the_trailing_slash_too(device, device_token):
    response = post_json(bearer(device_token), f"/api/v1/devices/{device.pk}/posture/", GOOD_REPORT)
    assert response.status_code == 201
    assert posture_url(device) == f"/api/v1/devices/{device.pk}/posture"


def test_malformed_json_is_a_400(device, device_token):
    response = post_json(bearer(device_token), posture_url(device), "{not json")
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]
    assert not PostureReport.objects.exists()


def test_unknown_field_is_a_400_naming_it(device, device_token):
    response = post_json(bearer(device_token), posture_url(device), GOOD_REPORT | {"firewall": True})
    assert response.status_code == 400
    body = response.json()
    assert body["field"] == "firewall" and "firewall" in body and "unknown field" in body["detail"]
    device.refresh_from_db()
    assert device.compliance == Compliance.UNKNOWN and not PostureReport.objects.exists()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"os_version": 11}, "os_version"),
        ({"os_version": ""}, "os_version"),
        ({"disk_encryption": "yes"}, "disk_encryption"),
        ({"screen_lock": 1}, "screen_lock"),
        ({"edr_running": None}, "edr_running"),
    ],
)
def test_wrong_types_are_a_400_naming_the_field(device, device_token, changes, field):
    response = post_json(bearer(device_token), posture_url(device), GOOD_REPORT | changes)
    assert response.status_code == 400
    assert response.json()["field"] == field
    assert not PostureReport.objects.exists()


def test_missing_os_version_and_non_object_bodies_are_400(device, device_token):
    missing = post_json(bearer(device_token), posture_url(device), {"disk_encryption": True})
    assert missing.status_code == 400 and missing.json()["field"] == "os_version"
    listed = post_json(bearer(device_token), posture_url(device), [GOOD_REPORT])
    assert listed.status_code == 400 and listed.json()["field"] == "report"


def test_token_for_another_device_is_403(personas, device):
    other = register(personas["admin"], serial="WS-ADMIN")
    _, other_token = actions.create_device_token(personas["admin"].user, other, days=1)
    response = post_json(bearer(other_token), posture_url(device), GOOD_REPORT)
    assert response.status_code == 403
    assert response.json()["detail"] == "This API token may only report posture for its own device."


def test_read_only_tokens_are_403(personas, device):
    _, read_only = actions.create_api_token(
        personas["admin"].user, personas["trader"].user, name="ro", scope="read", days=1, device=device
    )
    response = post_json(bearer(read_only), posture_url(device), GOOD_REPORT)
    assert response.status_code == 403 and "scope" in response.json()["detail"]
    service = actions.create_non_person_identity(
        None,
        name="svc-ro",
        kind=IdentityKind.SERVICE,
        display_name="ro",
        sponsor=personas["trader"].user.identity,
        environment="dev",
    )
    _, plain_read = actions.create_api_token(None, service.user, name="plain", scope="read", days=1)
    assert post_json(bearer(plain_read), posture_url(device), GOOD_REPORT).status_code == 403


def test_no_token_is_401(device):
    response = Client(HTTP_ACCEPT="application/json").post(
        posture_url(device), data=json.dumps(GOOD_REPORT), content_type="application/json"
    )
    assert response.status_code == 401


def test_an_ordinary_read_write_token_cannot_report(personas, device):
    service = actions.create_non_person_identity(
        None,
        name="svc-rw",
        kind=IdentityKind.SERVICE,
        display_name="rw",
        sponsor=personas["trader"].user.identity,
        environment="dev",
    )
    _, plaintext = actions.create_api_token(None, service.user, name="rw", scope="read-write", days=1)
    response = post_json(bearer(plaintext), posture_url(device), GOOD_REPORT)
    assert response.status_code == 403 and "report_posture" in response.json()["detail"]


def test_a_device_token_is_refused_everywhere_else(device, device_token):
    client = bearer(device_token)
    for url in (reverse("api-me"), reverse("api-device-list"), reverse("api-device-detail", args=[device.pk])):
        response = client.get(url)
        assert response.status_code == 403, url
        assert "scoped to one device" in response.json()["detail"]


def test_mdm_identity_with_report_posture_reports_for_any_device(personas, device):
    mdm = actions.create_non_person_identity(
        personas["admin"].user,
        name="mdm-intune",
        kind=IdentityKind.SERVICE,
        display_name="Intune feed",
        sponsor=personas["admin"].user.identity,
        environment="prod",
    )
    _, plaintext = actions.create_api_token(None, mdm.user, name="intune-posture", scope="read-write", days=30)
    assert post_json(bearer(plaintext), posture_url(device), GOOD_REPORT).status_code == 403
    mdm.user.user_permissions.add(Permission.objects.get(content_type__app_label="accounts", codename="report_posture"))
    other = register(personas["admin"], serial="WS-ADMIN")
    for target in (device, other):
        response = post_json(bearer(plaintext), posture_url(target), GOOD_REPORT)
        assert response.status_code == 201, response.content
        assert response.json()["source"] == "intune-posture"
    assert AuditEvent.objects.filter(action="device.posture_reported", actor=mdm.user).count() == 2
    # The permission covers posture only: it is not a console role.
    assert bearer(plaintext).get(reverse("api-device-list")).status_code == 403


# --- staleness ---------------------------------------------------------------------------------------


def _age(device: DeviceRegistration, seconds: int) -> None:
    past = timezone.now() - timedelta(seconds=seconds)
    DeviceRegistration.objects.filter(pk=device.pk).update(last_posture_at=past, created_at=past)


def test_stale_task_turns_old_reports_to_unknown_once(personas, device, settings):
    settings.ZT_POSTURE_TTL_SECONDS = 600
    fresh = register(personas["admin"], serial="WS-FRESH")
    for target in (device, fresh):
        actions.record_posture(device=target, report=GOOD_REPORT, source="test")
    _age(device, 601)
    assert mark_stale_device_posture() == 1
    device.refresh_from_db()
    fresh.refresh_from_db()
    assert device.compliance == Compliance.UNKNOWN and fresh.compliance == Compliance.COMPLIANT
    event = AuditEvent.objects.get(action="device.posture_stale")
    assert event.target_id == str(device.pk) and event.details["from"] == "compliant" and event.actor is None
    assert mark_stale_device_posture() == 0  # nothing changes twice
    assert AuditEvent.objects.filter(action="device.posture_stale").count() == 1


def test_stale_task_skips_retired_devices_and_a_fresh_report_wins(personas, device):
    actions.record_posture(device=device, report=GOOD_REPORT, source="test")
    _age(device, 7200)
    actions.record_posture(device=device, report=GOOD_REPORT, source="test")  # arrives before the sweep
    assert actions.mark_stale_devices_unknown(3600) == 0
    retired = register(personas["admin"], serial="WS-OLD")
    actions.record_posture(device=retired, report=GOOD_REPORT, source="test")
    actions.retire_device(personas["admin"].user, retired)
    _age(retired, 7200)
    assert actions.mark_stale_devices_unknown(3600) == 0


@pytest.mark.django_db(transaction=True)
def test_stale_task_runs_in_the_real_celery_worker(personas, celery_worker_thread, settings):
    settings.ZT_POSTURE_TTL_SECONDS = 60
    device = register(personas["trader"], serial="WS-CELERY")
    actions.record_posture(device=device, report=GOOD_REPORT | {"edr_running": False}, source="test")
    _age(device, 3600)
    assert mark_stale_device_posture.delay().get(timeout=20) == 1
    device.refresh_from_db()
    assert device.compliance == Compliance.UNKNOWN
    assert AuditEvent.objects.filter(action="device.posture_stale", target_id=str(device.pk)).exists()


# --- who sees what -----------------------------------------------------------------------------------


def test_traders_see_only_their_own_devices(personas, device, verified_client):
    others = register(personas["admin"], serial="WS-ADMIN")
    trader = verified_client(personas["trader"])
    page = trader.get(reverse("accounts:device_list"))
    assert page.status_code == 200
    assert b"WS-0001" in page.content and b"WS-ADMIN" not in page.content
    assert trader.get(reverse("accounts:device_detail", args=[others.pk])).status_code == 404
    listed = trader.get(reverse("api-device-list"), HTTP_ACCEPT="application/json").json()
    assert [row["serial"] for row in listed["results"]] == ["WS-0001"]
    assert trader.get(reverse("api-device-detail", args=[others.pk])).status_code == 404
    # Auditors and managers see every device.
    for persona in ("compliance", "security", "admin"):
        rows = verified_client(personas[persona]).get(reverse("api-device-list")).json()["results"]
        assert {row["serial"] for row in rows} == {"WS-0001", "WS-ADMIN"}, persona


def test_api_list_filters(personas, device, verified_client):
    register(personas["admin"], serial="SRV-1", kind="server", platform="RHEL 9")
    actions.approve_device(personas["admin"].user, device)
    client = verified_client(personas["admin"])

    def serials(**query) -> set[str]:
        return {row["serial"] for row in client.get(reverse("api-device-list"), query).json()["results"]}

    assert serials(owner="tina") == {"WS-0001"}
    assert serials(kind="server") == {"SRV-1"}
    assert serials(managed="true") == {"WS-0001"}
    assert serials(managed="false") == {"SRV-1"}
    assert serials(compliance="unknown") == {"WS-0001", "SRV-1"}


def test_detail_page_shows_posture_history_and_admin_buttons(personas, device, verified_client):
    actions.record_posture(device=device, report=GOOD_REPORT | {"screen_lock": False}, source="agent")
    admin_page = verified_client(personas["admin"]).get(reverse("accounts:device_detail", args=[device.pk]))
    assert admin_page.status_code == 200
    assert b"failed: screen_lock" in admin_page.content
    assert b"Approve as managed" in admin_page.content and b"Create posture token" in admin_page.content
    trader_page = verified_client(personas["trader"]).get(reverse("accounts:device_detail", args=[device.pk]))
    assert b"failed: screen_lock" in trader_page.content and b"Approve as managed" not in trader_page.content


def test_posture_token_page_shows_the_token_once_and_it_works(personas, device, verified_client):
    response = verified_client(personas["admin"]).post(
        reverse("accounts:device_posture_token", args=[device.pk]), {"days": "30"}
    )
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    plaintext = response.context["plaintext"]
    assert plaintext.encode() in response.content
    token = ApiToken.objects.get(device=device)
    assert token.user == personas["trader"].user and token.scope == "read-write"
    assert AuditEvent.objects.get(action="api_token.created").details["device"] == device.serial
    assert post_json(bearer(plaintext), posture_url(device), GOOD_REPORT).status_code == 201


def test_device_list_page_has_a_constant_query_count(personas, verified_client, django_assert_max_num_queries):
    client = verified_client(personas["admin"])
    for n in range(60):
        owner = personas["trader"] if n % 2 else personas["compliance"]
        device = register(personas["admin"], serial=f"WS-{n:04d}", owner=owner.user.identity)
        if n % 3 == 0:
            actions.approve_device(None, device)  # whoever registered a device does not approve it
    client.get(reverse("accounts:device_list"))  # warm caches (content types, permissions)
    with django_assert_max_num_queries(12):
        response = client.get(reverse("accounts:device_list"))
    assert response.status_code == 200
    assert response.content.count(b'href="/accounts/devices/') >= 50


def test_health_is_what_the_risk_engine_scores(device):
    assert device.health == DeviceHealth.UNMANAGED
    device.managed = True
    assert device.health == DeviceHealth.UNKNOWN
    device.compliance = Compliance.COMPLIANT
    assert device.health == DeviceHealth.MANAGED_COMPLIANT
    device.compliance = Compliance.NON_COMPLIANT
    assert device.health == DeviceHealth.NON_COMPLIANT


def test_nobody_approves_their_own_device(personas):
    own = actions.register_device(
        personas["admin"].user, owner=personas["admin"].user.identity, kind="server", platform="RHEL 9", serial="OWN-1"
    )
    with pytest.raises(actions.ActionError, match="another administrator"):
        actions.approve_device(personas["admin"].user, own)


def test_whoever_registers_a_device_for_someone_does_not_also_approve_it(personas):
    device = register(personas["admin"], serial="FOR-TINA", owner=personas["trader"].user.identity)
    with pytest.raises(actions.ActionError, match="you registered this device"):
        actions.approve_device(personas["admin"].user, device)
    second_admin = make_persona("adam", "Administrator")
    assert actions.approve_device(second_admin.user, device).managed
