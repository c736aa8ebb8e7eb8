from django.apps import AppConfig


class AlertsConfig(AppConfig):
    """Detectors, alerts, automated containment and forwarding to a SIEM (docs/alerts.md)."""

    name = "alerts"
    verbose_name = "Alerts"

    def ready(self) -> None:
        from alerts import receivers
        from ztconsole.core import hooks

        hooks.sign_in_failed.connect(receivers.sign_in_failed)
        hooks.audit_checkpoint_signed.connect(receivers.audit_checkpoint_signed)
        hooks.fix_logons_flagged.connect(receivers.fix_logons_flagged)
