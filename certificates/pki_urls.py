"""Public PKI endpoints (no sign-in, as CRLs are): the chain, the CRL in PEM and DER, and OCSP."""

from django.urls import path, re_path

from certificates import views

urlpatterns = [
    path("crl.pem", views.CrlView.as_view(), name="pki-crl-pem"),
    path("crl.der", views.CrlView.as_view(der=True), name="pki-crl-der"),
    path("ocsp", views.OcspView.as_view(), name="pki-ocsp"),
    re_path(r"^ocsp/(?P<encoded>[A-Za-z0-9+/=%]+)$", views.OcspView.as_view(), name="pki-ocsp-get"),
    path("chain.pem", views.ChainView.as_view(), name="pki-chain-pem"),
]
