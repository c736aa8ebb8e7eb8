"""/api/v1/identities/: list, read, create, and the lifecycle verbs, each calling the same actions as the pages."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts import actions
from accounts.api.grants import RoleGrantSerializer
from accounts.filters import IdentityFilter
from accounts.models import Desk, EmploymentStatus, Environment, Identity, IdentityKind
from ztconsole.core.fields import BlankAsNullChoiceField, BlankAsNullEmailField
from ztconsole.core.pagination import IdCursorPagination
from ztconsole.core.permissions import DeclaredPermission, StepUpForSessions
from ztconsole.core.roles import MANAGE_IDENTITIES, ROLES, SUSPEND_IDENTITIES, VIEW_IDENTITIES, role_of

User = get_user_model()


@extend_schema_field(OpenApiTypes.STR)
class PersonByUsernameField(serializers.SlugRelatedField):
    """An active or suspended person, named by username (sponsors are people)."""

    def __init__(self, **kwargs):
        super().__init__(
            slug_field="user__username", queryset=Identity.objects.filter(kind=IdentityKind.HUMAN), **kwargs
        )


class IdentitySerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username", read_only=True)
    email = BlankAsNullEmailField(source="user.email")
    role = serializers.SerializerMethodField()
    desk = serializers.SlugRelatedField(slug_field="name", read_only=True, allow_null=True)
    sponsor = serializers.CharField(source="sponsor.user.username", read_only=True, default=None, allow_null=True)
    environment = BlankAsNullChoiceField(choices=Environment.choices, help_text="Non-person identities only.")
    employment_status = BlankAsNullChoiceField(choices=EmploymentStatus.choices, help_text="People only.")

    class Meta:
        model = Identity
        fields = [
            "id",
            "username",
            "display_name",
            "kind",
            "status",
            "status_reason",
            "role",
            "email",
            "desk",
            "environment",
            "sponsor",
            "sender_comp_ids",
            "expected_countries",
            "employment_status",
            "privileged",
            "trading_hours",
            "created_at",
        ]
        read_only_fields = fields

    def get_role(self, obj: Identity) -> str | None:
        return role_of(obj.user) if obj.is_human else None


class IdentityCreateSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=IdentityKind.choices)
    username = serializers.RegexField(r"^[a-z][a-z0-9._-]{1,63}$", max_length=64)
    display_name = serializers.CharField(max_length=150)
    desk = serializers.SlugRelatedField(slug_field="name", queryset=Desk.objects.all(), required=False, allow_null=True)
    # people
    email = serializers.EmailField(required=False)
    role = serializers.ChoiceField(choices=ROLES, required=False)
    password = serializers.CharField(required=False, write_only=True, style={"input_type": "password"})
    expected_countries = serializers.ListField(child=serializers.CharField(max_length=2), required=False)
    employment_status = serializers.ChoiceField(choices=EmploymentStatus.choices, required=False)
    # non-person identities
    environment = serializers.ChoiceField(choices=Environment.choices, required=False)
    sponsor = PersonByUsernameField(required=False)
    sender_comp_ids = serializers.ListField(child=serializers.CharField(max_length=32), required=False)

    def validate(self, attrs):
        errors = {}
        if attrs["kind"] == IdentityKind.HUMAN:
            for name in ("email", "role", "password"):
                if not attrs.get(name):
                    errors[name] = ["This field is required for a person."]
            if attrs.get("password"):
                try:
                    validate_password(attrs["password"], User(username=attrs["username"]))
                except DjangoValidationError as exc:
                    errors["password"] = exc.messages
        else:
            for name in ("environment", "sponsor"):
                if not attrs.get(name):
                    errors[name] = ["This field is required for a non-person identity."]
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=200)


class RoleSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=ROLES)


class SponsorSerializer(serializers.Serializer):
    sponsor = PersonByUsernameField()


class IdentityViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """People and non-person identities. Lifecycle verbs are POSTs; sensitive ones need step-up in a session."""

    queryset = Identity.objects.for_list()
    serializer_class = IdentitySerializer
    filterset_class = IdentityFilter
    pagination_class = IdCursorPagination
    permission_classes = [DeclaredPermission, StepUpForSessions]
    required_permission = VIEW_IDENTITIES
    required_permission_by_action = {
        "create": MANAGE_IDENTITIES,
        "suspend": SUSPEND_IDENTITIES,
        "reactivate": MANAGE_IDENTITIES,
        "revoke": MANAGE_IDENTITIES,
        "role": MANAGE_IDENTITIES,
        "sponsor": MANAGE_IDENTITIES,
    }
    step_up_actions = ("create", "suspend", "reactivate", "revoke", "role", "sponsor")

    def _respond(self, identity: Identity, code: int = status.HTTP_200_OK) -> Response:
        identity = Identity.objects.for_list().get(pk=identity.pk)
        return Response(IdentitySerializer(identity).data, status=code)

    @extend_schema(request=IdentityCreateSerializer, responses={201: IdentitySerializer})
    def create(self, request):
        data = IdentityCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        if v["kind"] == IdentityKind.HUMAN:
            user = actions.create_identity(
                request.user,
                username=v["username"],
                email=v["email"],
                full_name=v["display_name"],
                role=v["role"],
                password=v["password"],
                desk=v.get("desk"),
                expected_countries=v.get("expected_countries", []),
                employment_status=v.get("employment_status", EmploymentStatus.EMPLOYEE),
                request=request,
            )
            identity = user.identity
        else:
            identity = actions.create_non_person_identity(
                request.user,
                name=v["username"],
                kind=v["kind"],
                display_name=v["display_name"],
                sponsor=v["sponsor"],
                environment=v["environment"],
                sender_comp_ids=v.get("sender_comp_ids", []),
                desk=v.get("desk"),
                request=request,
            )
        return self._respond(identity, status.HTTP_201_CREATED)

    def _payload(self, serializer_class):
        payload = serializer_class(data=self.request.data)
        payload.is_valid(raise_exception=True)
        return payload.validated_data

    @extend_schema(request=ReasonSerializer, responses=IdentitySerializer)
    @action(detail=True, methods=["post"])
    def suspend(self, request, pk=None):
        reason = self._payload(ReasonSerializer)["reason"]
        return self._respond(actions.suspend_identity(request.user, self.get_object(), reason=reason, request=request))

    @extend_schema(request=None, responses=IdentitySerializer)
    @action(detail=True, methods=["post"])
    def reactivate(self, request, pk=None):
        return self._respond(actions.reactivate_identity(request.user, self.get_object(), request=request))

    @extend_schema(request=ReasonSerializer, responses=IdentitySerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        reason = self._payload(ReasonSerializer)["reason"]
        return self._respond(actions.revoke_identity(request.user, self.get_object(), reason=reason, request=request))

    @extend_schema(request=RoleSerializer, responses={200: IdentitySerializer, 202: RoleGrantSerializer})
    @action(detail=True, methods=["post"])
    def role(self, request, pk=None):
        """A non-privileged role applies at once (200); a privileged one is a request to approve (202)."""
        identity = self.get_object()
        if not identity.is_human:
            raise actions.ActionError("roles belong to people; non-person identities have none", field="role")
        grant = actions.change_role(request.user, identity.user, self._payload(RoleSerializer)["role"], request=request)
        if grant is not None:
            return Response(RoleGrantSerializer(grant).data, status=status.HTTP_202_ACCEPTED)
        return self._respond(identity)

    @extend_schema(request=SponsorSerializer, responses=IdentitySerializer)
    @action(detail=True, methods=["post"])
    def sponsor(self, request, pk=None):
        sponsor = self._payload(SponsorSerializer)["sponsor"]
        return self._respond(actions.change_sponsor(request.user, self.get_object(), sponsor, request=request))
