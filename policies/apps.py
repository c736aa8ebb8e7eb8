from django.apps import AppConfig


class PoliciesConfig(AppConfig):
    """Micro-segments, access and risk rules, signed bundles, and their distribution to enforcement points."""

    name = "policies"
    verbose_name = "Policies"

    def ready(self) -> None:
        from policies.distribution import reactions
        from ztconsole.core import hooks

        # Revocations in accounts and certificates become signed deltas for every enforcement point, written
        # in the revoking action's transaction (docs/distribution.md).
        hooks.certificate_revoked.connect(reactions.certificate_revoked)
        hooks.identity_suspended.connect(reactions.identity_blocked)
        hooks.identity_revoked.connect(reactions.identity_blocked)
        hooks.device_retired.connect(reactions.device_retired)
