"""/api/v1/policy/: the draft objects of each environment, the bands, and publications (maker-checker).

Every write calls the same action as the pages; a refused action is a 400 naming the field.
"""

from __future__ import annotations

import json

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Environment
from policies import actions
from policies.api import serializers as s
from policies.compiler import bands_of
from policies.models import (
    AccessRule,
    CountryRange,
    NetworkZone,
    PolicyVersion,
    RiskRule,
    SavedTestCase,
    Segment,
    SegmentFlow,
)
from ztconsole.core.pagination import IdCursorPagination
from ztconsole.core.permissions import DeclaredPermission, StepUpForSessions
from ztconsole.core.roles import APPROVE_PUBLICATION, EDIT_POLICY, PUBLISH_POLICY, VIEW_POLICY

WRITES = ("create", "update", "destroy")
ENVIRONMENT_FILTER = OpenApiParameter(
    "environment", str, enum=list(Environment.values), description="Only this environment's objects."
)


def environment_filter(request) -> str | None:
    """The ``environment`` query filter: absent, or one of the environments (anything else is a 400)."""
    value = request.query_params.get("environment")
    if value is not None and value not in Environment.values:
        raise ValidationError({"environment": [f"one of {', '.join(Environment.values)}"]})
    return value


@extend_schema_view(list=extend_schema(parameters=[ENVIRONMENT_FILTER]))
class DraftViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Read with view_policy; create, replace (PUT) and delete with edit_policy and, for sessions, step-up."""

    pagination_class = IdCursorPagination
    permission_classes = [DeclaredPermission, StepUpForSessions]
    required_permission = VIEW_POLICY
    required_permission_by_action = dict.fromkeys(WRITES, EDIT_POLICY)
    step_up_actions = WRITES
    http_method_names = ["get", "post", "put", "delete", "head", "options"]
    model = Segment
    delete_verb = "delete_segment"

    def get_queryset(self):
        queryset = self.model.objects.all()
        environment = environment_filter(self.request)
        return queryset.filter(environment=environment) if environment else queryset

    def _data(self, serializer_class=None):
        payload = (serializer_class or self.get_serializer_class())(data=self.request.data)
        payload.is_valid(raise_exception=True)
        return payload.validated_data

    def _respond(self, obj, code=status.HTTP_200_OK) -> Response:
        return Response(self.get_serializer_class()(self.model.objects.get(pk=obj.pk)).data, status=code)

    def perform_destroy(self, instance):
        getattr(actions, self.delete_verb)(self.request.user, instance, request=self.request)


class SegmentViewSet(DraftViewSet):
    serializer_class = s.SegmentSerializer
    model = Segment

    def get_queryset(self):
        return super().get_queryset().prefetch_related("resources")

    def create(self, request, *args, **kwargs):
        data = self._data()
        segment = actions.create_segment(
            request.user,
            environment=data["environment"],
            name=data["name"],
            description=data.get("description", ""),
            resources=[dict(r) for r in data["resources"]],
            request=request,
        )
        return self._respond(segment, status.HTTP_201_CREATED)

    @extend_schema(request=s.SegmentUpdateSerializer, responses=s.SegmentSerializer)
    def update(self, request, *args, **kwargs):
        data = self._data(s.SegmentUpdateSerializer)
        segment = actions.update_segment(
            request.user,
            self.get_object(),
            description=data["description"],
            resources=[dict(r) for r in data["resources"]],
            request=request,
        )
        return self._respond(segment)


class FlowViewSet(DraftViewSet):
    serializer_class = s.FlowSerializer
    model = SegmentFlow
    delete_verb = "delete_flow"
    http_method_names = ["get", "post", "delete", "head", "options"]

    def get_queryset(self):
        return super().get_queryset().select_related("source", "destination")

    def create(self, request, *args, **kwargs):
        data = self._data()
        flow = actions.create_flow(request.user, request=request, **data)
        return self._respond(flow, status.HTTP_201_CREATED)


class NetworkZoneViewSet(DraftViewSet):
    serializer_class = s.NetworkZoneSerializer
    model = NetworkZone
    delete_verb = "delete_network_zone"

    def create(self, request, *args, **kwargs):
        data = self._data()
        zone = actions.create_network_zone(
            request.user, environment=data["environment"], name=data["name"], cidrs=data["cidrs"], request=request
        )
        return self._respond(zone, status.HTTP_201_CREATED)

    def update(self, request, *args, **kwargs):
        data = self._data()
        zone = actions.update_network_zone(request.user, self.get_object(), cidrs=data["cidrs"], request=request)
        return self._respond(zone)


class CountryRangeViewSet(DraftViewSet):
    serializer_class = s.CountryRangeSerializer
    model = CountryRange
    delete_verb = "delete_country_range"
    http_method_names = ["get", "post", "delete", "head", "options"]

    def create(self, request, *args, **kwargs):
        data = self._data()
        entry = actions.create_country_range(
            request.user, environment=data["environment"], cidr=data["cidr"], country=data["country"], request=request
        )
        return self._respond(entry, status.HTTP_201_CREATED)


class RiskRuleViewSet(DraftViewSet):
    serializer_class = s.RiskRuleSerializer
    model = RiskRule
    delete_verb = "delete_risk_rule"

    def create(self, request, *args, **kwargs):
        data = self._data()
        rule = actions.create_risk_rule(request.user, request=request, **data)
        return self._respond(rule, status.HTTP_201_CREATED)

    def update(self, request, *args, **kwargs):
        rule = self.get_object()
        data = dict(self._data())
        data.pop("environment", None), data.pop("name", None)
        data.setdefault("enabled", rule.enabled)  # optional in the schema: an omitted flag keeps its value
        rule = actions.update_risk_rule(request.user, rule, request=request, **data)
        return self._respond(rule)


class AccessRuleViewSet(DraftViewSet):
    serializer_class = s.AccessRuleSerializer
    model = AccessRule
    delete_verb = "delete_access_rule"

    def get_queryset(self):
        return (
            super()
            .get_queryset()
            .select_related("subject_identity__user", "subject_desk", "target_segment", "target_resource")
        )

    def create(self, request, *args, **kwargs):
        data = dict(self._data())
        rule = actions.create_access_rule(
            request.user, environment=data.pop("environment"), name=data.pop("name"), request=request, **data
        )
        return self._respond(rule, status.HTTP_201_CREATED)

    def update(self, request, *args, **kwargs):
        data = dict(self._data())
        data.pop("environment", None), data.pop("name", None)
        rule = actions.update_access_rule(request.user, self.get_object(), request=request, **data)
        return self._respond(rule)


class TestCaseViewSet(DraftViewSet):
    serializer_class = s.TestCaseSerializer
    model = SavedTestCase
    delete_verb = "delete_test_case"
    http_method_names = ["get", "post", "delete", "head", "options"]

    def create(self, request, *args, **kwargs):
        data = self._data()
        case = actions.create_test_case(
            request.user,
            environment=data["environment"],
            name=data["name"],
            request_data=data["request"],
            expected_outcome=data["expected_outcome"],
            request=request,
        )
        return self._respond(case, status.HTTP_201_CREATED)


class BandsApiView(APIView):
    """GET ?environment=prod: the draft's bands; PUT to change them (edit_policy, step-up for sessions)."""

    permission_classes = [DeclaredPermission, StepUpForSessions]
    required_permission = {"GET": VIEW_POLICY, "PUT": EDIT_POLICY}
    step_up_actions = ("put",)

    @property
    def action(self):
        return self.request.method.lower() if getattr(self, "request", None) else None

    @extend_schema(responses=s.BandsSerializer, parameters=[ENVIRONMENT_FILTER])
    def get(self, request):
        environment = request.query_params.get("environment", Environment.PROD)
        if environment not in Environment.values:
            return Response({"environment": [f"one of {', '.join(Environment.values)}"]}, status=400)
        return Response({"environment": environment, **bands_of(environment)})

    @extend_schema(request=s.BandsSerializer, responses=s.BandsSerializer)
    def put(self, request):
        payload = s.BandsSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        bands = actions.update_bands(request.user, request=request, **payload.validated_data)
        return Response({"environment": bands.environment, "step_up": bands.step_up, "deny": bands.deny})


@extend_schema_view(list=extend_schema(parameters=[ENVIRONMENT_FILTER]))
class PublicationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Versions: request (POST), approve and reject (a second officer), rollback; the bundle on retrieve."""

    serializer_class = s.PublicationSerializer
    pagination_class = IdCursorPagination
    permission_classes = [DeclaredPermission, StepUpForSessions]
    required_permission = VIEW_POLICY
    required_permission_by_action = {
        "create": PUBLISH_POLICY,
        "rollback": PUBLISH_POLICY,
        "approve": APPROVE_PUBLICATION,
        "reject": APPROVE_PUBLICATION,
    }
    step_up_actions = ("create", "rollback", "approve", "reject")

    def get_queryset(self):
        queryset = PolicyVersion.objects.select_related("author", "approver")
        environment = environment_filter(self.request)
        return queryset.filter(environment=environment) if environment else queryset

    def _payload(self, serializer_class):
        payload = serializer_class(data=self.request.data)
        payload.is_valid(raise_exception=True)
        return payload.validated_data

    def _respond(self, pv, code=status.HTTP_200_OK) -> Response:
        return Response(s.PublicationSerializer(PolicyVersion.objects.get(pk=pv.pk)).data, status=code)

    def retrieve(self, request, *args, **kwargs):
        pv = self.get_object()
        return Response({**s.PublicationSerializer(pv).data, "bundle": json.loads(pv.bundle)})

    @extend_schema(request=s.PublishSerializer, responses={201: s.PublicationSerializer})
    def create(self, request):
        data = self._payload(s.PublishSerializer)
        pv = actions.request_publication(request.user, environment=data["environment"], request=request)
        return self._respond(pv, status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=s.PublicationSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        return self._respond(actions.approve_publication(request.user, self.get_object(), request=request))

    @extend_schema(request=s.RejectSerializer, responses=s.PublicationSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        data = self._payload(s.RejectSerializer)
        pv = actions.reject_publication(request.user, self.get_object(), reason=data["reason"], request=request)
        return self._respond(pv)

    @extend_schema(request=s.RollbackSerializer, responses={201: s.PublicationSerializer})
    @action(detail=False, methods=["post"])
    def rollback(self, request):
        data = self._payload(s.RollbackSerializer)
        pv = actions.rollback_to(
            request.user, environment=data["environment"], version=data["version"], request=request
        )
        return self._respond(pv, status.HTTP_201_CREATED)
