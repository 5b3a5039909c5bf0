"""The dashboard's kept flag figures: per-patient summaries and the clinic's totals per key,
back-filled from the flags already active. The fold is risk.tally's (pure functions over flag
facts, no models), so the back-fill and the services cannot count differently."""

import django.db.models.deletion
from django.db import migrations, models

from risk import tally

BATCH = 2000


def fill(apps, schema_editor):
    RiskFlag = apps.get_model("risk", "RiskFlag")
    PatientFlagSummary = apps.get_model("risk", "PatientFlagSummary")
    FlagTally = apps.get_model("risk", "FlagTally")
    facts: dict[int, list] = {}
    names: dict[int, str] = {}
    active = RiskFlag.objects.filter(resolved_at__isnull=True).values_list(
        "patient_id", "patient__family_name", "category", "severity", "code", "acknowledged_at"
    )
    for patient_id, family_name, category, severity, code, acknowledged_at in active.iterator(chunk_size=BATCH):
        facts.setdefault(patient_id, []).append(tally.FlagFacts(category, severity, code, acknowledged_at is not None))
        names[patient_id] = family_name
    rows, totals = [], {}
    for patient_id, flags in facts.items():
        for key, figures in tally.fold(flags).items():
            rows.append(PatientFlagSummary(patient_id=patient_id, key=key, family_name=names[patient_id], **figures._asdict()))
            patients, count = totals.get(key, (0, 0))
            totals[key] = (patients + 1, count + figures.flag_count)
    PatientFlagSummary.objects.bulk_create(rows, batch_size=BATCH)
    FlagTally.objects.bulk_create(FlagTally(key=key, patients=p, flags=f) for key, (p, f) in sorted(totals.items()))


class Migration(migrations.Migration):

    dependencies = [
        ('patients', '0014_patient_archived'),
        ('risk', '0004_fill_patient_risk_verdict'),
    ]

    operations = [
        migrations.CreateModel(
            name='FlagTally',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('key', models.CharField(max_length=40, unique=True)),
                ('patients', models.PositiveIntegerField(default=0)),
                ('flags', models.PositiveIntegerField(default=0)),
            ],
        ),
        migrations.CreateModel(
            name='PatientFlagSummary',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('key', models.CharField(max_length=40)),
                ('worst_rank', models.PositiveSmallIntegerField()),
                ('flag_count', models.PositiveIntegerField()),
                ('family_name', models.CharField(max_length=100)),
                ('patient', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='patients.patient')),
            ],
            options={
                'indexes': [models.Index(fields=['key', 'worst_rank', '-flag_count', 'family_name', 'patient'], name='risk_summary_ranking')],
                'constraints': [models.UniqueConstraint(fields=('patient', 'key'), name='risk_summary_one_per_key')],
            },
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]
