from django.urls import path

from certificates import views

app_name = "certificates"

urlpatterns = [
    path("", views.CertificateListView.as_view(), name="list"),
    path("issue/", views.CertificateIssueView.as_view(), name="issue"),
    path("compliance/", views.CertificateComplianceView.as_view(), name="compliance"),
    path("tls-profile/", views.TlsProfileView.as_view(), name="tls_profile"),
    path("requests/", views.RequestListView.as_view(), name="requests"),
    path("requests/new/", views.RequestCreateView.as_view(), name="request_new"),
    path("requests/<int:pk>/approve/", views.RequestDecisionView.as_view(verb="approve"), name="request_approve"),
    path("requests/<int:pk>/reject/", views.RequestDecisionView.as_view(verb="reject"), name="request_reject"),
    path("<int:pk>/", views.CertificateDetailView.as_view(), name="detail"),
    path("<int:pk>/certificate.pem", views.CertificateDownloadView.as_view(), name="download_pem"),
    path("<int:pk>/fullchain.pem", views.CertificateDownloadView.as_view(full_chain=True), name="download_chain"),
    path("<int:pk>/revoke/", views.CertificateRevokeView.as_view(), name="revoke"),
    path("<int:pk>/renew/", views.CertificateRenewView.as_view(), name="renew"),
]
