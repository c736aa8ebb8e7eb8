"""Dates far outside any record (year 1 or 9999) are refused naming the field, never a 500 (date arithmetic
past Python's range raised OverflowError in the explorer, the audit API and the reports)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db

CASES = [
    ("/audit/", {"since": "0001-01-01T00:00"}, "since"),
    ("/audit/", {"until": "9999-12-31T23:59"}, "until"),
    ("/reports/certificates/", {"since": "9999-12-30", "until": "9999-12-31"}, "since"),
]


@pytest.mark.parametrize(("path", "query", "field"), CASES)
def test_pages_refuse_a_date_out_of_range(path, query, field, personas, verified_client):
    response = verified_client(personas["compliance"]).get(path, query)
    assert response.status_code in (200, 400), response.status_code
    assert b"between 2000-01-01 and 2100-12-31" in response.content


@pytest.mark.parametrize("query", [{"since": "0001-01-01T00:00:00Z"}, {"until": "9999-12-31T23:59:00Z"}])
def test_the_audit_api_refuses_a_date_out_of_range_naming_it(query, personas, verified_client):
    response = verified_client(personas["compliance"]).get("/api/v1/audit/events/", query)
    assert response.status_code == 400
    assert next(iter(query)) in response.json()


def test_a_report_export_out_of_range_is_refused_not_a_crash(personas, verified_client):
    from reports import actions
    from ztconsole.core.errors import ActionError

    with pytest.raises(ActionError) as info:
        actions.parse_period("9999-12-30", "9999-12-31")
    assert info.value.field == "since"


def test_a_page_size_in_non_ascii_digits_is_the_default_not_a_crash(personas, verified_client):
    response = verified_client(personas["compliance"]).get("/audit/", {"page_size": "²"})
    assert response.status_code == 200


def test_report_csv_cells_that_a_spreadsheet_would_run_are_written_as_text(tmp_path):
    from reports.catalogue import Table
    from reports.report_export import _write_csv

    table = Table(
        id="lines",
        title="Lines",
        columns=[("rule", "Rule"), ("count", "Count")],
        rows=[{"rule": '=HYPERLINK("http://x")', "count": -3}, {"rule": "plain", "count": 1}],
    )
    _write_csv(tmp_path / "t.csv", table)
    lines = (tmp_path / "t.csv").read_text().splitlines()
    assert lines[1].startswith("\"'=HYPERLINK") and lines[1].endswith(",-3")
    assert lines[2] == "plain,1"
