"""Keyset (cursor) pagination for every list, HTML and API: the one place that writes and reads cursors.

A page is "the next N rows after this key" in a fixed total ordering (the last field is always the primary
key, so the ordering is total). The database walks an index from the key, so page 1 and page 10,000 cost
the same, and the page holds no COUNT(*). A cursor is an opaque token: base64url of a small JSON array
``[direction, [value, ...]]``; ``direction`` is ``"n"`` (rows after the key) or ``"p"`` (rows before it).

Cursors come from the query string, so they are untrusted: :func:`decode` checks the shape and the type of
every value against the model field it belongs to and raises :class:`InvalidCursor` on anything else. HTML
lists then show the first page; the API answers 400 naming the ``cursor`` field.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import models
from django.db.models import Q, QuerySet

MAX_CURSOR_LENGTH = 2048
MAX_TEXT_VALUE = 1000
BIGINT = 2**63


class InvalidCursor(ValueError):
    """The cursor was not written by :func:`encode` for this list (garbage, tampered, or another list's)."""


@dataclass(frozen=True)
class Page:
    """One page of rows and the cursors of its neighbours (None when there is none)."""

    items: list[Any]
    next_cursor: str | None
    previous_cursor: str | None
    page_size: int

    @property
    def has_next(self) -> bool:
        return self.next_cursor is not None

    @property
    def has_previous(self) -> bool:
        return self.previous_cursor is not None

    def __iter__(self):
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


def _kinds(model: type[models.Model], names: tuple[str, ...]) -> tuple[str, ...]:
    kinds = []
    for name in names:
        model_field = model._meta.pk if name == "pk" else model._meta.get_field(name)
        if isinstance(model_field, models.DateTimeField):
            kinds.append("datetime")
        elif isinstance(model_field, models.IntegerField | models.AutoField | models.ForeignKey):
            kinds.append("int")
        elif isinstance(model_field, models.CharField | models.TextField):
            kinds.append("text")
        else:
            raise TypeError(f"{model.__name__}.{name} cannot be a keyset field")
    return tuple(kinds)


def encode(direction: str, values: list[Any]) -> str:
    plain = [v.isoformat() if isinstance(v, datetime) else v for v in values]
    raw = json.dumps([direction, plain], separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode(token: str, kinds: tuple[str, ...]) -> tuple[str, list[Any]]:
    """``(direction, values)`` from a cursor, or InvalidCursor; values are typed as ``kinds`` says."""
    if not token or len(token) > MAX_CURSOR_LENGTH or not token.isascii():
        raise InvalidCursor("cursor is empty, too long or not ASCII")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw.decode("utf-8"))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise InvalidCursor("cursor is not one this list wrote") from exc
    if not (isinstance(data, list) and len(data) == 2 and data[0] in ("n", "p") and isinstance(data[1], list)):
        raise InvalidCursor("cursor has the wrong shape")
    direction, values = data
    if len(values) != len(kinds):
        raise InvalidCursor("cursor belongs to another list")
    return direction, [_typed(value, kind) for value, kind in zip(values, kinds, strict=True)]


def _typed(value: Any, kind: str) -> Any:
    if kind == "int":
        if isinstance(value, int) and not isinstance(value, bool) and -BIGINT <= value < BIGINT:
            return value
    elif kind == "text":
        if isinstance(value, str) and len(value) <= MAX_TEXT_VALUE and "\x00" not in value:
            return value
    elif kind == "datetime" and isinstance(value, str) and len(value) <= 40:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            moment = None
        if moment is not None and moment.tzinfo is not None:
            return moment
    raise InvalidCursor(f"cursor holds a value that is not a valid {kind}")


@dataclass(frozen=True)
class Keyset:
    """A total ordering of one model's rows, e.g. ``Keyset(("display_name", "id"))`` or ``("-seq",)``.

    Every field must be non-null and the last one unique (the primary key), and an index should lead with
    the same fields so the database reads a page as one index range.
    """

    ordering: tuple[str, ...]
    default_size: int = 50
    max_size: int = 500

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name.lstrip("-") for name in self.ordering)

    def kinds(self, model: type[models.Model]) -> tuple[str, ...]:
        return _kinds(model, self.names)

    def decode(self, model: type[models.Model], token: str) -> tuple[str, list[Any]]:
        return decode(token, self.kinds(model))

    def _beyond(self, values: list[Any], backwards: bool) -> Q:
        """Rows strictly after ``values`` in this ordering (before it when ``backwards``)."""
        descending = [name.startswith("-") for name in self.ordering]
        names = self.names
        condition = Q()
        for i in range(len(names) - 1, -1, -1):
            greater = descending[i] == backwards
            strictly = Q(**{f"{names[i]}__{'gt' if greater else 'lt'}": values[i]})
            condition = strictly if i == len(names) - 1 else strictly | (Q(**{names[i]: values[i]}) & condition)
        # The leading bound alone is an index range condition, which the OR above is not for every planner.
        greater = descending[0] == backwards
        return Q(**{f"{names[0]}__{'gte' if greater else 'lte'}": values[0]}) & condition

    def beyond(self, values: list[Any], backwards: bool = False) -> Q:
        """Rows strictly after ``values`` in this ordering (before them when ``backwards``)."""
        return self._beyond(values, backwards)

    def paginate(self, queryset: QuerySet, cursor: str | None, size: int | None = None) -> Page:
        """The page that ``cursor`` points at (the first page when it is None). Raises InvalidCursor."""
        size = self.default_size if size is None else max(1, min(size, self.max_size))
        direction, values = ("n", None) if not cursor else self.decode(queryset.model, cursor)
        backwards = direction == "p"
        ordering = self.ordering
        if backwards:
            ordering = tuple(name[1:] if name.startswith("-") else f"-{name}" for name in ordering)
        page_query = queryset.order_by(*ordering)
        if values is not None:
            page_query = page_query.filter(self._beyond(values, backwards))
        rows = list(page_query[: size + 1])
        more = len(rows) > size
        rows = rows[:size]
        if backwards:
            rows.reverse()
        if backwards and not more:
            # Walked back to the start: show the true first page rather than a short one.
            return self.paginate(queryset, None, size)
        has_next = more if not backwards else True
        has_previous = values is not None if not backwards else more
        return Page(
            items=rows,
            next_cursor=encode("n", self._key(rows[-1])) if has_next and rows else None,
            previous_cursor=encode("p", self._key(rows[0])) if has_previous and rows else None,
            page_size=size,
        )

    def _key(self, row: Any) -> list[Any]:
        return [getattr(row, name) for name in self.names]


def page_size_from(raw: str | None, keyset: Keyset) -> int | None:
    """A page size from the query string, or None (the default) when absent or not a positive integer."""
    if raw is None or not (raw.isascii() and raw.strip().isdigit()) or len(raw) > 6:  # "²".isdigit() is true
        return None
    return max(1, min(int(raw), keyset.max_size))


def html_page(request, queryset: QuerySet, keyset: Keyset) -> Page:
    """The page an HTML list shows: a cursor that does not decode falls back to the first page."""
    size = page_size_from(request.GET.get("page_size"), keyset)
    try:
        return keyset.paginate(queryset, request.GET.get("cursor") or None, size)
    except InvalidCursor:
        return keyset.paginate(queryset, None, size)


def query_without_cursor(request) -> str:
    """The list's query string minus the cursor, for building Previous/Next/First links."""
    query = request.GET.copy()
    query.pop("cursor", None)
    query.pop("page", None)
    return query.urlencode()
