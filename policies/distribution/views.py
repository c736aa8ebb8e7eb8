"""Pages: the convergence ledger per environment, a point's detail, registration, editing, retirement."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views import View

from accounts.models import Environment
from accounts.stepup import StepUpRequiredMixin
from policies.distribution import actions, forms, selectors
from policies.distribution.models import EnforcementPoint, PointStatus
from ztconsole.core.permissions import ConsoleView
from ztconsole.core.roles import MANAGE_ENFORCEMENT_POINTS, VIEW_ENFORCEMENT_POINTS


def _environment(request: HttpRequest) -> str:
    value = request.GET.get("environment") or Environment.PROD
    return value if value in Environment.values else Environment.PROD


def _form_error(form, exc: actions.DistributionError) -> None:
    form.add_error(exc.field if exc.field in form.fields else None, str(exc))


class LedgerView(ConsoleView, View):
    """Every point of one environment: acknowledged version and hash, lag, last contact, last refusal; live."""

    permission_required = VIEW_ENFORCEMENT_POINTS

    def get(self, request: HttpRequest) -> HttpResponse:
        environment = _environment(request)
        ledger = selectors.ledger(environment)
        return render(
            request,
            "policies/enforcement_ledger.html",
            {
                **ledger,
                "environment": environment,
                "environments": Environment.choices,
                "can_manage": request.user.has_perm(MANAGE_ENFORCEMENT_POINTS),
            },
        )


class PointDetailView(ConsoleView, View):
    permission_required = VIEW_ENFORCEMENT_POINTS

    def _render(self, request, point, edit_form=None, retire_form=None, status=200) -> HttpResponse:
        context = {
            "point": point,
            "row": actions.point_row(point),
            "deliveries": point.deliveries.select_related("publication", "revocation").order_by("-created_at", "-id")[
                :30
            ],
            "alerts": point.alerts.all()[:20],
            "can_manage": request.user.has_perm(MANAGE_ENFORCEMENT_POINTS) and point.status != PointStatus.RETIRED,
            "edit_form": edit_form
            or forms.EditPointForm(
                initial={
                    "control_url": point.control_url,
                    "segments": ", ".join(point.segments),
                    "status": point.status,
                }
            ),
            "retire_form": retire_form or forms.RetirePointForm(),
        }
        return render(request, "policies/enforcement_point.html", context, status=status)

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        return self._render(request, get_object_or_404(EnforcementPoint.objects.select_related("certificate"), pk=pk))


class RegisterPointView(ConsoleView, StepUpRequiredMixin, View):
    """Registration issues the point's certificate: a fresh one-time code is required (step-up)."""

    permission_required = MANAGE_ENFORCEMENT_POINTS

    def get(self, request: HttpRequest) -> HttpResponse:
        form = forms.RegisterPointForm(initial={"environment": _environment(request)})
        return render(request, "policies/enforcement_register.html", {"form": form})

    def post(self, request: HttpRequest) -> HttpResponse:
        form = forms.RegisterPointForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                point, cert, token = actions.register_enforcement_point(
                    request.user,
                    name=data["name"],
                    environment=data["environment"],
                    control_url=data["control_url"],
                    csr_pem=data["csr"],
                    segments=data["segments"],
                    request=request,
                )
            except actions.DistributionError as exc:
                _form_error(form, exc)
            except actions.ActionError as exc:  # from the CA or accounts: a bad CSR, a taken identity name
                form.add_error(exc.field if exc.field in form.fields else None, str(exc))
            else:
                # The token and certificate are shown once, on this response only.
                return render(
                    request, "policies/enforcement_registered.html", {"point": point, "cert": cert, "token": token}
                )
        return render(request, "policies/enforcement_register.html", {"form": form}, status=400)


class EditPointView(ConsoleView, View):
    permission_required = MANAGE_ENFORCEMENT_POINTS
    http_method_names = ["post"]

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        point = get_object_or_404(EnforcementPoint, pk=pk)
        form = forms.EditPointForm(request.POST)
        if form.is_valid():
            try:
                actions.update_enforcement_point(request.user, point, request=request, **form.cleaned_data)
            except actions.DistributionError as exc:
                _form_error(form, exc)
            else:
                messages.success(request, f"{point.name} updated.")
                return redirect("policies:enforcement_point", pk=point.pk)
        return PointDetailView()._render(request, point, edit_form=form, status=400)


class RetirePointView(ConsoleView, StepUpRequiredMixin, View):
    permission_required = MANAGE_ENFORCEMENT_POINTS
    http_method_names = ["post"]

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        point = get_object_or_404(EnforcementPoint, pk=pk)
        form = forms.RetirePointForm(request.POST)
        if form.is_valid():
            try:
                actions.retire_enforcement_point(
                    request.user, point, reason=form.cleaned_data["reason"], request=request
                )
            except actions.DistributionError as exc:
                _form_error(form, exc)
            else:
                messages.success(request, f"{point.name} retired; its certificate is revoked.")
                return redirect(f"{reverse('policies:enforcement')}?environment={point.environment}")
        return PointDetailView()._render(request, point, retire_form=form, status=400)
