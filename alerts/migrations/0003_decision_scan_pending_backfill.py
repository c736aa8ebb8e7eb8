"""The decision scan reads the rows ingestion flagged (``Decision.alert_pending``) instead of ids above a cursor.
Logon decisions stored after the old cursor have not been read yet: they become pending, and the cursor goes."""

from django.db import migrations

OLD_CURSOR = "fix_decisions"


def forwards(apps, schema_editor):
    cursor_model = apps.get_model("alerts", "DetectorCursor")
    decision_model = apps.get_model("fix_sessions", "Decision")
    cursor = cursor_model.objects.filter(name=OLD_CURSOR).first()
    unread = decision_model.objects.filter(kind="logon")
    if cursor is not None:
        unread = unread.filter(id__gt=cursor.last_seq)
        cursor.delete()
    # Over-inclusive on purpose (the scan itself decides what is denied or from an unexpected country).
    unread.update(alert_pending=True)


class Migration(migrations.Migration):
    dependencies = [
        ("alerts", "0002_fix_logon_detectors"),
        ("fix_sessions", "0005_decision_alert_pending"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
