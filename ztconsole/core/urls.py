from django.urls import path

from ztconsole.core import views

urlpatterns = [
    path("", views.DashboardView.as_view(), name="dashboard"),
    path("audit/", views.AuditLogView.as_view(), name="audit_list"),
]
