from django.urls import path

from reports import views

app_name = "reports"

urlpatterns = [
    path("", views.ReportIndexView.as_view(), name="index"),
    path("access-review/attest/", views.AccessAttestView.as_view(), name="access_attest"),
    path("audit-exports/", views.AuditExportListView.as_view(), name="audit_exports"),
    path("audit-exports/<uuid:pk>/", views.AuditExportDetailView.as_view(), name="audit_export_detail"),
    path("audit-exports/<uuid:pk>/status/", views.AuditExportStatusView.as_view(), name="audit_export_status"),
    path("audit-exports/<uuid:pk>/download/", views.AuditExportDownloadView.as_view(), name="audit_export_download"),
    path("export-key.pem", views.ExportPublicKeyView.as_view(), name="export_public_key"),
    path("<slug:slug>/", views.ReportView.as_view(), name="report"),
    path("<slug:slug>/export/", views.ReportExportView.as_view(), name="report_export"),
]
