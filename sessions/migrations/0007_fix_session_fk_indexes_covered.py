"""FixSession's point and identity lose their own indexes: the unique (point, session_id) and the index
(identity, started_at, id) start with those columns and serve the same lookups (the foreign keys' checks and
ON DELETE, the filters). Each session written by ingestion then writes two index entries fewer."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0011_merge_0010_role_grants_0010_search_indexes"),
        ("fix_sessions", "0006_point_index_covered_by_unique"),
        ("policies", "0003_policyversion_in_force_index"),
    ]

    operations = [
        migrations.AlterField(
            model_name="fixsession",
            name="identity",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="fix_sessions",
                to="accounts.identity",
            ),
        ),
        migrations.AlterField(
            model_name="fixsession",
            name="point",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="policies.enforcementpoint",
            ),
        ),
    ]
