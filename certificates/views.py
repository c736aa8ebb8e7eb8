"""Certificate pages: list, detail, issue from a CSR, renew, revoke, requests, TLS profile, compliance, and
the public PKI endpoints (chain and CRL), which need no sign-in as CRLs never do."""

from __future__ import annotations

import base64
from urllib.parse import unquote

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from accounts.stepup import StepUpRequiredMixin
from certificates import actions, pki, selectors
from certificates.filters import CertificateFilter
from certificates.forms import IssueForm, RejectForm, RenewForm, RequestForm, RevokeForm, TlsProfileForm
from certificates.models import Certificate, CertificateRequest, RequestStatus
from certificates.profiles import ensure_default_profiles
from ztconsole.core.action_views import ActionView
from ztconsole.core.keyset import Keyset, html_page, query_without_cursor
from ztconsole.core.models import AuditEvent
from ztconsole.core.permissions import PUBLIC, ConsoleView
from ztconsole.core.roles import (
    ISSUE_CERTIFICATES,
    MANAGE_TLS_PROFILE,
    REQUEST_CERTIFICATE,
    REVOKE_CERTIFICATES,
    VIEW_AUDIT,
    VIEW_CERTIFICATES,
)

LIST_ORDER = Keyset(("-created_at", "-id"))


def _visible(request: HttpRequest):
    return Certificate.objects.for_list().restrict(request.user)


def _form_error(form, exc: actions.CertificateError) -> None:
    form.add_error(exc.field if exc.field in form.fields else None, str(exc))


class CertificateListView(ConsoleView, View):
    """Filter by identity, profile, status and expiry; issuers and auditors see all, others their own."""

    permission_required = VIEW_CERTIFICATES

    def get(self, request: HttpRequest) -> HttpResponse:
        ensure_default_profiles()
        filterset = CertificateFilter(request.GET, queryset=_visible(request))
        queryset = filterset.qs if filterset.is_valid() else Certificate.objects.none()
        context = {
            "filter": filterset,
            "page_obj": html_page(request, queryset, LIST_ORDER),
            "query": query_without_cursor(request),
            "can_issue": request.user.has_perm(ISSUE_CERTIFICATES),
            "can_request": request.user.has_perm(REQUEST_CERTIFICATE),
            "crl": actions.current_crl(),
            "ocsp_url": request.build_absolute_uri(reverse("pki-ocsp")),
        }
        return render(request, "certificates/list.html", context)


class CertificateDetailView(ConsoleView, View):
    """The decoded certificate, its pins and chain, and the revoke and renew forms for those who may."""

    permission_required = VIEW_CERTIFICATES

    def _render(self, request, cert, status=200, **forms) -> HttpResponse:
        decoded = pki.decode(pki.load_certificate(cert.pem))
        can_audit = request.user.has_perm(VIEW_AUDIT)
        context = {
            "cert": cert,
            "decoded": decoded,
            "chain": [cert.issuer, *([cert.issuer.parent] if cert.issuer.parent else [])],
            "violations": selectors.violations(cert),
            "can_revoke": request.user.has_perm(REVOKE_CERTIFICATES),
            "can_issue": request.user.has_perm(ISSUE_CERTIFICATES),
            "revoke_form": forms.get("revoke_form") or RevokeForm(),
            "renew_form": forms.get("renew_form") or RenewForm(),
            "events": AuditEvent.objects.filter(target_type="certificates.certificate", target_id=str(cert.pk))[:25]
            if can_audit
            else [],
            "can_audit": can_audit,
        }
        return render(request, "certificates/detail.html", context, status=status)

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        return self._render(request, get_object_or_404(_visible(request), pk=pk))


class CertificateDownloadView(ConsoleView, View):
    """The certificate alone, or with its issuing chain (leaf first), as a PEM file to save."""

    permission_required = VIEW_CERTIFICATES
    full_chain = False

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        cert = get_object_or_404(_visible(request).select_related("issuer__parent"), pk=pk)
        parts = [cert.pem]
        if self.full_chain:
            parts.append(cert.issuer.certificate_pem)
            if cert.issuer.parent is not None:
                parts.append(cert.issuer.parent.certificate_pem)
        body = "".join(part if part.endswith("\n") else part + "\n" for part in parts)
        name = f"{cert.identity.user.get_username()}-{cert.serial[:16]}{'-fullchain' if self.full_chain else ''}.pem"
        response = HttpResponse(body, content_type="application/x-pem-file")
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response


class CertificateIssueView(ConsoleView, StepUpRequiredMixin, View):
    permission_required = ISSUE_CERTIFICATES
    template_name = "certificates/issue.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        ensure_default_profiles()
        initial = {"profile": "fix-client", "identity": request.GET.get("identity")}
        return render(request, self.template_name, {"form": IssueForm(initial=initial)})

    def post(self, request: HttpRequest) -> HttpResponse:
        ensure_default_profiles()
        form = IssueForm(request.POST, request.FILES)
        if form.is_valid():
            data = form.cleaned_data
            try:
                cert = actions.issue_from_csr(
                    request.user,
                    identity=data["identity"],
                    profile=data["profile"],
                    csr_pem=data["csr"],
                    lifetime_days=data["lifetime_days"],
                    request=request,
                )
            except actions.CertificateError as exc:
                _form_error(form, exc)
            else:
                messages.success(request, f"Certificate {cert.serial} issued for {cert.identity}.")
                return redirect("certificates:detail", pk=cert.pk)
        return render(request, self.template_name, {"form": form}, status=400)


class CertificateRevokeView(ConsoleView, StepUpRequiredMixin, View):
    """POST-only; a fresh OTP (step-up) is needed; the CRL is re-signed at once."""

    permission_required = REVOKE_CERTIFICATES
    http_method_names = ["post"]

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        cert = get_object_or_404(Certificate.objects.for_list(), pk=pk)
        form = RevokeForm(request.POST)
        if form.is_valid():
            try:
                actions.revoke_certificate(
                    request.user,
                    cert,
                    reason=form.cleaned_data["reason"],
                    comment=form.cleaned_data["comment"],
                    request=request,
                )
            except actions.CertificateError as exc:
                _form_error(form, exc)
            else:
                messages.success(request, f"Certificate {cert.serial} revoked ({form.cleaned_data['reason']}).")
                return redirect("certificates:detail", pk=cert.pk)
        view = CertificateDetailView()
        view.request = request
        return view._render(request, cert, status=400, revoke_form=form)


class CertificateRenewView(ConsoleView, StepUpRequiredMixin, View):
    permission_required = ISSUE_CERTIFICATES
    http_method_names = ["post"]

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        cert = get_object_or_404(Certificate.objects.for_list(), pk=pk)
        form = RenewForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                new = actions.renew_certificate(
                    request.user,
                    cert,
                    csr_pem=form.cleaned_data.get("csr") or None,
                    revoke_old=form.cleaned_data["revoke_old"],
                    lifetime_days=form.cleaned_data["lifetime_days"],
                    request=request,
                )
            except actions.CertificateError as exc:
                _form_error(form, exc)
            else:
                messages.success(request, f"Renewed as {new.serial}; {cert.serial} is superseded.")
                return redirect("certificates:detail", pk=new.pk)
        view = CertificateDetailView()
        view.request = request
        return view._render(request, cert, status=400, renew_form=form)


class CertificateComplianceView(ConsoleView, View):
    """Active certificates that the current profiles would refuse: weak key, SHA-1, too long a lifetime."""

    permission_required = VIEW_CERTIFICATES

    def get(self, request: HttpRequest) -> HttpResponse:
        rows = selectors.noncompliant(_visible(request))
        return render(request, "certificates/compliance.html", {"rows": rows})


class TlsProfileView(ConsoleView, StepUpRequiredMixin, View):
    """Everyone who reads certificates sees the TLS profile; security officers edit it."""

    template_name = "certificates/tls_profile.html"

    def get_permission_required(self):
        return (MANAGE_TLS_PROFILE,) if self.request.method == "POST" else (VIEW_CERTIFICATES,)

    def _render(self, request, form, status=200) -> HttpResponse:
        profile = actions.tls_profile()
        context = {"form": form, "profile": profile, "can_edit": request.user.has_perm(MANAGE_TLS_PROFILE)}
        return render(request, self.template_name, context, status=status)

    def get(self, request: HttpRequest) -> HttpResponse:
        profile = actions.tls_profile()
        form = TlsProfileForm(
            initial={
                "min_version": profile.min_version,
                "tls12_ciphers": "\n".join(profile.tls12_ciphers),
                "tls13_suites": "\n".join(profile.tls13_suites),
            }
        )
        return self._render(request, form)

    def post(self, request: HttpRequest) -> HttpResponse:
        form = TlsProfileForm(request.POST)
        if form.is_valid():
            try:
                actions.update_tls_profile(request.user, **form.cleaned_data, request=request)
            except actions.CertificateError as exc:
                _form_error(form, exc)
            else:
                messages.success(request, "TLS profile saved; enforcement points pick it up with the next bundle.")
                return redirect("certificates:tls_profile")
        return self._render(request, form, status=400)


# --- requests by sponsors ------------------------------------------------------------------------


class RequestListView(ConsoleView, View):
    permission_required = VIEW_CERTIFICATES

    def get(self, request: HttpRequest) -> HttpResponse:
        queryset = CertificateRequest.objects.select_related("identity", "profile", "requested_by", "certificate")
        can_approve = request.user.has_perm(ISSUE_CERTIFICATES)
        if not (can_approve or request.user.has_perm(VIEW_AUDIT)):
            queryset = queryset.filter(requested_by=request.user)
        context = {
            "pending": queryset.filter(status=RequestStatus.PENDING)[:200],
            "decided": queryset.exclude(status=RequestStatus.PENDING)[:50],
            "can_approve": can_approve,
            "can_request": request.user.has_perm(REQUEST_CERTIFICATE),
            "reject_form": RejectForm(),
        }
        return render(request, "certificates/requests.html", context)


class RequestCreateView(ConsoleView, View):
    """A sponsor submits a CSR for one of their non-person identities; it waits for an issuer."""

    permission_required = REQUEST_CERTIFICATE
    template_name = "certificates/request_new.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        ensure_default_profiles()
        return render(request, self.template_name, {"form": RequestForm(user=request.user)})

    def post(self, request: HttpRequest) -> HttpResponse:
        ensure_default_profiles()
        form = RequestForm(request.POST, request.FILES, user=request.user)
        if form.is_valid():
            data = form.cleaned_data
            try:
                pending = actions.request_certificate(
                    request.user,
                    identity=data["identity"],
                    profile=data["profile"],
                    csr_pem=data["csr"],
                    lifetime_days=data["lifetime_days"],
                    request=request,
                )
            except actions.CertificateError as exc:
                _form_error(form, exc)
            else:
                messages.success(request, f"Request #{pending.pk} submitted; a security officer approves it.")
                return redirect("certificates:requests")
        return render(request, self.template_name, {"form": form}, status=400)


class RequestDecisionView(ConsoleView, StepUpRequiredMixin, ActionView):
    permission_required = ISSUE_CERTIFICATES
    verb = ""
    issued: Certificate | None = None

    def get_object(self) -> CertificateRequest:
        return get_object_or_404(CertificateRequest.objects.select_related("identity", "profile"), pk=self.kwargs["pk"])

    def success_url(self) -> str:
        if self.issued is not None:
            return reverse("certificates:detail", kwargs={"pk": self.issued.pk})
        return reverse("certificates:requests")

    def refusal_message(self, exc) -> str:
        return f"Request #{self.object.pk}: {exc}"

    def act(self) -> str | HttpResponse:
        request, pending = self.request, self.object
        if self.verb == "approve":
            self.issued = actions.approve_certificate_request(request.user, pending, request=request)
            return f"Request #{pending.pk} approved: certificate {self.issued.serial} issued."
        form = RejectForm(request.POST)
        if not form.is_valid():
            messages.error(request, "Give a reason for the rejection.")
            return redirect("certificates:requests")
        actions.reject_certificate_request(request.user, pending, reason=form.cleaned_data["reason"], request=request)
        return f"Request #{pending.pk} rejected."


# --- public PKI endpoints ---------------------------------------------------------------------------


class _PublicPki(View):
    permission_required = PUBLIC
    http_method_names = ["get", "head"]


class CrlView(_PublicPki):
    der = False

    def get(self, request: HttpRequest) -> HttpResponse:
        state = actions.current_crl()
        if state is None:
            raise Http404("no CRL yet")
        body = bytes(state.der)
        if self.der:
            response = HttpResponse(body, content_type="application/pkix-crl")
        else:
            response = HttpResponse(actions.crl_pem(body), content_type="application/x-pem-file")
        response["Cache-Control"] = "public, max-age=60"
        response["Last-Modified"] = state.last_update.strftime("%a, %d %b %Y %H:%M:%S GMT")
        return response


@method_decorator(csrf_exempt, name="dispatch")  # OCSP clients post DER, never a form with a CSRF token
class OcspView(_PublicPki):
    """RFC 6960 responder: POST application/ocsp-request, or GET /pki/ocsp/<base64 request>."""

    http_method_names = ["get", "post"]

    def _answer(self, data: bytes) -> HttpResponse:
        return HttpResponse(actions.ocsp_response(data), content_type="application/ocsp-response")

    def post(self, request: HttpRequest) -> HttpResponse:
        return self._answer(request.body[:65536])

    def get(self, request: HttpRequest, encoded: str = "") -> HttpResponse:
        try:
            data = base64.b64decode(unquote(encoded), validate=False)
        except ValueError:
            data = b""
        return self._answer(data)


class ChainView(_PublicPki):
    def get(self, request: HttpRequest) -> HttpResponse:
        try:
            body = actions.chain_pem()
        except actions.CertificateError:
            raise Http404("no certificate authority yet") from None
        return HttpResponse(body, content_type="application/x-pem-file")
