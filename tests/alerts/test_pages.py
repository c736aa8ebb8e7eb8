"""The alerts pages: acknowledge with a comment and change thresholds, both audited; bad input named; the tile."""

from __future__ import annotations

import time

import pytest
from django.urls import reverse

from accounts.actions import VERIFIED_AT_SESSION_KEY
from alerts import actions
from alerts.models import Alert, AlertRule, Detector
from tests.alerts.helpers import matrix_alert
from ztconsole.core.models import AuditEvent

pytestmark = pytest.mark.django_db


def test_acknowledging_needs_a_comment_and_is_audited_with_it(personas, verified_client):
    pk = matrix_alert()
    client = verified_client(personas["security"])
    page = client.get(reverse("alerts:detail", args=[pk])).content.decode()
    assert "192.0.2.7" in page and 'name="comment"' in page

    empty = client.post(reverse("alerts:acknowledge", args=[pk]), {"comment": "   "})
    assert empty.status_code == 400 and b'class="field-error"' in empty.content
    assert Alert.objects.get(pk=pk).acknowledged_at is None

    done = client.post(reverse("alerts:acknowledge", args=[pk]), {"comment": "our scanner; ticket SEC-12"})
    assert done.status_code == 302
    alert = Alert.objects.get(pk=pk)
    assert alert.acknowledged_by == personas["security"].user and alert.acknowledgement == "our scanner; ticket SEC-12"
    event = AuditEvent.objects.get(action="alert.acknowledged")
    assert event.actor == personas["security"].user and event.details["comment"] == "our scanner; ticket SEC-12"

    again = client.post(reverse("alerts:acknowledge", args=[pk]), {"comment": "me too"})
    assert again.status_code == 400 and b"already acknowledged" in again.content
    assert AuditEvent.objects.filter(action="alert.acknowledged").count() == 1


def test_acknowledging_with_a_stale_verification_asks_for_a_fresh_code(personas, verified_client):
    pk = matrix_alert()
    client = verified_client(personas["admin"])
    session = client.session
    session[VERIFIED_AT_SESSION_KEY] = time.time() - 3600
    session.save()
    response = client.post(reverse("alerts:acknowledge", args=[pk]), {"comment": "looking"})
    assert response.status_code == 302 and response["Location"].startswith(reverse("accounts:step_up"))
    assert Alert.objects.get(pk=pk).acknowledged_at is None


def test_a_security_officer_changes_a_threshold_and_the_change_is_audited(personas, verified_client):
    client = verified_client(personas["security"])
    url = reverse("alerts:rule_update", args=[Detector.SIGN_IN_FAILURES_USER])
    response = client.post(url, {"enabled": "on", "threshold": "4", "window_seconds": "120", "containment": "on"})
    assert response.status_code == 302
    rule = AlertRule.objects.get(detector=Detector.SIGN_IN_FAILURES_USER)
    assert (rule.threshold, rule.window_seconds, rule.containment, rule.updated_by) == (
        4,
        120,
        True,
        personas["security"].user,
    )
    event = AuditEvent.objects.get(action="alert.rule_changed")
    assert event.details["before"] == {"enabled": True, "threshold": 8, "window_seconds": 300, "containment": False}
    assert event.details["after"] == {"enabled": True, "threshold": 4, "window_seconds": 120, "containment": True}
    page = client.get(reverse("alerts:rules")).content.decode()
    assert 'value="4"' in page and "Changed" in page


@pytest.mark.parametrize(
    ("detector", "data", "field"),
    [
        (Detector.SIGN_IN_FAILURES_USER, {"threshold": "0", "window_seconds": "60"}, "threshold"),
        (Detector.SIGN_IN_FAILURES_USER, {"threshold": "5", "window_seconds": "1"}, "window_seconds"),
        (Detector.SIGN_IN_FAILURES_ADDRESS, {"threshold": "x", "window_seconds": "60"}, "threshold"),
        (Detector.CERTIFICATE_EXPIRING, {"threshold": "999"}, "threshold"),
    ],
)
def test_bad_thresholds_are_refused_naming_the_field_and_change_nothing(
    personas, verified_client, detector, data, field
):
    client = verified_client(personas["security"])
    response = client.post(reverse("alerts:rule_update", args=[detector]), {"enabled": "on", **data})
    assert response.status_code == 400
    assert f'id="id_{detector}_{field}"' in response.content.decode() and b"field-error" in response.content
    assert not AlertRule.objects.exists() and not AuditEvent.objects.filter(action="alert.rule_changed").exists()


def test_containment_is_refused_for_a_detector_that_has_none(personas):
    with pytest.raises(actions.ActionError) as refused:
        actions.update_rule(
            personas["security"].user,
            Detector.SIGN_IN_FAILURES_ADDRESS,
            enabled=True,
            threshold=5,
            window_seconds=60,
            containment=True,
        )
    assert refused.value.field == "containment"


def test_compliance_reads_alerts_but_cannot_act(personas, verified_client):
    pk = matrix_alert()
    client = verified_client(personas["compliance"])
    listing = client.get(reverse("alerts:list")).content.decode()
    assert "192.0.2.7" in listing
    detail = client.get(reverse("alerts:detail", args=[pk])).content.decode()
    assert 'name="comment"' not in detail
    rules = client.get(reverse("alerts:rules")).content.decode()
    assert "Security officers change them" in rules and "<form" not in rules.split("<main", 1)[-1].split("</main>")[0]


def test_the_list_filters_by_state_and_the_dashboard_tile_counts_open_alerts(personas, verified_client):
    pk = matrix_alert()
    client = verified_client(personas["admin"])
    tile = client.get(reverse("core:dashboard")).content.decode()
    assert 'data-testid="alerts-tile"' in tile and "data-alerts-open>1<" in tile
    alert = Alert.objects.get(pk=pk)
    actions.resolve_alert(alert, reason="test")
    assert "192.0.2.7" not in client.get(reverse("alerts:list")).content.decode()
    assert "192.0.2.7" in client.get(reverse("alerts:list") + "?state=resolved").content.decode()
    assert "data-alerts-open>0<" in client.get(reverse("core:dashboard")).content.decode()
    assert client.get(reverse("alerts:list") + "?state=bogus&detector=nope&cursor=%%%").status_code == 200
