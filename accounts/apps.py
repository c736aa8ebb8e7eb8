from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_search_indexes(sender, using="default", **kwargs):
    """SQLite drops a table's triggers when Django rebuilds it to alter it; put the search triggers back."""
    from accounts.search import FTS_INDEXES
    from ztconsole.core.search import ensure_fts_indexes

    ensure_fts_indexes(FTS_INDEXES, using=using)


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Identities and MFA"

    def ready(self) -> None:
        post_migrate.connect(_ensure_search_indexes, sender=self, dispatch_uid="accounts-search-indexes")
