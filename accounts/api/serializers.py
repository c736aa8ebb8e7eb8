from django.conf import settings
from django.contrib.auth import get_user_model
from rest_framework import serializers

from accounts.models import ApiToken, ApiTokenScope
from ztconsole.core.fields import BlankAsNullEmailField
from ztconsole.core.roles import role_of

User = get_user_model()


class MeSerializer(serializers.Serializer):
    username = serializers.CharField()
    email = BlankAsNullEmailField()
    role = serializers.CharField(allow_null=True)
    permissions = serializers.ListField(child=serializers.CharField())
    authenticated_by = serializers.ChoiceField(choices=["api_token", "session"])

    @staticmethod
    def describe(user, auth) -> dict:
        return {
            "username": user.get_username(),
            "email": user.email,
            "role": role_of(user),
            "permissions": sorted(user.get_all_permissions()),
            "authenticated_by": "api_token" if isinstance(auth, ApiToken) else "session",
        }


class ApiTokenSerializer(serializers.ModelSerializer):
    identity = serializers.SlugRelatedField(
        source="user",
        slug_field="username",
        queryset=User.objects.filter(is_active=True).exclude(identity__kind="human"),
        help_text="A non-person identity (service, algorithm, FIX gateway).",
    )
    days = serializers.IntegerField(write_only=True, min_value=1, max_value=settings.ZT_API_TOKEN_MAX_DAYS, default=90)
    scope = serializers.ChoiceField(choices=ApiTokenScope.choices, default=ApiTokenScope.READ)
    status = serializers.CharField(read_only=True)
    token = serializers.SerializerMethodField(help_text="The token itself: present once, in the create response.")
    device = serializers.PrimaryKeyRelatedField(
        read_only=True,
        allow_null=True,
        help_text="Set on a device-scoped token: it may only report that device's posture.",
    )

    class Meta:
        model = ApiToken
        fields = [
            "id",
            "identity",
            "name",
            "scope",
            "days",
            "status",
            "prefix",
            "created_at",
            "expires_at",
            "last_used_at",
            "revoked_at",
            "device",
            "token",
        ]
        read_only_fields = ["id", "prefix", "created_at", "expires_at", "last_used_at", "revoked_at"]

    def get_token(self, obj) -> str | None:
        return self.context.get("plaintext")
