from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    """The top layer (docs/architecture.md, "Layers"): the dashboard and `manage.py load_demo`, which compose the
    apps below; the root URLconf and the API router (ztconsole/urls.py, ztconsole/api_urls.py) sit beside it."""

    name = "console"
    verbose_name = "Console (composition)"
