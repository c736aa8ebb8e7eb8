"""API pagination: cursors, so a page costs the same at row 10 and row 10 million."""

from rest_framework.pagination import CursorPagination


class IdCursorPagination(CursorPagination):
    """Default API pagination: newest first by primary key; stable under inserts, constant cost per page."""

    ordering = "-id"
    page_size = 50
    max_page_size = 500
    page_size_query_param = "page_size"


class SeqCursorPagination(CursorPagination):
    ordering = "-seq"
    page_size = 100
    max_page_size = 1000
    page_size_query_param = "page_size"
