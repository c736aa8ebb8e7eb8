"""The compliance officer's pages: request an export, watch it in the real Celery worker, download, verify."""

from __future__ import annotations

import time

import pytest
from django.urls import reverse

from reports.models import AuditExport
from tests.reports.helpers import offline_verify, record
from ztconsole.core.models import AuditEvent


def _wait_done(client, export: AuditExport) -> dict:
    deadline = time.monotonic() + 60
    url = reverse("reports:audit_export_status", kwargs={"pk": export.pk})
    while time.monotonic() < deadline:
        state = client.get(url, HTTP_ACCEPT="application/json").json()
        if state["status"] in ("done", "failed"):
            return state
        time.sleep(0.2)
    raise AssertionError(f"export still {state} after 60 s")


def test_export_runs_in_the_worker_and_the_download_verifies_offline(
    transactional_db, personas, verified_client, celery_worker_thread, tmp_path
):
    for i in range(25):
        record(personas["admin"].user, "identity.updated", {"i": i})
    client = verified_client(personas["compliance"])

    response = client.post(reverse("reports:audit_exports"), {"format": "csv", "action_prefix": "identity."})

    export = AuditExport.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "reports:audit_export_detail", kwargs={"pk": export.pk}
    )
    page = client.get(response["Location"])
    assert b"data-export-status" in page.content
    state = _wait_done(client, export)
    assert state == {
        "id": str(export.pk),
        "status": "done",
        "written": 25,
        "total": 25,
        "percent": 100,
        "error": "",
        "download": True,
    }
    download = client.get(reverse("reports:audit_export_download", kwargs={"pk": export.pk}))
    assert download.status_code == 200 and download["Content-Type"] == "application/zip"
    archive = tmp_path / "downloaded.zip"
    archive.write_bytes(b"".join(download.streaming_content))
    key = tmp_path / "key.pem"
    key_response = client.get(reverse("reports:export_public_key"))
    key.write_bytes(key_response.content)

    result = offline_verify(archive, "--public-key", key)
    assert result.returncode == 0, result.stderr
    assert "25 exported events match their hashes" in result.stdout

    trail = list(
        AuditEvent.objects.filter(action__startswith="audit_export.")
        .order_by("seq")
        .values_list("action", "actor_label")
    )
    assert trail == [
        ("audit_export.requested", "carla"),
        ("audit_export.completed", ""),
        ("audit_export.downloaded", "carla"),
    ]


@pytest.mark.django_db
def test_bad_filters_are_refused_on_the_form_and_nothing_is_queued(personas, verified_client):
    client = verified_client(personas["security"])
    response = client.post(
        reverse("reports:audit_exports"),
        {"format": "jsonl", "since": "2026-11-30T10:00", "until": "2026-11-30T09:00"},
    )
    assert response.status_code == 400
    assert b"must be after the start of the period" in response.content
    response = client.post(reverse("reports:audit_exports"), {"format": "pdf"})
    assert response.status_code == 400 and b"Select a valid choice" in response.content
    assert not AuditExport.objects.exists()
    assert not AuditEvent.objects.filter(action="audit_export.requested").exists()


@pytest.mark.django_db
def test_an_unfinished_export_cannot_be_downloaded_and_nothing_is_audited(personas, verified_client):
    export = AuditExport.objects.create(requested_by=personas["compliance"].user, format="csv")
    client = verified_client(personas["compliance"])
    response = client.get(reverse("reports:audit_export_download", kwargs={"pk": export.pk}))
    assert response.status_code == 409 and b"no archive to download" in response.content
    assert not AuditEvent.objects.filter(action="audit_export.downloaded").exists()
