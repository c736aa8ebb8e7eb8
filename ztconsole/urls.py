from django.urls import include, path

from ztconsole.core import views as core_views

urlpatterns = [
    path("", include(("ztconsole.core.urls", "core"))),
    path("accounts/", include("accounts.urls")),
    path("accounts/webauthn/", include("accounts.webauthn_urls")),
    path("api/v1/", include("ztconsole.api_urls")),
    path("certificates/", include("certificates.urls")),
    path("pki/", include("certificates.pki_urls")),
    path("policies/", include("policies.urls")),
    path("healthz", core_views.HealthView.as_view(), name="healthz"),
    path("healthz/details", core_views.HealthDetailsView.as_view(), name="healthz-details"),
]

handler400 = "ztconsole.core.errors.bad_request"
handler403 = "ztconsole.core.errors.permission_denied"
handler404 = "ztconsole.core.errors.page_not_found"
handler500 = "ztconsole.core.errors.server_error"
