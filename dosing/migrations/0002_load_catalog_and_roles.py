from django.db import migrations

from dosing.catalog import load_catalog
from accounts.roles import sync_role_groups


class Migration(migrations.Migration):
    dependencies = [
        ("dosing", "0001_initial"),
        ("patients", "0002_role_groups"),
    ]

    operations = [
        migrations.RunPython(load_catalog, migrations.RunPython.noop),
        migrations.RunPython(sync_role_groups, migrations.RunPython.noop),
    ]
