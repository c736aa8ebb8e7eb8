from django.urls import include, path

from console.views import DashboardView
from ztconsole.core import urls as core_urls
from ztconsole.core import views as core_views

# The root URLconf and the API router (api_urls.py) compose the apps: the top layer (docs/architecture.md).
core_patterns = [path("", DashboardView.as_view(), name="dashboard"), *core_urls.urlpatterns]

urlpatterns = [
    path("", include((core_patterns, "core"))),
    path("accounts/", include("accounts.urls")),
    path("accounts/webauthn/", include("accounts.webauthn_urls")),
    path("api/v1/", include("ztconsole.api_urls")),
    path("certificates/", include("certificates.urls")),
    path("pki/", include("certificates.pki_urls")),
    path("policies/", include("policies.urls")),
    path("reports/", include("reports.urls")),
    path("sessions/", include("sessions.urls")),
    path("alerts/", include("alerts.urls")),
    path("healthz", core_views.HealthView.as_view(), name="healthz"),
    path("healthz/details", core_views.HealthDetailsView.as_view(), name="healthz-details"),
]

handler400 = "ztconsole.core.error_pages.bad_request"
handler403 = "ztconsole.core.error_pages.permission_denied"
handler404 = "ztconsole.core.error_pages.page_not_found"
handler500 = "ztconsole.core.error_pages.server_error"
