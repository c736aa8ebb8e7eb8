"""API pieces shared by every app: the exception handler and the audit log endpoint."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import JsonResponse
from django.views import defaults as django_defaults
from rest_framework import parsers, serializers, status
from rest_framework.exceptions import ParseError
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from ztconsole.core.models import AuditEvent
from ztconsole.core.pagination import SeqCursorPagination
from ztconsole.core.roles import VIEW_AUDIT


def exception_handler(exc, context):
    """DRF's handler, plus our refused actions and model validation errors as 400s naming the field."""
    from accounts.actions import ActionError

    if isinstance(exc, ActionError):
        body = {"detail": str(exc)}
        if exc.field:
            body["field"] = exc.field
            body[exc.field] = [str(exc)]
        return Response(body, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, DjangoValidationError):
        return Response(
            exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages},
            status=status.HTTP_400_BAD_REQUEST,
        )
    return drf_exception_handler(exc, context)


class AuditEventSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor_label")

    class Meta:
        model = AuditEvent
        fields = [
            "seq",
            "created_at",
            "actor",
            "action",
            "target_type",
            "target_id",
            "target_label",
            "details",
            "ip_address",
            "request_id",
            "prev_hash",
            "hash",
        ]


class AuditEventList(ListAPIView):
    """The audit chain, newest first, filterable by action and actor."""

    required_permission = VIEW_AUDIT
    serializer_class = AuditEventSerializer
    pagination_class = SeqCursorPagination
    filterset_fields = {"action": ["exact", "startswith"], "actor_label": ["exact"]}
    queryset = AuditEvent.objects.all()


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, refusing nesting too deep for Python's decoder (a 400, not a RecursionError 500)."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the document is nested too deeply") from None


# --- errors outside DRF's views (unknown URLs, crashes) answer JSON under /api/ ------------------------

_API_PREFIX = "/api/"


def _json_or_page(request, status_code: int, detail: str, template: str, exception=None):
    if request.path.startswith(_API_PREFIX):
        return JsonResponse({"detail": detail}, status=status_code)
    if status_code == 500:
        return django_defaults.server_error(request, template_name=template)
    handler = {400: django_defaults.bad_request, 403: django_defaults.permission_denied}.get(
        status_code, django_defaults.page_not_found
    )
    return handler(request, exception, template_name=template)


def bad_request(request, exception=None):
    return _json_or_page(request, 400, "Bad request.", "400.html", exception)


def permission_denied(request, exception=None):
    return _json_or_page(request, 403, "You do not have permission to perform this action.", "403.html", exception)


def page_not_found(request, exception=None):
    return _json_or_page(request, 404, "Not found.", "404.html", exception)


def server_error(request):
    return _json_or_page(
        request, 500, "Internal server error: the incident is logged with this request's id.", "500.html"
    )
