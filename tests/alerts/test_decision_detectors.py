"""Detectors over the decision log: FIX Logons from an unexpected country, and denied Logons above a rate per
identity and per enforcement point. The decisions are posted by the PEPs' own endpoint (bearer token, JSON Lines),
as the real ingestion stores them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Identity, IdentityStatus
from alerts import actions, detectors
from alerts.models import Alert, Containment, Detector
from tests.distribution.conftest import pki  # noqa: F401 - the CA the enforcement points' certificates need
from tests.distribution.helpers import register
from tests.sessions.helpers import Feed, post_events, session_id
from ztconsole.core.models import AuditEvent

pytestmark = pytest.mark.django_db

ANOMALOUS = {"rule_id": "seed-geo-anomalous", "attribute": "geography", "condition": "anomalous", "score": 40}
EXPECTED = {"rule_id": "seed-geo-expected", "attribute": "geography", "condition": "expected", "score": 0}


@pytest.fixture
def points(pki, personas):  # noqa: F811
    return register("pep-ldn"), register("pep-nyc")


def _rule(personas, detector, **values):
    defaults = {"enabled": True, "threshold": 3, "window_seconds": 300, "containment": False}
    actions.update_rule(personas["security"].user, detector, **{**defaults, **values})


def _post(point, feed: Feed, logons: list[tuple]) -> None:
    """``logons``: (identity, outcome, contributions, seconds ago, source IP)."""
    now = timezone.now()
    events = [
        feed.logon(
            session_id(),
            identity=identity,
            outcome=outcome,
            contributions=contributions,
            at=now - timedelta(seconds=ago),
            source_ip=address,
            reason="allowed" if outcome == "allow" else "score 70 is in the deny band",
        )
        for identity, outcome, contributions, ago, address in logons
    ]
    response = post_events(point.token, events)
    assert response.status_code == 202, response.content


def test_a_logon_from_an_unexpected_country_raises_an_alert_once_and_can_contain(points, personas):
    from policies.actions import create_country_range

    create_country_range(personas["admin"].user, environment="prod", cidr="203.0.113.0/24", country="RU")
    ldn, _ = points
    feed = Feed("pep-ldn")
    _post(
        ldn,
        feed,
        [
            ("tina", "allow", [EXPECTED], 5, "198.51.100.7"),  # expected country: nothing
            ("carla", "deny", [ANOMALOUS], 7200, "203.0.113.9"),  # older than the window (1 h): nothing
            ("tina", "step_up", [ANOMALOUS], 3, "203.0.113.9"),
        ],
    )
    [alert] = detectors.scan_decisions()
    assert (alert.detector, alert.subject, alert.subject_label) == (Detector.FIX_LOGON_COUNTRY, "identity:tina", "tina")
    assert alert.details["country"] == "RU" and alert.details["pep"] == "pep-ldn"
    assert alert.details["outcome"] == "step_up" and "RU (203.0.113.9)" in alert.message
    assert alert.containment == Containment.NONE  # containment is opt-in
    assert detectors.scan_decisions() == []  # read once: the cursor moved past it
    assert AuditEvent.objects.filter(action="alert.raised").count() == 1

    _rule(personas, Detector.FIX_LOGON_COUNTRY, window_seconds=3600, containment=True)
    _post(ldn, feed, [("tina", "allow", [{**ANOMALOUS, "score": 0}], 1, "203.0.113.10")])
    [again] = detectors.scan_decisions()
    assert again.pk == alert.pk and again.occurrences == 2
    assert again.containment == Containment.SUSPENDED
    assert Identity.objects.get(user=personas["trader"].user).status == IdentityStatus.SUSPENDED


def test_denied_logons_above_the_rate_per_identity_and_per_point(points, personas):
    _rule(personas, Detector.FIX_DENIED_IDENTITY, threshold=3, window_seconds=300)
    _rule(personas, Detector.FIX_DENIED_PEP, threshold=4, window_seconds=300)
    ldn, nyc = points
    feed_ldn, feed_nyc = Feed("pep-ldn"), Feed("pep-nyc")
    _post(
        ldn,
        feed_ldn,
        [
            ("bob", "deny", [], 600, "10.0.0.1"),  # outside the window
            ("bob", "deny", [], 30, "10.0.0.1"),
            ("bob", "deny", [], 20, "10.0.0.1"),
            ("carl", "deny", [], 10, "10.0.0.2"),
            ("carl", "step_up", [], 10, "10.0.0.2"),  # a step-up is not a denial
            ("bob", "allow", [], 5, "10.0.0.1"),
        ],
    )
    assert detectors.scan_decisions() == []  # bob 2, carl 1, pep-ldn 3 within the window
    _post(nyc, feed_nyc, [("bob", "deny", [], 2, "10.0.0.1")])
    [by_identity] = detectors.scan_decisions()  # bob 3 across both points; pep-nyc only 1
    assert (by_identity.detector, by_identity.subject) == (Detector.FIX_DENIED_IDENTITY, "identity:bob")
    assert by_identity.details["denied"] == 3 and by_identity.details["peps"] == ["pep-ldn", "pep-nyc"]
    assert by_identity.occurrences == 3

    _post(ldn, feed_ldn, [("carl", "deny", [], 1, "10.0.0.2")])  # pep-ldn reaches 4
    touched = {a.subject: a for a in detectors.scan_decisions()}
    assert set(touched) == {"pep:pep-ldn"}  # carl has 2: below 3
    assert touched["pep:pep-ldn"].details == {
        "denied": 4,
        "window_seconds": 300,
        "threshold": 4,
        "identities": ["bob", "carl"],
    }
    assert Alert.objects.filter(resolved_at__isnull=True).count() == 2
    # Quiet for longer than the window: both close.
    detectors.scan_decisions(now=timezone.now() + timedelta(seconds=400))
    assert Alert.objects.filter(resolved_at__isnull=True).count() == 0


def test_thresholds_are_edited_in_the_rules_table_and_audited(personas):
    _rule(personas, Detector.FIX_DENIED_PEP, threshold=25, window_seconds=120)
    rule = actions.get_rule(Detector.FIX_DENIED_PEP)
    assert (rule.threshold, rule.window_seconds) == (25, 120)
    event = AuditEvent.objects.filter(action__startswith="alert.rule").latest("seq")
    assert event.actor_label == "sam"
    _rule(personas, Detector.FIX_LOGON_COUNTRY, threshold=99)  # a condition: its threshold stays 1
    assert actions.get_rule(Detector.FIX_LOGON_COUNTRY).threshold == 1
    with pytest.raises(Exception) as refused:
        _rule(personas, Detector.FIX_DENIED_PEP, containment=True)
    assert refused.value.field == "containment"


def _scan_queries() -> int:
    with CaptureQueriesContext(connection) as queries:
        detectors.scan_decisions()
    return len(queries)


def test_scan_queries_do_not_grow_with_decisions(points, personas):
    _rule(personas, Detector.FIX_DENIED_IDENTITY, threshold=1000)
    _rule(personas, Detector.FIX_DENIED_PEP, threshold=1000)
    ldn, _ = points
    feed = Feed("pep-ldn")
    detectors.scan_decisions()  # creates the cursor
    _post(ldn, feed, [(f"t{i}", "deny", [EXPECTED], 1, "10.0.0.1") for i in range(3)])
    few = _scan_queries()
    _post(ldn, feed, [(f"t{i}", "deny" if i % 2 else "allow", [EXPECTED], 1, "10.0.0.1") for i in range(60)])
    assert _scan_queries() == few


def test_the_scan_is_on_the_beat_schedule(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["alerts-scan-decisions"]
    assert entry == {"task": "alerts.scan_decisions", "schedule": float(settings.ZT_ALERT_SCAN_SECONDS)}


@pytest.mark.django_db(transaction=True)
def test_a_flagged_logon_makes_a_real_worker_scan_and_contain_without_beat(points, personas, celery_worker_thread):
    """No beat runs in the tests: only the fix_logons_flagged hook, after ingestion commits, can wake the scan."""
    import time

    _rule(personas, Detector.FIX_LOGON_COUNTRY, window_seconds=3600, containment=True)
    ldn, _ = points
    _post(ldn, Feed("pep-ldn"), [("tina", "step_up", [ANOMALOUS], 1, "203.0.113.9")])
    identity = Identity.objects.get(user=personas["trader"].user)
    deadline = time.monotonic() + 30
    while identity.status != IdentityStatus.SUSPENDED and time.monotonic() < deadline:
        time.sleep(0.1)
        identity.refresh_from_db()
    assert identity.status == IdentityStatus.SUSPENDED
    assert Alert.objects.get(detector=Detector.FIX_LOGON_COUNTRY).containment == Containment.SUSPENDED


def test_only_denied_or_unexpected_country_logons_fire_the_hook(points, monkeypatch):
    from ztconsole.core import hooks

    fired = []
    receiver = lambda actor, point, request=None: fired.append(point)  # noqa: E731
    monkeypatch.setattr(hooks.fix_logons_flagged, "_receivers", [receiver])
    ldn, _ = points
    feed = Feed("pep-ldn")
    _post(ldn, feed, [("tina", "allow", [EXPECTED], 1, "10.0.0.1"), ("tina", "step_up", [], 1, "10.0.0.1")])
    assert fired == []
    _post(ldn, feed, [("tina", "deny", [EXPECTED], 1, "10.0.0.1")])
    _post(ldn, feed, [("tina", "allow", [ANOMALOUS], 1, "10.0.0.1")])
    assert [p.name for p in fired] == ["pep-ldn", "pep-ldn"]


def test_a_batch_that_commits_after_a_later_one_is_still_scanned(points, personas):
    """Batches from several PEPs commit in any order: one holding lower ids that commits after a scan has read
    higher ones is read by the next scan (a cursor over ids skipped it), and nothing is read twice."""
    from sessions.models import Decision

    _rule(personas, Detector.FIX_DENIED_IDENTITY, threshold=1, window_seconds=300)
    ldn, nyc = points
    _post(ldn, Feed("pep-ldn"), [("bob", "deny", [], 5, "10.0.0.1")])
    first = Decision.objects.get(identity_name="bob")
    # The later batch took ids far above: it commits first and is scanned.
    Decision.objects.filter(pk=first.pk).update(id=first.pk + 1000)
    [bob] = detectors.scan_decisions()
    assert bob.subject == "identity:bob" and bob.occurrences == 1
    # The earlier transaction's row, with a lower id, commits only now.
    _post(nyc, Feed("pep-nyc"), [("carl", "deny", [], 3, "10.0.0.2")])
    Decision.objects.filter(identity_name="carl").update(id=first.pk)
    [carl] = detectors.scan_decisions()
    assert carl.subject == "identity:carl"
    assert detectors.scan_decisions() == [] and not Decision.objects.filter(alert_pending=True).exists()
