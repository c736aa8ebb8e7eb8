"""Whoever edited the draft a version publishes is a maker of it: they do not approve it."""

from __future__ import annotations

import pytest

from policies import actions
from policies.models import PublicationState
from tests.conftest import make_persona
from ztconsole.core.roles import ADMINISTRATOR


def test_an_editor_of_the_draft_cannot_approve_what_someone_else_requested(rfq_policy, personas):
    editor = personas["admin"].user
    requester = make_persona("adam", ADMINISTRATOR).user
    actions.update_bands(editor, environment="prod", step_up=25, deny=45)
    pv = actions.request_publication(requester, environment="prod")
    with pytest.raises(actions.PolicyError, match="you edited the draft"):
        actions.approve_publication(editor, pv)
    assert actions.approve_publication(personas["security"].user, pv).state == PublicationState.APPROVED


def test_edits_already_published_do_not_bar_an_approver(rfq_policy, personas):
    editor = personas["admin"].user
    requester = make_persona("adam", ADMINISTRATOR).user
    actions.update_bands(editor, environment="prod", step_up=25, deny=45)
    actions.approve_publication(personas["security"].user, actions.request_publication(requester, environment="prod"))
    actions.update_bands(personas["admin"].user, environment="uat", step_up=25, deny=45)  # another environment
    pv = actions.request_publication(requester, environment="prod")
    assert actions.approve_publication(editor, pv).state == PublicationState.APPROVED
