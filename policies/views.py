"""Policy pages: the draft of an environment and its edit forms, publications (maker-checker), the simulator.

Thin: forms parse, ``policies.actions`` validate and change state, ``policies.selectors`` read.
"""

from __future__ import annotations

import json

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views import View

from accounts.models import Environment
from accounts.stepup import StepUpRequiredMixin
from pep.attributes import ATTRIBUTES
from pep.engine import DecisionRequest
from policies import actions, forms, selectors
from policies.compiler import bands_of, identity_id
from policies.models import (
    AccessRule,
    CountryRange,
    NetworkZone,
    PolicyVersion,
    PublicationState,
    RiskRule,
    SavedTestCase,
    Segment,
    SegmentFlow,
    SigningKey,
)
from ztconsole.core.action_views import ActionView
from ztconsole.core.permissions import ConsoleView
from ztconsole.core.roles import (
    APPROVE_PUBLICATION,
    EDIT_POLICY,
    PUBLISH_POLICY,
    SIMULATE,
    VIEW_ENFORCEMENT_POINTS,
    VIEW_POLICY,
)


def _environment(request: HttpRequest) -> str:
    value = request.GET.get("environment") or request.POST.get("environment") or Environment.PROD
    return value if value in Environment.values else Environment.PROD


def _form_error(form, exc: actions.PolicyError) -> None:
    form.add_error(exc.field if exc.field in form.fields else None, str(exc))


def _draft_url(environment: str, anchor: str = "") -> str:
    return f"{reverse('policies:draft')}?environment={environment}{anchor}"


def _back(environment: str, anchor: str = "") -> HttpResponse:
    return redirect(_draft_url(environment, anchor))


def _publications_url(environment: str) -> str:
    return f"{reverse('policies:publications')}?environment={environment}"


class DraftView(ConsoleView, View):
    """Everything in an environment's draft, with links to edit for those who may."""

    permission_required = VIEW_POLICY

    def get(self, request: HttpRequest) -> HttpResponse:
        environment = _environment(request)
        actions.seed_policy(None, environment)
        context = {
            "environment": environment,
            "environments": Environment.choices,
            "segments": Segment.objects.filter(environment=environment).prefetch_related("resources"),
            "flows": SegmentFlow.objects.filter(environment=environment).select_related("source", "destination"),
            "access_rules": AccessRule.objects.filter(environment=environment).select_related(
                "subject_identity__user", "subject_desk", "target_segment", "target_resource"
            ),
            "risk_rules": RiskRule.objects.filter(environment=environment),
            "bands": bands_of(environment),
            "bands_form": forms.BandsForm(initial={"environment": environment, **bands_of(environment)}),
            "zones": NetworkZone.objects.filter(environment=environment),
            "countries": CountryRange.objects.filter(environment=environment),
            "test_cases": SavedTestCase.objects.filter(environment=environment),
            "published": actions.latest_approved(environment),
            "pending": PolicyVersion.objects.filter(environment=environment, state=PublicationState.PENDING).first(),
            "can_edit": request.user.has_perm(EDIT_POLICY),
            "can_publish": request.user.has_perm(PUBLISH_POLICY),
        }
        return render(request, "policies/draft.html", context)


class DraftFormView(ConsoleView, StepUpRequiredMixin, View):
    """Create (no pk) or edit (pk) one draft object through its form and actions."""

    permission_required = EDIT_POLICY
    form_class: type = forms.SegmentForm
    model: type | None = None
    title = ""
    anchor = ""
    fixed_on_edit = ("environment", "name")

    def initial(self, obj) -> dict:
        return {"environment": _environment(self.request)}

    def instance_initial(self, obj) -> dict:
        return {"environment": obj.environment, "name": getattr(obj, "name", "")}

    def create(self, data: dict):
        raise NotImplementedError

    def update(self, obj, data: dict):
        raise NotImplementedError

    def _form(self, obj, data=None):
        """Environment and name identify an object: on edit they are shown but not taken from the input."""
        initial = self.instance_initial(obj) if obj is not None else self.initial(obj)
        form = self.form_class(data, initial=initial)
        if obj is not None:
            for name in self.fixed_on_edit:
                if name in form.fields:
                    form.fields[name].disabled = True
        return form

    def _render(self, request, form, obj, status=200) -> HttpResponse:
        context = {
            "form": form,
            "obj": obj,
            "title": self.title,
            "environment": form["environment"].value()
            if "environment" in form.fields
            else getattr(obj, "environment", ""),
        }
        return render(request, "policies/form.html", context, status=status)

    def _object(self, pk):
        return get_object_or_404(self.model, pk=pk) if pk is not None else None

    def get(self, request: HttpRequest, pk: int | None = None) -> HttpResponse:
        obj = self._object(pk)
        return self._render(request, self._form(obj), obj)

    def post(self, request: HttpRequest, pk: int | None = None) -> HttpResponse:
        obj = self._object(pk)
        form = self._form(obj, request.POST)
        if form.is_valid():
            try:
                saved = self.update(obj, form.cleaned_data) if obj is not None else self.create(form.cleaned_data)
            except actions.PolicyError as exc:
                _form_error(form, exc)
            else:
                messages.success(request, f"{self.title} {saved} saved in the {saved.environment} draft.")
                return _back(saved.environment, self.anchor)
        return self._render(request, form, obj, status=400)


class SegmentFormView(DraftFormView):
    form_class, model, title, anchor = forms.SegmentForm, Segment, "Segment", "#segments"

    def instance_initial(self, obj) -> dict:
        return {
            **super().instance_initial(obj),
            "description": obj.description,
            "resources": forms.SegmentForm.resources_text(obj),
        }

    def create(self, data):
        return actions.create_segment(
            self.request.user,
            environment=data["environment"],
            name=data["name"],
            description=data["description"],
            resources=data["resources"],
            request=self.request,
        )

    def update(self, obj, data):
        return actions.update_segment(
            self.request.user, obj, description=data["description"], resources=data["resources"], request=self.request
        )


class FlowFormView(DraftFormView):
    form_class, model, title, anchor = forms.FlowForm, SegmentFlow, "Flow", "#segments"

    def initial(self, obj) -> dict:
        return {}

    def create(self, data):
        return actions.create_flow(
            self.request.user,
            source=data["source"],
            destination=data["destination"],
            protocol=data["protocol"],
            port=data["port"],
            request=self.request,
        )


class NetworkZoneFormView(DraftFormView):
    form_class, model, title, anchor = forms.NetworkZoneForm, NetworkZone, "Network zone", "#zones"

    def instance_initial(self, obj) -> dict:
        return {**super().instance_initial(obj), "cidrs": "\n".join(obj.cidrs)}

    def create(self, data):
        return actions.create_network_zone(
            self.request.user,
            environment=data["environment"],
            name=data["name"],
            cidrs=data["cidrs"],
            request=self.request,
        )

    def update(self, obj, data):
        return actions.update_network_zone(self.request.user, obj, cidrs=data["cidrs"], request=self.request)


class CountryRangeFormView(DraftFormView):
    form_class, model, title, anchor = forms.CountryRangeForm, CountryRange, "Country range", "#zones"

    def create(self, data):
        return actions.create_country_range(
            self.request.user,
            environment=data["environment"],
            cidr=data["cidr"],
            country=data["country"],
            request=self.request,
        )


class AccessRuleFormView(DraftFormView):
    form_class, model, title, anchor = forms.AccessRuleForm, AccessRule, "Access rule", "#access-rules"

    def instance_initial(self, obj) -> dict:
        window = obj.window or {}
        return {
            **super().instance_initial(obj),
            "subject_kind": obj.subject_kind,
            "subject_identity": obj.subject_identity_id,
            "subject_desk": obj.subject_desk_id,
            "subject_role": obj.subject_role,
            "target_segment": obj.target_segment_id,
            "target_resource": obj.target_resource_id,
            "message_types": ", ".join(obj.message_types),
            "window_timezone": window.get("timezone", ""),
            "window_days": window.get("days", []),
            "window_start": window.get("start", ""),
            "window_end": window.get("end", ""),
            "expires_at": obj.expires_at,
        }

    def create(self, data):
        return actions.create_access_rule(
            self.request.user,
            environment=data["environment"],
            name=data["name"],
            request=self.request,
            **forms.access_rule_data(data),
        )

    def update(self, obj, data):
        return actions.update_access_rule(self.request.user, obj, request=self.request, **forms.access_rule_data(data))


class RiskRuleFormView(DraftFormView):
    form_class, model, title, anchor = forms.RiskRuleForm, RiskRule, "Risk rule", "#risk-rules"

    def instance_initial(self, obj) -> dict:
        return {
            **super().instance_initial(obj),
            "attribute": obj.attribute,
            "condition": obj.condition,
            "score": obj.score,
            "enabled": obj.enabled,
        }

    def create(self, data):
        return actions.create_risk_rule(
            self.request.user,
            environment=data["environment"],
            name=data["name"],
            attribute=data["attribute"],
            condition=data["condition"],
            score=data["score"],
            enabled=data["enabled"],
            request=self.request,
        )

    def update(self, obj, data):
        return actions.update_risk_rule(
            self.request.user,
            obj,
            attribute=data["attribute"],
            condition=data["condition"],
            score=data["score"],
            enabled=data["enabled"],
            request=self.request,
        )


class TestCaseFormView(DraftFormView):
    form_class, model, title, anchor = forms.TestCaseForm, SavedTestCase, "Test case", "#test-cases"

    def create(self, data):
        return actions.create_test_case(
            self.request.user,
            environment=data["environment"],
            name=data["name"],
            request_data=data["request"],
            expected_outcome=data["expected_outcome"],
            request=self.request,
        )


class BandsView(ConsoleView, StepUpRequiredMixin, ActionView):
    permission_required = EDIT_POLICY

    def success_url(self) -> str:
        return _draft_url(self.object, "#risk-rules")

    def failure_url(self) -> str:
        return _draft_url(_environment(self.request), "#risk-rules")

    def act(self) -> str:
        form = forms.BandsForm(self.request.POST)
        if form.is_valid():
            try:
                actions.update_bands(self.request.user, request=self.request, **form.cleaned_data)
            except actions.PolicyError as exc:
                _form_error(form, exc)
            else:
                self.object = form.cleaned_data["environment"]
                return "Bands saved."
        errors = "; ".join(str(e) for errs in form.errors.values() for e in errs)
        raise actions.PolicyError(f"Bands not saved: {errors}")


class DraftDeleteView(ConsoleView, StepUpRequiredMixin, ActionView):
    """POST-only deletion of one draft object through its action."""

    permission_required = EDIT_POLICY
    model: type = Segment
    verb = "delete_segment"

    def get_object(self):
        return get_object_or_404(self.model, pk=self.kwargs["pk"])

    def success_url(self) -> str:
        return _draft_url(self.object.environment)

    def act(self) -> str:
        getattr(actions, self.verb)(self.request.user, self.object, request=self.request)
        return f"{self.object} deleted from the {self.object.environment} draft."


# --- publications ----------------------------------------------------------------------------------------


class PublicationListView(ConsoleView, View):
    permission_required = VIEW_POLICY

    def get(self, request: HttpRequest) -> HttpResponse:
        environment = _environment(request)
        context = {
            "environment": environment,
            "environments": Environment.choices,
            "versions": PolicyVersion.objects.filter(environment=environment).select_related("author", "approver")[
                :100
            ],
            "published": actions.latest_approved(environment),
            "can_publish": request.user.has_perm(PUBLISH_POLICY),
            "signing_key": SigningKey.objects.filter(active=True).first(),
        }
        return render(request, "policies/publications.html", context)


class _PublicationVerbView(ConsoleView, StepUpRequiredMixin, ActionView):
    """A verb that creates a version: success shows it (``self.object``), a refusal the environment's list."""

    permission_required = PUBLISH_POLICY

    def success_url(self) -> str:
        return reverse("policies:publication", kwargs={"pk": self.object.pk})

    def failure_url(self) -> str:
        return _publications_url(_environment(self.request))


class PublishView(_PublicationVerbView):
    """Compile the draft into a pending, signed version (maker)."""

    def act(self) -> str:
        request = self.request
        form = forms.PublishForm(request.POST)
        if not form.is_valid():
            # No default: a state-changing request names its environment.
            raise actions.PolicyError("Choose the environment to publish.")
        environment = form.cleaned_data["environment"]
        self.object = pv = actions.request_publication(request.user, environment=environment, request=request)
        return f"Version {pv.version} compiled and signed; a second officer must approve it."


class RollbackView(_PublicationVerbView):
    def act(self) -> str:
        form = forms.RollbackForm(self.request.POST)
        if not form.is_valid():
            raise actions.PolicyError("Choose a version to roll back to.")
        self.object = pv = actions.rollback_to(self.request.user, request=self.request, **form.cleaned_data)
        return f"Rollback to v{pv.rollback_of} requested as version {pv.version}."


class PublicationDetailView(ConsoleView, View):
    """The diff, the impact preview and, for a second officer, approve or reject."""

    permission_required = VIEW_POLICY

    def _render(self, request, pv, reject_form=None, status=200) -> HttpResponse:
        user = request.user
        pending = pv.state == PublicationState.PENDING
        context = {
            "pv": pv,
            "diff": pv.diff,
            "impact": selectors.impact_preview(pv),
            "recorded": selectors.replay_recorded_decisions(pv.environment, user, payload=json.loads(pv.payload)),
            "payload": json.dumps(json.loads(pv.payload), indent=2, sort_keys=True),
            "can_approve": pending and user.has_perm(APPROVE_PUBLICATION) and pv.author_id != user.pk,
            "is_author": pv.author_id == user.pk,
            "can_reject": pending and user.has_perm(APPROVE_PUBLICATION),
            "reject_form": reject_form or forms.RejectForm(),
        }
        if user.has_perm(VIEW_ENFORCEMENT_POINTS) and pv.state == PublicationState.APPROVED:
            from policies.distribution.selectors import publication_acknowledgements

            context["acknowledgements"] = publication_acknowledgements(pv)
        return render(request, "policies/publication.html", context, status=status)

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        return self._render(
            request, get_object_or_404(PolicyVersion.objects.select_related("author", "approver"), pk=pk)
        )


class ApproveView(ConsoleView, StepUpRequiredMixin, ActionView):
    """Checker: a fresh OTP (step-up) and not the author; the action enforces the latter."""

    permission_required = APPROVE_PUBLICATION

    def get_object(self) -> PolicyVersion:
        return get_object_or_404(PolicyVersion, pk=self.kwargs["pk"])

    def success_url(self) -> str:
        return reverse("policies:publication", kwargs={"pk": self.object.pk})

    def refused(self, exc) -> HttpResponse:
        messages.error(self.request, str(exc))
        return PublicationDetailView()._render(self.request, self.object, status=400)

    def act(self) -> str:
        pv = self.object
        actions.approve_publication(self.request.user, pv, request=self.request)
        return f"Version {pv.version} of {pv.environment} approved and in force."


class RejectView(ConsoleView, StepUpRequiredMixin, View):
    """An approver rejects, or the author (an administrator, who holds the permission) withdraws."""

    permission_required = APPROVE_PUBLICATION
    http_method_names = ["post"]

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        pv = get_object_or_404(PolicyVersion, pk=pk)
        form = forms.RejectForm(request.POST)
        if form.is_valid():
            try:
                actions.reject_publication(request.user, pv, reason=form.cleaned_data["reason"], request=request)
            except actions.PolicyError as exc:
                _form_error(form, exc)
            else:
                messages.success(request, f"Version {pv.version} rejected.")
                return redirect("policies:publication", pk=pv.pk)
        return PublicationDetailView()._render(request, pv, reject_form=form, status=400)


class SigningKeyView(ConsoleView, View):
    """The active public key (PEM), for enforcement points and `python -m pep verify --public-key`."""

    permission_required = VIEW_POLICY

    def get(self, request: HttpRequest) -> HttpResponse:
        key = SigningKey.objects.filter(active=True).first()
        if key is None:
            return HttpResponse(
                "no signing key yet: run manage.py init_signing_key\n", status=404, content_type="text/plain"
            )
        response = HttpResponse(key.public_key_pem, content_type="application/x-pem-file")
        response["Content-Disposition"] = f'attachment; filename="{key.kid}.pem"'
        return response


# --- simulator -------------------------------------------------------------------------------------------


class SimulatorView(ConsoleView, View):
    """One request through the draft and the published policy, side by side, with every contribution."""

    permission_required = SIMULATE

    def _render(self, request, form, result=None, status=200):
        environment = _environment(request)
        if form.is_bound and form.is_valid():
            environment = form.cleaned_data["environment"]
        context = {"form": form, "result": result, "attributes": ATTRIBUTES, "environments": Environment.choices}
        try:
            context["recorded"] = selectors.replay_recorded_decisions(environment, request.user)
        except actions.PolicyError as exc:
            context["recorded_error"] = str(exc)
        return render(request, "policies/simulator.html", context, status=status)

    def get(self, request: HttpRequest) -> HttpResponse:
        if "identity" not in request.GET:
            initial = {"environment": _environment(request), "authentication": "hardware"}
            return self._render(request, forms.SimulatorForm(initial=initial))
        form = forms.SimulatorForm(request.GET)
        if not form.is_valid():
            return self._render(request, form, status=400)
        try:
            decision_request = DecisionRequest.from_dict(form.decision_request())
            result = selectors.simulate(form.cleaned_data["environment"], decision_request)
        except (ValueError, actions.PolicyError) as exc:
            form.add_error(None, str(exc))
            return self._render(request, form, status=400)
        result["identity"] = identity_id(form.cleaned_data["identity"])
        return self._render(request, form, result)
