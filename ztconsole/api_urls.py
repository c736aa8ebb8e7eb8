from django.middleware.csrf import get_token
from django.shortcuts import render
from django.urls import path, re_path
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView
from rest_framework.renderers import JSONRenderer, TemplateHTMLRenderer
from rest_framework.routers import SimpleRouter
from rest_framework.views import APIView

from accounts.api.devices import DevicePostureView, DeviceViewSet
from accounts.api.grants import RoleGrantViewSet
from accounts.api.identities import IdentityViewSet
from accounts.api.views import ApiTokenViewSet, MeView
from certificates.api.views import CertificateViewSet, TlsProfileApiView
from policies.api.views import (
    AccessRuleViewSet,
    BandsApiView,
    CountryRangeViewSet,
    FlowViewSet,
    NetworkZoneViewSet,
    PublicationViewSet,
    RiskRuleViewSet,
    SegmentViewSet,
    TestCaseViewSet,
)
from policies.distribution.api import EnforcementBundleView, EnforcementPointViewSet
from sessions.api import DecisionViewSet, EnforcementEventsView, FixSessionViewSet
from ztconsole.core.api import AuditEventList
from ztconsole.core.roles import VIEW_API_DOCS


class SchemaView(SpectacularAPIView):
    required_permission = VIEW_API_DOCS


class SwaggerView(APIView):
    """Swagger UI inside the console's frame: our static files only (the sidecar's copy), no inline script."""

    required_permission = VIEW_API_DOCS
    renderer_classes = [TemplateHTMLRenderer, JSONRenderer]  # HTML page; refusals answer in the asked format

    @extend_schema(exclude=True)
    def get(self, request):
        from django.urls import reverse

        context = {"schema_url": reverse("api-schema"), "csrf_token": get_token(request._request)}
        return render(request._request, "core/api_docs.html", context)


router = SimpleRouter()
router.register("tokens", ApiTokenViewSet, basename="api-token")
router.register("identities", IdentityViewSet, basename="api-identity")
router.register("role-grants", RoleGrantViewSet, basename="api-role-grant")
router.register("devices", DeviceViewSet, basename="api-device")
router.register("certificates", CertificateViewSet, basename="api-certificate")
router.register("policy/segments", SegmentViewSet, basename="api-policy-segment")
router.register("policy/flows", FlowViewSet, basename="api-policy-flow")
router.register("policy/access-rules", AccessRuleViewSet, basename="api-policy-access-rule")
router.register("policy/risk-rules", RiskRuleViewSet, basename="api-policy-risk-rule")
router.register("policy/network-zones", NetworkZoneViewSet, basename="api-policy-zone")
router.register("policy/country-ranges", CountryRangeViewSet, basename="api-policy-country")
router.register("policy/test-cases", TestCaseViewSet, basename="api-policy-test-case")
router.register("policy/publications", PublicationViewSet, basename="api-policy-publication")
router.register("enforcement-points", EnforcementPointViewSet, basename="api-enforcement-point")
router.register("sessions", FixSessionViewSet, basename="api-session")
router.register("decisions", DecisionViewSet, basename="api-decision")

urlpatterns = [
    path("me/", MeView.as_view(), name="api-me"),
    path("audit/events/", AuditEventList.as_view(), name="api-audit-events"),
    path("tls-profile/", TlsProfileApiView.as_view(), name="api-tls-profile"),
    path("policy/bands/", BandsApiView.as_view(), name="api-policy-bands"),
    path("enforcement/bundle", EnforcementBundleView.as_view(), name="api-enforcement-bundle"),
    path("enforcement/events", EnforcementEventsView.as_view(), name="api-enforcement-events"),
    path("schema/", SchemaView.as_view(), name="api-schema"),
    path("docs/", SwaggerView.as_view(), name="api-docs"),
    # Agents post with or without the trailing slash; both reach the same view.
    re_path(r"^devices/(?P<pk>[0-9]+)/posture/?$", DevicePostureView.as_view(), name="api-device-posture"),
    *router.urls,
]
