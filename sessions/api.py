"""/api/v1/enforcement/events (the PEPs' feed), /api/v1/sessions/ and /api/v1/decisions/."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import BaseParser
from rest_framework.response import Response
from rest_framework.views import APIView

from policies.distribution.api import EnforcementPointTokenAuthentication, IsEnforcementPoint
from sessions import actions, selectors
from sessions.filters import DecisionFilter, SessionFilter
from sessions.ingest import EventBatchError
from sessions.models import Decision, FixSession, TerminationRequest
from ztconsole.core.pagination import KeysetPagination
from ztconsole.core.permissions import DeclaredPermission, StepUpForSessions
from ztconsole.core.roles import TERMINATE_SESSIONS, VIEW_SESSIONS


class NdjsonParser(BaseParser):
    """Leaves the body alone: the ingestion view reads the raw lines itself."""

    media_type = "application/x-ndjson"

    def parse(self, stream, media_type=None, parser_context=None):
        return None


class EnforcementEventsView(APIView):
    """``POST /api/v1/enforcement/events``: a PEP's event batch, one JSON event per line
    (``pep/events.schema.json``), with the point's own bearer token. 202 with the counts; 400 naming the line and
    field of the first bad event; 403 for an event of another point or environment; nothing is stored unless
    the whole batch is."""

    required_permission = "enforcement-point-token"
    authentication_classes = [EnforcementPointTokenAuthentication]
    permission_classes = [IsEnforcementPoint]
    parser_classes = [NdjsonParser]

    @extend_schema(
        request={"application/x-ndjson": str},
        responses={
            202: OpenApiResponse(description="stored: {received, sessions}"),
            400: OpenApiResponse(description="{detail, line, field}"),
            403: OpenApiResponse(description="an event of another point or environment"),
        },
    )
    def post(self, request):
        content_type = (request.content_type or "").split(";")[0].strip().lower()
        if content_type not in ("application/x-ndjson", "application/jsonl", "application/json-lines"):
            return Response(
                {"detail": "send application/x-ndjson: one event per line", "field": "Content-Type"},
                status=status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            )
        try:
            result = actions.ingest_events(request.auth, request.body)
        except EventBatchError as exc:
            return Response({"detail": str(exc), "line": exc.line, "field": exc.field}, status=exc.status)
        return Response({"received": result.received, "sessions": result.sessions}, status=status.HTTP_202_ACCEPTED)


class EnforcementStepUpView(APIView):
    """``GET /api/v1/enforcement/step-up/<session>``: what became of a Logon the PEP holds for its sponsor's
    approval (docs/sessions.md, "Step-up for algorithms"). The point's own token; a point sees only its own
    sessions (another point's session is 404, as an unknown one)."""

    required_permission = "enforcement-point-token"
    authentication_classes = [EnforcementPointTokenAuthentication]
    permission_classes = [IsEnforcementPoint]

    @extend_schema(
        responses={
            200: OpenApiResponse(description="{status: pending/approved/refused/expired, approver, expires_at}"),
            404: OpenApiResponse(description="no step-up request for this session of this point (yet)"),
        },
    )
    def get(self, request, session_id: str):
        from django.utils import timezone

        from sessions.models import StepUpRequest

        step_up = (
            StepUpRequest.objects.select_related("decided_by").filter(point=request.auth, session_id=session_id).first()
        )
        if step_up is None:
            return Response(
                {"detail": "no step-up request for this session", "status": "unknown", "field": "session"},
                status=status.HTTP_404_NOT_FOUND,
            )
        answer = step_up.status_at(timezone.now())
        approver = step_up.decided_by.get_username() if step_up.decided_by and answer != "expired" else None
        return Response({"status": answer, "approver": approver, "expires_at": step_up.expires_at.isoformat()})


class SessionPagination(KeysetPagination):
    ordering = ("-started_at", "-id")


class DecisionPagination(KeysetPagination):
    ordering = ("-time", "-id")


class TerminationSerializer(serializers.ModelSerializer):
    requested_by = serializers.CharField(source="requested_by.username", default=None, read_only=True)

    class Meta:
        model = TerminationRequest
        fields = ["id", "state", "reason", "requested_by", "requested_at", "answered_at", "attempts", "detail"]
        read_only_fields = fields


class FixSessionSerializer(serializers.ModelSerializer):
    point = serializers.CharField(source="point.name", read_only=True)
    identity_id = serializers.IntegerField(read_only=True, allow_null=True)
    certificate_id = serializers.IntegerField(read_only=True, allow_null=True)
    seconds_since_last_message = serializers.SerializerMethodField()

    class Meta:
        model = FixSession
        fields = [
            "id",
            "point",
            "environment",
            "session_id",
            "state",
            "listener",
            "source_ip",
            "source_port",
            "sender_comp_id",
            "target_comp_id",
            "begin_string",
            "identity_name",
            "identity_id",
            "device_ref",
            "tls_version",
            "cipher",
            "peer_fingerprint",
            "peer_subject",
            "certificate_id",
            "outcome",
            "score",
            "contributions",
            "matched_rule",
            "decision_reason",
            "bundle_version",
            "heartbeat_interval",
            "client_seq",
            "venue_seq",
            "messages_in",
            "messages_out",
            "rejected",
            "last_message_at",
            "seconds_since_last_message",
            "started_at",
            "ended_at",
            "ended_by",
            "end_reason",
            "last_seq",
        ]
        read_only_fields = fields

    def get_seconds_since_last_message(self, obj) -> float | None:
        return selectors.seconds_since_last_message(obj)


class DecisionSerializer(serializers.ModelSerializer):
    point = serializers.CharField(source="point.name", read_only=True)

    class Meta:
        model = Decision
        fields = [
            "id",
            "point",
            "environment",
            "session_id",
            "time",
            "kind",
            "outcome",
            "identity_name",
            "sender_comp_id",
            "msg_type",
            "score",
            "matched_rule",
            "reason",
            "bundle_version",
            "inputs",
        ]
        read_only_fields = fields


class TerminateSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=200, help_text="sent to the counterparty in the Logout's Text (58)")


class FixSessionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Sessions newest first, filtered by pep, environment, identity, state (or live / ended), outcome. Traders
    see those of identities they are or sponsor. Terminate: security officers and administrators, step-up."""

    serializer_class = FixSessionSerializer
    pagination_class = SessionPagination
    filterset_class = SessionFilter
    permission_classes = [DeclaredPermission, StepUpForSessions]
    required_permission = VIEW_SESSIONS
    required_permission_by_action = {"terminate": TERMINATE_SESSIONS}
    step_up_actions = ("terminate",)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema generator has no signed-in user
            return FixSession.objects.none()
        return selectors.visible_sessions(self.request.user)

    def retrieve(self, request, *args, **kwargs):
        session = self.get_object()
        return Response(
            {
                **FixSessionSerializer(session).data,
                "timeline": [
                    {"seq": e["seq"], "time": e["time"], "type": e["type"], "fields": e["fields"]}
                    for e in selectors.timeline(session)
                ],
                "terminations": TerminationSerializer(session.terminations.all()[:20], many=True).data,
            }
        )

    @extend_schema(request=TerminateSerializer, responses={202: TerminationSerializer})
    @action(detail=True, methods=["post"])
    def terminate(self, request, pk=None):
        payload = TerminateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        termination = actions.terminate_session(
            request.user, self.get_object(), reason=payload.validated_data["reason"], request=request
        )
        return Response(TerminationSerializer(termination).data, status=status.HTTP_202_ACCEPTED)


class DecisionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The decision log: every Logon decision and refused message with its inputs, newest first; filters pep,
    environment, identity, kind (logon / reject), outcome, session, rule."""

    serializer_class = DecisionSerializer
    pagination_class = DecisionPagination
    filterset_class = DecisionFilter
    required_permission = VIEW_SESSIONS

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Decision.objects.none()
        return selectors.visible_decisions(self.request.user)
