from django.db import migrations


def forward(apps, schema_editor):
    User = apps.get_model("auth", "User")
    Identity = apps.get_model("accounts", "Identity")
    for user in User.objects.filter(identity__isnull=True):
        name = f"{user.first_name} {user.last_name}".strip() or user.username
        privileged = user.groups.filter(name__in=["Administrator", "Security Officer"]).exists()
        Identity.objects.create(
            user=user,
            kind="human",
            display_name=name,
            status="active" if user.is_active else "suspended",
            privileged=privileged,
        )


class Migration(migrations.Migration):
    dependencies = [("accounts", "0002_identities")]

    operations = [migrations.RunPython(forward, migrations.RunPython.noop)]
