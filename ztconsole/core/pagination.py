"""Pagination: cursors in the API, keyset positions in the pages, both parsed strictly here.

A cursor or a ``before=`` position comes from the client, so it is untrusted text: only ASCII digits that
fit a 64-bit signed integer become a position; anything else is refused (the API answers 404 "Invalid
cursor", a page ignores it) instead of reaching the database, where a Unicode digit raises ValueError
and a huge number OverflowError (SQLite).
"""

from __future__ import annotations

from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination

MAX_POSITION = 2**63 - 1


def parse_position(raw: object) -> int | None:
    """A non-negative integer key from untrusted text (cursor position, ``before=``, an id filter), or None."""
    if not isinstance(raw, str) or not raw or len(raw) > 19 or not (raw.isascii() and raw.isdigit()):
        return None
    value = int(raw)
    return value if value <= MAX_POSITION else None


class IntegerKeyCursorPagination(CursorPagination):
    """Cursor pagination on one integer key, refusing any cursor whose position is not such an integer."""

    page_size_query_param = "page_size"

    def get_page_size(self, request):
        """``page_size`` is 1..max_page_size when given; ``null``, ``0`` or ``abc`` is a 400, not the default."""
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        value = parse_position(raw)
        if value is None or not 1 <= value <= self.max_page_size:
            raise ValidationError({self.page_size_query_param: [f"a whole number from 1 to {self.max_page_size}"]})
        return value

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1, "maximum": self.max_page_size}
        return parameters

    def decode_cursor(self, request):
        cursor = super().decode_cursor(request)
        if cursor is not None and cursor.position is not None and parse_position(cursor.position) is None:
            raise NotFound(self.invalid_cursor_message)
        return cursor


class IdCursorPagination(IntegerKeyCursorPagination):
    """Default API pagination: newest first by primary key; stable under inserts, constant cost per page."""

    ordering = "-id"
    page_size = 50
    max_page_size = 500


class SeqCursorPagination(IntegerKeyCursorPagination):
    ordering = "-seq"
    page_size = 100
    max_page_size = 1000
