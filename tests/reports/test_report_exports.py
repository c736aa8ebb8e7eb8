"""Report exports: CSV, JSON Lines and PDF in a signed archive that the offline verifier checks; audited."""

from __future__ import annotations

import csv
import io
import json
import zipfile

import pytest
from django.utils import timezone

from reports import actions
from reports.catalogue import Period
from tests.reports.helpers import archive_of, offline_verify, public_key_file
from ztconsole.core.errors import ActionError
from ztconsole.core.models import AuditEvent

pytestmark = pytest.mark.django_db


def _export(requester, report: str, fmt: str):
    today = timezone.now().date()
    period = Period.of_days(today.replace(day=1), today + timezone.timedelta(days=1))
    export = actions.request_report_export(requester, report=report, fmt=fmt, period=period)
    built = actions.build_audit_export(str(export.pk))
    assert built is not None and built.status == "done", built and built.error
    return built


def _members(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as bundle:
        return {name.rsplit("/", 1)[-1]: bundle.read(name) for name in bundle.namelist()}


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "pdf"])
def test_report_export_verifies_offline_in_each_format(fmt, personas, tmp_path):
    export = _export(personas["compliance"].user, "mfa-coverage", fmt)
    archive = archive_of(export)
    assert archive.name == f"report-mfa-coverage-{export.pk}.zip"
    members = _members(archive)
    manifest = json.loads(members["manifest.json"])
    assert manifest["kind"] == "report" and manifest["report"]["name"] == "mfa-coverage"
    assert manifest["report"]["controls"] == ["NYDFS 23 NYCRR 500.12 (multi-factor authentication)"]
    assert manifest["report"]["period"]["since"] == timezone.now().date().replace(day=1).isoformat()
    if fmt == "pdf":
        assert set(members) == {"manifest.json", "report.pdf"}
        assert members["report.pdf"].startswith(b"%PDF") and b"ZT Console: MFA coverage" in members["report.pdf"]
    elif fmt == "csv":
        assert set(members) == {"manifest.json", "people.csv", "chart-mfa-by-assurance.csv", "chart-mfa-trend.csv"}
        rows = list(csv.DictReader(io.StringIO(members["people.csv"].decode())))
        assert [r["username"] for r in rows] == ["alice", "sam", "tina", "carla", "oscar"]
        assert rows[0]["priority"] == "hardware missing" and rows[0]["privileged"] == "true"
    else:
        people = [json.loads(line) for line in members["people.jsonl"].decode().splitlines()]
        assert people[0]["username"] == "alice" and people[0]["privileged"] is True
    result = offline_verify(archive, "--public-key", public_key_file(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "files match the signed manifest" in result.stdout and f"{archive}: OK" in result.stdout
    completed = AuditEvent.objects.get(action="report_export.completed")
    assert (
        completed.details["report"] == "mfa-coverage" and completed.details["archive_sha256"] == export.archive_sha256
    )
    requested = AuditEvent.objects.get(action="report_export.requested")
    assert requested.actor_label == "carla" and requested.details["format"] == fmt


def test_a_changed_report_file_or_manifest_is_caught(personas, tmp_path):
    export = _export(personas["compliance"].user, "mfa-coverage", "csv")
    members = _members(archive_of(export))
    key = public_key_file(tmp_path)
    folder = tmp_path / "unpacked"
    folder.mkdir()
    for name, content in members.items():
        (folder / name).write_bytes(content)
    (folder / "people.csv").write_bytes(members["people.csv"].replace(b"hardware missing", b"", 1))
    result = offline_verify(folder, "--public-key", key)
    assert result.returncode == 1 and "people.csv: SHA-256" in result.stderr
    (folder / "people.csv").write_bytes(members["people.csv"])
    manifest = json.loads(members["manifest.json"])
    manifest["report"]["period"]["since"] = "2000-01-01"
    (folder / "manifest.json").write_text(json.dumps(manifest))
    result = offline_verify(folder, "--public-key", key)
    assert result.returncode == 1 and "signature does not verify" in result.stderr


def test_download_is_audited_and_bad_requests_are_refused(personas, verified_client):
    export = _export(personas["compliance"].user, "certificates", "pdf")
    client = verified_client(personas["security"])
    response = client.get(f"/reports/audit-exports/{export.pk}/download/")
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    downloaded = AuditEvent.objects.get(action="report_export.downloaded")
    assert downloaded.actor_label == "sam" and downloaded.details["archive_sha256"] == export.archive_sha256
    for report, fmt, field in (("no-such", "csv", "report"), ("certificates", "xml", "format")):
        with pytest.raises(ActionError) as refused:
            actions.request_report_export(personas["compliance"].user, report=report, fmt=fmt, period=Period.default())
        assert refused.value.field == field
    with pytest.raises(ActionError) as refused:
        actions.request_audit_export(personas["compliance"].user, fmt="pdf", filters={})
    assert refused.value.field == "format"


def test_export_page_post_queues_with_the_period_and_refuses_bad_input(personas, verified_client):
    client = verified_client(personas["compliance"])
    response = client.post(
        "/reports/access-review/export/", {"format": "csv", "since": "2026-01-01", "until": "2026-01-31"}
    )
    assert response.status_code == 302 and "/reports/audit-exports/" in response["Location"]
    requested = AuditEvent.objects.get(action="report_export.requested")
    assert requested.details == {
        "report": "access-review",
        "format": "csv",
        "period": {"since": "2026-01-01", "until": "2026-02-01"},
    }
    before = AuditEvent.objects.count()
    bad = client.post("/reports/access-review/export/", {"format": "csv", "since": "2026-02-01", "until": "2026-01-01"})
    assert bad.status_code == 302 and bad["Location"] == "/reports/access-review/"
    assert AuditEvent.objects.count() == before


def test_two_report_exports_verify_together_without_a_chain_to_compare(personas, tmp_path):
    first = archive_of(_export(personas["compliance"].user, "mfa-coverage", "jsonl"))
    second = archive_of(_export(personas["compliance"].user, "certificates", "csv"))
    result = offline_verify(first, second, "--public-key", public_key_file(tmp_path))
    assert result.returncode == 0, result.stderr
    assert f"{first}: OK" in result.stdout and f"{second}: OK" in result.stdout and " vs " not in result.stdout
