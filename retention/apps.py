from django.apps import AppConfig


class RetentionConfig(AppConfig):
    """Audit retention: old events archived (signed, the export format) before they are deleted (docs/audit.md)."""

    name = "retention"
    verbose_name = "Audit retention"
