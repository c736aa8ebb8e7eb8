"""Substring search through an index made for it, with the same results on PostgreSQL and SQLite.

A search term matches a row when it is a case-insensitive substring of one of the row's searchable columns
(what ``icontains`` means). The two databases answer that from different indexes:

- PostgreSQL: ``pg_trgm`` GIN indexes on ``UPPER(column::text)``, the very expression Django's ``icontains``
  compares, so the planner reads the index instead of scanning the table.
- SQLite: an FTS5 table with the ``trigram`` tokenizer (case-insensitive substring matching), one row per
  source row (``rowid`` = the source primary key), kept in sync by triggers on the source tables.

Both need at least three characters (a trigram); shorter terms are refused by the list filters
(:data:`MIN_SEARCH_LENGTH`). Django rebuilds a SQLite table to alter it, which drops its triggers, so
:func:`ensure_fts_indexes` runs after every ``migrate`` and recreates (and refills) what is missing.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connections, migrations
from django.db.models import Q
from django.db.models.expressions import RawSQL

MIN_SEARCH_LENGTH = 3


@dataclass(frozen=True)
class FtsIndex:
    """An FTS5 trigram table over ``source``: ``select`` yields ``(rowid, *columns)`` for every source row."""

    table: str
    columns: tuple[str, ...]
    select: str  # SELECT <rowid>, <columns...> FROM ... ; "{where}" is replaced by a row filter or "1=1"
    triggers: tuple[str, ...]  # bodies of CREATE TRIGGER IF NOT EXISTS statements

    def trigger_names(self) -> list[str]:
        return [body.split()[0] for body in self.triggers]

    def create_sql(self) -> list[str]:
        columns = ", ".join(self.columns)
        return [
            f"CREATE VIRTUAL TABLE IF NOT EXISTS {self.table} USING fts5({columns}, tokenize='trigram')",
            *[f"CREATE TRIGGER IF NOT EXISTS {body}" for body in self.triggers],
        ]

    def refill_sql(self) -> list[str]:
        columns = ", ".join(self.columns)
        return [
            f"DELETE FROM {self.table}",  # noqa: S608 (constant table names, no input)
            f"INSERT INTO {self.table}(rowid, {columns}) {self.select.format(where='1=1')}",
        ]

    def drop_sql(self) -> list[str]:
        return [
            *[f"DROP TRIGGER IF EXISTS {name}" for name in self.trigger_names()],
            f"DROP TABLE IF EXISTS {self.table}",
        ]


class VendorRunSQL(migrations.RunSQL):
    """RunSQL applied only on one database vendor (``"postgresql"`` or ``"sqlite"``); a no-op elsewhere."""

    def __init__(self, vendor: str, sql, reverse_sql=None, **kwargs):
        self.vendor = vendor
        super().__init__(sql, reverse_sql, **kwargs)

    def deconstruct(self):
        name, args, kwargs = super().deconstruct()
        return name, [self.vendor, *args], kwargs

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == self.vendor:
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == self.vendor:
            super().database_backwards(app_label, schema_editor, from_state, to_state)


def trigram_index_sql(name: str, table: str, column: str) -> str:
    """A pg_trgm GIN index on the expression Django's ``icontains`` compares on PostgreSQL."""
    return f'CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin ((UPPER("{column}"::text)) gin_trgm_ops)'


def fts_phrase(term: str) -> str:
    """An FTS5 query matching ``term`` as a literal substring (quotes doubled, nothing else special)."""
    return '"' + term.replace('"', '""') + '"'


def vendor(queryset) -> str:
    return connections[queryset.db].vendor


def trigram_contains(queryset, fields: list[str], term: str, via: str = "pk") -> Q:
    """PostgreSQL: rows whose ``via`` is the key of a ``queryset.model`` row with ``term`` in one of ``fields``.

    A subquery on one table, so the planner can combine that table's trigram indexes (BitmapOr)."""
    condition = Q()
    for name in fields:
        condition |= Q(**{f"{name}__icontains": term})
    return Q(**{f"{via}__in": queryset.model._base_manager.filter(condition).values("pk")})


def fts_contains(index: FtsIndex, term: str, columns: tuple[str, ...] = (), via: str = "pk") -> Q:
    """SQLite: rows whose ``via`` is the rowid of an ``index`` row with ``term`` in one of ``columns`` (all
    when empty)."""
    match = fts_phrase(term)
    if columns:
        match = "{" + " ".join(columns) + "} : " + match
    # The table name is a constant of the index definition, never user input; the term is a parameter.
    sql = f"SELECT rowid FROM {index.table} WHERE {index.table} MATCH %s"  # noqa: S608
    return Q(**{f"{via}__in": RawSQL(sql, [match])})  # noqa: S611


def ensure_fts_indexes(indexes: list[FtsIndex], using: str = "default") -> list[str]:
    """Recreate missing FTS tables or triggers on SQLite and refill those tables; returns what was repaired."""
    connection = connections[using]
    if connection.vendor != "sqlite":
        return []
    repaired = []
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger')")
        present = {row[0] for row in cursor.fetchall()}
        for index in indexes:
            sources = {index.select.split(" FROM ")[1].split()[0]}
            if not sources <= present:
                continue  # the source table is not migrated yet
            missing = [index.table, *index.trigger_names()]
            if all(name in present for name in missing):
                continue
            for statement in index.create_sql() + index.refill_sql():
                cursor.execute(statement)
            repaired.append(index.table)
    return repaired
