"""Device pages: the list, registration, a device with its posture history, and the administrator's verbs."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views import View

from accounts import actions
from accounts.filters import DeviceFilter
from accounts.forms import DeviceRegisterForm, DeviceTokenForm, ReasonForm
from accounts.models import DeviceRegistration, Identity
from accounts.stepup import StepUpRequiredMixin
from ztconsole.core.action_views import ActionView
from ztconsole.core.keyset import Keyset, html_page, query_without_cursor
from ztconsole.core.models import AuditEvent
from ztconsole.core.permissions import ConsoleView
from ztconsole.core.roles import MANAGE_DEVICES, VIEW_AUDIT, VIEW_DEVICES

LIST_ORDER = Keyset(("serial", "id"))
HISTORY_SIZE = 25


def _visible_devices(request: HttpRequest):
    return DeviceRegistration.objects.for_list().restrict(request.user)


class DeviceListView(ConsoleView, View):
    """Filterable and paginated; a fixed number of queries whatever the page holds. Traders see their own."""

    permission_required = VIEW_DEVICES

    def get(self, request: HttpRequest) -> HttpResponse:
        filterset = DeviceFilter(request.GET, queryset=_visible_devices(request))
        queryset = filterset.qs if filterset.is_valid() else DeviceRegistration.objects.none()
        return render(
            request,
            "accounts/devices_list.html",
            {
                "filter": filterset,
                "page_obj": html_page(request, queryset, LIST_ORDER),
                "query": query_without_cursor(request),
            },
        )


class DeviceRegisterView(ConsoleView, View):
    """Anyone who may see devices registers their own; device managers may name another owner."""

    permission_required = VIEW_DEVICES
    template_name = "accounts/devices_register.html"

    def _form(self, request: HttpRequest, data=None) -> DeviceRegisterForm:
        return DeviceRegisterForm(data, can_choose_owner=request.user.has_perm(MANAGE_DEVICES))

    def get(self, request: HttpRequest) -> HttpResponse:
        return render(request, self.template_name, {"form": self._form(request)})

    def post(self, request: HttpRequest) -> HttpResponse:
        form = self._form(request, request.POST)
        if form.is_valid():
            data = form.cleaned_data
            owner = data.get("owner") or Identity.objects.filter(user=request.user).first()
            try:
                if owner is None:
                    raise actions.ActionError("you have no identity to own a device", field=None)
                device = actions.register_device(
                    request.user,
                    owner=owner,
                    kind=data["kind"],
                    platform=data["platform"],
                    serial=data["serial"],
                    hostname=data["hostname"],
                    request=request,
                )
            except actions.ActionError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, str(exc))
            else:
                messages.success(request, f"{device.serial} registered; an administrator approves it as managed.")
                return redirect("accounts:device_detail", pk=device.pk)
        return render(request, self.template_name, {"form": form}, status=400)


class DeviceDetailView(ConsoleView, View):
    """A device, its posture history and, for auditors and managers, its audit trail."""

    permission_required = VIEW_DEVICES

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        device = get_object_or_404(_visible_devices(request), pk=pk)
        can_audit = request.user.has_perm(VIEW_AUDIT)
        events = (
            AuditEvent.objects.filter(target_type="accounts.deviceregistration", target_id=str(device.pk))[
                :HISTORY_SIZE
            ]
            if can_audit
            else []
        )
        context = {
            "device": device,
            "reports": device.posture_reports.all()[:HISTORY_SIZE],
            "tokens": device.api_tokens.filter(revoked_at__isnull=True),
            "events": events,
            "can_audit": can_audit,
            "can_manage": request.user.has_perm(MANAGE_DEVICES),
            "reason_form": ReasonForm(),
            "token_form": DeviceTokenForm(),
        }
        return render(request, "accounts/devices_detail.html", context)


class _DeviceVerbView(ConsoleView, StepUpRequiredMixin, ActionView):
    """POST-only administrator verbs on one device; each needs a fresh OTP (step-up)."""

    permission_required = MANAGE_DEVICES

    def get_object(self) -> DeviceRegistration:
        return get_object_or_404(DeviceRegistration.objects.for_list(), pk=self.kwargs["pk"])

    def success_url(self) -> str:
        return reverse("accounts:device_detail", kwargs={"pk": self.object.pk})


class DeviceApproveView(_DeviceVerbView):
    def act(self) -> str:
        actions.approve_device(self.request.user, self.object, request=self.request)
        return f"{self.object} is approved as managed."


class DeviceRetireView(_DeviceVerbView):
    def act(self) -> str:
        form = ReasonForm(self.request.POST)
        reason = form.cleaned_data["reason"] if form.is_valid() else ""
        actions.retire_device(self.request.user, self.object, reason=reason, request=self.request)
        return f"{self.object} is retired; its posture tokens are revoked."


class DevicePostureTokenView(_DeviceVerbView):
    """Creates a token that may only report this device's posture, and shows it once."""

    def act(self) -> HttpResponse:
        device, request = self.object, self.request
        form = DeviceTokenForm(request.POST)
        if not form.is_valid():
            raise actions.ActionError("Choose the token's lifetime in days.")
        token, plaintext = actions.create_device_token(
            request.user, device, days=form.cleaned_data["days"], request=request
        )
        response = render(
            request, "accounts/devices_token_created.html", {"device": device, "token": token, "plaintext": plaintext}
        )
        response["Cache-Control"] = "no-store"
        return response
