"""Visits with the six core set measures, and the tis.md worked example the tests share.

WORKED_BASELINE → WORKED_FOLLOWUP is TIS 35, minimal (visits/tests/test_tis.py spells the
arithmetic out). VisitFactory() is a visit with the worked baseline's measures, written with
the ORM; tests of the visit service call visit_record themselves."""

from datetime import date, timedelta
from decimal import Decimal

import factory

from patients.tests.factories import PatientFactory, UserFactory
from visits.models import Visit
from visits.services import visit_record

WORKED_BASELINE = {
    "physician_global_cm": Decimal("6"),
    "patient_global_cm": Decimal("7"),
    "mmt_scale": "mmt8_80",
    "mmt_score": Decimal("60"),
    "haq_score": Decimal("1.5"),
    "extramuscular_global_cm": Decimal("4"),
    "ck_u_per_l": Decimal("3000"),
    "ck_uln_u_per_l": Decimal("200"),
}
WORKED_FOLLOWUP = WORKED_BASELINE | {
    "physician_global_cm": Decimal("4.5"),
    "patient_global_cm": Decimal("5.5"),
    "mmt_score": Decimal("68"),
    "haq_score": Decimal("1.05"),
    "extramuscular_global_cm": Decimal("2.5"),
    "ck_u_per_l": Decimal("2550"),
}


class VisitFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Visit

    patient = factory.SubFactory(PatientFactory)
    visit_date = date(2026, 5, 28)
    assessor = factory.SubFactory(UserFactory, role="physician")
    recorded_by = factory.SelfAttribute("assessor")
    physician_global_cm = WORKED_BASELINE["physician_global_cm"]
    patient_global_cm = WORKED_BASELINE["patient_global_cm"]
    mmt_scale = WORKED_BASELINE["mmt_scale"]
    mmt_score = WORKED_BASELINE["mmt_score"]
    haq_score = WORKED_BASELINE["haq_score"]
    extramuscular_global_cm = WORKED_BASELINE["extramuscular_global_cm"]
    ck_u_per_l = WORKED_BASELINE["ck_u_per_l"]
    ck_uln_u_per_l = WORKED_BASELINE["ck_uln_u_per_l"]


# The worked example's patient: IVIG from 12 Jan 2026, baseline 5 Jan, week 16 on 4 May (TIS 35).
FIRST_INFUSION = date(2026, 1, 12)


def treated_patient(*, by, today: date, **patient_fields):
    """A patient with a baseline visit and the tis.md worked example at week 16 (TIS 35)."""
    patient = PatientFactory(ivig_started_on=FIRST_INFUSION, **patient_fields)
    for day, measures in ((date(2026, 1, 5), WORKED_BASELINE), (FIRST_INFUSION + timedelta(weeks=16), WORKED_FOLLOWUP)):
        visit_record(by=by, patient=patient, today=today, visit_date=day, **measures)
    return patient
