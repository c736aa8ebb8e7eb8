"""Each report against data built here: MFA coverage, access review (with attestation), policy changes, certificates."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.actions import create_desk, move_to_desk
from accounts.models import Identity, IdentityStatus, OathDevice, YubikeyDevice
from certificates import actions as certificate_actions
from policies import actions as policy_actions
from policies.models import AccessRule, Delivery
from reports import actions
from reports.catalogue import Period, kinds
from reports.models import AccessAttestation
from tests.certificates.helpers import make_algo, make_csr
from tests.conftest import make_persona
from tests.policies.helpers import build_rfq_policy
from ztconsole.core.errors import ActionError
from ztconsole.core.models import AuditEvent

pytestmark = pytest.mark.django_db


def _period() -> Period:
    today = timezone.now().date()
    return Period.of_days(today - timedelta(days=13), today + timedelta(days=1))


def _rows(report, table_id: str) -> list[dict]:
    return report.table(table_id).rows


# --- MFA coverage --------------------------------------------------------------------------------------


def test_mfa_coverage_lists_every_person_and_puts_missing_hardware_first(personas):
    sam = personas["security"].user
    key = YubikeyDevice(user=sam, name="YubiKey 5", confirmed=True, public_id="vvccccfiluij")
    key.set_secret(b"\x01" * 6, b"\x02" * 16)
    key.save()
    gone = make_persona("gone", "Trader")
    Identity.objects.filter(user=gone.user).update(status=IdentityStatus.REVOKED)
    suspended = OathDevice.objects.get(user=personas["compliance"].user)
    suspended.suspended_at = timezone.now()
    suspended.save()

    report = kinds()["mfa-coverage"].build(_period())
    rows = _rows(report, "people")
    assert [r["username"] for r in rows] == ["alice", "tina", "sam", "carla", "oscar"]  # no revoked "gone"
    by_name = {r["username"]: r for r in rows}
    assert by_name["alice"]["priority"] == "hardware missing" and by_name["tina"]["priority"] == "hardware missing"
    assert by_name["sam"]["strongest"] == "hardware" and "YubiKey OTP [hardware]" in by_name["sam"]["factors"]
    assert by_name["carla"]["strongest"] == "none" and by_name["carla"]["factors"] == "none"  # suspended: not counted
    assert by_name["tina"]["factors"] == "authenticator app (TOTP) [software]"
    chart = report.charts[0]
    assert chart.labels == ["traders", "privileged", "other people"]
    assert [s.values for s in chart.series] == [[0, 1, 0], [1, 1, 1], [0, 0, 1]]  # hardware, software, none
    trend = report.charts[1]
    assert trend.series[0].values[-1] == 20.0  # 1 of 5 people with hardware by the last week
    assert report.controls == ["NYDFS 23 NYCRR 500.12 (multi-factor authentication)"]


def test_mfa_report_queries_do_not_grow_with_people(personas):
    period = _period()
    with CaptureQueriesContext(connection) as few:
        kinds()["mfa-coverage"].build(period)
    for i in range(6):
        make_persona(f"extra{i}", "Trader")
    with CaptureQueriesContext(connection) as many:
        kinds()["mfa-coverage"].build(period)
    assert len(many) == len(few)


# --- access review -------------------------------------------------------------------------------------


def _publish(personas):
    request = policy_actions.request_publication(personas["admin"].user, environment="prod")
    return policy_actions.approve_publication(personas["security"].user, request)


@pytest.fixture
def policy(personas):
    policy_actions.init_signing_key(None)
    objects = build_rfq_policy(personas)  # trader-rfq: tina directly, R and S on rfq-gateway
    desk = create_desk(None, name="fx-spot")
    move_to_desk(None, personas["trader"].user.identity, desk)
    algo = make_algo(personas["trader"].user, name="algo-rfq-1", comp_ids=("ALGO1",))
    Identity.objects.filter(pk=algo.pk).update(environment="prod")
    first = _publish(personas)
    policy_actions.create_access_rule(
        None,
        environment="prod",
        name="desk-fx",
        subject_kind="desk",
        subject_desk=desk,
        target_segment=objects["segment"],
        message_types=["D"],
    )
    policy_actions.create_access_rule(
        None,
        environment="prod",
        name="admins-all",
        subject_kind="role",
        subject_role="Administrator",
        target_segment=objects["segment"],
        message_types=["*"],
    )
    policy_actions.create_access_rule(
        None,
        environment="prod",
        name="algo-quotes",
        subject_kind="identity",
        subject_identity=Identity.objects.get(pk=algo.pk),
        target_segment=objects["segment"],
        message_types=["S"],
    )
    second = _publish(personas)
    return {"first": first, "second": second}


def test_access_review_expands_rules_through_each_path_with_since_and_version(policy, personas):
    report = kinds()["access-review"].build(_period())
    rows = _rows(report, "access")
    lines = [(r["identity"], r["rule"], r["via"]) for r in rows]
    # Privileged first, then non-person, then the other people.
    assert lines == [
        ("alice", "admins-all", "role Administrator"),
        ("algo-rfq-1", "algo-quotes", "direct"),
        ("tina", "desk-fx", "desk fx-spot"),
        ("tina", "trader-rfq", "direct"),
    ]
    by_rule = {r["rule"]: r for r in rows}
    first, second = policy["first"], policy["second"]
    assert by_rule["trader-rfq"]["approved_in"] == f"v{first.version}"  # unchanged since the first version
    assert by_rule["trader-rfq"]["since"] == first.approved_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert by_rule["desk-fx"]["approved_in"] == f"v{second.version}"
    assert by_rule["trader-rfq"]["message_types"] == "R, S" and by_rule["trader-rfq"]["target"] == "segment rfq-gateway"
    assert by_rule["algo-quotes"]["identity_kind"] == "Trading algorithm"
    assert {r["last_used"] for r in rows} == {"never used"}
    assert {r["in_force"] for r in rows} == {f"v{second.version}"}
    assert by_rule["admins-all"]["approved_by"] == "sam"


def test_reviewer_attests_and_flags_lines_and_each_decision_is_audited(policy, personas, verified_client):
    rows = _rows(kinds()["access-review"].build(_period()), "access")
    tina_line = next(r["line_key"] for r in rows if r["rule"] == "trader-rfq")
    admin_line = next(r["line_key"] for r in rows if r["rule"] == "admins-all")
    carla = personas["compliance"].user
    actions.attest_access_line(carla, line_key=tina_line, decision="attest")
    actions.attest_access_line(carla, line_key=admin_line, decision="flag", comment="alice needs no trading access")
    with pytest.raises(ActionError) as refused:
        actions.attest_access_line(carla, line_key=admin_line, decision="flag")
    assert refused.value.field == "comment"
    with pytest.raises(ActionError) as forged:
        actions.attest_access_line(carla, line_key="prod|carla|anything|direct|0", decision="attest")
    assert forged.value.field == "line"
    client = verified_client(personas["security"])
    response = client.post("/reports/access-review/attest/", {"line": admin_line, "decision": "attest"})
    assert response.status_code == 302
    assert AccessAttestation.objects.count() == 3
    events = list(AuditEvent.objects.filter(action__startswith="access_review.").order_by("seq"))
    assert [e.action for e in events] == ["access_review.attested", "access_review.flagged", "access_review.attested"]
    assert events[1].details["comment"] == "alice needs no trading access" and events[1].actor_label == "carla"
    report = kinds()["access-review"].build(_period())
    by_rule = {r["rule"]: r for r in _rows(report, "access")}
    assert by_rule["trader-rfq"]["review"] == "Attested" and by_rule["trader-rfq"]["reviewed_by"] == "carla"
    assert by_rule["admins-all"]["review"] == "Attested" and by_rule["admins-all"]["reviewed_by"] == "sam"
    assert by_rule["desk-fx"]["review"] == "not reviewed"


def test_nobody_reviews_their_own_access(policy, personas):
    rows = _rows(kinds()["access-review"].build(_period()), "access")
    alice_line = next(r["line_key"] for r in rows if r["identity"] == "alice")
    with pytest.raises(ActionError, match="own access"):
        actions.attest_access_line(personas["admin"].user, line_key=alice_line, decision="attest")


def test_a_changed_rule_is_a_new_line_to_review(policy, personas):
    rows = _rows(kinds()["access-review"].build(_period()), "access")
    line = next(r["line_key"] for r in rows if r["rule"] == "trader-rfq")
    actions.attest_access_line(personas["compliance"].user, line_key=line, decision="attest")
    rule = AccessRule.objects.get(name="trader-rfq")
    policy_actions.update_access_rule(
        None,
        rule,
        subject_kind="identity",
        subject_identity=rule.subject_identity,
        target_segment=rule.target_segment,
        message_types=["R", "S", "D"],
    )
    third = _publish(personas)
    row = next(r for r in _rows(kinds()["access-review"].build(_period()), "access") if r["rule"] == "trader-rfq")
    assert row["review"] == "not reviewed" and row["approved_in"] == f"v{third.version}"


# --- policy change history ------------------------------------------------------------------------------


def test_policy_history_shows_versions_diffs_approvers_and_acknowledgements(personas):
    from tests.distribution.helpers import register

    certificate_actions.init_ca(None)
    policy_actions.init_signing_key(None)
    build_rfq_policy(personas)
    point = register("pep-report", actor=personas["admin"].user).point
    approved = _publish(personas)
    rejected = policy_actions.request_publication(personas["admin"].user, environment="prod")
    policy_actions.reject_publication(personas["security"].user, rejected, reason="not this week")
    delivery = Delivery.objects.get(publication=approved, point=point)
    acked = delivery.created_at + timedelta(seconds=2)
    Delivery.objects.filter(pk=delivery.pk).update(state="acknowledged", acknowledged_at=acked)

    report = kinds()["policy-changes"].build(_period())
    versions = {r["version"]: r for r in _rows(report, "versions")}
    assert versions[approved.version]["author"] == "alice" and versions[approved.version]["approver"] == "sam"
    assert "access_rules: +1 (trader-rfq)" in versions[approved.version]["diff"]
    assert versions[approved.version]["acknowledged"] == "1 of 1"
    assert versions[rejected.version]["state"] == "rejected"
    assert versions[rejected.version]["rejection_reason"] == "not this week"
    (ack,) = _rows(report, "acknowledgements")
    assert ack["point"] == "pep-report" and ack["seconds"] == 2.0 and ack["hash_acknowledged"] == delivery.sha256
    assert report.charts[1].series[0].values == [2.0]
    assert "SEC Regulation SCI" in report.controls[0]


# --- certificates ---------------------------------------------------------------------------------------


def test_certificates_report_lists_issued_renewed_revoked_and_expiring(personas):
    certificate_actions.init_ca(None)
    profile = certificate_actions.profile_by_name("fix-client")
    algo = make_algo(personas["trader"].user, name="algo-cert", comp_ids=("CERT1",))
    first = certificate_actions.issue_from_csr(None, identity=algo, profile=profile, csr_pem=make_csr())
    other = certificate_actions.issue_from_csr(None, identity=algo, profile=profile, csr_pem=make_csr())
    renewed = certificate_actions.renew_certificate(None, first)
    certificate_actions.revoke_certificate(None, other, reason="keyCompromise", comment="laptop stolen")

    today = timezone.now().date()
    period = Period.of_days(today - timedelta(days=1), today + timedelta(days=1))
    report = kinds()["certificates"].build(period)
    issued = {r["serial"]: r for r in _rows(report, "issued")}
    assert set(issued) == {first.serial, other.serial, renewed.serial}
    assert issued[renewed.serial]["renewal_of"] == first.serial and issued[first.serial]["renewal_of"] == ""
    (revoked,) = _rows(report, "revoked")
    assert revoked["serial"] == other.serial and revoked["reason"] == "keyCompromise"
    assert revoked["comment"] == "laptop stolen"
    assert dict(report.summary)["Renewed"] == 1 and dict(report.summary)["Issued"] == 2
    assert report.charts[1].labels == ["keyCompromise"] and report.charts[1].series[0].values == [1]
    # Expiring: after the period's end, within 30 days (fix-client certificates live at most 90 days).
    late = Period.of_days(today + timedelta(days=70), today + timedelta(days=71))
    expiring = _rows(kinds()["certificates"].build(late), "expiring")
    assert {r["serial"] for r in expiring} == {renewed.serial}


# --- pages ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("slug", ["mfa-coverage", "access-review", "policy-changes", "certificates", "decisions"])
def test_report_page_names_its_controls_and_period_and_charts_with_data(slug, personas, verified_client):
    client = verified_client(personas["compliance"])
    response = client.get(f"/reports/{slug}/?since=2026-01-01&until=2026-03-31")
    assert response.status_code == 200
    html = response.content.decode()
    assert "2026-01-01 to 2026-03-31 (UTC, inclusive)" in html
    for control in kinds()[slug].controls:
        assert control in html
    assert html.count("<canvas data-chart=") == 2 and html.count('<table class="table table-sm chart-data"') == 2
    assert 'type="application/json"' in html and "vendor/chartjs-4.6.1/chart.umd.min.js" in html


def test_bad_period_is_a_400_naming_the_field(personas, verified_client):
    response = verified_client(personas["compliance"]).get("/reports/mfa-coverage/?since=2026-03-01&until=2026-01-01")
    assert response.status_code == 400 and "until" in response.context["form"].errors
    assert verified_client(personas["compliance"]).get("/reports/no-such-report/").status_code == 404


def test_period_parsing_refuses_bad_input():
    assert actions.parse_period("2026-01-01", "2026-01-31").until.date() == date(2026, 2, 1)
    for since, until, field in (("x", "2026-01-01", "since"), ("2026-01-01", "2025-01-01", "until")):
        with pytest.raises(ActionError) as refused:
            actions.parse_period(since, until)
        assert refused.value.field == field


def test_admin_reads_reports_but_cannot_export_or_attest(personas, verified_client):
    html = verified_client(personas["admin"]).get("/reports/access-review/").content.decode()
    assert "Export signed archive" not in html and 'name="decision"' not in html
    reviewer = verified_client(personas["compliance"]).get("/reports/access-review/").content.decode()
    assert "Export signed archive" in reviewer
    assert get_user_model().objects.get(username="alice").has_perm("reports.view_reports")


def test_a_line_older_than_the_versions_walked_says_so(policy, monkeypatch):
    from reports.catalogue import access

    monkeypatch.setattr(access, "MAX_VERSIONS", 1)
    by_rule = {r["rule"]: r for r in _rows(kinds()["access-review"].build(_period()), "access")}
    second = policy["second"].version
    assert by_rule["trader-rfq"]["approved_in"] == f"v{second} or earlier"
    assert by_rule["trader-rfq"]["since"].startswith("at or before ")


def _queries(slug: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        kinds()[slug].build(_period())
    return len(queries)


def test_certificate_and_access_reports_queries_do_not_grow_with_rows(policy, personas):
    certificate_actions.init_ca(None)
    profile = certificate_actions.profile_by_name("fix-client")
    algo = make_algo(personas["trader"].user, name="algo-count", comp_ids=("COUNT1",))

    def issue_and_revoke():
        first = certificate_actions.issue_from_csr(None, identity=algo, profile=profile, csr_pem=make_csr())
        certificate_actions.renew_certificate(None, first)
        other = certificate_actions.issue_from_csr(None, identity=algo, profile=profile, csr_pem=make_csr())
        certificate_actions.revoke_certificate(None, other, reason="superseded")

    issue_and_revoke()
    before = {slug: _queries(slug) for slug in ("certificates", "access-review", "policy-changes")}
    issue_and_revoke()
    issue_and_revoke()
    desk = Identity.objects.get(user=personas["trader"].user).desk
    for i in range(3):
        move_to_desk(None, make_persona(f"deskmate{i}", "Trader").user.identity, desk)
    _publish(personas)
    after = {slug: _queries(slug) for slug in ("certificates", "access-review", "policy-changes")}
    assert after == before
