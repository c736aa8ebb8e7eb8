"""Alert pages: the list, one alert (acknowledge with a comment, release a containment), the detectors' rules."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views import View

from accounts.stepup import StepUpRequiredMixin
from alerts import actions, selectors
from alerts.forms import AcknowledgeForm, RuleForm
from alerts.models import Alert, Containment, Detector
from ztconsole.core.action_views import ActionView
from ztconsole.core.errors import ActionError
from ztconsole.core.keyset import Keyset, html_page, query_without_cursor
from ztconsole.core.permissions import ConsoleView
from ztconsole.core.roles import ACKNOWLEDGE_ALERTS, CONFIGURE_ALERTS, SUSPEND_IDENTITIES, VIEW_ALERTS

LIST_ORDER = Keyset(("-last_seen_at", "-id"))


class AlertListView(ConsoleView, View):
    permission_required = VIEW_ALERTS

    def get(self, request: HttpRequest) -> HttpResponse:
        state = request.GET.get("state", "open")
        if state not in selectors.STATES:
            state = "open"
        queryset = selectors.alerts_in_state(state)
        detector = request.GET.get("detector", "")
        if detector in Detector.values:
            queryset = queryset.filter(detector=detector)
        else:
            detector = ""
        context = {
            "page_obj": html_page(request, queryset, LIST_ORDER),
            "query": query_without_cursor(request),
            "state": state,
            "states": selectors.STATES,
            "detector": detector,
            "detectors": Detector.choices,
        }
        return render(request, "alerts/list.html", context)


def _render_detail(request: HttpRequest, alert: Alert, form: AcknowledgeForm | None = None, status: int = 200):
    user = request.user
    details = [
        (key.replace("_", " "), ", ".join(map(str, value)) if isinstance(value, list) else value)
        for key, value in sorted((alert.details or {}).items())
    ]
    context = {
        "alert": alert,
        "details": details,
        "form": form or AcknowledgeForm(),
        # A refused acknowledgement shows its form again, with the reason, even on an alert acknowledged since.
        "can_acknowledge": user.has_perm(ACKNOWLEDGE_ALERTS)
        and (alert.acknowledged_at is None or bool(form is not None and form.errors)),
        "can_release": alert.containment == Containment.SUSPENDED
        and user.has_perm(ACKNOWLEDGE_ALERTS)
        and user.has_perm(SUSPEND_IDENTITIES),
    }
    return render(request, "alerts/detail.html", context, status=status)


class AlertDetailView(ConsoleView, View):
    permission_required = VIEW_ALERTS

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        alert = get_object_or_404(Alert.objects.select_related("acknowledged_by", "contained_identity"), pk=pk)
        return _render_detail(request, alert)


class AcknowledgeView(ConsoleView, StepUpRequiredMixin, View):
    """POST: the comment is required; a refusal re-renders the alert with the error (400)."""

    permission_required = ACKNOWLEDGE_ALERTS
    http_method_names = ["post"]

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        alert = get_object_or_404(Alert, pk=pk)
        form = AcknowledgeForm(request.POST)
        if form.is_valid():
            try:
                actions.acknowledge_alert(request.user, alert, comment=form.cleaned_data["comment"], request=request)
            except ActionError as exc:
                form.add_error("comment", str(exc))
            else:
                messages.success(request, "Alert acknowledged.")
                return redirect("alerts:detail", pk=alert.pk)
        return _render_detail(request, alert, form, status=400)


class ReleaseView(ConsoleView, StepUpRequiredMixin, ActionView):
    """Reverse an automated containment: the suspended identity is reactivated."""

    permission_required = (ACKNOWLEDGE_ALERTS, SUSPEND_IDENTITIES)

    def get_object(self) -> Alert:
        return get_object_or_404(Alert, pk=self.kwargs["pk"])

    def success_url(self) -> str:
        return reverse("alerts:detail", kwargs={"pk": self.object.pk})

    def act(self) -> str:
        identity = actions.release_containment(self.request.user, self.object, request=self.request)
        return f"{identity} is active again."


def _rule_rows(forms: dict[str, RuleForm] | None = None) -> list[dict]:
    rows = []
    for rule in actions.all_rules():
        form = (forms or {}).get(rule.detector) or RuleForm(
            detector=rule.detector,
            initial={
                "enabled": rule.enabled,
                "threshold": rule.threshold,
                "window_seconds": rule.window_seconds,
                "containment": rule.containment,
            },
        )
        rows.append({"rule": rule, "form": form})
    return rows


class RuleListView(ConsoleView, View):
    permission_required = VIEW_ALERTS

    def get(self, request: HttpRequest) -> HttpResponse:
        return render(
            request,
            "alerts/rules.html",
            {"rows": _rule_rows(), "can_configure": request.user.has_perm(CONFIGURE_ALERTS)},
        )


class RuleUpdateView(ConsoleView, StepUpRequiredMixin, View):
    permission_required = CONFIGURE_ALERTS
    http_method_names = ["post"]

    def post(self, request: HttpRequest, detector: str) -> HttpResponse:
        if detector not in Detector.values:
            raise Http404("no such detector")
        current = actions.get_rule(detector)
        form = RuleForm(request.POST, detector=detector)
        if form.is_valid():
            data = form.cleaned_data
            try:
                actions.update_rule(
                    request.user,
                    detector,
                    enabled=data["enabled"],
                    threshold=data["threshold"] if data.get("threshold") is not None else current.threshold,
                    window_seconds=data.get("window_seconds") or current.window_seconds,
                    containment=bool(data.get("containment")),
                    request=request,
                )
            except ActionError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, str(exc))
            else:
                messages.success(request, f"{current} updated.")
                return redirect("alerts:rules")
        return render(
            request,
            "alerts/rules.html",
            {"rows": _rule_rows({detector: form}), "can_configure": True},
            status=400,
        )
