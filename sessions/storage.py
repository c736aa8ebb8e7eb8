"""Multi-row writes of ingestion: ON CONFLICT inserts and upserts, fast on PostgreSQL, plain ORM elsewhere.

On PostgreSQL each write is ``COPY`` into a temporary staging table, then one ``INSERT ... SELECT ... ON
CONFLICT`` into the real table: COPY streams the rows without building or quoting a statement of thousands
of parameters, which is most of the cost of a 500-row ``bulk_create``. Other databases use ``bulk_create``
with ``ignore_conflicts`` / ``update_conflicts``; the result is the same rows either way.
"""

from __future__ import annotations

import json
from typing import Any

from django.db import connection, models


def _columns(model: type[models.Model], names: list[str]) -> list[tuple[str, models.Field]]:
    fields = []
    for name in names:
        field = model._meta.get_field(name)
        fields.append((field.column, field))
    return fields


Row = list[Any] | tuple[Any, ...]


def _objects(model: type[models.Model], names: list[str], rows: list[Row]) -> list[models.Model]:
    attnames = [field.attname for _, field in _columns(model, names)]
    return [model(**dict(zip(attnames, row, strict=True))) for row in rows]


def _copy(model: type[models.Model], names: list[str], rows: list[Row]) -> tuple[str, str]:
    """COPY ``rows`` (values in ``names`` order) into this connection's staging table for ``model``; returns
    (staging table, column list).

    The staging table is a temporary table created once per database connection (``ON COMMIT DELETE ROWS``:
    emptied at each commit, which PostgreSQL skips for a transaction that did not touch it) and emptied before
    each use, so a batch costs no catalog writes."""
    table = connection.ops.quote_name(model._meta.db_table)
    columns = _columns(model, names)
    column_list = ", ".join(connection.ops.quote_name(column) for column, _ in columns)
    temp = f"zt_in_{model._meta.db_table}_{len(columns)}"
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {temp} ON COMMIT DELETE ROWS "  # noqa: S608 - identifiers only
            f"AS SELECT {column_list} FROM {table} WITH NO DATA; DELETE FROM {temp}"
        )
        raw = cursor.cursor
        json_at = [i for i, (_, field) in enumerate(columns) if isinstance(field, models.JSONField)]
        with raw.copy(f"COPY {temp} ({column_list}) FROM STDIN") as copy:
            for row in rows:
                if json_at:
                    row = list(row)
                    for i in json_at:
                        row[i] = json.dumps(row[i], separators=(",", ":"))
                copy.write_row(row)
    return temp, column_list


def insert_ignoring_conflicts(
    model: type[models.Model], names: list[str], rows: list[Row], conflict: list[str]
) -> None:
    """Insert ``rows`` (values in ``names`` order); rows that would break the unique ``conflict`` columns are
    skipped."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_create(_objects(model, names, rows), ignore_conflicts=True, batch_size=1000)
        return
    temp, column_list = _copy(model, names, rows)
    target = ", ".join(connection.ops.quote_name(c) for c, _ in _columns(model, conflict))
    with connection.cursor() as cursor:
        # Identifiers only, from the model's metadata and quoted; the values travelled by COPY.
        table = connection.ops.quote_name(model._meta.db_table)
        insert = f"INSERT INTO {table} ({column_list}) SELECT {column_list} FROM {temp}"  # noqa: S608
        cursor.execute(f"{insert} ON CONFLICT ({target}) DO NOTHING")


def upsert(
    model: type[models.Model], names: list[str], objs: list[Any], conflict: list[str], update: list[str]
) -> dict[tuple, int]:
    """Insert or update ``objs`` (model instances, or any objects with the fields' attnames as attributes) by the
    unique ``conflict`` columns; returns {conflict values: primary key}."""
    if not objs:
        return {}
    conflict_columns = _columns(model, conflict)
    if connection.vendor != "postgresql":
        if not isinstance(objs[0], model):  # plain rows (sessions.ingest.SessionRow): the ORM wants instances
            attnames = [field.attname for _, field in _columns(model, names)]
            objs = [model(**{a: getattr(o, a) for a in attnames}) for o in objs]
        saved = model.objects.bulk_create(
            objs, update_conflicts=True, unique_fields=conflict, update_fields=update, batch_size=500
        )
        if all(obj.pk is not None for obj in saved):
            return {tuple(getattr(o, f.attname) for _, f in conflict_columns): o.pk for o in saved}
        keys = {tuple(getattr(o, f.attname) for _, f in conflict_columns) for o in objs}
        lookup = {f"{conflict_columns[0][1].attname}__in": {k[0] for k in keys}}
        rows = model.objects.filter(**lookup).values_list(*(f.attname for _, f in conflict_columns), "pk")
        return {tuple(row[:-1]): row[-1] for row in rows if tuple(row[:-1]) in keys}
    attnames = [field.attname for _, field in _columns(model, names)]
    temp, column_list = _copy(model, names, [[getattr(obj, a) for a in attnames] for obj in objs])
    quote = connection.ops.quote_name
    target = ", ".join(quote(c) for c, _ in conflict_columns)
    assignments = ", ".join(f"{quote(c)} = EXCLUDED.{quote(c)}" for c, _ in _columns(model, update))
    with connection.cursor() as cursor:
        insert = f"INSERT INTO {quote(model._meta.db_table)} ({column_list}) SELECT {column_list} FROM {temp}"  # noqa: S608
        returning = f"RETURNING {target}, {quote(model._meta.pk.column)}"
        cursor.execute(f"{insert} ON CONFLICT ({target}) DO UPDATE SET {assignments} {returning}")
        return {tuple(row[:-1]): row[-1] for row in cursor.fetchall()}
