"""Fill Patient.infusions_given from the infusion starts already recorded; from here on
scheduling.services.records.first_infusion_keep keeps it (as infusions_given_rows does)."""

from django.db import migrations
from django.utils import timezone


def fill_infusions_given(apps, schema_editor):
    InfusionRecord = apps.get_model("scheduling", "InfusionRecord")
    Patient = apps.get_model("patients", "Patient")
    rows: dict[int, list[dict]] = {}
    started = (
        InfusionRecord.objects.filter(started_at__isnull=False)
        .order_by("started_at")
        .values_list(
            "session__patient_id",
            "started_at",
            "session__cycle__course__order__product__slug",
            "session__cycle__course__order__product__name",
        )
    )
    for patient_id, at, slug, name in started.iterator():
        row = {"on": timezone.localdate(at).isoformat(), "product_slug": slug, "product_name": name}
        if row not in rows.setdefault(patient_id, []):
            rows[patient_id].append(row)
    patients = [Patient(pk=patient_id, infusions_given=given) for patient_id, given in rows.items()]
    Patient.objects.bulk_update(patients, ["infusions_given"], batch_size=500)


class Migration(migrations.Migration):
    dependencies = [
        ("patients", "0012_patient_infusions_given"),
        ("scheduling", "0009_lotusage_gtin"),
    ]

    operations = [
        migrations.RunPython(fill_infusions_given, migrations.RunPython.noop, elidable=True),
    ]
