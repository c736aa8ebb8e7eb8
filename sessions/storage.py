"""Ingestion's statements: inserts, upserts and the batch's reads, fast on PostgreSQL, plain ORM elsewhere.

On PostgreSQL each write is one statement, ``INSERT ... SELECT ... FROM unnest(%b, %b, ...)`` (``ON CONFLICT``
where a row may exist): the rows travel as one binary array per column, bound server-side, so a batch costs one
round trip per table, and the statement's text depends on the columns, never on the number of rows. That
replaced a ``COPY`` into a temporary staging table then an ``INSERT ... SELECT`` from it (three round trips, and
a Python call per row). Raw events whose (point, boot, seq) is not stored yet go in by a plain ``INSERT``
(``insert_new``). Statements are not prepared: Django turns psycopg's preparing off (for PgBouncer), and
preparing them measured no faster.

On SQLite each write is one multi-row ``INSERT ... VALUES (...), (...)`` per chunk of rows (SQLite binds at most
32,766 parameters), with the same ``ON CONFLICT`` clauses, each value prepared by its field only where the column
needs it (times, JSON). ``bulk_create`` did the same in SQL, but compiled it value by value through the ORM's
expressions: two thirds of an ingestion POST, and the SQLite live lag with it. The result is the same rows.
"""

from __future__ import annotations

import functools
import json
import time
from functools import cache
from typing import Any

import psycopg
from django.db import connection, models


def _columns(model: type[models.Model], names: list[str]) -> list[tuple[str, models.Field]]:
    fields = []
    for name in names:
        field = model._meta.get_field(name)
        fields.append((field.column, field))
    return fields


Row = list[Any] | tuple[Any, ...]


# Columns whose values SQLite's driver takes as the ORM would give them (validated events: str, int, bool, None);
# the others (times, JSON, decimals...) go through their field's ``get_db_prep_save``.
_AS_IS = frozenset(
    {
        "AutoField",
        "BigAutoField",
        "BigIntegerField",
        "BooleanField",
        "CharField",
        "FloatField",
        "ForeignKey",
        "IntegerField",
        "PositiveBigIntegerField",
        "PositiveIntegerField",
        "PositiveSmallIntegerField",
        "SlugField",
        "SmallIntegerField",
        "TextField",
    }
)
SQLITE_MAX_PARAMETERS = 32_766


@cache
def _preparers(model: type[models.Model], names: tuple[str, ...]) -> tuple[Any, ...]:
    """Per column of ``names``: None when its values go to SQLite as they are, else the field's preparation."""
    return tuple(
        None if field.get_internal_type() in _AS_IS else field.get_db_prep_save for _, field in _columns(model, names)
    )


def _sqlite_values(
    model: type[models.Model], names: list[str], rows: list[Row], fixed: tuple[Any, ...], head: str, tail: str
) -> list[tuple]:
    """``head VALUES (...), (...) tail`` over ``rows`` (each followed by ``fixed``), a statement per chunk that
    SQLite can bind; returns the rows a ``RETURNING`` tail gives."""
    preparers = _preparers(model, tuple(names))
    width = len(names) + len(fixed)
    group = "(" + ", ".join(["%s"] * width) + ")"
    per_statement = max(1, SQLITE_MAX_PARAMETERS // width)
    found: list[tuple] = []
    with connection.cursor() as cursor:
        for start in range(0, len(rows), per_statement):
            chunk = rows[start : start + per_statement]
            params: list[Any] = []
            for row in chunk:
                for prepare, value in zip(preparers, row, strict=True):
                    params.append(value if prepare is None else prepare(value, connection))
                params += fixed
            cursor.execute(f"{head} VALUES {', '.join([group] * len(chunk))}{tail}", params)
            if cursor.description:  # a RETURNING tail
                found += cursor.fetchall()
    return found


@cache
def _unnest(
    model: type[models.Model], names: tuple[str, ...], constants: tuple[str, ...] = ()
) -> tuple[str, str, tuple[int, ...]]:
    """(column list, ``SELECT`` of the rows, positions of JSON columns among ``names``).

    The rows come from one plain parameter per column of ``constants`` (a value the same in every row, bound once:
    the point, the time received), then one array parameter per column of ``names``, in that order. Each array is
    cast to its column's type (``bigint[]``, ``timestamp with time zone[]``...): psycopg picks an array's type
    from its values (a list of ``None`` is text), the cast makes it the column's. JSON values travel as text and
    are cast to ``jsonb`` per element."""
    quote = connection.ops.quote_name
    columns = _columns(model, list(names))
    arrays, selected, json_at = [], [], []
    for i, (_, field) in enumerate(columns):
        if isinstance(field, models.JSONField):
            json_at.append(i)
            arrays.append("%b::text[]")
            selected.append(f"c{i}::jsonb")
        else:
            arrays.append(f"%b::{_db_type(field)}[]")
            selected.append(f"c{i}")
    fixed = _columns(model, list(constants))
    selected += [f"%b::{_db_type(field)}" for _, field in fixed]
    column_list = ", ".join(quote(column) for column, _ in columns + fixed)
    aliases = ", ".join(f"c{i}" for i in range(len(columns)))
    select = f"SELECT {', '.join(selected)} FROM unnest({', '.join(arrays)}) AS rows ({aliases})"  # noqa: S608
    return column_list, select, tuple(json_at)


def _db_type(field: models.Field) -> str:
    db_type = field.rel_db_type(connection) if field.is_relation else field.db_type(connection)
    return db_type.split("(")[0].split(" CHECK")[0]  # varchar(64) -> varchar: the column checks the length


def _arrays(rows: list[Row], width: int, json_at: tuple[int, ...]) -> list[list[Any]]:
    arrays = [list(column) for column in zip(*rows, strict=True)] if rows else [[] for _ in range(width)]
    for i in json_at:
        arrays[i] = [None if v is None else json.dumps(v, separators=(",", ":")) for v in arrays[i]]
    return arrays


def _execute(sql: str, params: list[Any]) -> list[tuple]:
    """Run ``sql`` on Django's connection (inside its transaction) with server-side binding, which the binary
    arrays need (Django's own cursors bind on the client, quoting every value into the statement's text).

    Like Django's cursors, it goes through the connection's ``execute_wrappers`` and, while queries are logged
    (``CaptureQueriesContext``, DEBUG), records the statement in ``connection.queries``."""
    connection.ensure_connection()

    def run(sql: str, params: Any, many: bool, context: dict[str, Any]) -> list[tuple]:
        with psycopg.Cursor(connection.connection) as cursor:
            cursor.execute(sql, params)  # built from quoted identifiers only; the values are parameters
            return cursor.fetchall() if cursor.description else []

    executor = run
    for wrapper in reversed(connection.execute_wrappers):
        executor = functools.partial(wrapper, executor)
    started = time.monotonic()
    try:
        return executor(sql, params, False, {"connection": connection, "cursor": None})
    finally:
        if connection.queries_logged:
            connection.queries_log.append({"sql": sql, "time": f"{time.monotonic() - started:.3f}"})


def insert_ignoring_conflicts(
    model: type[models.Model],
    names: list[str],
    rows: list[Row],
    conflict: list[str],
    constants: dict[str, Any] | None = None,
) -> None:
    """Insert ``rows`` (values in ``names`` order, plus the ``constants`` columns, the same in every row); rows
    that would break the unique ``conflict`` columns are skipped."""
    target = ", ".join(connection.ops.quote_name(c) for c, _ in _columns(model, conflict))
    _insert(model, names, rows, constants, f" ON CONFLICT ({target}) DO NOTHING")


def insert_new(
    model: type[models.Model], names: list[str], rows: list[Row], constants: dict[str, Any] | None = None
) -> None:
    """Insert ``rows`` that the caller knows are not stored yet: on PostgreSQL a plain ``INSERT`` (``ON CONFLICT``
    costs a third again per row: PostgreSQL first probes the unique index, then inserts speculatively); a row that
    is stored after all fails the statement on its unique constraint, and the transaction with it. On SQLite,
    which does not ask ``stored_events``, stored rows are skipped."""
    _insert(model, names, rows, constants, "")


def _insert(
    model: type[models.Model], names: list[str], rows: list[Row], constants: dict[str, Any] | None, on_conflict: str
) -> None:
    if not rows:
        return
    constants = constants or {}
    table = connection.ops.quote_name(model._meta.db_table)
    if connection.vendor != "postgresql":
        fixed_columns = _columns(model, list(constants))
        fixed = tuple(
            field.get_db_prep_save(value, connection)
            for (_, field), value in zip(fixed_columns, constants.values(), strict=True)
        )
        column_list = ", ".join(connection.ops.quote_name(c) for c, _ in _columns(model, names) + fixed_columns)
        # Without stored_events there, a plain insert skips stored rows too (the point's lock is SQLite's one writer)
        head = f"INSERT INTO {table} ({column_list})"
        _sqlite_values(model, names, rows, fixed, head, on_conflict or " ON CONFLICT DO NOTHING")
        return
    column_list, select, json_at = _unnest(model, tuple(names), tuple(constants))
    _execute(
        f"INSERT INTO {table} ({column_list}) {select}{on_conflict}",
        [*constants.values(), *_arrays(rows, len(names), json_at)],  # the SELECT list's, then unnest's
    )


def upsert(
    model: type[models.Model], names: list[str], objs: list[Any], conflict: list[str], update: list[str]
) -> dict[tuple, int]:
    """Insert or update ``objs`` (model instances, or any objects with the fields' attnames as attributes) by the
    unique ``conflict`` columns; returns {conflict values: primary key}."""
    if not objs:
        return {}
    conflict_columns = _columns(model, conflict)
    attnames = [field.attname for _, field in _columns(model, names)]
    rows = [[getattr(obj, a) for a in attnames] for obj in objs]
    quote = connection.ops.quote_name
    target = ", ".join(quote(c) for c, _ in conflict_columns)
    assignments = ", ".join(f"{quote(c)} = EXCLUDED.{quote(c)}" for c, _ in _columns(model, update))
    table = quote(model._meta.db_table)
    on_conflict = (
        f" ON CONFLICT ({target}) DO UPDATE SET {assignments} RETURNING {target}, {quote(model._meta.pk.column)}"
    )
    if connection.vendor != "postgresql":
        column_list = ", ".join(quote(c) for c, _ in _columns(model, names))
        found = _sqlite_values(model, names, rows, (), f"INSERT INTO {table} ({column_list})", on_conflict)
    else:
        column_list, select, json_at = _unnest(model, tuple(names))
        found = _execute(
            f"INSERT INTO {table} ({column_list}) {select}{on_conflict}", _arrays(rows, len(names), json_at)
        )
    return {tuple(row[:-1]): row[-1] for row in found}


# --- the batch's reads and small writes -------------------------------------------------------------------------
# On PostgreSQL each is one statement of fixed text through ``_execute``: building and compiling the same query
# through the ORM cost more Python time than PostgreSQL took to answer it.


def lock_point(point_id: int) -> None:
    """Lock the point's row (FOR NO KEY UPDATE) until the transaction ends: its batches apply one at a time."""
    from policies.distribution.models import EnforcementPoint

    if connection.vendor != "postgresql":
        EnforcementPoint.objects.select_for_update(no_key=True).filter(pk=point_id).values_list("pk").get()
        return
    table = connection.ops.quote_name(EnforcementPoint._meta.db_table)
    if not _execute(f"SELECT 1 FROM {table} WHERE id = %b FOR NO KEY UPDATE", [point_id]):  # noqa: S608
        raise EnforcementPoint.DoesNotExist(point_id)


def identity_ids(names: set[str]) -> dict[str, int]:
    """{username: Identity pk} of those of ``names`` that are identities the console knows."""
    from accounts.models import Identity

    if not names:
        return {}
    if connection.vendor != "postgresql":
        return dict(Identity.objects.filter(user__username__in=names).values_list("user__username", "pk"))
    quote = connection.ops.quote_name
    user = Identity._meta.get_field("user")
    users = quote(user.related_model._meta.db_table)
    sql = (
        f"SELECT u.username, i.id FROM {quote(Identity._meta.db_table)} i "  # noqa: S608 - identifiers only
        f"JOIN {users} u ON u.id = i.{quote(user.column)} WHERE u.username = ANY(%b::varchar[])"
    )
    return dict(_execute(sql, [list(names)]))


def certificate_ids(fingerprints: set[str]) -> dict[str, int]:
    """{SHA-256: Certificate pk} of the certificates the console issued among ``fingerprints``."""
    from certificates.models import Certificate

    if not fingerprints:
        return {}
    if connection.vendor != "postgresql":
        return dict(Certificate.objects.filter(sha256__in=fingerprints).values_list("sha256", "pk"))
    table = connection.ops.quote_name(Certificate._meta.db_table)
    return dict(_execute(f"SELECT sha256, id FROM {table} WHERE sha256 = ANY(%b::varchar[])", [list(fingerprints)]))  # noqa: S608


def rows_of(model: type[models.Model], attnames: tuple[str, ...], where: dict[str, Any], within: tuple[str, list]):
    """The ``attnames`` values of ``model``'s rows whose columns equal ``where`` and whose ``within[0]`` is one of
    ``within[1]``, as tuples (JSON columns decoded, as the ORM gives them)."""
    field_of = {f.attname: f for f in model._meta.concrete_fields}
    field_of["pk"] = model._meta.pk
    if connection.vendor != "postgresql":
        lookup = {**where, f"{within[0]}__in": within[1]}
        return list(model.objects.filter(**lookup).order_by().values_list(*attnames))
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field_of[a].column) for a in attnames)
    conditions = [f"{quote(field_of[a].column)} = %b" for a in where]
    conditions.append(f"{quote(field_of[within[0]].column)} = ANY(%b::{_db_type(field_of[within[0]])}[])")
    sql = f"SELECT {columns} FROM {quote(model._meta.db_table)} WHERE {' AND '.join(conditions)}"  # noqa: S608
    found = _execute(sql, [*where.values(), list(within[1])])
    json_at = [i for i, a in enumerate(attnames) if isinstance(field_of[a], models.JSONField)]
    if not json_at:
        return found
    out = []
    for row in found:
        row = list(row)
        for i in json_at:
            if isinstance(row[i], str):  # Django has psycopg hand jsonb over as text
                row[i] = json.loads(row[i])
        out.append(tuple(row))
    return out


def expire_pending_step_ups(point_id: int, session_ids: list[str], now, note: str) -> None:
    """The pending step-up requests of these sessions of the point become expired (their Logon was decided)."""
    from sessions.models import StepUpRequest, StepUpState

    if connection.vendor != "postgresql":
        StepUpRequest.objects.filter(point_id=point_id, session_id__in=session_ids, state=StepUpState.PENDING).update(
            state=StepUpState.EXPIRED, decided_at=now, decision_note=note
        )
        return
    table = connection.ops.quote_name(StepUpRequest._meta.db_table)
    _execute(
        f"UPDATE {table} SET state = %b, decided_at = %b, decision_note = %b "  # noqa: S608 - identifiers only
        "WHERE point_id = %b AND session_id = ANY(%b::varchar[]) AND state = %b",
        [str(StepUpState.EXPIRED), now, note, point_id, session_ids, str(StepUpState.PENDING)],
    )


def stored_events(point_id: int, boots: list[str], low: int, high: int) -> set[tuple[str, int]]:
    """(boot, seq) of the point's stored raw events of these boots with ``low`` <= seq <= ``high`` (a range scan
    of the unique (point, boot, seq) index: none at all for a batch the console has not seen). PostgreSQL only;
    elsewhere an empty set."""
    from sessions.models import PepEvent

    if connection.vendor != "postgresql":
        return set()  # no need to ask: insert_new ignores conflicts there
    table = connection.ops.quote_name(PepEvent._meta.db_table)
    sql = (
        f"SELECT boot, seq FROM {table} WHERE point_id = %b AND boot = ANY(%b::varchar[]) "  # noqa: S608
        "AND seq BETWEEN %b AND %b"
    )
    return set(_execute(sql, [point_id, boots, low, high]))
