from django.urls import path
from django_otp_webauthn.models import WebAuthnCredential

from accounts import device_views, identity_views, mfa_views, views
from accounts.models import YubikeyDevice

app_name = "accounts"

urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("verify/", views.VerifyView.as_view(), name="verify"),
    path("enroll/", views.EnrollView.as_view(), name="enroll"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("step-up/", views.StepUpView.as_view(), name="step_up"),
    path("profile/", views.ProfileView.as_view(), name="profile"),
    path("identities/", identity_views.IdentityListView.as_view(), name="identity_list"),
    path("desks/", identity_views.DeskListView.as_view(), name="desk_list"),
    path("identities/new/", identity_views.IdentityCreateView.as_view(), name="identity_create"),
    path(
        "identities/new-non-person/",
        identity_views.NonPersonIdentityCreateView.as_view(),
        name="identity_create_non_person",
    ),
    path("identities/<int:pk>/", identity_views.IdentityDetailView.as_view(), name="identity_detail"),
    *[
        path(
            f"identities/<int:pk>/{verb}/",
            identity_views.IdentityLifecycleView.as_view(verb=verb),
            name=f"identity_{verb}",
        )
        for verb in ("suspend", "reactivate", "revoke", "sponsor", "desk", "unlock", "hours")
    ],
    path(
        "role-grants/<int:pk>/approve/",
        identity_views.RoleGrantDecisionView.as_view(verb="approve"),
        name="role_grant_approve",
    ),
    path(
        "role-grants/<int:pk>/reject/",
        identity_views.RoleGrantDecisionView.as_view(verb="reject"),
        name="role_grant_reject",
    ),
    path(
        "identities/<int:pk>/enrollment-code/",
        identity_views.EnrollmentCodeIssueView.as_view(),
        name="enrollment_code_issue",
    ),
    path("security/hardware-token/", mfa_views.HardwareEnrollView.as_view(), name="hardware_enroll"),
    path("security/backup-codes/", mfa_views.BackupCodesView.as_view(), name="backup_codes"),
    path("security/yubikey/", mfa_views.YubikeyEnrollView.as_view(), name="yubikey_enroll"),
    path(
        "security/yubikeys/<int:pk>/suspend/",
        mfa_views.DeviceSuspendView.as_view(model=YubikeyDevice),
        name="yubikey_suspend",
    ),
    path(
        "security/security-keys/<int:pk>/suspend/",
        mfa_views.DeviceSuspendView.as_view(model=WebAuthnCredential),
        name="webauthn_suspend",
    ),
    path("security/devices/<int:pk>/resync/", mfa_views.DeviceResyncView.as_view(), name="device_resync"),
    path("security/devices/<int:pk>/suspend/", mfa_views.DeviceSuspendView.as_view(), name="device_suspend"),
    path("security/assurance/", mfa_views.RoleAssuranceView.as_view(), name="role_assurance"),
    path("identities/<int:pk>/temporary-codes/", mfa_views.TemporaryCodesView.as_view(), name="temporary_codes"),
    path("hardware-tokens/", mfa_views.TokenInventoryView.as_view(), name="token_inventory"),
    path("hardware-tokens/import/", mfa_views.TokenImportView.as_view(), name="token_import"),
    path("hardware-tokens/<int:pk>/assign/", mfa_views.TokenAssignView.as_view(), name="token_assign"),
    path("tokens/", views.ApiTokenListView.as_view(), name="token_list"),
    path("tokens/new/", views.ApiTokenCreateView.as_view(), name="token_create"),
    path("tokens/<int:pk>/revoke/", views.ApiTokenRevokeView.as_view(), name="token_revoke"),
    path("devices/", device_views.DeviceListView.as_view(), name="device_list"),
    path("devices/new/", device_views.DeviceRegisterView.as_view(), name="device_register"),
    path("devices/<int:pk>/", device_views.DeviceDetailView.as_view(), name="device_detail"),
    path("devices/<int:pk>/approve/", device_views.DeviceApproveView.as_view(), name="device_approve"),
    path("devices/<int:pk>/retire/", device_views.DeviceRetireView.as_view(), name="device_retire"),
    path("devices/<int:pk>/posture-token/", device_views.DevicePostureTokenView.as_view(), name="device_posture_token"),
]
