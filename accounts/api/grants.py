"""/api/v1/role-grants/: requests for a privileged role, and their approval by a second privileged person."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts import actions
from accounts.models import RoleGrant, RoleGrantState
from ztconsole.core.pagination import IdCursorPagination
from ztconsole.core.permissions import DeclaredPermission, StepUpForSessions
from ztconsole.core.roles import APPROVE_ROLE_GRANTS, VIEW_IDENTITIES


class RoleGrantSerializer(serializers.ModelSerializer):
    subject = serializers.SlugRelatedField(slug_field="username", read_only=True)
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    decided_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    previous_role = serializers.SerializerMethodField()
    state = serializers.ChoiceField(choices=RoleGrantState.choices, read_only=True)

    class Meta:
        model = RoleGrant
        fields = [
            "id",
            "subject",
            "role",
            "previous_role",
            "state",
            "requested_by",
            "requested_at",
            "decided_by",
            "decided_at",
            "reason",
        ]
        read_only_fields = fields

    def get_previous_role(self, obj: RoleGrant) -> str | None:
        return obj.previous_role or None


class GrantReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=200)


class RoleGrantViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Read with view_identities; approve or reject with approve_role_grants and, for sessions, step-up."""

    queryset = RoleGrant.objects.select_related("subject", "requested_by", "decided_by")
    serializer_class = RoleGrantSerializer
    pagination_class = IdCursorPagination
    permission_classes = [DeclaredPermission, StepUpForSessions]
    required_permission = VIEW_IDENTITIES
    required_permission_by_action = {"approve": APPROVE_ROLE_GRANTS, "reject": APPROVE_ROLE_GRANTS}
    step_up_actions = ("approve", "reject")
    filterset_fields = ["state"]

    def _respond(self, grant: RoleGrant) -> Response:
        return Response(RoleGrantSerializer(self.get_queryset().get(pk=grant.pk)).data)

    @extend_schema(request=None, responses=RoleGrantSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        return self._respond(actions.approve_role_grant(request.user, self.get_object(), request=request))

    @extend_schema(request=GrantReasonSerializer, responses=RoleGrantSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        payload = GrantReasonSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        grant = actions.reject_role_grant(
            request.user, self.get_object(), reason=payload.validated_data["reason"], request=request
        )
        return self._respond(grant)
