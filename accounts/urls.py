from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("verify/", views.VerifyView.as_view(), name="verify"),
    path("enroll/", views.EnrollView.as_view(), name="enroll"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("step-up/", views.StepUpView.as_view(), name="step_up"),
    path("profile/", views.ProfileView.as_view(), name="profile"),
    path("identities/", views.IdentityListView.as_view(), name="identity_list"),
    path("identities/new/", views.IdentityCreateView.as_view(), name="identity_create"),
    path("identities/<int:pk>/", views.IdentityDetailView.as_view(), name="identity_detail"),
    path(
        "identities/<int:pk>/enrollment-code/",
        views.EnrollmentCodeIssueView.as_view(),
        name="enrollment_code_issue",
    ),
    path("tokens/", views.ApiTokenListView.as_view(), name="token_list"),
    path("tokens/new/", views.ApiTokenCreateView.as_view(), name="token_create"),
    path("tokens/<int:pk>/revoke/", views.ApiTokenRevokeView.as_view(), name="token_revoke"),
]
