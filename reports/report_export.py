"""Writing a report as a signed export: the same folder, manifest and Ed25519 signature as an audit export.

CSV and JSON Lines: one file per table of the report and one per chart (its data). PDF: one document with the
report's header, the controls it evidences, its period, each chart drawn with its values and its data table, and
every table. ``python -m ztconsole.verify_export`` checks the signature and every file's SHA-256 (a report has no
audit chain to walk). docs/compliance.md describes the format.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reports import audit_export
from reports.catalogue import Chart, Report, Table, utc_text
from ztconsole import verify_export

REPORT_KIND = "report"


def _plain(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else value


# A spreadsheet runs a cell that starts with one of these as a formula. Report cells carry free text that people
# wrote (rule names, comments, reasons), and examiners open these files in spreadsheets: such a text cell is
# written with a leading apostrophe, which spreadsheets show as text. The audit export's events.csv is not touched:
# its cells must re-hash exactly.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value: Any) -> Any:
    value = _plain(value)
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _chart_table(chart: Chart) -> Table:
    columns = [("label", chart.x_title or "label")] + [(f"s{i}", s.name) for i, s in enumerate(chart.series)]
    rows = [
        {"label": label, **{f"s{i}": s.values[n] for i, s in enumerate(chart.series)}}
        for n, label in enumerate(chart.labels)
    ]
    return Table(id=f"chart-{chart.id}", title=chart.title, columns=columns, rows=rows)


def data_tables(report: Report) -> list[Table]:
    return [*report.tables, *(_chart_table(chart) for chart in report.charts)]


def _write_csv(path: Path, table: Table) -> int:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(
            [heading for _, heading in table.columns]
            if table.id.startswith("chart-")
            else [k for k, _ in table.columns]
        )
        for row in table.rows:
            writer.writerow([_csv_cell(v) for v in table.values(row)])
    return len(table.rows)


def _write_jsonl(path: Path, table: Table) -> int:
    keys = [key for key, _ in table.columns]
    names = [heading for _, heading in table.columns] if table.id.startswith("chart-") else keys
    with path.open("w", encoding="utf-8") as handle:
        for row in table.rows:
            document = {name: row.get(key) for name, key in zip(names, keys, strict=True)}
            handle.write(json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n")
    return len(table.rows)


def header(report: Report) -> dict[str, Any]:
    return {
        "name": report.slug,
        "title": report.title,
        "controls": report.controls,
        "period": report.period.as_text(),
        "generated_at": utc_text(report.generated_at),
    }


def write_report_export(
    folder: Path,
    *,
    report: Report,
    fmt: str,
    requested: dict[str, Any],
    progress: Callable[[int], None],
) -> dict[str, Any]:
    """Write the report's files and the signed manifest.json into ``folder``; returns the signed manifest."""
    folder.mkdir(parents=True)
    files, written = [], 0
    if fmt == "pdf":
        from reports.pdf import write_pdf

        path = folder / "report.pdf"
        rows = write_pdf(path, report)
        files.append(audit_export.file_entry(path, rows))
        written = rows
    else:
        writer = _write_csv if fmt == "csv" else _write_jsonl
        for table in data_tables(report):
            path = folder / f"{table.id}.{fmt}"
            rows = writer(path, table)
            files.append(audit_export.file_entry(path, rows))
            written += rows
            progress(written)
    progress(written)
    manifest = {
        "format": verify_export.EXPORT_FORMAT,
        "kind": REPORT_KIND,
        "report": header(report),
        "requested": requested,
        "files": files,
    }
    signed = verify_export.sign_manifest(audit_export.signing_key(), manifest)
    (folder / verify_export.MANIFEST).write_text(
        json.dumps(signed, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return signed
