"""/api/v1/devices/: registered devices, their approval and retirement, and posture reports.

Posture comes from a device-scoped API token (``ApiToken.device``) for that very device, or from an
identity holding ``accounts.report_posture`` (an MDM or agent service).
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import JSONParser
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import actions
from accounts.filters import DeviceFilter
from accounts.models import ApiToken, DeviceKind, DeviceRegistration, Identity, PostureReport
from ztconsole.core.fields import StrictBooleanField
from ztconsole.core.pagination import IdCursorPagination
from ztconsole.core.permissions import DeclaredPermission, StepUpForSessions
from ztconsole.core.roles import MANAGE_DEVICES, REPORT_POSTURE, VIEW_DEVICES


@extend_schema_field(OpenApiTypes.STR)
class IdentityByUsernameField(serializers.SlugRelatedField):
    """Any identity (a person, or an algorithm owning its host), named by username."""

    def __init__(self, **kwargs):
        super().__init__(slug_field="user__username", queryset=Identity.objects.all(), **kwargs)


class DeviceSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.user.username", read_only=True)
    owner_name = serializers.CharField(source="owner.display_name", read_only=True)
    approved_by = serializers.CharField(source="approved_by.username", read_only=True, default=None, allow_null=True)
    health = serializers.CharField(read_only=True, help_text="What the risk engine scores.")

    class Meta:
        model = DeviceRegistration
        fields = [
            "id",
            "owner",
            "owner_name",
            "kind",
            "platform",
            "serial",
            "hostname",
            "status",
            "managed",
            "approved_by",
            "approved_at",
            "compliance",
            "health",
            "last_posture_at",
            "last_posture",
            "certificate_fingerprint",
            "created_at",
        ]
        read_only_fields = fields


class DeviceCreateSerializer(serializers.Serializer):
    owner = IdentityByUsernameField(
        required=False,
        help_text="The owner's username; yours when left out. Someone else's needs accounts.manage_devices.",
    )
    kind = serializers.ChoiceField(choices=DeviceKind.choices)
    platform = serializers.CharField(max_length=100)
    serial = serializers.CharField(max_length=64)
    hostname = serializers.CharField(max_length=253, required=False, allow_blank=True, default="")


class RetireSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class PostureInputSerializer(serializers.Serializer):
    """The report body (documentation; ``actions.record_posture`` validates it, naming the field at fault)."""

    os_version = serializers.CharField(max_length=100)
    disk_encryption = StrictBooleanField(required=False)
    screen_lock = StrictBooleanField(required=False)
    edr_running = StrictBooleanField(required=False)


class PostureResultSerializer(serializers.ModelSerializer):
    compliance = serializers.CharField(source="device.compliance")
    health = serializers.CharField(source="device.health")

    class Meta:
        model = PostureReport
        fields = [
            "id",
            "device",
            "received_at",
            "os_version",
            "compliant",
            "failures",
            "source",
            "compliance",
            "health",
        ]
        read_only_fields = fields


class DeviceViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Registered devices. People without a wider role see and register only their own."""

    serializer_class = DeviceSerializer
    filterset_class = DeviceFilter
    pagination_class = IdCursorPagination
    permission_classes = [DeclaredPermission, StepUpForSessions]
    required_permission = VIEW_DEVICES
    required_permission_by_action = {"create": VIEW_DEVICES, "approve": MANAGE_DEVICES, "retire": MANAGE_DEVICES}
    step_up_actions = ("approve", "retire")

    def get_queryset(self):
        return DeviceRegistration.objects.for_list().restrict(self.request.user)

    def _respond(self, device: DeviceRegistration, code: int = status.HTTP_200_OK) -> Response:
        return Response(DeviceSerializer(DeviceRegistration.objects.for_list().get(pk=device.pk)).data, status=code)

    @extend_schema(request=DeviceCreateSerializer, responses={201: DeviceSerializer})
    def create(self, request):
        payload = DeviceCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        owner = data.get("owner") or Identity.objects.filter(user=request.user).first()
        if owner is None:
            raise actions.ActionError("you have no identity to own a device; name the owner", field="owner")
        if owner.user_id != request.user.pk and not request.user.has_perm(MANAGE_DEVICES):
            raise PermissionDenied("Registering a device for someone else needs accounts.manage_devices.")
        device = actions.register_device(
            request.user,
            owner=owner,
            kind=data["kind"],
            platform=data["platform"],
            serial=data["serial"],
            hostname=data["hostname"],
            request=request,
        )
        return self._respond(device, status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=DeviceSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        return self._respond(actions.approve_device(request.user, self.get_object(), request=request))

    @extend_schema(request=RetireSerializer, responses=DeviceSerializer)
    @action(detail=True, methods=["post"])
    def retire(self, request, pk=None):
        payload = RetireSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        reason = payload.validated_data["reason"]
        return self._respond(actions.retire_device(request.user, self.get_object(), reason=reason, request=request))


class PostureReporterPermission(BasePermission):
    """This device's own read-write token, or ``accounts.report_posture`` (no console role needed)."""

    message = (
        "Reporting posture needs a read-write API token scoped to this device, "
        "or an identity holding accounts.report_posture."
    )

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        token = request.auth if isinstance(request.auth, ApiToken) else None
        if token is not None and not token.allows(write=True):
            self.message = "This API token's scope does not allow this method."
            return False
        if token is not None and token.device_id is not None:
            if str(token.device_id) != str(view.kwargs.get("pk")):
                self.message = "This API token may only report posture for its own device."
                return False
            return True
        if token is None and not user.is_verified():
            return False
        return user.has_perm(REPORT_POSTURE)


class DevicePostureView(APIView):
    """``POST /api/v1/devices/{id}/posture``: store a posture report and set the device's compliance."""

    required_permission = REPORT_POSTURE
    permission_classes = [PostureReporterPermission]
    parser_classes = [JSONParser]

    @extend_schema(request=PostureInputSerializer, responses={201: PostureResultSerializer})
    def post(self, request, pk: int):
        device = get_object_or_404(DeviceRegistration, pk=pk)
        token = request.auth if isinstance(request.auth, ApiToken) else None
        source = token.name if token is not None else f"session:{request.user.get_username()}"
        report = actions.record_posture(device=device, report=request.data, source=source, request=request)
        return Response(PostureResultSerializer(report).data, status=status.HTTP_201_CREATED)
