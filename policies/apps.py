from django.apps import AppConfig


class PoliciesConfig(AppConfig):
    """Micro-segments, access and risk rules, signed bundles (issue: policies and the decision engine)."""

    name = "policies"
    verbose_name = "Policies"
