"""MFA pages: the owner's devices, hardware token enrollment, the token inventory and lost-token help."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
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
class HardwareEnrollView(ConsoleView, StepUpRequiredMixin, View):
    """A signed-in user adds a hardware token they hold: serial and two consecutive codes."""

    permission_required = VIEW_CONSOLE
    http_method_names = ["post"]

    def post(self, request: HttpRequest) -> HttpResponse:
        form = HardwareEnrollForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                device = mfa_actions.enroll_hardware_token(
                    request.user, serial=data["serial"], code1=data["code1"], code2=data["code2"], request=request
                )
            except actions.ActionError as exc:
                messages.error(request, str(exc))
            else:
                if device is None:
                    messages.error(request, "Those codes do not match two consecutive codes of that token.")
                else:
                    messages.success(request, f"{device.name} enrolled. It is now one of your sign-in devices.")
        else:
            messages.error(request, "Enter the serial number and two consecutive codes.")
        return redirect("accounts:profile")


class YubikeyEnrollView(ConsoleView, StepUpRequiredMixin, View):
    """A signed-in user adds a YubiKey from the inventory by touching it once."""

    permission_required = VIEW_CONSOLE
    http_method_names = ["post"]

    def post(self, request: HttpRequest) -> HttpResponse:
        form = YubikeyEnrollForm(request.POST)
        if not form.is_valid():
            messages.error(request, form.errors["otp"][0])
            return redirect("accounts:profile")
        try:
            device = mfa_actions.enroll_yubikey(request.user, otp=form.cleaned_data["otp"], request=request)
        except actions.ActionError as exc:
            messages.error(request, str(exc))
        else:
            if device is None:
                messages.error(request, "That OTP does not verify for this YubiKey (wrong key or already used).")
            else:
                messages.success(request, f"{device.name} enrolled. It is now one of your sign-in devices.")
        return redirect("accounts:profile")


class _DeviceView(ConsoleView, View):
    """Acts on one OATH device: the owner may, and so may holders of accounts.manage_mfa."""

    permission_required = VIEW_CONSOLE
    http_method_names = ["post"]

    model = OathDevice

    def device(self, request: HttpRequest, pk: int) -> OathDevice:
        device = get_object_or_404(self.model.objects.select_related("user"), pk=pk)
        if device.user_id != request.user.pk and not request.user.has_perm(MANAGE_MFA):
            raise PermissionDenied("only the owner or an MFA manager may change this device")
        return device

    def back(self, request: HttpRequest, device: OathDevice) -> HttpResponse:
        if device.user_id == request.user.pk:
            return redirect("accounts:profile")
        return redirect("accounts:identity_detail", pk=Identity.objects.get(user_id=device.user_id).pk)


@_sensitive
class DeviceResyncView(_DeviceView):
    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        device = self.device(request, pk)
        form = TwoCodesForm(request.POST)
        if form.is_valid() and mfa_actions.resync_device(
            request.user, device, form.cleaned_data["code1"], form.cleaned_data["code2"], request=request
        ):
            messages.success(request, f"{device.name} is synchronised again.")
        else:
            messages.error(request, "Resynchronisation failed: enter two consecutive codes from the device.")
        return self.back(request, device)


class DeviceSuspendView(_DeviceView):
    """Lost or broken: suspend at once. No step-up: the one thing a person who lost a token can still do."""

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        device = self.device(request, pk)
        form = ReasonForm(request.POST)
        reason = form.cleaned_data["reason"] if form.is_valid() else "reported lost"
        try:
            mfa_actions.suspend_device(
                request.user, device, reason=reason, lost="lost" in reason.lower(), request=request
            )
        except actions.ActionError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"{device.name} is suspended; it no longer signs anyone in.")
        return self.back(request, device)


class BackupCodesView(ConsoleView, StepUpRequiredMixin, View):
    permission_required = VIEW_CONSOLE
    http_method_names = ["post"]

    def post(self, request: HttpRequest) -> HttpResponse:
        codes = mfa_actions.generate_backup_codes(request.user, request=request)
        return _no_store(render(request, "accounts/static_codes.html", {"codes": codes, "purpose": "backup"}))


class TemporaryCodesView(ConsoleView, StepUpRequiredMixin, View):
    """A security officer helps someone who lost their token: expiring single-use codes, shown once."""

    permission_required = ISSUE_TEMPORARY_CODES
    http_method_names = ["post"]

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        identity = get_object_or_404(Identity.objects.select_related("user"), pk=pk)
        form = TemporaryCodesForm(request.POST)
        if not form.is_valid() or not identity.is_human:
            messages.error(request, "Choose 1-10 codes valid for 1-72 hours, for a person.")
            return redirect("accounts:identity_detail", pk=identity.pk)
        try:
            device, codes = mfa_actions.issue_temporary_codes(
                request.user,
                identity.user,
                count=form.cleaned_data["count"],
                hours=form.cleaned_data["hours"],
                request=request,
            )
        except actions.ActionError as exc:
            messages.error(request, str(exc))
            return redirect("accounts:identity_detail", pk=identity.pk)
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


class TokenAssignView(ConsoleView, StepUpRequiredMixin, View):
    permission_required = MANAGE_TOKEN_INVENTORY
    http_method_names = ["post"]

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        token = get_object_or_404(HardwareToken, pk=pk)
        form = AssignTokenForm(request.POST)
        if not form.is_valid():
            messages.error(request, "Choose an active person to assign the token to.")
            return redirect("accounts:token_inventory")
        try:
            mfa_actions.assign_hardware_token(request.user, token, form.cleaned_data["user"], request=request)
        except actions.ActionError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(
                request,
                f"Token {token.serial} assigned to {form.cleaned_data['user'].get_username()}; "
                "they confirm it with two codes.",
            )
        return redirect("accounts:token_inventory")


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
