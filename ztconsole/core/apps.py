from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_search_index(sender, using="default", **kwargs):
    """SQLite drops a table's triggers when Django rebuilds it: put the audit search triggers back."""
    from ztconsole.core.explorer import AUDIT_FTS
    from ztconsole.core.search import ensure_fts_indexes

    ensure_fts_indexes([AUDIT_FTS], using=using)


class CoreConfig(AppConfig):
    name = "ztconsole.core"
    label = "core"
    verbose_name = "ZT Console core"

    def ready(self) -> None:
        import ztconsole.celery  # noqa: F401  (the project's Celery app: shared tasks bind to it)
        from ztconsole.core import roles

        # Groups are configuration derived from roles.ROLE_PERMISSIONS; they are re-synchronised after
        # every migrate, once Django has created the permissions they refer to.
        post_migrate.connect(roles.sync_roles_after_migrate, dispatch_uid="zt-sync-roles")
        post_migrate.connect(_ensure_search_index, sender=self, dispatch_uid="core-audit-search-index")
