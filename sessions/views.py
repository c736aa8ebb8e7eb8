"""Pages: the live sessions list, one session's detail with its event timeline, and the Terminate verb."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views import View

from accounts.stepup import StepUpRequiredMixin
from sessions import actions, selectors
from sessions.filters import SessionFilter
from sessions.forms import TerminateForm
from sessions.models import FixSession, StepUpRequest, StepUpState
from ztconsole.core.action_views import ActionView
from ztconsole.core.errors import ActionError
from ztconsole.core.keyset import Keyset, html_page, query_without_cursor
from ztconsole.core.permissions import ConsoleView
from ztconsole.core.roles import TERMINATE_SESSIONS, VIEW_ENFORCEMENT_POINTS, VIEW_SESSIONS

LIST_ORDER = Keyset(("-started_at", "-id"))


class SessionListView(ConsoleView, View):
    """Every session the user may see, newest first, with filters; rows update in place over /ws/sessions/."""

    permission_required = VIEW_SESSIONS

    def get(self, request: HttpRequest) -> HttpResponse:
        visible = selectors.visible_sessions(request.user)
        filterset = SessionFilter(request.GET, queryset=visible)
        queryset = filterset.qs if filterset.is_valid() else FixSession.objects.none()
        page = html_page(request, queryset, LIST_ORDER)
        filters = {k: v for k, v in (filterset.form.cleaned_data.items() if filterset.is_valid() else []) if v}
        context = {
            "filter": filterset,
            "filters": filters,
            "page_obj": page,
            "first_page": not request.GET.get("cursor"),
            "query": query_without_cursor(request),
            "counts": selectors.counts(visible),
            "step_ups": list(selectors.pending_step_ups(request.user)[:20]),
            "can_terminate": request.user.has_perm(TERMINATE_SESSIONS),
            "frame_ms": _frame_ms(),
        }
        return render(request, "sessions/list.html", context)


def _frame_ms() -> int:
    from django.conf import settings

    return settings.ZT_SESSION_FRAME_MS


class SessionDetailView(ConsoleView, View):
    permission_required = VIEW_SESSIONS

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        session = get_object_or_404(selectors.visible_sessions(request.user).select_related("certificate"), pk=pk)
        return _detail(request, session)


def _detail(request: HttpRequest, session: FixSession, form: TerminateForm | None = None, status: int = 200):
    from sessions.models import Decision

    context = {
        "session": session,
        "row": selectors.row(session),
        "timeline": selectors.timeline(session),
        "decisions": Decision.objects.filter(point_id=session.point_id, session_id=session.session_id).order_by(
            "time", "id"
        )[:100],
        "terminations": session.terminations.select_related("requested_by")[:20],
        "can_terminate": request.user.has_perm(TERMINATE_SESSIONS) and session.live,
        "can_see_points": request.user.has_perm(VIEW_ENFORCEMENT_POINTS),
        "form": form or TerminateForm(),
        "seconds_since_last_message": selectors.seconds_since_last_message(session),
    }
    return render(request, "sessions/detail.html", context, status=status)


class TerminateSessionView(ConsoleView, StepUpRequiredMixin, ActionView):
    """Ask the PEP to end the session: a Logout with the reason; step-up; audited."""

    permission_required = TERMINATE_SESSIONS

    def get_object(self) -> FixSession:
        return get_object_or_404(selectors.visible_sessions(self.request.user), pk=self.kwargs["pk"])

    def success_url(self) -> str:
        return reverse("sessions:detail", kwargs={"pk": self.object.pk})

    def act(self) -> str:
        form = TerminateForm(self.request.POST)
        if not form.is_valid():
            raise ActionError("say why the session is ended: the reason is sent to the counterparty", "reason")
        actions.terminate_session(
            self.request.user, self.object, reason=form.cleaned_data["reason"], request=self.request
        )
        return f"Session {self.object.session_id}: the enforcement point is asked to end it."


# --- step-up for algorithms -------------------------------------------------------------------------------------


class StepUpDetailView(ConsoleView, View):
    """A held Logon of a non-person identity: what, why, until when; the sponsor's Approve and Refuse."""

    permission_required = VIEW_SESSIONS

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        from django.utils import timezone

        step_up = get_object_or_404(selectors.visible_step_ups(request.user), pk=pk)
        state = step_up.status_at(timezone.now())
        mine = step_up.sponsor.user_id == request.user.pk
        context = {
            "step_up": step_up,
            "state_label": StepUpState(state).label,
            "can_decide": mine and state == StepUpState.PENDING,
            "hardware_problem": actions.hardware_step_up_problem(request) if mine else None,
            "session": selectors.visible_sessions(request.user)
            .filter(point_id=step_up.point_id, session_id=step_up.session_id)
            .first(),
        }
        return render(request, "sessions/step_up.html", context)


class _StepUpVerb(ConsoleView, StepUpRequiredMixin, ActionView):
    permission_required = VIEW_SESSIONS

    def get_object(self) -> StepUpRequest:
        return get_object_or_404(selectors.visible_step_ups(self.request.user), pk=self.kwargs["pk"])

    def success_url(self) -> str:
        return reverse("sessions:step_up", kwargs={"pk": self.object.pk})


class ApproveStepUpView(_StepUpVerb):
    """The sponsor approves: a fresh step-up made with a hardware token is required (the action checks it)."""

    def act(self) -> str:
        actions.approve_step_up(self.request.user, self.object, request=self.request)
        return f"Approved: {self.object.identity_name}'s Logon goes through to the venue."


class RefuseStepUpView(_StepUpVerb):
    """The sponsor refuses: the enforcement point answers the held Logon with a Logout."""

    def act(self) -> str:
        actions.refuse_step_up(self.request.user, self.object, request=self.request)
        return f"Refused: {self.object.identity_name}'s Logon is answered with a Logout."
