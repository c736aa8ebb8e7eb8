"""A report as a PDF (reportlab): header, controls, period, charts with their values and data, every table.

Charts are readable without colour: series differ in shade and outline dash (bars) or marker shape (lines),
every bar and point carries its value, a legend names the series, and the chart's data follows as a table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reportlab.graphics.charts.barcharts import VerticalBarChart
from reportlab.graphics.charts.legends import Legend
from reportlab.graphics.charts.linecharts import HorizontalLineChart
from reportlab.graphics.shapes import Drawing
from reportlab.graphics.widgets.markers import makeMarker
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from reportlab.platypus.flowables import Flowable

from reports.catalogue import Chart, Report, utc_text
from reports.report_export import _chart_table

SHADES = [
    colors.HexColor("#1f3b73"),
    colors.HexColor("#8fa8d8"),
    colors.HexColor("#d9d9d9"),
    colors.HexColor("#5a5a5a"),
]
DASHES = [None, (2, 1), (1, 1), (4, 2)]
MARKERS = ["FilledCircle", "FilledSquare", "FilledTriangle", "FilledDiamond"]
PAGE = landscape(A4)
MARGIN = 12 * mm
MAX_ROWS = 5000  # per table; an examiner needing more takes the CSV or JSON Lines export of the same report


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "" if value is None else str(value)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _drawing(chart: Chart, width: float) -> Drawing:
    height = 190
    drawing = Drawing(width, height)
    plot_width = width - 190
    values = [v for s in chart.series for v in s.values] or [0]
    top = (
        max(values)
        if not chart.stacked
        else max((sum(s.values[i] for s in chart.series) for i in range(len(chart.labels))), default=0)
    )
    top = max(1, top) * 1.2
    if chart.kind == "line":
        plot = HorizontalLineChart()
        plot.joinedLines = 1
        for i in range(len(chart.series)):
            plot.lines[i].strokeColor = SHADES[i % len(SHADES)]
            plot.lines[i].symbol = makeMarker(MARKERS[i % len(MARKERS)])
            plot.lines[i].strokeDashArray = DASHES[i % len(DASHES)]
        plot.lineLabelFormat = "%s"
        plot.lineLabels.fontSize = 5
    else:
        plot = VerticalBarChart()
        for i in range(len(chart.series)):
            plot.bars[i].fillColor = SHADES[i % len(SHADES)]
            plot.bars[i].strokeColor = colors.black
            plot.bars[i].strokeDashArray = DASHES[i % len(DASHES)]
        plot.barLabelFormat = lambda v: "" if not v else f"{v:g}"
        plot.barLabels.fontSize = 6
        plot.barLabels.nudge = 6
        if chart.stacked:
            plot.categoryAxis.style = "stacked"
    plot.x, plot.y, plot.width, plot.height = 40, 45, plot_width, height - 70
    plot.data = [tuple(s.values) or (0,) for s in chart.series] or [(0,)]
    plot.categoryAxis.categoryNames = chart.labels or [""]
    plot.categoryAxis.labels.fontSize = 6
    plot.categoryAxis.labels.angle = 30 if len(chart.labels) > 6 else 0
    plot.categoryAxis.labels.boxAnchor = "ne" if len(chart.labels) > 6 else "n"
    plot.valueAxis.valueMin = 0
    plot.valueAxis.valueMax = top
    plot.valueAxis.labels.fontSize = 6
    drawing.add(plot)
    legend = Legend()
    legend.x, legend.y = plot_width + 60, height - 30
    legend.fontSize = 7
    legend.alignment = "right"
    legend.colorNamePairs = [(SHADES[i % len(SHADES)], s.name) for i, s in enumerate(chart.series)]
    drawing.add(legend)
    return drawing


def _table(columns: list[str], rows: list[list[Any]], width: float, styles) -> Table:
    cell = styles["BodyText"].clone("cell", fontSize=6.5, leading=8)
    head = styles["BodyText"].clone("head", fontSize=6.5, leading=8, fontName="Helvetica-Bold")
    data = [[Paragraph(_escape(c), head) for c in columns]]
    data += [[Paragraph(_escape(_text(v)), cell) for v in row] for row in rows]
    table = Table(data, colWidths=[width / max(1, len(columns))] * len(columns), repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.3, colors.grey),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8e8e8")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    return table


def write_pdf(path: Path, report: Report) -> int:
    """Write the report to ``path``; returns the number of table rows written."""
    styles = getSampleStyleSheet()
    width = PAGE[0] - 2 * MARGIN
    story: list[Flowable] = [
        Paragraph(_escape(f"ZT Console: {report.title}"), styles["Title"]),
        Paragraph(
            _escape(f"Period: {report.period.label()}. Generated {utc_text(report.generated_at)}."), styles["Normal"]
        ),
        Paragraph(_escape("Evidences: " + "; ".join(report.controls)), styles["Normal"]),
        Spacer(1, 4),
        Paragraph(_escape(report.description), styles["BodyText"]),
        Spacer(1, 4),
        _table(["Figure", "Value"], [[k, v] for k, v in report.summary], width / 2, styles),
    ]
    for note in report.notes:
        story.append(Paragraph(_escape("Note: " + note), styles["Italic"]))
    rows = 0
    for chart in report.charts:
        data = _chart_table(chart)
        story += [
            Spacer(1, 8),
            KeepTogether(
                [
                    Paragraph(_escape(chart.title), styles["Heading3"]),
                    _drawing(chart, width),
                    _table([h for _, h in data.columns], [data.values(r) for r in data.rows], width, styles),
                ]
            ),
        ]
    for table in report.tables:
        shown = table.rows[:MAX_ROWS]
        story += [Spacer(1, 8), Paragraph(_escape(f"{table.title} ({len(table.rows)} rows)"), styles["Heading3"])]
        if shown:
            story.append(_table([h for _, h in table.columns], [table.values(r) for r in shown], width, styles))
        else:
            story.append(Paragraph(_escape(table.empty), styles["BodyText"]))
        if len(table.rows) > MAX_ROWS:
            story.append(
                Paragraph(f"First {MAX_ROWS} rows; the CSV and JSON Lines exports hold all.", styles["Italic"])
            )
        rows += len(shown)

    def footer(canvas, document) -> None:
        canvas.setFont("Helvetica", 7)
        canvas.drawString(MARGIN, 6 * mm, f"{report.title} · {report.period.label()} · page {document.page}")

    document = SimpleDocTemplate(
        str(path),
        pagesize=PAGE,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=MARGIN,
        title=f"ZT Console: {report.title}",
        author="ZT Console",
        invariant=1,
    )
    document.build(story, onFirstPage=footer, onLaterPages=footer)
    return rows
