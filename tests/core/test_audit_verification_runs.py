"""Whole-chain verification asked for from the browser: queued, run by the task's code, progress, result audited."""

from __future__ import annotations

import pytest
from django.db import transaction

from tests.core.audit_helpers import record_events, tamper
from ztconsole.core import actions, audit
from ztconsole.core.errors import ActionError
from ztconsole.core.models import AuditEvent, AuditVerification

pytestmark = pytest.mark.django_db


def test_an_intact_chain_is_reported_and_the_result_audited(personas, verified_client):
    record_events(5)
    client = verified_client(personas["compliance"])
    response = client.post("/audit/verifications/new/")
    run = AuditVerification.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/audit/verifications/{run.pk}/"
    assert run.status == "queued" and run.total == 5  # the head when asked, before the request's own event
    with pytest.raises(ActionError, match="already running"):
        actions.request_chain_verification(personas["security"].user)
    done = actions.run_chain_verification(str(run.pk))
    assert actions.run_chain_verification(str(run.pk)) is None  # a duplicate delivery does nothing
    assert done.status == "done" and done.intact is True and done.checked == done.total == 6 and done.percent == 100
    assert done.summary.startswith("audit chain intact: 6 events verified")
    state = client.get(f"/audit/verifications/{run.pk}/status/").json()
    assert state["status"] == "done" and state["intact"] is True and "intact" in state["result"]
    requested, verified = AuditEvent.objects.filter(action__startswith="audit.verif").order_by("seq")
    assert requested.action == "audit.verification_requested" and requested.actor_label == "carla"
    assert verified.action == "audit.verified" and verified.details["checked"] == 6


def test_a_broken_chain_is_reported_with_the_event_and_audited_as_failed(personas):
    record_events(4)
    with transaction.atomic():
        audit.checkpoint()
    tamper("UPDATE core_auditevent SET details = %s WHERE seq = 2", ['{"i": 99}'])
    run = actions.request_chain_verification(personas["security"].user)
    done = actions.run_chain_verification(str(run.pk))
    assert done.intact is False and done.first_broken_seq == 2
    assert "BROKEN at event seq 2" in done.summary
    failed = AuditEvent.objects.get(action="audit.verification_failed")
    assert failed.details["intact"] is False and failed.details["first_broken_seq"] == 2


def test_verification_pages_are_for_compliance_and_security_officers(personas, verified_client):
    assert verified_client(personas["admin"]).post("/audit/verifications/new/").status_code == 403
    assert verified_client(personas["security"]).get("/audit/verifications/").status_code == 200


def test_a_run_lost_with_its_task_no_longer_blocks_a_new_one(personas):
    from datetime import timedelta

    from django.utils import timezone

    lost = actions.request_chain_verification(personas["compliance"].user)
    AuditVerification.objects.filter(pk=lost.pk).update(
        status="running", requested_at=timezone.now() - actions.ABANDONED_AFTER - timedelta(minutes=1)
    )
    fresh = actions.request_chain_verification(personas["security"].user)
    lost.refresh_from_db()
    assert lost.status == "failed" and lost.summary.startswith("abandoned")
    assert fresh.status == "queued"
    failed = AuditEvent.objects.get(action="audit.verification_failed")
    assert failed.target_id == str(lost.pk) and failed.details == {"error": "abandoned"}


@pytest.mark.django_db(transaction=True)
def test_progress_is_visible_to_another_connection_while_the_walk_runs(personas, monkeypatch):
    """The page polls from another request: what the run saved must be committed while the walk goes on."""
    import threading

    from django.db import connection

    record_events(30)
    monkeypatch.setattr(actions, "PROGRESS_EVERY_SECONDS", 0.0)
    seen: list[int] = []
    saved = actions.save_progress

    def save_and_look(run_id, checked, total):
        saved(run_id, checked, total)

        def look():
            try:
                seen.append(AuditVerification.objects.get(pk=run_id).checked)
            finally:
                connection.close()

        reader = threading.Thread(target=look)
        reader.start()
        reader.join()

    monkeypatch.setattr(actions, "save_progress", save_and_look)
    run = actions.request_chain_verification(personas["compliance"].user)
    done = actions.run_chain_verification(str(run.pk))
    assert done.intact is True
    assert seen and max(seen) > 0, seen
