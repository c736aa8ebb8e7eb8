from django.apps import AppConfig


class FixSessionsConfig(AppConfig):
    """Live FIX-over-TLS sessions at the enforcement points. ``django.contrib.sessions`` owns "sessions"."""

    name = "sessions"
    label = "fix_sessions"
    verbose_name = "FIX sessions"
