"""Every write to the patient registry goes through here: validate, write in
one transaction, and leave an audit entry (who, when, why) in the record's
history. Callers pass `today` when they need a fixed date (tests, imports)."""

from datetime import date

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from accounts.audit import audited_save, check_version
from accounts.transactions import service

from .medicines import GlucocorticoidCourse, PrednisonePoint, prednisone_timeline
from .models import BodyMeasurement, ClinicalRecord, LabResult, Medication, MedicationCategory, Patient, RiskFactor

OLDEST_AGE_YEARS = 120


def _not_in_future(instance: models.Model, field_names, today: date) -> None:
    errors = {}
    for name in field_names:
        day = getattr(instance, name)
        if day and day > today:
            errors[name] = "This date is in the future."
    if errors:
        raise ValidationError(errors)


@service
def patient_create(
    *,
    by,
    weight_kg=None,
    height_cm=None,
    measured_on: date | None = None,
    today: date | None = None,
    **fields,
) -> Patient:
    """Register a patient, with a first weight and height when given."""
    today = today or timezone.localdate()
    patient = Patient(**fields)
    _check_patient_dates(patient, today)
    audited_save(patient, by=by, reason="registered")
    if weight_kg is not None or height_cm is not None:
        measurement_record(
            by=by,
            patient=patient,
            measured_on=measured_on or today,
            weight_kg=weight_kg,
            height_cm=height_cm,
            today=today,
        )
    return patient


@service
def patient_update(
    *, by, patient: Patient, expected_version: int | None = None, today: date | None = None, **fields
) -> Patient:
    """Change the patient's details. The edit page passes the ``expected_version`` it showed:
    if someone saved in between, nothing is written and the refusal says who and when
    (None: a caller without a page, no check)."""
    current = Patient.objects.select_for_update().get(pk=patient.pk)
    check_version(current, expected_version, what="patient's record")
    for name, value in fields.items():
        setattr(current, name, value)
    _check_patient_dates(current, today or timezone.localdate())
    current.version += 1
    audited_save(current, by=by, reason="edited")
    return current


def _check_patient_dates(patient: Patient, today: date) -> None:
    _not_in_future(
        patient,
        ("date_of_birth", "diagnosis_date", "ivig_started_on", "cancer_screen_on", "antiphospholipid_screen_on"),
        today,
    )
    if patient.date_of_birth and today.year - patient.date_of_birth.year > OLDEST_AGE_YEARS:
        raise ValidationError({"date_of_birth": f"This makes the patient older than {OLDEST_AGE_YEARS} years."})


@service
def clinical_record_create(
    *, by, model: type[ClinicalRecord], patient: Patient, today: date | None = None, **fields
) -> ClinicalRecord:
    """Add a dated record (measurement, lab, medication, risk factor) to a patient's chart."""
    record = model(patient=patient, recorded_by=by, **fields)
    _not_in_future(record, model.past_date_fields, today or timezone.localdate())
    audited_save(record, by=by)
    return record


@service
def clinical_record_update(*, by, record: ClinicalRecord, today: date | None = None, **fields) -> ClinicalRecord:
    for name, value in fields.items():
        setattr(record, name, value)
    _not_in_future(record, record.past_date_fields, today or timezone.localdate())
    audited_save(record, by=by, reason="edited")
    return record


@service
def clinical_record_delete(*, by, record: ClinicalRecord, reason: str) -> None:
    """Remove a record entered in error. The history keeps its last values, who removed it and why."""
    if not reason.strip():
        raise ValidationError({"reason": "Say why this record is removed."})
    record._history_user = by
    record._change_reason = reason.strip()
    record.delete()


def measurement_record(*, by, patient: Patient, **fields) -> BodyMeasurement:
    return clinical_record_create(by=by, model=BodyMeasurement, patient=patient, **fields)


def lab_result_record(*, by, patient: Patient, **fields) -> LabResult:
    return clinical_record_create(by=by, model=LabResult, patient=patient, **fields)


def medication_record(*, by, patient: Patient, **fields) -> Medication:
    return clinical_record_create(by=by, model=Medication, patient=patient, **fields)


def risk_factor_record(*, by, patient: Patient, **fields) -> RiskFactor:
    return clinical_record_create(by=by, model=RiskFactor, patient=patient, **fields)


def prednisone_timeline_for(patient: Patient, *, start: date, end: date) -> list[PrednisonePoint]:
    """The patient's daily glucocorticoid dose as prednisone from ``start`` to ``end``
    (``patients.medicines.prednisone_timeline``: a point at ``start`` and at each change).

    Example: prednisone 40 mg/day from 1 January, then prednisolone 10 mg/day from 1 March,
    read from 1 February to 1 April -> [(1 Feb, 40.0 mg), (1 Mar, 10.0 mg)].
    """
    rows = patient.medications.filter(category=MedicationCategory.GLUCOCORTICOID, daily_dose_mg__isnull=False)
    courses = [
        GlucocorticoidCourse(row.name, row.daily_dose_mg, row.started_on, row.stopped_on)
        for row in rows.only("name", "daily_dose_mg", "started_on", "stopped_on")
    ]
    return prednisone_timeline(courses, start=start, end=end)
