"""Signed checkpoints of the audit chain's head; append-only at the database on PostgreSQL, like the events."""

from django.db import migrations, models

PG_FORWARD = """
CREATE TRIGGER zt_audit_checkpoint_append_only
    BEFORE UPDATE OR DELETE ON core_auditcheckpoint
    FOR EACH ROW EXECUTE FUNCTION zt_audit_event_append_only();
"""
PG_REVERSE = "DROP TRIGGER IF EXISTS zt_audit_checkpoint_append_only ON core_auditcheckpoint;"


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_FORWARD, params=None)


def reverse(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_REVERSE, params=None)


class Migration(migrations.Migration):
    dependencies = [("core", "0002_audit_append_only_trigger")]

    operations = [
        migrations.CreateModel(
            name="AuditCheckpoint",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("seq", models.BigIntegerField(db_index=True)),
                ("hash", models.CharField(max_length=64)),
                ("created_at", models.CharField(max_length=32)),
                (
                    "reason",
                    models.CharField(
                        choices=[
                            ("events", "every N events"),
                            ("schedule", "periodic (Celery beat)"),
                            ("export", "an export"),
                            ("manual", "manage.py audit_checkpoint"),
                        ],
                        max_length=16,
                    ),
                ),
                ("key_id", models.CharField(max_length=16)),
                ("signature", models.CharField(max_length=128)),
            ],
            options={"ordering": ["-seq", "-id"]},
        ),
        migrations.RunPython(forward, reverse),
    ]
