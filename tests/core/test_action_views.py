"""ActionView: the one POST-verb shape (call an action, flash the outcome, redirect)."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.contrib.messages.storage.cookie import CookieStorage
from django.http import HttpResponse
from django.test import RequestFactory

from ztconsole.core.action_views import ActionView
from ztconsole.core.errors import ActionError


class Toggle(ActionView):
    outcome: object = "done"

    def get_object(self):
        return {"pk": self.kwargs["pk"]}

    def success_url(self):
        return f"/things/{self.object['pk']}/"

    def failure_url(self):
        return "/things/"

    def act(self):
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome


def _post(view, **kwargs):
    request = RequestFactory().post("/things/7/toggle/")
    request._messages = CookieStorage(request)
    response = view.as_view(**kwargs)(request, pk=7)
    return response, [(m.level_tag, str(m)) for m in get_messages(request)]


def test_success_flashes_the_message_and_redirects_to_the_success_url():
    response, flashed = _post(Toggle, outcome="Thing 7 toggled.")
    assert response.status_code == 302 and response["Location"] == "/things/7/"
    assert flashed == [("success", "Thing 7 toggled.")]


def test_a_refused_action_flashes_its_message_and_redirects_to_the_failure_url():
    response, flashed = _post(Toggle, outcome=ActionError("thing 7 is locked", field="status"))
    assert response.status_code == 302 and response["Location"] == "/things/"
    assert flashed == [("error", "thing 7 is locked")]


def test_a_response_returned_by_act_is_served_as_is_without_a_flash():
    response, flashed = _post(Toggle, outcome=HttpResponse("secret shown once", status=200))
    assert response.status_code == 200 and response.content == b"secret shown once"
    assert flashed == []


def test_other_errors_are_not_swallowed():
    with pytest.raises(KeyError):  # a programming error is never flashed as a refusal
        _post(Toggle, outcome=KeyError("bug"))


def test_only_post_is_allowed():
    request = RequestFactory().get("/things/7/toggle/")
    assert Toggle.as_view()(request, pk=7).status_code == 405
