"""Search indexes for the identity and device lists: pg_trgm GIN on PostgreSQL, FTS5 trigram on SQLite."""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations

from accounts.search import DEVICE_FTS, IDENTITY_FTS, trigram_drop_sql, trigram_sql
from ztconsole.core.search import VendorRunSQL


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0009_identity_trading_hours"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [
        TrigramExtension(),
        VendorRunSQL("postgresql", trigram_sql(), trigram_drop_sql()),
        VendorRunSQL(
            "sqlite",
            IDENTITY_FTS.create_sql() + IDENTITY_FTS.refill_sql(),
            IDENTITY_FTS.drop_sql(),
        ),
        VendorRunSQL(
            "sqlite",
            DEVICE_FTS.create_sql() + DEVICE_FTS.refill_sql(),
            DEVICE_FTS.drop_sql(),
        ),
    ]
