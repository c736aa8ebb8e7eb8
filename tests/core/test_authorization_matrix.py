"""Every URL x every persona: allowed or forbidden, from one table.

A URL added without a row here fails ``test_every_url_is_in_the_matrix``; so a new view cannot ship
without its authorization being decided and tested.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django_otp_webauthn.models import WebAuthnCredential

from accounts.models import HardwareToken, YubikeyDevice
from tests.conftest import verify_session

ALL_ROLES = frozenset({"admin", "security", "trader", "compliance"})
AUDITORS = frozenset({"admin", "security", "compliance"})
ADMIN = frozenset({"admin"})
TOKEN_MANAGERS = frozenset({"admin", "security"})
IDENTITY_READERS = frozenset({"admin", "security", "compliance"})
SUSPENDERS = frozenset({"admin", "security"})
VERIFIED = ALL_ROLES | {"outsider"}
PASSWORD_STEP_DONE = VERIFIED | {"password_only"}
DEVICE_OWNER_OR_MANAGERS = frozenset({"trader", "admin", "security"})  # the device belongs to the trader
CERT_READERS = ALL_ROLES  # traders see the certificates of identities they sponsor
CERT_ISSUERS = frozenset({"admin", "security"})
CERT_REVOKERS = frozenset({"security"})
POLICY_READERS = frozenset({"admin", "security", "compliance"})
POLICY_APPROVERS = frozenset({"admin", "security"})  # approve_publication and simulate
POINT_READERS = frozenset({"admin", "security", "compliance"})  # view_enforcement_points
EXPORTERS = frozenset({"security", "compliance"})  # reports.export_audit
SESSION_READERS = ALL_ROLES  # traders see the sessions of identities they are or sponsor (this one is the trader's)
SESSION_TERMINATORS = frozenset({"admin", "security"})
VERIFIERS = frozenset({"security", "compliance"})  # core.verify_audit
REPORT_READERS = frozenset({"admin", "security", "compliance"})  # reports.view_reports
ATTESTERS = frozenset({"security", "compliance"})  # reports.attest_access
ALERT_READERS = frozenset({"admin", "security", "compliance"})  # alerts.view_alerts
ALERT_ACKNOWLEDGERS = frozenset({"admin", "security"})  # alerts.acknowledge_alerts (release: + suspend_identities)
ALERT_CONFIGURERS = frozenset({"security"})  # alerts.configure_alerts
PUBLIC = "public"
NOT_SIGN_IN = {
    "healthz",
    "pki-crl-pem",
    "pki-crl-der",
    "pki-chain-pem",
    "pki-ocsp",
    "pki-ocsp-get",
    "healthz-details",  # auditors only, but it needs a Celery worker: tests/core/test_services.py covers it
}  # public, tested by their own suites
PERSONAS = ("anonymous", "password_only", "outsider", "trader", "compliance", "security", "admin")


@dataclass(frozen=True)
class Row:
    allowed: frozenset[str] | str
    method: str = "get"
    kwargs: dict = field(default_factory=dict)
    api: bool = False
    accept: str = ""


MATRIX: dict[str, Row] = {
    "core:dashboard": Row(ALL_ROLES),
    "core:audit_list": Row(AUDITORS),
    "core:audit_event": Row(AUDITORS, kwargs={"seq": "audit_event"}),
    "core:audit_verifications": Row(VERIFIERS),
    "core:audit_verify": Row(VERIFIERS, method="post"),
    "core:audit_verification": Row(VERIFIERS, kwargs={"pk": "audit_verification"}),
    "core:audit_verification_status": Row(VERIFIERS, kwargs={"pk": "audit_verification"}, accept="application/json"),
    "reports:index": Row(REPORT_READERS),
    "reports:report": Row(REPORT_READERS, kwargs={"slug": "report_slug"}),
    # No period or format posted: the allowed personas are sent back to the report with the error, the others 403.
    "reports:report_export": Row(EXPORTERS, method="post", kwargs={"slug": "report_slug"}),
    # No line posted: refused with a message (302 back to the review) for reviewers, 403 for the others.
    "reports:access_attest": Row(ATTESTERS, method="post"),
    "reports:audit_exports": Row(EXPORTERS),
    "reports:audit_export_detail": Row(EXPORTERS, kwargs={"pk": "audit_export"}),
    "reports:audit_export_status": Row(EXPORTERS, kwargs={"pk": "audit_export"}, accept="application/json"),
    # Not finished yet: the allowed personas get 409 (nothing to download), the others 403.
    "reports:audit_export_download": Row(EXPORTERS, kwargs={"pk": "audit_export"}),
    "reports:export_public_key": Row(EXPORTERS),
    "alerts:list": Row(ALERT_READERS),
    "alerts:rules": Row(ALERT_READERS),
    "alerts:detail": Row(ALERT_READERS, kwargs={"pk": "alert"}),
    # An empty comment: the allowed personas get 400 naming the field, the others 403.
    "alerts:acknowledge": Row(ALERT_ACKNOWLEDGERS, method="post", kwargs={"pk": "alert"}),
    # Nobody was contained: the allowed personas are sent back to the alert with the refusal, the others 403.
    "alerts:release": Row(ALERT_ACKNOWLEDGERS, method="post", kwargs={"pk": "alert"}),
    "alerts:rule_update": Row(ALERT_CONFIGURERS, method="post", kwargs={"detector": "alert_detector"}),
    "accounts:login": Row(PUBLIC),
    "accounts:verify": Row(PUBLIC),
    "accounts:enroll": Row(PUBLIC),
    "accounts:logout": Row(PUBLIC, method="post"),
    "accounts:step_up": Row(ALL_ROLES),
    "accounts:profile": Row(ALL_ROLES),
    "accounts:identity_list": Row(IDENTITY_READERS),
    "accounts:identity_create": Row(ADMIN),
    "accounts:identity_create_non_person": Row(ADMIN),
    "accounts:identity_detail": Row(IDENTITY_READERS, kwargs={"pk": "trader"}),
    "accounts:identity_suspend": Row(SUSPENDERS, method="post", kwargs={"pk": "trader"}),
    "accounts:identity_reactivate": Row(ADMIN, method="post", kwargs={"pk": "trader"}),
    "accounts:identity_revoke": Row(ADMIN, method="post", kwargs={"pk": "trader"}),
    "accounts:identity_sponsor": Row(ADMIN, method="post", kwargs={"pk": "trader"}),
    "accounts:identity_desk": Row(ADMIN, method="post", kwargs={"pk": "trader"}),
    "accounts:identity_unlock": Row(SUSPENDERS, method="post", kwargs={"pk": "trader"}),
    "accounts:identity_hours": Row(ADMIN, method="post", kwargs={"pk": "trader"}),
    "accounts:desk_list": Row(IDENTITY_READERS),
    "accounts:role_grant_approve": Row(SUSPENDERS, method="post", kwargs={"pk": "role_grant"}),
    "accounts:role_grant_reject": Row(SUSPENDERS, method="post", kwargs={"pk": "role_grant"}),
    "api-role-grant-list": Row(IDENTITY_READERS, api=True),
    "api-role-grant-detail": Row(IDENTITY_READERS, api=True, kwargs={"pk": "role_grant"}),
    "api-role-grant-approve": Row(SUSPENDERS, method="post", api=True, kwargs={"pk": "role_grant"}),
    "api-role-grant-reject": Row(SUSPENDERS, method="post", api=True, kwargs={"pk": "role_grant"}),
    "api-identity-list": Row(IDENTITY_READERS, api=True),
    "api-identity-detail": Row(IDENTITY_READERS, api=True, kwargs={"pk": "trader"}),
    "api-identity-suspend": Row(SUSPENDERS, method="post", api=True, kwargs={"pk": "trader"}),
    "api-identity-reactivate": Row(ADMIN, method="post", api=True, kwargs={"pk": "trader"}),
    "api-identity-revoke": Row(ADMIN, method="post", api=True, kwargs={"pk": "trader"}),
    "api-identity-role": Row(ADMIN, method="post", api=True, kwargs={"pk": "trader"}),
    "api-identity-sponsor": Row(ADMIN, method="post", api=True, kwargs={"pk": "trader"}),
    "accounts:enrollment_code_issue": Row(ADMIN, method="post", kwargs={"pk": "trader"}),
    "accounts:token_list": Row(TOKEN_MANAGERS),
    "accounts:token_create": Row(TOKEN_MANAGERS),
    "accounts:token_revoke": Row(TOKEN_MANAGERS, method="post", kwargs={"pk": "token"}),
    "accounts:hardware_enroll": Row(ALL_ROLES, method="post"),
    "accounts:backup_codes": Row(ALL_ROLES, method="post"),
    "accounts:device_resync": Row(DEVICE_OWNER_OR_MANAGERS, method="post", kwargs={"pk": "trader_device"}),
    "accounts:device_suspend": Row(DEVICE_OWNER_OR_MANAGERS, method="post", kwargs={"pk": "trader_device"}),
    "accounts:role_assurance": Row(SUSPENDERS),
    "accounts:temporary_codes": Row(frozenset({"security"}), method="post", kwargs={"pk": "trader"}),
    "accounts:token_inventory": Row(ADMIN),
    "accounts:token_import": Row(ADMIN),
    "accounts:token_assign": Row(ADMIN, method="post", kwargs={"pk": "hardware_token"}),
    "accounts:yubikey_enroll": Row(ALL_ROLES, method="post"),
    "accounts:yubikey_suspend": Row(DEVICE_OWNER_OR_MANAGERS, method="post", kwargs={"pk": "trader_yubikey"}),
    "accounts:webauthn_suspend": Row(DEVICE_OWNER_OR_MANAGERS, method="post", kwargs={"pk": "trader_security_key"}),
    # WebAuthn ceremonies (JSON): registering needs a verified session (or an enrollment code, tested
    # elsewhere); signing in with a key needs the password step.
    "otp_webauthn:credential-registration-begin": Row(VERIFIED, method="post", api=True),
    "otp_webauthn:credential-registration-complete": Row(VERIFIED, method="post", api=True),
    "otp_webauthn:credential-authentication-begin": Row(PASSWORD_STEP_DONE, method="post", api=True),
    "otp_webauthn:credential-authentication-complete": Row(PASSWORD_STEP_DONE, method="post", api=True),
    "otp_webauthn:js-i18n-catalog": Row(PUBLIC),
    "api-me": Row(ALL_ROLES, api=True),  # who am I: core.view_console, like every other page
    "api-audit-events": Row(AUDITORS, api=True),
    "api-schema": Row(AUDITORS, api=True),
    "api-docs": Row(AUDITORS, api=True, accept="text/html"),
    "api-token-list": Row(TOKEN_MANAGERS, api=True),
    "api-token-detail": Row(TOKEN_MANAGERS, api=True, kwargs={"pk": "token"}),
    "api-token-revoke": Row(TOKEN_MANAGERS, method="post", api=True, kwargs={"pk": "token"}),
    "accounts:device_list": Row(ALL_ROLES),
    "accounts:device_register": Row(ALL_ROLES),
    "accounts:device_detail": Row(ALL_ROLES, kwargs={"pk": "trader_registered_device"}),
    "accounts:device_approve": Row(ADMIN, method="post", kwargs={"pk": "trader_registered_device"}),
    "accounts:device_retire": Row(ADMIN, method="post", kwargs={"pk": "trader_registered_device"}),
    "accounts:device_posture_token": Row(ADMIN, method="post", kwargs={"pk": "trader_registered_device"}),
    "api-device-list": Row(ALL_ROLES, api=True),
    "api-device-detail": Row(ALL_ROLES, api=True, kwargs={"pk": "trader_registered_device"}),
    "api-device-approve": Row(ADMIN, method="post", api=True, kwargs={"pk": "trader_registered_device"}),
    "api-device-retire": Row(ADMIN, method="post", api=True, kwargs={"pk": "trader_registered_device"}),
    # Only a device-scoped token or accounts.report_posture (no role has it): every persona is refused.
    "api-device-posture": Row(frozenset(), method="post", api=True, kwargs={"pk": "trader_registered_device"}),
    "healthz": Row(PUBLIC),
    "healthz-details": Row(AUDITORS),
    "certificates:list": Row(CERT_READERS),
    "certificates:detail": Row(CERT_READERS, kwargs={"pk": "certificate"}),
    "certificates:download_pem": Row(CERT_READERS, kwargs={"pk": "certificate"}),
    "certificates:download_chain": Row(CERT_READERS, kwargs={"pk": "certificate"}),
    "certificates:issue": Row(CERT_ISSUERS),
    "certificates:revoke": Row(CERT_REVOKERS, method="post", kwargs={"pk": "certificate"}),
    "certificates:renew": Row(CERT_ISSUERS, method="post", kwargs={"pk": "certificate"}),
    "certificates:compliance": Row(CERT_READERS),
    "certificates:tls_profile": Row(CERT_READERS),
    "certificates:requests": Row(CERT_READERS),
    "certificates:request_new": Row(frozenset({"trader"})),
    "certificates:request_approve": Row(CERT_ISSUERS, method="post", kwargs={"pk": "certificate_request"}),
    "certificates:request_reject": Row(CERT_ISSUERS, method="post", kwargs={"pk": "certificate_request"}),
    "pki-crl-pem": Row(PUBLIC),
    "pki-crl-der": Row(PUBLIC),
    "pki-chain-pem": Row(PUBLIC),
    "pki-ocsp": Row(PUBLIC, method="post"),
    "pki-ocsp-get": Row(PUBLIC),
    "api-certificate-list": Row(CERT_READERS, api=True),
    "api-certificate-detail": Row(CERT_READERS, api=True, kwargs={"pk": "certificate"}),
    "api-certificate-pinset": Row(CERT_READERS, api=True),
    "api-certificate-revoke": Row(CERT_REVOKERS, method="post", api=True, kwargs={"pk": "certificate"}),
    "api-certificate-renew": Row(CERT_ISSUERS, method="post", api=True, kwargs={"pk": "certificate"}),
    "api-tls-profile": Row(CERT_READERS, api=True),
    "policies:draft": Row(POLICY_READERS),
    "policies:segment_new": Row(ADMIN),
    "policies:segment_edit": Row(ADMIN, kwargs={"pk": "policy_segment"}),
    "policies:segment_delete": Row(ADMIN, method="post", kwargs={"pk": "policy_segment"}),
    "policies:flow_new": Row(ADMIN),
    "policies:flow_delete": Row(ADMIN, method="post", kwargs={"pk": "policy_flow"}),
    "policies:zone_new": Row(ADMIN),
    "policies:zone_edit": Row(ADMIN, kwargs={"pk": "policy_zone"}),
    "policies:zone_delete": Row(ADMIN, method="post", kwargs={"pk": "policy_zone"}),
    "policies:country_new": Row(ADMIN),
    "policies:country_delete": Row(ADMIN, method="post", kwargs={"pk": "policy_country"}),
    "policies:access_rule_new": Row(ADMIN),
    "policies:access_rule_edit": Row(ADMIN, kwargs={"pk": "policy_access_rule"}),
    "policies:access_rule_delete": Row(ADMIN, method="post", kwargs={"pk": "policy_access_rule"}),
    "policies:risk_rule_new": Row(ADMIN),
    "policies:risk_rule_edit": Row(ADMIN, kwargs={"pk": "policy_risk_rule"}),
    "policies:risk_rule_delete": Row(ADMIN, method="post", kwargs={"pk": "policy_risk_rule"}),
    "policies:bands": Row(ADMIN, method="post"),
    "policies:test_case_new": Row(ADMIN),
    "policies:test_case_delete": Row(ADMIN, method="post", kwargs={"pk": "policy_test_case"}),
    "policies:publications": Row(POLICY_READERS),
    "policies:publish": Row(ADMIN, method="post"),
    "policies:rollback": Row(ADMIN, method="post"),
    "policies:publication": Row(POLICY_READERS, kwargs={"pk": "policy_publication"}),
    # The administrator is the author here: allowed through, then refused by the action (400), not a 403.
    "policies:approve": Row(POLICY_APPROVERS, method="post", kwargs={"pk": "policy_publication"}),
    "policies:reject": Row(POLICY_APPROVERS, method="post", kwargs={"pk": "policy_publication"}),
    "policies:signing_key": Row(POLICY_READERS),
    "policies:simulator": Row(POLICY_APPROVERS),
    "api-policy-segment-list": Row(POLICY_READERS, api=True),
    "api-policy-segment-detail": Row(POLICY_READERS, api=True, kwargs={"pk": "policy_segment"}),
    "api-policy-flow-list": Row(POLICY_READERS, api=True),
    "api-policy-flow-detail": Row(POLICY_READERS, api=True, kwargs={"pk": "policy_flow"}),
    "api-policy-access-rule-list": Row(POLICY_READERS, api=True),
    "api-policy-access-rule-detail": Row(POLICY_READERS, api=True, kwargs={"pk": "policy_access_rule"}),
    "api-policy-risk-rule-list": Row(POLICY_READERS, api=True),
    "api-policy-risk-rule-detail": Row(POLICY_READERS, api=True, kwargs={"pk": "policy_risk_rule"}),
    "api-policy-zone-list": Row(POLICY_READERS, api=True),
    "api-policy-zone-detail": Row(POLICY_READERS, api=True, kwargs={"pk": "policy_zone"}),
    "api-policy-country-list": Row(POLICY_READERS, api=True),
    "api-policy-country-detail": Row(POLICY_READERS, api=True, kwargs={"pk": "policy_country"}),
    "api-policy-test-case-list": Row(POLICY_READERS, api=True),
    "api-policy-test-case-detail": Row(POLICY_READERS, api=True, kwargs={"pk": "policy_test_case"}),
    "api-policy-bands": Row(POLICY_READERS, api=True),
    "api-policy-publication-list": Row(POLICY_READERS, api=True),
    "api-policy-publication-detail": Row(POLICY_READERS, api=True, kwargs={"pk": "policy_publication"}),
    "api-policy-publication-approve": Row(
        POLICY_APPROVERS, method="post", api=True, kwargs={"pk": "policy_publication"}
    ),
    "api-policy-publication-reject": Row(
        POLICY_APPROVERS, method="post", api=True, kwargs={"pk": "policy_publication"}
    ),
    "api-policy-publication-rollback": Row(ADMIN, method="post", api=True),
    "policies:enforcement": Row(POINT_READERS),
    "policies:enforcement_register": Row(ADMIN),
    "policies:enforcement_point": Row(POINT_READERS, kwargs={"pk": "enforcement_point"}),
    "policies:enforcement_edit": Row(ADMIN, method="post", kwargs={"pk": "enforcement_point"}),
    "policies:enforcement_retire": Row(ADMIN, method="post", kwargs={"pk": "enforcement_point"}),
    "api-enforcement-point-list": Row(POINT_READERS, api=True),
    "api-enforcement-point-detail": Row(POINT_READERS, api=True, kwargs={"pk": "enforcement_point"}),
    "api-enforcement-point-retire": Row(ADMIN, method="post", api=True, kwargs={"pk": "enforcement_point"}),
    # Only an enforcement point's own bearer token (tests/distribution/test_bundle_pull.py): every persona is refused.
    "api-enforcement-bundle": Row(frozenset(), api=True),
    "api-enforcement-events": Row(frozenset(), method="post", api=True),
    "sessions:list": Row(SESSION_READERS),
    "sessions:detail": Row(SESSION_READERS, kwargs={"pk": "fix_session"}),
    "sessions:terminate": Row(SESSION_TERMINATORS, method="post", kwargs={"pk": "fix_session"}),
    "api-session-list": Row(SESSION_READERS, api=True),
    "api-session-detail": Row(SESSION_READERS, api=True, kwargs={"pk": "fix_session"}),
    "api-session-terminate": Row(SESSION_TERMINATORS, method="post", api=True, kwargs={"pk": "fix_session"}),
    "api-decision-list": Row(SESSION_READERS, api=True),
    "api-decision-detail": Row(SESSION_READERS, api=True, kwargs={"pk": "fix_decision"}),
}


def _named_urls(patterns, namespace: str = "") -> set[str]:
    names = set()
    for entry in patterns:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            names |= _named_urls(entry.url_patterns, inner)
        elif isinstance(entry, URLPattern) and entry.name:
            names.add(f"{namespace}{entry.name}")
    return names


def test_every_url_is_in_the_matrix():
    names = _named_urls(get_resolver().url_patterns)
    assert names == set(MATRIX), f"missing rows: {names - set(MATRIX)}; stale rows: {set(MATRIX) - names}"


def _client_for(persona: str, personas) -> Client:
    client = Client()
    if persona == "anonymous":
        return client
    if persona == "password_only":
        client.force_login(personas["admin"].user)  # the password step, no OTP
        return client
    return verify_session(client, personas[persona])


def _resolve_kwargs(row: Row, personas) -> dict:
    from accounts.actions import create_api_token, create_non_person_identity, register_device

    values = {}
    for key, ref in row.kwargs.items():
        if ref == "trader_yubikey":
            device = YubikeyDevice(user=personas["trader"].user, name="yk", confirmed=True, public_id="vvccccfiluij")
            device.set_secret(b"\x01" * 6, b"\x02" * 16)
            device.save()
            values[key] = device.pk
        elif ref == "trader_security_key":
            credential = WebAuthnCredential.objects.create(
                user=personas["trader"].user, name="key", confirmed=True, credential_id=b"matrix", public_key=b"pk"
            )
            values[key] = credential.pk
        elif ref == "role_grant":
            from accounts.models import RoleGrant

            values[key] = RoleGrant.objects.create(subject=personas["compliance"].user, role="Security Officer").pk
        elif ref == "trader_device":
            values[key] = personas["trader"].device.pk
        elif ref == "hardware_token":
            token = HardwareToken(serial="MATRIX-1", kind="hotp")
            token.set_secret(b"12345678901234567890")
            token.save()
            values[key] = token.pk
        elif ref == "trader_registered_device":
            device = register_device(
                None,
                owner=personas["trader"].user.identity,
                kind="trader_workstation",
                platform="Windows 11",
                serial="MATRIX-WS-1",
            )
            values[key] = device.pk
        elif ref in ("certificate", "certificate_request"):
            from tests.certificates.helpers import matrix_certificate

            values[key] = matrix_certificate(personas, request=ref == "certificate_request").pk
        elif ref == "enforcement_point":
            from tests.distribution.helpers import matrix_point

            values[key] = matrix_point(personas)
        elif ref in ("fix_session", "fix_decision"):
            from tests.sessions.helpers import matrix_session

            values[key] = matrix_session(personas, decision=ref == "fix_decision")
        elif ref == "audit_event":
            from django.db import transaction

            from ztconsole.core import audit

            with transaction.atomic():
                values[key] = audit.record(None, "test.matrix", None, {}).seq
        elif ref == "audit_verification":
            from ztconsole.core.models import AuditVerification

            values[key] = AuditVerification.objects.create(requested_by=personas["compliance"].user).pk
        elif ref == "report_slug":
            values[key] = "mfa-coverage"
        elif ref == "audit_export":
            from reports.models import AuditExport

            values[key] = AuditExport.objects.create(requested_by=personas["compliance"].user, format="csv").pk
        elif ref == "alert":
            from tests.alerts.helpers import matrix_alert

            values[key] = matrix_alert()
        elif ref == "alert_detector":
            values[key] = "sign_in_failures_user"
        elif ref.startswith("policy_"):
            from tests.policies.helpers import matrix_object

            values[key] = matrix_object(personas, ref)
        elif ref == "token":
            service = create_non_person_identity(
                None,
                name="svc-matrix",
                kind="service",
                display_name="matrix",
                sponsor=personas["trader"].user.identity,
                environment="dev",
            )
            token, _ = create_api_token(None, service.user, name="matrix", scope="read", days=1)
            values[key] = token.pk
        else:
            values[key] = personas[ref].user.identity.pk
    return values


def _is_forbidden(response, row: Row) -> bool:
    if response.status_code in (401, 403):
        return True
    if row.api:
        return False
    location = response.headers.get("Location", "") if response.status_code == 302 else ""
    return location.startswith((reverse("accounts:login"), reverse("accounts:verify")))


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("name", sorted(n for n, r in MATRIX.items() if r.allowed != PUBLIC and n not in NOT_SIGN_IN))
def test_authorization(name, persona, personas, db):
    row = MATRIX[name]
    client = _client_for(persona, personas)
    url = reverse(name, kwargs=_resolve_kwargs(row, personas))
    accept = row.accept or ("application/json" if row.api else "text/html")
    response = getattr(client, row.method)(url, HTTP_ACCEPT=accept)
    assert response.status_code < 500, f"{name} answered {response.status_code} to {persona}"
    expected_allowed = persona in row.allowed
    assert _is_forbidden(response, row) != expected_allowed, (
        f"{name} as {persona}: status {response.status_code}, expected {'allowed' if expected_allowed else 'forbidden'}"
    )


@pytest.mark.parametrize("name", sorted(n for n, r in MATRIX.items() if r.allowed == PUBLIC and n not in NOT_SIGN_IN))
def test_public_sign_in_steps_answer_anonymous_visitors(name, db):
    response = getattr(Client(), MATRIX[name].method)(reverse(name))
    assert response.status_code in (200, 302)
    if response.status_code == 302:
        assert response["Location"].startswith(reverse("accounts:login"))
