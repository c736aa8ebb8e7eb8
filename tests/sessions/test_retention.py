"""Retention: ended sessions (with their decisions) and raw events past their age are pruned in batches; live
sessions and recent rows stay."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from sessions import actions
from sessions.models import Decision, FixSession, PepEvent
from tests.sessions.helpers import Feed, post_events, session_id
from ztconsole.core.models import AuditEvent

pytestmark = pytest.mark.django_db


def test_prune_removes_only_what_is_past_retention(point, settings):
    settings.ZT_SESSION_RETENTION_DAYS = 30
    settings.ZT_SESSION_EVENT_RETENTION_DAYS = 7
    feed = Feed("pep-ldn")
    old_ended, old_live, recent_ended = session_id(), session_id(), session_id()
    for sid in (old_ended, old_live, recent_ended):
        post_events(point.token, feed.logged_on(sid))
    post_events(point.token, [feed.event("disconnect", session=s, reason="closed") for s in (old_ended, recent_ended)])
    now = timezone.now()
    FixSession.objects.filter(session_id=old_ended).update(ended_at=now - timedelta(days=31))
    FixSession.objects.filter(session_id=old_live).update(started_at=now - timedelta(days=90))
    FixSession.objects.filter(session_id=recent_ended).update(ended_at=now - timedelta(days=29))
    PepEvent.objects.filter(session_id=old_live).update(received_at=now - timedelta(days=8))

    removed = actions.prune(batch_size=1)  # one row per transaction: the batching loop is exercised
    assert removed == {"sessions": 1, "decisions": 1, "events": 4, "step_ups": 0}
    assert set(FixSession.objects.values_list("session_id", flat=True)) == {old_live, recent_ended}
    assert not Decision.objects.filter(session_id=old_ended).exists()
    assert not PepEvent.objects.filter(session_id=old_live).exists()
    assert PepEvent.objects.filter(session_id=old_ended).exists()  # events follow their own retention
    pruned = list(AuditEvent.objects.filter(action="sessions.pruned").order_by("seq"))
    assert sum(p.details["sessions"] for p in pruned) == 1 and pruned[0].details["event_retention_days"] == 7
    assert sum(p.details["events"] for p in pruned) >= 1  # one event per batch, in the batch's transaction
    before = len(pruned)
    assert actions.prune() == {"sessions": 0, "decisions": 0, "events": 0, "step_ups": 0}
    assert AuditEvent.objects.filter(action="sessions.pruned").count() == before


def test_the_prune_task_is_on_the_beat_schedule(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["prune-fix-sessions"]
    assert entry["task"] == "sessions.tasks.prune"
    from ztconsole.celery import app

    app.loader.import_default_modules()
    assert "sessions.tasks.prune" in app.tasks
