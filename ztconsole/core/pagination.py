"""API pagination: keyset cursors (ztconsole/core/keyset.py), so a page costs the same at row 10 and row 10 million.

The response keeps the usual shape, ``{"next": url, "previous": url, "results": [...]}``, and the
``cursor`` and ``page_size`` query parameters. A cursor that does not decode is a 400 naming ``cursor``.
"""

from __future__ import annotations

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from ztconsole.core.keyset import InvalidCursor, Keyset

MAX_POSITION = 2**63 - 1


def parse_position(raw: object) -> int | None:
    """A non-negative integer key from untrusted text (a ``before=`` position, an id filter), or None.

    Only ASCII digits that fit a 64-bit signed integer qualify: a Unicode digit would raise ValueError in ``int``
    and a huge number OverflowError in SQLite.
    """
    if not isinstance(raw, str) or not raw or len(raw) > 19 or not (raw.isascii() and raw.isdigit()):
        return None
    value = int(raw)
    return value if value <= MAX_POSITION else None


class KeysetPagination(BasePagination):
    """Newest first by primary key unless a subclass names another total ordering."""

    ordering: tuple[str, ...] = ("-id",)
    page_size = 50
    max_page_size = 500
    cursor_query_param = "cursor"
    page_size_query_param = "page_size"

    def keyset(self) -> Keyset:
        return Keyset(self.ordering, default_size=self.page_size, max_size=self.max_page_size)

    def _page_size(self, request) -> int:
        """``page_size`` is 1..max_page_size when given; ``null``, ``0``, ``abc`` or too large is a 400."""
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        value = parse_position(raw)
        if value is None or not 1 <= value <= self.max_page_size:
            raise ValidationError({self.page_size_query_param: [f"A whole number from 1 to {self.max_page_size}."]})
        return value

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        size = self._page_size(request)
        try:
            self.page = self.keyset().paginate(
                queryset, request.query_params.get(self.cursor_query_param) or None, size
            )
        except InvalidCursor as exc:
            raise ValidationError({self.cursor_query_param: [f"Invalid cursor: {exc}."]}) from None
        return self.page.items

    def _link(self, cursor: str | None) -> str | None:
        if cursor is None:
            return None
        return replace_query_param(self.request.build_absolute_uri(), self.cursor_query_param, cursor)

    def get_paginated_response(self, data):
        return Response(
            {
                "next": self._link(self.page.next_cursor),
                "previous": self._link(self.page.previous_cursor),
                "results": data,
            }
        )

    def get_first_link(self) -> str:
        return remove_query_param(self.request.build_absolute_uri(), self.cursor_query_param)

    def get_paginated_response_schema(self, schema):
        link = {"type": "string", "nullable": True, "format": "uri"}
        return {
            "type": "object",
            "required": ["results"],
            "properties": {"next": link, "previous": link, "results": schema},
        }

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "The pagination cursor value (from a response's next or previous link).",
                "schema": {"type": "string"},
            },
            {
                "name": self.page_size_query_param,
                "required": False,
                "in": "query",
                "description": f"Number of results to return per page (at most {self.max_page_size}).",
                "schema": {"type": "integer", "minimum": 1, "maximum": self.max_page_size},
            },
        ]


class IdCursorPagination(KeysetPagination):
    """Default API pagination: newest first by primary key; stable under inserts, constant cost per page."""

    ordering = ("-id",)


class SeqCursorPagination(KeysetPagination):
    """The audit chain, newest first by its sequence number."""

    ordering = ("-seq",)
    page_size = 100
    max_page_size = 1000
