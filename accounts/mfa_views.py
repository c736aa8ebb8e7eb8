"""MFA pages: the owner's devices, hardware token enrollment, the token inventory and lost-token help."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.debug import sensitive_post_parameters

from accounts import actions
from accounts.actions import mfa as mfa_actions
from accounts.forms import (
    AssignTokenForm,
    HardwareEnrollForm,
    ReasonForm,
    RoleAssuranceForm,
    SeedImportForm,
    TemporaryCodesForm,
    TwoCodesForm,
    YubikeyEnrollForm,
)
from accounts.models import (
    HardwareToken,
    Identity,
    OathDevice,
    RoleAssurance,
    StaticCodeDevice,
    TokenState,
)
from accounts.stepup import StepUpRequiredMixin
from ztconsole.core.action_views import ActionView
from ztconsole.core.keyset import Keyset, html_page, query_without_cursor
from ztconsole.core.permissions import ConsoleView
from ztconsole.core.roles import (
    ISSUE_TEMPORARY_CODES,
    MANAGE_MFA,
    MANAGE_TOKEN_INVENTORY,
    VIEW_CONSOLE,
)

_sensitive = method_decorator(sensitive_post_parameters("code1", "code2", "psk", "password"), name="dispatch")


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    return response


@_sensitive
class HardwareEnrollView(ConsoleView, StepUpRequiredMixin, ActionView):
    """A signed-in user adds a hardware token they hold: serial and two consecutive codes."""

    permission_required = VIEW_CONSOLE

    def success_url(self) -> str:
        return "accounts:profile"

    def act(self) -> str:
        request = self.request
        form = HardwareEnrollForm(request.POST)
        if not form.is_valid():
            raise actions.ActionError("Enter the serial number and two consecutive codes.")
        data = form.cleaned_data
        device = mfa_actions.enroll_hardware_token(
            request.user, serial=data["serial"], code1=data["code1"], code2=data["code2"], request=request
        )
        if device is None:
            raise actions.ActionError("Those codes do not match two consecutive codes of that token.")
        return f"{device.name} enrolled. It is now one of your sign-in devices."


class YubikeyEnrollView(ConsoleView, StepUpRequiredMixin, ActionView):
    """A signed-in user adds a YubiKey from the inventory by touching it once."""

    permission_required = VIEW_CONSOLE

    def success_url(self) -> str:
        return "accounts:profile"

    def act(self) -> str:
        form = YubikeyEnrollForm(self.request.POST)
        if not form.is_valid():
            raise actions.ActionError(form.errors["otp"][0])
        device = mfa_actions.enroll_yubikey(self.request.user, otp=form.cleaned_data["otp"], request=self.request)
        if device is None:
            raise actions.ActionError("That OTP does not verify for this YubiKey (wrong key or already used).")
        return f"{device.name} enrolled. It is now one of your sign-in devices."


class _DeviceView(ConsoleView, ActionView):
    """Acts on one OATH device: the owner may, and so may holders of accounts.manage_mfa."""

    permission_required = VIEW_CONSOLE

    model = OathDevice

    def get_object(self) -> OathDevice:
        device = get_object_or_404(self.model.objects.select_related("user"), pk=self.kwargs["pk"])
        if device.user_id != self.request.user.pk and not self.request.user.has_perm(MANAGE_MFA):
            raise PermissionDenied("only the owner or an MFA manager may change this device")
        return device

    def success_url(self) -> str:
        if self.object.user_id == self.request.user.pk:
            return "accounts:profile"
        return reverse("accounts:identity_detail", kwargs={"pk": Identity.objects.get(user_id=self.object.user_id).pk})


@_sensitive
class DeviceResyncView(_DeviceView):
    def act(self) -> str:
        device, request = self.object, self.request
        form = TwoCodesForm(request.POST)
        if form.is_valid() and mfa_actions.resync_device(
            request.user, device, form.cleaned_data["code1"], form.cleaned_data["code2"], request=request
        ):
            return f"{device.name} is synchronised again."
        raise actions.ActionError("Resynchronisation failed: enter two consecutive codes from the device.")


class DeviceSuspendView(_DeviceView):
    """Lost or broken: suspend at once. No step-up: the one thing a person who lost a token can still do."""

    def act(self) -> str:
        device, request = self.object, self.request
        form = ReasonForm(request.POST)
        reason = form.cleaned_data["reason"] if form.is_valid() else "reported lost"
        mfa_actions.suspend_device(request.user, device, reason=reason, lost="lost" in reason.lower(), request=request)
        return f"{device.name} is suspended; it no longer signs anyone in."


class BackupCodesView(ConsoleView, StepUpRequiredMixin, View):
    permission_required = VIEW_CONSOLE
    http_method_names = ["post"]

    def post(self, request: HttpRequest) -> HttpResponse:
        codes = mfa_actions.generate_backup_codes(request.user, request=request)
        return _no_store(render(request, "accounts/static_codes.html", {"codes": codes, "purpose": "backup"}))


class TemporaryCodesView(ConsoleView, StepUpRequiredMixin, ActionView):
    """A security officer helps someone who lost their token: expiring single-use codes, shown once."""

    permission_required = ISSUE_TEMPORARY_CODES

    def get_object(self) -> Identity:
        return get_object_or_404(Identity.objects.select_related("user"), pk=self.kwargs["pk"])

    def success_url(self) -> str:
        return reverse("accounts:identity_detail", kwargs={"pk": self.object.pk})

    def act(self) -> HttpResponse:
        request, identity = self.request, self.object
        form = TemporaryCodesForm(request.POST)
        if not form.is_valid() or not identity.is_human:
            raise actions.ActionError("Choose 1-10 codes valid for 1-72 hours, for a person.")
        device, codes = mfa_actions.issue_temporary_codes(
            request.user,
            identity.user,
            count=form.cleaned_data["count"],
            hours=form.cleaned_data["hours"],
            request=request,
        )
        context = {"codes": codes, "purpose": "temporary", "identity": identity, "device": device}
        return _no_store(render(request, "accounts/static_codes.html", context))


class TokenInventoryView(ConsoleView, View):
    permission_required = MANAGE_TOKEN_INVENTORY

    def get(self, request: HttpRequest) -> HttpResponse:
        queryset = HardwareToken.objects.select_related("assigned_to")
        state = request.GET.get("state", "")
        query = request.GET.get("q", "").strip()
        if state in TokenState.values:
            queryset = queryset.filter(state=state)
        if query:
            queryset = queryset.filter(serial__icontains=query)
        page = html_page(request, queryset, Keyset(("serial", "id")))
        by_state = dict(HardwareToken.objects.values_list("state").annotate(n=Count("id")))
        counts = [(label, by_state.get(value, 0)) for value, label in TokenState.choices]
        return render(
            request,
            "accounts/token_inventory.html",
            {
                "page_obj": page,
                "query": query_without_cursor(request),
                "states": TokenState.choices,
                "state": state,
                "q": query,
                "counts": counts,
                "assign_form": AssignTokenForm(),
            },
        )


@_sensitive
class TokenImportView(ConsoleView, StepUpRequiredMixin, View):
    permission_required = MANAGE_TOKEN_INVENTORY

    def get(self, request: HttpRequest) -> HttpResponse:
        return render(request, "accounts/token_import.html", {"form": SeedImportForm()})

    def post(self, request: HttpRequest) -> HttpResponse:
        form = SeedImportForm(request.POST, request.FILES)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                summary = mfa_actions.import_token_seeds(
                    request.user,
                    data=upload.read(mfa_actions.MAX_SEED_FILE_BYTES + 1),
                    filename=upload.name,
                    psk_hex=form.cleaned_data["psk"],
                    password=form.cleaned_data["password"],
                    request=request,
                )
            except actions.ActionError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, str(exc))
            else:
                return render(request, "accounts/token_import_result.html", {"summary": summary, "name": upload.name})
        return render(request, "accounts/token_import.html", {"form": form}, status=400)


class TokenAssignView(ConsoleView, StepUpRequiredMixin, ActionView):
    permission_required = MANAGE_TOKEN_INVENTORY

    def get_object(self) -> HardwareToken:
        return get_object_or_404(HardwareToken, pk=self.kwargs["pk"])

    def success_url(self) -> str:
        return "accounts:token_inventory"

    def act(self) -> str:
        token, request = self.object, self.request
        form = AssignTokenForm(request.POST)
        if not form.is_valid():
            raise actions.ActionError("Choose an active person to assign the token to.")
        mfa_actions.assign_hardware_token(request.user, token, form.cleaned_data["user"], request=request)
        return (
            f"Token {token.serial} assigned to {form.cleaned_data['user'].get_username()}; "
            "they confirm it with two codes."
        )


class RoleAssuranceView(ConsoleView, StepUpRequiredMixin, View):
    """Minimum MFA assurance per role (e.g. administrators and security officers: hardware only)."""

    permission_required = MANAGE_MFA

    def _current(self) -> dict[str, str]:
        return dict(RoleAssurance.objects.values_list("role", "minimum"))

    def get(self, request: HttpRequest) -> HttpResponse:
        return render(request, "accounts/role_assurance.html", {"form": RoleAssuranceForm(current=self._current())})

    def post(self, request: HttpRequest) -> HttpResponse:
        current = self._current()
        form = RoleAssuranceForm(request.POST, current=current)
        if not form.is_valid():
            return render(request, "accounts/role_assurance.html", {"form": form}, status=400)
        for role, minimum in form.cleaned_data.items():
            if current.get(role) != minimum:
                mfa_actions.set_role_assurance(request.user, role, minimum, request=request)
        messages.success(request, "Assurance requirements saved.")
        return redirect("accounts:role_assurance")


def static_devices_for(user) -> list[StaticCodeDevice]:
    return list(StaticCodeDevice.objects.filter(user=user, confirmed=True))
