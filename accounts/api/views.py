from django.db.models import Q
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import actions
from accounts.api.serializers import ApiTokenSerializer, MeSerializer
from accounts.models import ApiToken
from ztconsole.core.permissions import DeclaredPermission, StepUpForSessions
from ztconsole.core.roles import MANAGE_API_TOKENS, VIEW_CONSOLE


class MeView(APIView):
    """Who the caller is, with which role and permissions, and how they authenticated."""

    required_permission = VIEW_CONSOLE  # as docs/permissions.md says: no role, no console, no /me

    @extend_schema(responses=MeSerializer)
    def get(self, request):
        return Response(MeSerializer(MeSerializer.describe(request.user, request.auth)).data)


class ApiTokenViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    """API tokens. The token value appears once, in the create response; only its digest is kept."""

    required_permission = MANAGE_API_TOKENS
    permission_classes = [DeclaredPermission, StepUpForSessions]
    step_up_actions = ("create", "revoke")
    serializer_class = ApiTokenSerializer
    queryset = ApiToken.objects.select_related("user").order_by("-created_at")
    filterset_fields = ["scope"]

    def get_queryset(self):
        queryset = super().get_queryset()
        state = self.request.query_params.get("status")
        if state == "active":
            queryset = queryset.filter(revoked_at__isnull=True)
        elif state == "revoked":
            queryset = queryset.filter(~Q(revoked_at=None))
        return queryset

    def create(self, request, *args, **kwargs):
        if isinstance(request.auth, ApiToken):
            # A stolen token must not be able to mint more (longer-lived, wider) tokens.
            raise PermissionDenied("API tokens are created from an MFA-verified console session, not with a token.")
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        token, plaintext = actions.create_api_token(
            request.user,
            data["user"],
            name=data["name"],
            scope=data["scope"],
            days=data["days"],
            request=request,
        )
        body = ApiTokenSerializer(token, context={"plaintext": plaintext}).data
        return Response(body, status=status.HTTP_201_CREATED, headers={"Cache-Control": "no-store"})

    @extend_schema(request=None, responses=ApiTokenSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        token = self.get_object()
        actions.revoke_api_token(request.user, token, request=request)
        token.refresh_from_db()
        return Response(ApiTokenSerializer(token).data)
