"""PostgreSQL: one server-side function appends events to the chain (``ztconsole.core.audit._append``).

``zt_audit_append`` locks the head row (``FOR UPDATE``, held until the caller's transaction ends), gives each
event the next seq, hashes it over its predecessor's hash, inserts the events with one ``INSERT … SELECT`` and
moves the head: one statement, so one round trip per append, whatever the number of events. It runs in the
caller's transaction.

The hash is the SHA-256 of the event's canonical encoding (``ztconsole.auditverify.canonical_event``). The console
lays the encoding out in three parts around the two values only the chain knows (``prev_hash`` and ``seq``: their
keys sort next to each other), and the function joins them: ``head || prev_hash || middle || seq || tail``. The
bytes hashed are therefore the very bytes the Python definition gives (tests/core/test_audit_append.py holds the
two against each other). SQLite has no such function: there the console computes the same parts in Python.
"""

from django.db import migrations

PG_FORWARD = """
CREATE OR REPLACE FUNCTION zt_audit_append(
    p_created_at timestamptz[],
    p_actor_id integer[],
    p_actor_label text[],
    p_action text[],
    p_target_type text[],
    p_target_id text[],
    p_target_label text[],
    p_details text[],
    p_ip_address text[],
    p_request_id text[],
    p_head text[],
    p_middle text[],
    p_tail text[],
    OUT head_seq bigint,
    OUT head_hash text,
    OUT last_id bigint,
    OUT hashes text[]
) AS $$
DECLARE
    n integer := cardinality(p_head);
    prevs text[] := array_fill(NULL::text, ARRAY[n]);
    h text;
BEGIN
    hashes := array_fill(NULL::text, ARRAY[n]);
    SELECT seq, hash INTO head_seq, head_hash FROM core_audithead WHERE id = 1 FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO core_audithead (id, seq, hash) VALUES (1, 0, repeat('0', 64)) ON CONFLICT (id) DO NOTHING;
        SELECT seq, hash INTO head_seq, head_hash FROM core_audithead WHERE id = 1 FOR UPDATE;
    END IF;
    h := head_hash;
    FOR i IN 1..n LOOP
        prevs[i] := h;
        h := encode(sha256(convert_to(
            p_head[i] || h || p_middle[i] || (head_seq + i)::text || p_tail[i], 'UTF8')), 'hex');
        hashes[i] := h;
    END LOOP;
    WITH inserted AS (
        INSERT INTO core_auditevent (
            seq, created_at, actor_id, actor_label, action, target_type, target_id, target_label, details,
            ip_address, request_id, prev_hash, hash
        )
        SELECT head_seq + e.i, e.created_at, e.actor_id, e.actor_label, e.action, e.target_type, e.target_id,
               e.target_label, e.details::jsonb, e.ip_address::inet, e.request_id, e.prev_hash, e.hash
        FROM unnest(
            p_created_at, p_actor_id, p_actor_label, p_action, p_target_type, p_target_id, p_target_label,
            p_details, p_ip_address, p_request_id, prevs, hashes
        ) WITH ORDINALITY AS e(
            created_at, actor_id, actor_label, action, target_type, target_id, target_label, details,
            ip_address, request_id, prev_hash, hash, i
        )
        RETURNING id
    )
    SELECT max(id) INTO last_id FROM inserted;
    IF n > 0 THEN
        UPDATE core_audithead SET seq = head_seq + n, hash = h WHERE id = 1;
    END IF;
END;
$$ LANGUAGE plpgsql;
"""
PG_REVERSE = """
DROP FUNCTION IF EXISTS zt_audit_append(
    timestamptz[], integer[], text[], text[], text[], text[], text[], text[], text[], text[], text[], text[], text[]
);
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_FORWARD, params=None)


def reverse(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_REVERSE, params=None)


class Migration(migrations.Migration):
    dependencies = [("core", "0006_checkpoint_reason_retention")]

    operations = [migrations.RunPython(forward, reverse)]
