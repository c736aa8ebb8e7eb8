"""Room in each page of ``fix_sessions_fixsession`` for the next version of its rows (PostgreSQL only).

Most of ingestion's updates (heartbeats) change no indexed column, so with free space on the page PostgreSQL
writes them as heap-only tuples: no new entry in any of the table's eight indexes. At the default fillfactor
(100) pages are full and every heartbeat wrote nine index entries.
"""

from django.db import migrations


def _fillfactor(value: int):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f"ALTER TABLE fix_sessions_fixsession SET (fillfactor = {int(value)})")

    return apply


class Migration(migrations.Migration):
    dependencies = [("fix_sessions", "0002_step_up_requests")]

    operations = [migrations.RunPython(_fillfactor(70), _fillfactor(100), elidable=False)]
