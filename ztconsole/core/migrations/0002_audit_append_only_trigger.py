"""On PostgreSQL the database itself refuses UPDATE and DELETE on audit events.

SQLite has no equivalent that survives test-database flushing; there the model and queryset refuse.
"""

from django.db import migrations

PG_FORWARD = """
CREATE OR REPLACE FUNCTION zt_audit_event_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER zt_audit_event_append_only
    BEFORE UPDATE OR DELETE ON core_auditevent
    FOR EACH ROW EXECUTE FUNCTION zt_audit_event_append_only();
"""
PG_REVERSE = """
DROP TRIGGER IF EXISTS zt_audit_event_append_only ON core_auditevent;
DROP FUNCTION IF EXISTS zt_audit_event_append_only();
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_FORWARD, params=None)


def reverse(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_REVERSE, params=None)


class Migration(migrations.Migration):
    dependencies = [("core", "0001_initial")]

    operations = [migrations.RunPython(forward, reverse)]
