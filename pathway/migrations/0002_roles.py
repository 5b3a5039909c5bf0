from django.db import migrations

from accounts.roles import sync_role_groups


class Migration(migrations.Migration):
    """Physicians record and void reviews and edit treatment courses; every role reads them."""

    dependencies = [
        ("pathway", "0001_review"),
        ("dosing", "0013_treatment_course"),
    ]

    operations = [migrations.RunPython(sync_role_groups, migrations.RunPython.noop)]
