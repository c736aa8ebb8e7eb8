"""Identity administration pages: list, create (people and non-person identities), detail and lifecycle."""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.debug import sensitive_post_parameters

from accounts import actions
from accounts.filters import IdentityFilter
from accounts.forms import (
    DeskForm,
    IdentityCreateForm,
    MoveToDeskForm,
    NonPersonIdentityForm,
    ReasonForm,
    RoleForm,
    SponsorForm,
    TradingHoursForm,
)
from accounts.models import Desk, Identity, IdentityStatus, OathDevice, RoleGrant, RoleGrantState, StaticCodeDevice
from accounts.stepup import StepUpRequiredMixin
from ztconsole.core.action_views import ActionView
from ztconsole.core.keyset import Keyset, html_page, query_without_cursor
from ztconsole.core.models import AuditEvent
from ztconsole.core.permissions import ConsoleView
from ztconsole.core.roles import (
    APPROVE_ROLE_GRANTS,
    ISSUE_ENROLLMENT_CODE,
    ISSUE_TEMPORARY_CODES,
    MANAGE_IDENTITIES,
    MANAGE_MFA,
    SUSPEND_IDENTITIES,
    VIEW_IDENTITIES,
    role_of,
)

LIST_ORDER = Keyset(("display_name", "id"))


class IdentityListView(ConsoleView, View):
    """Filterable, searchable and paginated; a fixed number of queries whatever the page holds."""

    permission_required = VIEW_IDENTITIES

    def get(self, request: HttpRequest) -> HttpResponse:
        filterset = IdentityFilter(request.GET, queryset=Identity.objects.for_list())
        queryset = filterset.qs if filterset.is_valid() else Identity.objects.none()
        # No DISTINCT: every filter joins at most one row per identity (a role filter names one group).
        return render(
            request,
            "accounts/identity_list.html",
            {
                "filter": filterset,
                "page_obj": html_page(request, queryset, LIST_ORDER),
                "query": query_without_cursor(request),
            },
        )


@method_decorator(sensitive_post_parameters("password"), name="dispatch")
class IdentityCreateView(ConsoleView, StepUpRequiredMixin, View):
    permission_required = MANAGE_IDENTITIES

    def get(self, request: HttpRequest) -> HttpResponse:
        return render(request, "accounts/identity_create.html", {"form": IdentityCreateForm()})

    def post(self, request: HttpRequest) -> HttpResponse:
        form = IdentityCreateForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                user = actions.create_identity(
                    request.user,
                    username=data["username"],
                    email=data["email"],
                    full_name=data["full_name"],
                    role=data["role"],
                    password=data["password"],
                    desk=data["desk"],
                    expected_countries=data["expected_countries"],
                    employment_status=data["employment_status"],
                    request=request,
                )
            except actions.ActionError as exc:
                form.add_error(exc.field, str(exc))
            else:
                messages.success(request, f"{user.get_username()} created. Issue an enrollment code next.")
                return redirect("accounts:identity_detail", pk=user.identity.pk)
        return render(request, "accounts/identity_create.html", {"form": form}, status=400)


class NonPersonIdentityCreateView(ConsoleView, StepUpRequiredMixin, View):
    permission_required = MANAGE_IDENTITIES
    template_name = "accounts/identity_create_non_person.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        return render(request, self.template_name, {"form": NonPersonIdentityForm()})

    def post(self, request: HttpRequest) -> HttpResponse:
        form = NonPersonIdentityForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                identity = actions.create_non_person_identity(
                    request.user,
                    name=data["name"],
                    kind=data["kind"],
                    display_name=data["display_name"],
                    sponsor=data["sponsor"],
                    environment=data["environment"],
                    sender_comp_ids=data["sender_comp_ids"],
                    desk=data["desk"],
                    request=request,
                )
            except actions.ActionError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, str(exc))
            else:
                messages.success(request, f"{identity} created.")
                return redirect("accounts:identity_detail", pk=identity.pk)
        return render(request, self.template_name, {"form": form}, status=400)


class IdentityDetailView(ConsoleView, StepUpRequiredMixin, View):
    """An identity, its devices and history; role and sponsor changes are sensitive (step-up) actions."""

    permission_required = VIEW_IDENTITIES

    def _identity(self, pk: int) -> Identity:
        return get_object_or_404(Identity.objects.for_list(), pk=pk)

    def _render(self, request: HttpRequest, identity: Identity, status: int = 200, **forms) -> HttpResponse:
        events = AuditEvent.objects.filter(
            Q(target_type="accounts.identity", target_id=str(identity.pk))
            | Q(target_type="auth.user", target_id=str(identity.user_id))
        )[:25]
        context = {
            "identity": identity,
            "role": role_of(identity.user),
            "devices": list(OathDevice.objects.filter(user=identity.user, confirmed=True))
            + list(StaticCodeDevice.objects.filter(user=identity.user, confirmed=True)),
            "sponsored": identity.sponsored.select_related("user").all()[:50],
            "events": events,
            "role_form": forms.get("role_form") or RoleForm(initial={"role": role_of(identity.user)}),
            "sponsor_form": forms.get("sponsor_form") or SponsorForm(initial={"sponsor": identity.sponsor_id}),
            "reason_form": forms.get("reason_form") or ReasonForm(),
            "desk_form": MoveToDeskForm(initial={"desk": identity.desk_id}),
            "hours_form": TradingHoursForm(initial=identity.trading_hours or None),
            "can_manage": request.user.has_perm(MANAGE_IDENTITIES),
            "pending_grant": RoleGrant.objects.filter(subject=identity.user, state=RoleGrantState.PENDING)
            .select_related("requested_by")
            .first(),
            "can_approve_grants": request.user.has_perm(APPROVE_ROLE_GRANTS),
            "can_suspend": request.user.has_perm(SUSPEND_IDENTITIES),
            "can_issue_code": request.user.has_perm(ISSUE_ENROLLMENT_CODE),
            "can_manage_mfa": request.user.has_perm(MANAGE_MFA),
            "can_issue_temporary": request.user.has_perm(ISSUE_TEMPORARY_CODES),
        }
        return render(request, "accounts/identity_detail.html", context, status=status)

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        return self._render(request, self._identity(pk))

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Role change (the only change posted to the detail page itself; lifecycle has its own URLs)."""
        identity = self._identity(pk)
        if not request.user.has_perm(MANAGE_IDENTITIES):
            return render(request, "403.html", status=403)
        form = RoleForm(request.POST)
        if form.is_valid():
            if not identity.is_human:
                form.add_error("role", "Roles belong to people; non-person identities have none.")
            else:
                try:
                    grant = actions.change_role(request.user, identity.user, form.cleaned_data["role"], request=request)
                except actions.ActionError as exc:
                    form.add_error("role", str(exc))
                else:
                    if grant is None:
                        messages.success(request, f"{identity} is now {form.cleaned_data['role']}.")
                    else:
                        messages.success(
                            request, f"{grant.role} for {identity} requested: a second privileged person must approve."
                        )
                    return redirect("accounts:identity_detail", pk=identity.pk)
        return self._render(request, identity, status=400, role_form=form)


class IdentityLifecycleView(ConsoleView, StepUpRequiredMixin, ActionView):
    """POST-only: suspend, reactivate, revoke or change sponsor; each needs a fresh OTP (step-up)."""

    verb = ""

    def get_permission_required(self):
        return (SUSPEND_IDENTITIES,) if self.verb in ("suspend", "unlock") else (MANAGE_IDENTITIES,)

    def get_object(self) -> Identity:
        return get_object_or_404(Identity.objects.for_list(), pk=self.kwargs["pk"])

    def success_url(self) -> str:
        return reverse("accounts:identity_detail", kwargs={"pk": self.object.pk})

    def act(self) -> str | HttpResponse:
        request, identity = self.request, self.object
        detail = IdentityDetailView()
        detail.request = request
        if self.verb == "unlock":
            cleared = actions.reset_lockout(request.user, identity, request=request)
            return f"Sign-in lockout lifted ({cleared} record(s) cleared)."
        if self.verb == "hours":
            form = TradingHoursForm(request.POST)
            if not form.is_valid():
                raise actions.ActionError("Give a time zone and HH:MM start and end, or leave both times empty.")
            actions.set_trading_hours(request.user, identity, form.window(), request=request)
        elif self.verb == "desk":
            form = MoveToDeskForm(request.POST)
            if not form.is_valid():
                raise actions.ActionError("Choose a desk.")
            actions.move_to_desk(request.user, identity, form.cleaned_data["desk"], request=request)
        elif self.verb == "sponsor":
            form = SponsorForm(request.POST)
            if not form.is_valid():
                return detail._render(request, identity, status=400, sponsor_form=form)
            actions.change_sponsor(request.user, identity, form.cleaned_data["sponsor"], request=request)
        elif self.verb == "reactivate":
            actions.reactivate_identity(request.user, identity, request=request)
        else:
            form = ReasonForm(request.POST)
            if not form.is_valid():
                return detail._render(request, identity, status=400, reason_form=form)
            verb = actions.suspend_identity if self.verb == "suspend" else actions.revoke_identity
            verb(request.user, identity, reason=form.cleaned_data["reason"], request=request)
        identity.refresh_from_db()
        labels = {
            "sponsor": "has a new sponsor",
            "reactivate": "is active again",
            "desk": "moved",
            "hours": "has new trading hours",
        }
        return f"{identity} {labels.get(self.verb, f'is {identity.status}')}."


class EnrollmentCodeIssueView(ConsoleView, StepUpRequiredMixin, ActionView):
    """Issues a one-time enrollment code for a person and shows it once."""

    permission_required = (MANAGE_IDENTITIES, ISSUE_ENROLLMENT_CODE)

    def get_object(self) -> Identity:
        return get_object_or_404(
            Identity.objects.select_related("user"), pk=self.kwargs["pk"], status=IdentityStatus.ACTIVE
        )

    def success_url(self) -> str:
        return reverse("accounts:identity_detail", kwargs={"pk": self.object.pk})

    def act(self) -> HttpResponse:
        request, identity = self.request, self.object
        if not identity.is_human:
            raise actions.ActionError("Non-person identities authenticate with certificates or API tokens, not MFA.")
        row, code = actions.issue_enrollment_code(request.user, identity.user, request=request)
        response = render(
            request, "accounts/enrollment_code_issued.html", {"identity": identity, "row": row, "code": code}
        )
        response["Cache-Control"] = "no-store"
        return response


class DeskListView(ConsoleView, StepUpRequiredMixin, View):
    """Desks and how many identities each holds; administrators add desks here."""

    permission_required = VIEW_IDENTITIES

    def _render(self, request: HttpRequest, form: DeskForm | None = None, status: int = 200) -> HttpResponse:
        desks = Desk.objects.annotate(members_count=Count("members")).order_by("name")
        context = {"desks": desks, "form": form or DeskForm(), "can_manage": request.user.has_perm(MANAGE_IDENTITIES)}
        return render(request, "accounts/desk_list.html", context, status=status)

    def get(self, request: HttpRequest) -> HttpResponse:
        return self._render(request)

    def post(self, request: HttpRequest) -> HttpResponse:
        if not request.user.has_perm(MANAGE_IDENTITIES):
            return render(request, "403.html", status=403)
        form = DeskForm(request.POST)
        if form.is_valid():
            try:
                desk = actions.create_desk(
                    request.user,
                    name=form.cleaned_data["name"],
                    description=form.cleaned_data["description"],
                    request=request,
                )
            except actions.ActionError as exc:
                form.add_error("name", str(exc))
            else:
                messages.success(request, f"Desk {desk} created.")
                return redirect("accounts:desk_list")
        return self._render(request, form, status=400)


class RoleGrantDecisionView(ConsoleView, StepUpRequiredMixin, ActionView):
    """POST-only: approve or reject a request for a privileged role (a second privileged person, step-up)."""

    permission_required = APPROVE_ROLE_GRANTS
    verb = "approve"

    def get_object(self) -> RoleGrant:
        return get_object_or_404(RoleGrant.objects.select_related("subject__identity"), pk=self.kwargs["pk"])

    def success_url(self) -> str:
        return reverse("accounts:identity_detail", kwargs={"pk": self.object.subject.identity.pk})

    def act(self) -> str:
        grant, request = self.object, self.request
        if self.verb == "approve":
            actions.approve_role_grant(request.user, grant, request=request)
            return f"{grant.subject.identity} is now {grant.role}; they must enroll MFA again."
        form = ReasonForm(request.POST)
        reason = form.cleaned_data["reason"] if form.is_valid() else ""
        actions.reject_role_grant(request.user, grant, reason=reason, request=request)
        return f"The request for {grant.role} was rejected."
