"""/api/v1/enforcement-points/ (the registry) and /api/v1/enforcement/bundle (the PEP's own pull)."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from django.http import HttpResponse
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.decorators import action
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Environment
from policies.distribution import actions
from policies.distribution.models import Delivery, EnforcementPoint
from ztconsole.core.pagination import IdCursorPagination
from ztconsole.core.permissions import DeclaredPermission, StepUpForSessions
from ztconsole.core.roles import MANAGE_ENFORCEMENT_POINTS, VIEW_ENFORCEMENT_POINTS


class DeliverySerializer(serializers.ModelSerializer):
    latency_seconds = serializers.FloatField(read_only=True)

    class Meta:
        model = Delivery
        fields = [
            "id",
            "kind",
            "number",
            "sha256",
            "state",
            "attempts",
            "created_at",
            "acknowledged_at",
            "latency_seconds",
            "outcome",
            "reason",
            "detail",
        ]


class EnforcementPointSerializer(serializers.ModelSerializer):
    certificate_serial = serializers.CharField(source="certificate.serial", read_only=True, default=None)

    class Meta:
        model = EnforcementPoint
        fields = [
            "id",
            "name",
            "environment",
            "control_url",
            "status",
            "segments",
            "pinned_sha256",
            "certificate_serial",
            "acknowledged_version",
            "acknowledged_sha256",
            "acknowledged_at",
            "revocation_sequence",
            "last_contact_at",
            "last_refusal_reason",
            "last_refusal_detail",
            "last_refusal_at",
            "created_at",
            "retired_at",
        ]
        read_only_fields = fields


class RegisterSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=60)
    environment = serializers.ChoiceField(choices=Environment.choices)
    control_url = serializers.CharField(max_length=300)
    csr = serializers.CharField(help_text="the PEP's certificate signing request (PEM)")
    segments = serializers.ListField(child=serializers.CharField(max_length=64), required=False, default=list)
    lifetime_days = serializers.IntegerField(required=False, allow_null=True, default=None)


class RegisteredSerializer(EnforcementPointSerializer):
    certificate_pem = serializers.CharField(source="certificate.pem", read_only=True)
    token = serializers.SerializerMethodField()

    class Meta(EnforcementPointSerializer.Meta):
        fields = [*EnforcementPointSerializer.Meta.fields, "certificate_pem", "token"]
        read_only_fields = fields

    def get_token(self, obj) -> str:
        return self.context["token"]


UPDATABLE_STATUSES = [("active", "active"), ("draining", "draining")]


class UpdateSerializer(serializers.Serializer):
    control_url = serializers.CharField(max_length=300)
    segments = serializers.ListField(child=serializers.CharField(max_length=64), required=False, default=list)
    status = serializers.ChoiceField(choices=UPDATABLE_STATUSES)


class RetirePointSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=200)


class EnforcementPointViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.UpdateModelMixin, viewsets.GenericViewSet
):
    """Read with view_enforcement_points; register, edit, retire with manage_enforcement_points (sessions:
    registration and retirement need step-up)."""

    serializer_class = EnforcementPointSerializer
    pagination_class = IdCursorPagination
    permission_classes = [DeclaredPermission, StepUpForSessions]
    required_permission = VIEW_ENFORCEMENT_POINTS
    required_permission_by_action = {
        "create": MANAGE_ENFORCEMENT_POINTS,
        "update": MANAGE_ENFORCEMENT_POINTS,
        "retire": MANAGE_ENFORCEMENT_POINTS,
    }
    step_up_actions = ("create", "retire")
    http_method_names = ["get", "post", "put", "head", "options"]

    def get_queryset(self):
        queryset = EnforcementPoint.objects.select_related("certificate")
        environment = self.request.query_params.get("environment")
        return queryset.filter(environment=environment) if environment else queryset

    def _data(self, serializer_class):
        payload = serializer_class(data=self.request.data)
        payload.is_valid(raise_exception=True)
        return payload.validated_data

    def retrieve(self, request, *args, **kwargs):
        point = self.get_object()
        deliveries = point.deliveries.order_by("-created_at", "-id")[:50]
        return Response(
            {
                **EnforcementPointSerializer(point).data,
                "ledger": actions.point_row(point),
                "deliveries": DeliverySerializer(deliveries, many=True).data,
            }
        )

    @extend_schema(request=RegisterSerializer, responses={201: RegisteredSerializer})
    def create(self, request):
        data = self._data(RegisterSerializer)
        point, _, token = actions.register_enforcement_point(
            request.user,
            name=data["name"],
            environment=data["environment"],
            control_url=data["control_url"],
            csr_pem=data["csr"],
            segments=data["segments"],
            lifetime_days=data["lifetime_days"],
            request=request,
        )
        point = EnforcementPoint.objects.select_related("certificate").get(pk=point.pk)
        return Response(RegisteredSerializer(point, context={"token": token}).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=UpdateSerializer, responses=EnforcementPointSerializer)
    def update(self, request, *args, **kwargs):
        data = self._data(UpdateSerializer)
        point = actions.update_enforcement_point(
            request.user,
            self.get_object(),
            control_url=data["control_url"],
            segments=data["segments"],
            status=data["status"],
            request=request,
        )
        return Response(EnforcementPointSerializer(point).data)

    @extend_schema(request=RetirePointSerializer, responses=EnforcementPointSerializer)
    @action(detail=True, methods=["post"])
    def retire(self, request, pk=None):
        data = self._data(RetirePointSerializer)
        point = actions.retire_enforcement_point(
            request.user, self.get_object(), reason=data["reason"], request=request
        )
        return Response(EnforcementPointSerializer(point).data)


class EnforcementPointTokenAuthentication(BaseAuthentication):
    """``Authorization: Bearer ztpep_<prefix>_<secret>``: the token issued when the point was registered."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != b"bearer":
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Authorization header must be 'Bearer <token>'.")
        point = actions.point_for_token(header[1].decode("latin-1"))
        if point is None:
            raise exceptions.AuthenticationFailed("Invalid enforcement point token.")
        return AnonymousUser(), point

    def authenticate_header(self, request):
        return self.keyword


class EnforcementPointTokenScheme(OpenApiAuthenticationExtension):
    target_class = EnforcementPointTokenAuthentication
    name = "enforcementPointToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": "ztpep_<prefix>_<secret>"}


class IsEnforcementPoint(BasePermission):
    message = "Only an enforcement point's own token may fetch its bundle."

    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, EnforcementPoint)


class EnforcementBundleView(APIView):
    """``GET /api/v1/enforcement/bundle?environment=E``: the signed bundle in force, for the point's own
    environment; ``ETag`` is the payload SHA-256, ``If-None-Match`` answers 304; 404 when nothing is published."""

    required_permission = "enforcement-point-token"
    authentication_classes = [EnforcementPointTokenAuthentication]
    permission_classes = [IsEnforcementPoint]

    @extend_schema(
        parameters=[OpenApiParameter("environment", str, required=True)],
        responses={(200, "application/json"): bytes, 304: None, 404: None},
    )
    def get(self, request):
        point: EnforcementPoint = request.auth
        environment = request.query_params.get("environment", "")
        if environment not in Environment.values:
            return Response(
                {"environment": [f"one of {', '.join(Environment.values)}"], "field": "environment"},
                status=status.HTTP_400_BAD_REQUEST,
            )
        if environment != point.environment:
            return Response(
                {"detail": f"this point is registered for {point.environment}"}, status=status.HTTP_403_FORBIDDEN
            )
        actions.note_pull(point)
        current = actions.in_force(environment)
        if current is None:
            return Response({"detail": f"nothing is published in {environment}"}, status=status.HTTP_404_NOT_FOUND)
        etag = f'"{current.sha256}"'
        if etag in [t.strip() for t in request.headers.get("If-None-Match", "").split(",")]:
            response = HttpResponse(status=304)
        else:
            response = HttpResponse(current.bundle.encode(), content_type="application/json")
        response["ETag"] = etag
        response["Cache-Control"] = "no-cache"
        return response
