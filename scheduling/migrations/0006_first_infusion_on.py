"""Fill Patient.first_infusion_on from the infusion starts already recorded; from here on
scheduling.services.records.first_infusion_keep keeps it."""

from django.db import migrations
from django.db.models import Min
from django.utils import timezone


def fill_first_infusion_on(apps, schema_editor):
    InfusionRecord = apps.get_model("scheduling", "InfusionRecord")
    Patient = apps.get_model("patients", "Patient")
    earliest = (
        InfusionRecord.objects.filter(started_at__isnull=False)
        .values("session__patient_id")
        .annotate(at=Min("started_at"))
        .values_list("session__patient_id", "at")
    )
    patients = [Patient(pk=patient_id, first_infusion_on=timezone.localdate(at)) for patient_id, at in earliest]
    Patient.objects.bulk_update(patients, ["first_infusion_on"], batch_size=500)


class Migration(migrations.Migration):
    dependencies = [
        ("patients", "0009_patient_first_infusion_on"),
        ("scheduling", "0005_unit_ladder_tolerance"),
    ]

    operations = [
        migrations.RunPython(fill_first_infusion_on, migrations.RunPython.noop, elidable=True),
    ]
