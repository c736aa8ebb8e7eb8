"""PostgreSQL: the append-only trigger lets a DELETE of audit events through for retention only.

A DELETE of an event passes only when its seq is at or below the newest checkpoint signed as a retention cut
(reason ``retention``); every UPDATE, every other DELETE, and any change to checkpoints is still refused. A row
forged into core_auditcheckpoint to open the gate carries no valid signature, and verification reports it.
"""

from django.db import migrations

PG_FORWARD = """
CREATE OR REPLACE FUNCTION zt_audit_event_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' AND TG_TABLE_NAME = 'core_auditevent' AND OLD.seq <= COALESCE(
        (SELECT max(seq) FROM core_auditcheckpoint WHERE reason = 'retention'), 0
    ) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit events are append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""
PG_REVERSE = """
CREATE OR REPLACE FUNCTION zt_audit_event_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_FORWARD, params=None)


def reverse(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_REVERSE, params=None)


class Migration(migrations.Migration):
    dependencies = [("core", "0003_auditcheckpoint")]

    operations = [migrations.RunPython(forward, reverse)]
