"""API pieces shared by every app: the exception handler and the audit log endpoint."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from ztconsole.core.errors import ActionError
from ztconsole.core.filters import AuditEventFilter
from ztconsole.core.models import AuditEvent
from ztconsole.core.pagination import SeqCursorPagination
from ztconsole.core.roles import VIEW_AUDIT


def exception_handler(exc, context):
    """DRF's handler, plus our refused actions and model validation errors as 400s naming the field."""
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
    filterset_class = AuditEventFilter
    queryset = AuditEvent.objects.all()
