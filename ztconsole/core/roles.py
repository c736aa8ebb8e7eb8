"""Roles are Django groups; this table is the single source of what each one may do.

docs/permissions.md shows the same table for people; a test keeps the two in agreement.
"""

from __future__ import annotations

from typing import Any

ADMINISTRATOR = "Administrator"
SECURITY_OFFICER = "Security Officer"
TRADER = "Trader"
COMPLIANCE_OFFICER = "Compliance Officer"
ROLES = (ADMINISTRATOR, SECURITY_OFFICER, TRADER, COMPLIANCE_OFFICER)
PRIVILEGED_ROLES = (ADMINISTRATOR, SECURITY_OFFICER)

VIEW_CONSOLE = "core.view_console"
VIEW_AUDIT = "core.view_audit"
VIEW_API_DOCS = "core.view_api_docs"
VIEW_IDENTITIES = "accounts.view_identities"
MANAGE_IDENTITIES = "accounts.manage_identities"
SUSPEND_IDENTITIES = "accounts.suspend_identities"
ISSUE_ENROLLMENT_CODE = "accounts.issue_enrollment_code"
MANAGE_API_TOKENS = "accounts.manage_api_tokens"
MANAGE_TOKEN_INVENTORY = "accounts.manage_token_inventory"  # noqa: S105 - a permission name
MANAGE_MFA = "accounts.manage_mfa"
ISSUE_TEMPORARY_CODES = "accounts.issue_temporary_codes"
VIEW_DEVICES = "accounts.view_devices"
MANAGE_DEVICES = "accounts.manage_devices"
APPROVE_ROLE_GRANTS = "accounts.approve_role_grants"
REPORT_POSTURE = "accounts.report_posture"  # held by no role: granted directly to MDM or agent identities
VIEW_CERTIFICATES = "certificates.view_certificates"
ISSUE_CERTIFICATES = "certificates.issue_certificates"
REVOKE_CERTIFICATES = "certificates.revoke_certificates"
MANAGE_TLS_PROFILE = "certificates.manage_tls_profile"
REQUEST_CERTIFICATE = "certificates.request_certificate"
VIEW_POLICY = "policies.view_policy"
EDIT_POLICY = "policies.edit_policy"
PUBLISH_POLICY = "policies.publish_policy"
APPROVE_PUBLICATION = "policies.approve_publication"
SIMULATE = "policies.simulate"
VIEW_ENFORCEMENT_POINTS = "policies.view_enforcement_points"
MANAGE_ENFORCEMENT_POINTS = "policies.manage_enforcement_points"
EXPORT_AUDIT = "reports.export_audit"
VIEW_SESSIONS = "fix_sessions.view_sessions"
TERMINATE_SESSIONS = "fix_sessions.terminate_sessions"
VERIFY_AUDIT = "core.verify_audit"
VIEW_REPORTS = "reports.view_reports"
ATTEST_ACCESS = "reports.attest_access"
VIEW_ALERTS = "alerts.view_alerts"
ACKNOWLEDGE_ALERTS = "alerts.acknowledge_alerts"
CONFIGURE_ALERTS = "alerts.configure_alerts"

ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    ADMINISTRATOR: (
        VIEW_CONSOLE,
        VIEW_AUDIT,
        VIEW_API_DOCS,
        VIEW_IDENTITIES,
        MANAGE_IDENTITIES,
        SUSPEND_IDENTITIES,
        APPROVE_ROLE_GRANTS,
        ISSUE_ENROLLMENT_CODE,
        MANAGE_API_TOKENS,
        MANAGE_TOKEN_INVENTORY,
        MANAGE_MFA,
        VIEW_DEVICES,
        MANAGE_DEVICES,
        VIEW_CERTIFICATES,
        ISSUE_CERTIFICATES,
        VIEW_POLICY,
        EDIT_POLICY,
        PUBLISH_POLICY,
        APPROVE_PUBLICATION,
        SIMULATE,
        VIEW_ENFORCEMENT_POINTS,
        MANAGE_ENFORCEMENT_POINTS,
        VIEW_SESSIONS,
        TERMINATE_SESSIONS,
        VIEW_REPORTS,
        VIEW_ALERTS,
        ACKNOWLEDGE_ALERTS,
    ),
    SECURITY_OFFICER: (
        VIEW_CONSOLE,
        VIEW_AUDIT,
        VIEW_API_DOCS,
        VIEW_IDENTITIES,
        SUSPEND_IDENTITIES,
        APPROVE_ROLE_GRANTS,
        MANAGE_API_TOKENS,
        MANAGE_MFA,
        ISSUE_TEMPORARY_CODES,
        VIEW_DEVICES,
        VIEW_CERTIFICATES,
        ISSUE_CERTIFICATES,
        REVOKE_CERTIFICATES,
        MANAGE_TLS_PROFILE,
        VIEW_POLICY,
        APPROVE_PUBLICATION,
        SIMULATE,
        VIEW_ENFORCEMENT_POINTS,
        EXPORT_AUDIT,
        VIEW_SESSIONS,
        TERMINATE_SESSIONS,
        VERIFY_AUDIT,
        VIEW_REPORTS,
        ATTEST_ACCESS,
        VIEW_ALERTS,
        ACKNOWLEDGE_ALERTS,
        CONFIGURE_ALERTS,
    ),
    TRADER: (VIEW_CONSOLE, VIEW_DEVICES, VIEW_CERTIFICATES, REQUEST_CERTIFICATE, VIEW_SESSIONS),
    COMPLIANCE_OFFICER: (
        VIEW_CONSOLE,
        VIEW_AUDIT,
        VIEW_API_DOCS,
        VIEW_IDENTITIES,
        VIEW_DEVICES,
        VIEW_CERTIFICATES,
        VIEW_POLICY,
        VIEW_ENFORCEMENT_POINTS,
        EXPORT_AUDIT,
        VIEW_SESSIONS,
        VERIFY_AUDIT,
        VIEW_REPORTS,
        ATTEST_ACCESS,
        VIEW_ALERTS,
    ),
}


def sync_roles() -> None:
    """Create the role groups and give each exactly the permissions in ROLE_PERMISSIONS."""
    from django.contrib.auth.models import Group, Permission

    for role, perms in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        wanted = []
        for dotted in perms:
            app_label, codename = dotted.split(".", 1)
            wanted.append(Permission.objects.get(content_type__app_label=app_label, codename=codename))
        group.permissions.set(wanted)


def _last_app_with_role_permissions() -> str:
    """The app, in INSTALLED_APPS order, migrated last among those whose permissions roles grant."""
    from django.apps import apps

    labels = {dotted.split(".", 1)[0] for perms in ROLE_PERMISSIONS.values() for dotted in perms}
    order = [config.label for config in apps.get_app_configs()]
    return max(labels, key=order.index)


def sync_roles_after_migrate(sender: Any, app_config: Any = None, **kwargs: Any) -> None:
    # Django creates each app's permissions in that app's post_migrate; wait for the last one roles use.
    if app_config is not None and app_config.label == _last_app_with_role_permissions():
        sync_roles()


def role_of(user: Any) -> str | None:
    """The user's role (users hold at most one role group)."""
    if not getattr(user, "is_authenticated", False):
        return None
    names = [g.name for g in user.groups.all() if g.name in ROLES]
    return names[0] if names else None
