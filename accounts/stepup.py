"""Step-up: sensitive actions need an OTP verification within ZT_STEP_UP_MAX_AGE_SECONDS.

A sensitive POST that arrives after that window is kept (its fields, in the server-side session) while the user
enters a fresh code; the step-up page then sends it again, so the change the user made is not lost.
"""

from __future__ import annotations

import time
from typing import Any

from django.contrib import messages
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode

from ztconsole.core.permissions import is_recently_verified

PENDING_SESSION_KEY = "zt_step_up_pending"
PENDING_MAX_AGE_SECONDS = 900  # a change left waiting longer than this is not replayed


def stash_pending_post(request: Any, return_url: str) -> None:
    """Keep the refused POST (minus its CSRF token) so it can be completed after the fresh code."""
    fields = [
        [name, value] for name, values in request.POST.lists() if name != "csrfmiddlewaretoken" for value in values
    ]
    request.session[PENDING_SESSION_KEY] = {
        "path": request.get_full_path(),
        "fields": fields,
        "files": sorted(request.FILES),
        "return_url": return_url,
        "at": time.time(),
    }


def pop_pending_post(request: Any) -> dict[str, Any] | None:
    """The kept POST, once; None when there is none or it is too old to replay."""
    pending = request.session.pop(PENDING_SESSION_KEY, None)
    if not isinstance(pending, dict) or time.time() - float(pending.get("at", 0)) > PENDING_MAX_AGE_SECONDS:
        return None
    path = str(pending.get("path", ""))
    if not path.startswith("/") or path.startswith("//"):
        return None
    return pending


class StepUpRequiredMixin:
    """For views whose POST is a sensitive action: re-prompt for an OTP code when the last one is stale.

    The refused POST is kept; after the new code the step-up page submits it again (a file upload cannot be
    resent by a page: the user returns to ``step_up_return_url()``, the page holding the form, and picks the
    file again).
    """

    def step_up_return_url(self) -> str:
        referer = self.request.headers.get("Referer", "")  # type: ignore[attr-defined]
        if referer and url_has_allowed_host_and_scheme(referer, allowed_hosts={self.request.get_host()}):  # type: ignore[attr-defined]
            return referer
        return reverse("core:dashboard")

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        stale = request.method == "POST" and request.user.is_authenticated and not is_recently_verified(request)
        if stale and request.user.is_verified():
            return_url = self.step_up_return_url()
            stash_pending_post(request, return_url)
            messages.info(request, "This action needs a fresh one-time code. Your change is kept until you enter it.")
            return redirect(f"{reverse('accounts:step_up')}?{urlencode({'next': return_url})}")
        return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]
