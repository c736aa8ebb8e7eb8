from django.urls import path

from ztconsole.core import views

# The dashboard shares the "core" namespace but lives above the apps it summarises: ztconsole/urls.py adds it.
urlpatterns = [
    path("audit/", views.AuditLogView.as_view(), name="audit_list"),
]
