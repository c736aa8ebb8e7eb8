"""/api/v1/certificates/: list, read, issue from a CSR, revoke, renew; /api/v1/tls-profile/ for the PEPs."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Identity
from certificates import actions, selectors
from certificates.api.serializers import (
    CertificateDetailSerializer,
    CertificateSerializer,
    IssueSerializer,
    RenewSerializer,
    RevokeSerializer,
)
from certificates.filters import CertificateFilter
from certificates.models import Certificate
from certificates.profiles import ensure_default_profiles
from ztconsole.core.pagination import IdCursorPagination, parse_position
from ztconsole.core.permissions import DeclaredPermission, StepUpForSessions
from ztconsole.core.roles import ISSUE_CERTIFICATES, REVOKE_CERTIFICATES, VIEW_CERTIFICATES


class CertificateViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Certificates we issued. Issue, renew and revoke call the same actions as the pages."""

    queryset = Certificate.objects.none()  # the real one is per user: get_queryset
    serializer_class = CertificateSerializer
    filterset_class = CertificateFilter
    pagination_class = IdCursorPagination
    permission_classes = [DeclaredPermission, StepUpForSessions]
    required_permission = VIEW_CERTIFICATES
    required_permission_by_action = {
        "create": ISSUE_CERTIFICATES,
        "renew": ISSUE_CERTIFICATES,
        "revoke": REVOKE_CERTIFICATES,
    }
    step_up_actions = ("create", "renew", "revoke")

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Certificate.objects.none()
        return Certificate.objects.for_list().restrict(self.request.user)

    def get_serializer_class(self):
        return CertificateDetailSerializer if self.action != "list" else CertificateSerializer

    def _payload(self, serializer_class):
        payload = serializer_class(data=self.request.data)
        payload.is_valid(raise_exception=True)
        return payload.validated_data

    def _respond(self, cert: Certificate, code=status.HTTP_200_OK) -> Response:
        return Response(CertificateDetailSerializer(Certificate.objects.for_list().get(pk=cert.pk)).data, status=code)

    @extend_schema(request=IssueSerializer, responses={201: CertificateDetailSerializer})
    def create(self, request):
        ensure_default_profiles()
        data = self._payload(IssueSerializer)
        cert = actions.issue_from_csr(
            request.user,
            identity=data["identity"],
            profile=data["profile"],
            csr_pem=data["csr"],
            lifetime_days=data.get("lifetime_days"),
            request=request,
        )
        return self._respond(cert, status.HTTP_201_CREATED)

    @extend_schema(request=RevokeSerializer, responses=CertificateDetailSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        data = self._payload(RevokeSerializer)
        cert = actions.revoke_certificate(
            request.user, self.get_object(), reason=data["reason"], comment=data["comment"], request=request
        )
        return self._respond(cert)

    @extend_schema(request=RenewSerializer, responses={201: CertificateDetailSerializer})
    @action(detail=True, methods=["post"])
    def renew(self, request, pk=None):
        data = self._payload(RenewSerializer)
        cert = actions.renew_certificate(
            request.user,
            self.get_object(),
            csr_pem=data.get("csr") or None,
            revoke_old=data["revoke_old"],
            lifetime_days=data.get("lifetime_days"),
            request=request,
        )
        return self._respond(cert, status.HTTP_201_CREATED)

    @extend_schema(
        parameters=[OpenApiParameter("identity", OpenApiTypes.INT, required=True)],
        responses={200: OpenApiTypes.OBJECT},
    )
    @action(detail=False, methods=["get"])
    def pinset(self, request):
        """SHA-256 pins (whole certificate and SPKI) of an identity's usable certificates, for rollover."""
        ref = request.query_params.get("identity", "")
        identity_id = parse_position(ref)
        if identity_id is None:
            raise ValidationError({"identity": ["give the identity's id"]})
        identity = Identity.objects.filter(pk=identity_id).first()
        if identity is None or not self.get_queryset().filter(identity=identity).exists():
            raise ValidationError({"identity": [f"no certificates visible for identity {ref}"]})
        return Response({"identity": identity.pk, "pins": selectors.pinset(identity)})


class TlsProfileApiView(APIView):
    """The TLS profile as enforcement points apply it."""

    required_permission = VIEW_CERTIFICATES

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request):
        return Response(actions.tls_profile().export())
