from django.db import migrations

from accounts.roles import sync_role_groups


def create_unit_settings(apps, schema_editor):
    apps.get_model("scheduling", "UnitSettings").objects.get_or_create(pk=1)


class Migration(migrations.Migration):
    dependencies = [
        ("scheduling", "0001_initial"),
        ("risk", "0002_roles"),
    ]

    operations = [
        migrations.RunPython(create_unit_settings, migrations.RunPython.noop),
        migrations.RunPython(sync_role_groups, migrations.RunPython.noop),
    ]
