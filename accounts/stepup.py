"""Step-up: sensitive actions need an OTP verification within ZT_STEP_UP_MAX_AGE_SECONDS."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode

from ztconsole.core.permissions import is_recently_verified


class StepUpRequiredMixin:
    """For views whose POST is a sensitive action: re-prompt for an OTP code when the last one is stale.

    After the new code the user returns to ``step_up_return_url()`` (the page holding the form) and
    submits again.
    """

    def step_up_return_url(self) -> str:
        referer = self.request.headers.get("Referer", "")  # type: ignore[attr-defined]
        if referer and url_has_allowed_host_and_scheme(referer, allowed_hosts={self.request.get_host()}):  # type: ignore[attr-defined]
            return referer
        return reverse("core:dashboard")

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        stale = request.method == "POST" and request.user.is_authenticated and not is_recently_verified(request)
        if stale and request.user.is_verified():
            messages.info(request, "This action needs a fresh one-time code.")
            return redirect(f"{reverse('accounts:step_up')}?{urlencode({'next': self.step_up_return_url()})}")
        return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]
