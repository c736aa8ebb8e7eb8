from django.apps import AppConfig


class PoliciesConfig(AppConfig):
    """Micro-segments, access and risk rules, signed bundles, and their distribution to enforcement points."""

    name = "policies"
    verbose_name = "Policies"

    def ready(self) -> None:
        from policies.distribution.actions import record_revocation
        from ztconsole.core import hooks

        # Revocations in accounts and certificates become signed deltas for every enforcement point.
        hooks.connect("credential.revoked", record_revocation)
