from django.db import migrations

from accounts.roles import sync_role_groups


class Migration(migrations.Migration):
    """Physicians may run a bulk FHIR export (fhir.export_bulk); no other role."""

    dependencies = [
        ("fhir", "0001_bulk_export_job"),
        ("pathway", "0002_roles"),
    ]

    operations = [migrations.RunPython(sync_role_groups, migrations.RunPython.noop)]
