from datetime import date
from decimal import Decimal as D

import pytest

from patients.models import Medication, MedicationCategory
from patients.services import prednisone_timeline_for

pytestmark = pytest.mark.django_db


def test_timeline_reads_the_patients_glucocorticoids_only(patient):
    Medication.objects.create(
        patient=patient,
        category=MedicationCategory.GLUCOCORTICOID,
        name="Prednisone",
        daily_dose_mg=D("40"),
        started_on=date(2026, 1, 1),
        stopped_on=date(2026, 3, 1),
    )
    Medication.objects.create(
        patient=patient,
        category=MedicationCategory.GLUCOCORTICOID,
        name="Methylprednisolone",
        daily_dose_mg=D("8"),
        started_on=date(2026, 3, 1),
    )
    Medication.objects.create(patient=patient, category=MedicationCategory.OTHER, name="Vitamin D")
    points = prednisone_timeline_for(patient, start=date(2026, 2, 1), end=date(2026, 4, 1))
    assert [(p.on, p.prednisone_mg) for p in points] == [(date(2026, 2, 1), D("40.0")), (date(2026, 3, 1), D("10.0"))]
