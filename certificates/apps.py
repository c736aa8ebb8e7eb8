from django.apps import AppConfig


class CertificatesConfig(AppConfig):
    """The internal CA for FIX-over-TLS mutual TLS (issue: internal certificate authority)."""

    name = "certificates"
    verbose_name = "Certificates"
