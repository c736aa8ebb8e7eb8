from django.apps import AppConfig


class FixSessionsConfig(AppConfig):
    """Live FIX-over-TLS sessions at the enforcement points. ``django.contrib.sessions`` owns "sessions"."""

    name = "sessions"
    label = "fix_sessions"
    verbose_name = "FIX sessions"

    def ready(self) -> None:
        from sessions.selectors import recorded_logon_decisions
        from ztconsole.core import hooks

        # The policy simulator (a lower layer) replays the decision log through this source.
        hooks.recorded_decisions.connect(recorded_logon_decisions)
