from django.apps import AppConfig


class CertificatesConfig(AppConfig):
    """The internal CA for FIX-over-TLS mutual TLS (issue: internal certificate authority)."""

    name = "certificates"
    verbose_name = "Certificates"

    def ready(self) -> None:
        from certificates import actions
        from ztconsole.core import hooks

        # A revoked identity's certificates go on the CRL in the same transaction (docs/architecture.md, "Layers").
        hooks.identity_revoked.connect(actions.revoke_certificates_of_identity)
