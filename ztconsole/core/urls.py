from django.urls import path

from ztconsole.core import views

# The dashboard shares the "core" namespace but lives above the apps it summarises: ztconsole/urls.py adds it.
urlpatterns = [
    path("audit/", views.AuditLogView.as_view(), name="audit_list"),
    path("audit/<int:seq>/", views.AuditEventDetailView.as_view(), name="audit_event"),
    path("audit/verifications/", views.AuditVerificationListView.as_view(), name="audit_verifications"),
    path("audit/verifications/new/", views.AuditVerifyView.as_view(), name="audit_verify"),
    path("audit/verifications/<uuid:pk>/", views.AuditVerificationDetailView.as_view(), name="audit_verification"),
    path(
        "audit/verifications/<uuid:pk>/status/",
        views.AuditVerificationStatusView.as_view(),
        name="audit_verification_status",
    ),
]
