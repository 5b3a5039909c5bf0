"""Fill Patient.risk_verdict from the flags already active, so that dosing, which now reads the
verdict from the patient, sees every existing at-risk patient as at risk from the first request
(before the nightly recompute). Mirrors risk.services.verdict_of over the historical models."""

from django.db import migrations

AT_RISK_CATEGORIES = ("thrombosis", "renal")
FIELDS = ("code", "category", "severity", "title", "evidence", "mitigation")


def fill(apps, schema_editor):
    RiskFlag = apps.get_model("risk", "RiskFlag")
    Patient = apps.get_model("patients", "Patient")
    by_patient: dict[int, list] = {}
    for flag in RiskFlag.objects.filter(resolved_at__isnull=True).order_by("patient_id"):
        by_patient.setdefault(flag.patient_id, []).append(flag)
    for patient_id, flags in by_patient.items():
        verdict = {
            "at_risk": [
                {name: getattr(f, name) for name in FIELDS}
                for f in sorted(flags, key=lambda f: (f.category, f.code))
                if f.category in AT_RISK_CATEGORIES and f.severity != "info"
            ],
            "contraindications": [
                {name: getattr(f, name) for name in FIELDS}
                for f in sorted(flags, key=lambda f: f.code)
                if f.category == "contraindication"
            ],
        }
        Patient.objects.filter(pk=patient_id).update(risk_verdict=verdict)


class Migration(migrations.Migration):
    dependencies = [
        ("risk", "0003_dashboard_indexes"),
        ("patients", "0008_patient_risk_verdict"),
    ]

    operations = [migrations.RunPython(fill, migrations.RunPython.noop)]
