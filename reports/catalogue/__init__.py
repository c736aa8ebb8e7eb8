"""The compliance reports: each a pure read of the database for one period, the same for the page and exports.

A report is a :class:`Report`: its title, the controls it evidences, its period, a few summary figures,
charts (each drawn from a :class:`Chart`, always shown with its data as a table too) and tables. The page
renders it, and the exports write exactly the same tables (CSV, JSON Lines) or the whole of it (PDF), so what an
examiner receives is what the officer saw. docs/compliance.md lists the reports and the controls.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

NYDFS_500_6 = "NYDFS 23 NYCRR 500.6 (audit trail)"
NYDFS_500_7 = "NYDFS 23 NYCRR 500.7 (access privileges and management)"
NYDFS_500_12 = "NYDFS 23 NYCRR 500.12 (multi-factor authentication)"
REG_SCI = "SEC Regulation SCI (systems changes, systems integrity)"
DEFAULT_DAYS = 90


@dataclass(frozen=True)
class Period:
    """``since`` included, ``until`` excluded, both midnight UTC."""

    since: datetime
    until: datetime

    @classmethod
    def of_days(cls, first: date, last_excluded: date) -> Period:
        return cls(datetime.combine(first, time(), UTC), datetime.combine(last_excluded, time(), UTC))

    @classmethod
    def default(cls, today: date | None = None) -> Period:
        today = today or datetime.now(UTC).date()
        return cls.of_days(today - timedelta(days=DEFAULT_DAYS - 1), today + timedelta(days=1))

    def as_text(self) -> dict[str, str]:
        return {"since": self.since.date().isoformat(), "until": self.until.date().isoformat()}

    def as_text_inclusive(self) -> dict[str, str]:
        """The period as the officer types it: first and last day, both included."""
        return {"since": self.since.date().isoformat(), "until": (self.until - timedelta(days=1)).date().isoformat()}

    def label(self) -> str:
        last = (self.until - timedelta(days=1)).date().isoformat()
        return f"{self.since.date().isoformat()} to {last} (UTC, inclusive)"

    def weeks(self) -> list[tuple[datetime, datetime]]:
        """The period cut into weeks (the last one may be shorter), for trends."""
        edges, start = [], self.since
        while start < self.until:
            end = min(start + timedelta(days=7), self.until)
            edges.append((start, end))
            start = end
        return edges


@dataclass
class Series:
    name: str
    values: list[float]


@dataclass
class Chart:
    """A bar or line chart; the page draws it with Chart.js and also shows ``labels`` x ``series`` as a table."""

    id: str
    title: str
    kind: str  # "bar" or "line"
    labels: list[str]
    series: list[Series]
    x_title: str = ""
    y_title: str = ""
    stacked: bool = False
    percent: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "title": self.title,
            "labels": self.labels,
            "series": [{"name": s.name, "values": s.values} for s in self.series],
            "x_title": self.x_title,
            "y_title": self.y_title,
            "stacked": self.stacked,
            "percent": self.percent,
        }

    def table_rows(self) -> list[list[Any]]:
        return [[label, *(s.values[i] for s in self.series)] for i, label in enumerate(self.labels)]


@dataclass
class Table:
    """Rows of plain values (str, int, float, bool, None), the same in every export format."""

    id: str
    title: str
    columns: list[tuple[str, str]]  # (key, heading)
    rows: list[dict[str, Any]]
    empty: str = "Nothing in this period."

    def values(self, row: dict[str, Any]) -> list[Any]:
        return [row.get(key) for key, _ in self.columns]


@dataclass
class Report:
    slug: str
    title: str
    controls: list[str]
    period: Period
    description: str
    summary: list[tuple[str, Any]] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    generated_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def table(self, table_id: str) -> Table:
        return next(t for t in self.tables if t.id == table_id)


@dataclass(frozen=True)
class ReportKind:
    slug: str
    title: str
    controls: tuple[str, ...]
    summary: str
    build: Callable[[Period], Report]


def kinds() -> dict[str, ReportKind]:
    """Every report, in the order the index page lists them."""
    from reports.catalogue import access, certificates, decisions, mfa, policy

    return {kind.slug: kind for kind in (mfa.KIND, access.KIND, policy.KIND, certificates.KIND, decisions.KIND)}


def utc_text(value: datetime | None) -> str | None:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None
