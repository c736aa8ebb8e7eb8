"""One shape for every POST-only verb of the pages: call an action, flash the outcome, redirect."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.shortcuts import redirect
from django.views import View

from ztconsole.core.errors import ActionError


class ActionView(View):
    """POST-only: load the object, call one action, flash its outcome, redirect.

    A subclass implements ``act()``, which calls the action and returns the success message, and
    ``success_url()``. ``get_object()`` loads what the verb acts on into ``self.object`` before ``act()``
    runs (``act()`` may replace it, e.g. with the version it created, before ``success_url()`` is read).
    When the action refuses with ``ActionError``, its message is flashed as an error and the user goes to
    ``failure_url()`` (the success URL unless overridden); ``act()`` raises ``ActionError`` itself for input
    that a form refused. A verb whose success shows a page of its own (a secret shown once) returns that
    response from ``act()`` instead of a message.

    Permission and step-up mixins come first in the bases: ``class V(ConsoleView, StepUpRequiredMixin, ActionView)``.
    """

    http_method_names = ["post"]
    object: Any = None

    def get_object(self) -> Any:
        return None

    def act(self) -> str | HttpResponseBase:
        raise NotImplementedError

    def success_url(self) -> str:
        """A URL, or a URL name without arguments (anything ``redirect()`` takes)."""
        raise NotImplementedError

    def failure_url(self) -> str:
        return self.success_url()

    def refusal_message(self, exc: ActionError) -> str:
        return str(exc)

    def refused(self, exc: ActionError) -> HttpResponseBase:
        messages.error(self.request, self.refusal_message(exc))
        return redirect(self.failure_url())

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        self.object = self.get_object()
        try:
            outcome = self.act()
        except ActionError as exc:
            return self.refused(exc)
        if isinstance(outcome, HttpResponseBase):
            return outcome
        messages.success(request, outcome)
        return redirect(self.success_url())
