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
from sessions.models import FixSession
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
