from django.urls import path

from accounts import identity_views, views

app_name = "accounts"

urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("verify/", views.VerifyView.as_view(), name="verify"),
    path("enroll/", views.EnrollView.as_view(), name="enroll"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("step-up/", views.StepUpView.as_view(), name="step_up"),
    path("profile/", views.ProfileView.as_view(), name="profile"),
    path("identities/", identity_views.IdentityListView.as_view(), name="identity_list"),
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
        for verb in ("suspend", "reactivate", "revoke", "sponsor")
    ],
    path(
        "identities/<int:pk>/enrollment-code/",
        identity_views.EnrollmentCodeIssueView.as_view(),
        name="enrollment_code_issue",
    ),
    path("tokens/", views.ApiTokenListView.as_view(), name="token_list"),
    path("tokens/new/", views.ApiTokenCreateView.as_view(), name="token_create"),
    path("tokens/<int:pk>/revoke/", views.ApiTokenRevokeView.as_view(), name="token_revoke"),
]
