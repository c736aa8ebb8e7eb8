from rest_framework import serializers

from accounts.models import Desk, Environment, Identity
from policies.models import (
    AccessRule,
    CountryRange,
    NetworkZone,
    PolicyVersion,
    RiskRule,
    SavedTestCase,
    Segment,
    SegmentFlow,
    SegmentResource,
    SubjectKind,
)
from ztconsole.core.fields import StrictBooleanField


class ResourceSerializer(serializers.ModelSerializer):
    address = serializers.CharField(required=False, allow_blank=True, default="")
    venue = serializers.CharField(required=False, allow_blank=True, default="")
    name = serializers.CharField(max_length=64)

    class Meta:
        model = SegmentResource
        fields = ["name", "address", "venue"]


class SegmentSerializer(serializers.ModelSerializer):
    resources = ResourceSerializer(many=True)

    class Meta:
        model = Segment
        fields = ["id", "environment", "name", "description", "resources", "updated_at"]
        read_only_fields = ["id", "updated_at"]
        validators = []  # uniqueness is the action's check (a 400 naming the field)


class SegmentUpdateSerializer(serializers.Serializer):
    description = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)
    resources = ResourceSerializer(many=True)


class FlowSerializer(serializers.ModelSerializer):
    source = serializers.PrimaryKeyRelatedField(queryset=Segment.objects.all())
    destination = serializers.PrimaryKeyRelatedField(queryset=Segment.objects.all())
    port = serializers.IntegerField()

    class Meta:
        model = SegmentFlow
        fields = ["id", "environment", "source", "destination", "protocol", "port", "updated_at"]
        read_only_fields = ["id", "environment", "updated_at"]


class NetworkZoneSerializer(serializers.ModelSerializer):
    cidrs = serializers.ListField(child=serializers.CharField(max_length=64), allow_empty=True)
    name = serializers.CharField(max_length=64)

    class Meta:
        model = NetworkZone
        fields = ["id", "environment", "name", "cidrs", "updated_at"]
        read_only_fields = ["id", "updated_at"]
        validators = []


class CountryRangeSerializer(serializers.ModelSerializer):
    cidr = serializers.CharField(max_length=64)
    country = serializers.CharField(max_length=8)

    class Meta:
        model = CountryRange
        fields = ["id", "environment", "cidr", "country", "updated_at"]
        read_only_fields = ["id", "updated_at"]
        validators = []


class RiskRuleSerializer(serializers.ModelSerializer):
    name = serializers.CharField(max_length=64)
    score = serializers.IntegerField()
    enabled = StrictBooleanField(required=False, help_text="Default true; omitted on PUT, the rule keeps its value.")

    class Meta:
        model = RiskRule
        fields = ["id", "environment", "name", "attribute", "condition", "score", "enabled", "updated_at"]
        read_only_fields = ["id", "updated_at"]
        validators = []


class AccessRuleSerializer(serializers.ModelSerializer):
    name = serializers.CharField(max_length=64)
    subject_kind = serializers.ChoiceField(choices=SubjectKind.choices)
    subject_identity = serializers.PrimaryKeyRelatedField(
        queryset=Identity.objects.all(), required=False, allow_null=True
    )
    subject_desk = serializers.PrimaryKeyRelatedField(queryset=Desk.objects.all(), required=False, allow_null=True)
    subject_role = serializers.CharField(required=False, allow_blank=True, default="")
    target_segment = serializers.PrimaryKeyRelatedField(queryset=Segment.objects.all(), required=False, allow_null=True)
    target_resource = serializers.PrimaryKeyRelatedField(
        queryset=SegmentResource.objects.all(), required=False, allow_null=True
    )
    message_types = serializers.ListField(child=serializers.CharField(max_length=8))
    window = serializers.DictField(required=False, allow_null=True, default=None)
    expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    subject = serializers.CharField(source="subject_label", read_only=True)
    target = serializers.CharField(source="target_label", read_only=True)

    class Meta:
        model = AccessRule
        fields = [
            "id",
            "environment",
            "name",
            "subject_kind",
            "subject_identity",
            "subject_desk",
            "subject_role",
            "subject",
            "target_segment",
            "target_resource",
            "target",
            "message_types",
            "window",
            "expires_at",
            "updated_at",
        ]
        read_only_fields = ["id", "updated_at", "subject", "target"]
        validators = []


class TestCaseSerializer(serializers.ModelSerializer):
    name = serializers.CharField(max_length=100)
    request = serializers.DictField()

    class Meta:
        model = SavedTestCase
        fields = ["id", "environment", "name", "request", "expected_outcome", "updated_at"]
        read_only_fields = ["id", "updated_at"]
        validators = []


class BandsSerializer(serializers.Serializer):
    environment = serializers.ChoiceField(choices=Environment.choices)
    step_up = serializers.IntegerField()
    deny = serializers.IntegerField()


class PublicationSerializer(serializers.ModelSerializer):
    author = serializers.SlugRelatedField(slug_field="username", read_only=True)
    approver = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = PolicyVersion
        fields = [
            "id",
            "environment",
            "version",
            "state",
            "sha256",
            "kid",
            "author",
            "created_at",
            "expires_at",
            "approver",
            "approved_at",
            "rejection_reason",
            "rollback_of",
            "diff",
        ]
        read_only_fields = fields


class PublishSerializer(serializers.Serializer):
    environment = serializers.ChoiceField(choices=Environment.choices)


class RejectSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500)


class RollbackSerializer(serializers.Serializer):
    environment = serializers.ChoiceField(choices=Environment.choices)
    version = serializers.IntegerField(min_value=1)
