"""Every write to the patient registry goes through here: validate, write in
one transaction, and leave an audit entry (who, when, why) in the record's
history. Callers pass `today` when they need a fixed date (tests, imports)."""

from datetime import date, datetime

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from accounts.audit import audited_save, check_version
from accounts.transactions import service

from .medicines import GlucocorticoidCourse, PrednisonePoint, prednisone_timeline, recognised_elsewhere
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


# What choosing the recognised category does, for the proposal's sentence.
_CATEGORY_COUNTS_FOR = {
    MedicationCategory.ESTROGEN: "so the thrombosis flag counts it",
    MedicationCategory.NEPHROTOXIC: "so the renal flag counts it",
    MedicationCategory.GLUCOCORTICOID: "so its prednisone equivalent is followed (steroid sparing)",
    MedicationCategory.ANTICOAGULANT: "so it is listed with the anticoagulants",
    MedicationCategory.IMMUNOSUPPRESSANT: "so it is listed with the immunosuppressants",
}
KEEP_CATEGORY_LABEL = "Keep the category as entered"
# What fits in the history's reason column (accounts.audit) after "edited; category kept: ".
CATEGORY_KEPT_BECAUSE_MAX_CHARS = 75


def medication_category_proposal(name: str, category: str) -> str | None:
    """The sentence proposing the recognised category when ``name`` is filed under another one,
    else None.

    Example: "Estradiol" under "Other" -> "Estradiol is one of the estrogens and estrogen-containing
    contraceptives (ATC G03A, G03C, G03F): choose 'Estrogen-containing (boxed-warning thrombosis
    risk)' so the thrombosis flag counts it, or tick 'Keep the category as entered' and say why."
    """
    recognised = recognised_elsewhere(name, category)
    if recognised is None:
        return None
    proposed = MedicationCategory(recognised.category)
    return (
        f"{recognised.drug.capitalize()} is one of the {recognised.drug_class.name} (ATC {recognised.drug_class.atc}): "
        f"choose '{proposed.label}' {_CATEGORY_COUNTS_FOR[proposed]}, or tick '{KEEP_CATEGORY_LABEL}' and say why."
    )


def _medication_category_reason(record: Medication, kept_because: str, *, before: Medication | None) -> str:
    """A medication the table recognises under another category is saved only with a reason
    for keeping the category; the reason goes into the history. A record already saved that way
    keeps its category through edits that change neither the name nor the category."""
    proposal = medication_category_proposal(record.name, record.category)
    if proposal is None:
        return ""
    if before is not None and (before.name, before.category) == (record.name, record.category):
        return ""
    because = kept_because.strip()
    if not because:
        raise ValidationError({"category": proposal})
    if len(because) > CATEGORY_KEPT_BECAUSE_MAX_CHARS:
        # Refused, not cut: the history column must hold the whole reason.
        raise ValidationError(
            {"category_kept_because": f"Say it in {CATEGORY_KEPT_BECAUSE_MAX_CHARS} characters or fewer."}
        )
    return f"category kept: {because}"


@service
def clinical_record_create(
    *,
    by,
    model: type[ClinicalRecord],
    patient: Patient,
    today: date | None = None,
    category_kept_because: str = "",
    reason: str = "",
    **fields,
) -> ClinicalRecord:
    """Add a dated record (measurement, lab, medication, risk factor) to a patient's chart.

    A medication whose name the table recognises under another category (Estradiol under Other)
    is refused at ``category`` with the proposal, unless ``category_kept_because`` says why.
    ``reason`` says where the record came from when not from the page (e.g. "received through
    FHIR (token 'EHR')"); the history keeps it."""
    record = model(patient=patient, recorded_by=by, **fields)
    _not_in_future(record, model.past_date_fields, today or timezone.localdate())
    kept = _category_reason(record, category_kept_because, before=None)
    audited_save(record, by=by, reason="; ".join(part for part in (reason, kept) if part))
    return record


@service
def clinical_record_update(
    *, by, record: ClinicalRecord, today: date | None = None, category_kept_because: str = "", **fields
) -> ClinicalRecord:
    before = type(record).objects.filter(pk=record.pk).first()
    for name, value in fields.items():
        setattr(record, name, value)
    _not_in_future(record, record.past_date_fields, today or timezone.localdate())
    kept = _category_reason(record, category_kept_because, before=before)
    audited_save(record, by=by, reason=f"edited; {kept}" if kept else "edited")
    return record


def _category_reason(record: ClinicalRecord, kept_because: str, *, before) -> str:
    if isinstance(record, Medication):
        return _medication_category_reason(record, kept_because, before=before)
    if kept_because:
        raise TypeError("category_kept_because: only a medication has a category to keep")
    return ""


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


def glucocorticoid_courses_for(patient: Patient) -> list[GlucocorticoidCourse]:
    """The patient's glucocorticoids as entered (name, mg/day, start and stop), oldest first,
    for ``patients.medicines.prednisone_timeline`` (the trend chart, the cohort report)."""
    rows = patient.medications.filter(category=MedicationCategory.GLUCOCORTICOID, daily_dose_mg__isnull=False)
    return [
        GlucocorticoidCourse(row.name, row.daily_dose_mg, row.started_on, row.stopped_on)
        for row in rows.only("name", "daily_dose_mg", "started_on", "stopped_on").order_by("started_on", "pk")
    ]


def prednisone_timeline_for(patient: Patient, *, start: date, end: date) -> list[PrednisonePoint]:
    """The patient's daily glucocorticoid dose as prednisone from ``start`` to ``end``
    (``patients.medicines.prednisone_timeline``: a point at ``start`` and at each change).

    Example: prednisone 40 mg/day from 1 January, then prednisolone 10 mg/day from 1 March,
    read from 1 February to 1 April -> [(1 Feb, 40.0 mg), (1 Mar, 10.0 mg)].
    """
    return prednisone_timeline(glucocorticoid_courses_for(patient), start=start, end=end)


@service
def patient_archive(
    *, by, patient: Patient, reason: str, expected_version: int | None = None, now: datetime | None = None
) -> Patient:
    """Remove a patient from the registry, with a reason: hidden from the lists, never deleted. The
    chart and its audit trail stay readable, and the history says who removed the patient and why."""
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": "Say why this patient is removed from the registry."})
    current = Patient.objects.select_for_update().get(pk=patient.pk)
    check_version(current, expected_version, what="patient's record")
    if current.archived_at is not None:
        raise ValidationError(f"This patient was already removed from the registry ({current.archive_reason}).")
    current.archived_at = now or timezone.now()
    current.archive_reason = reason
    current.version += 1
    audited_save(current, by=by, reason=f"removed from the registry: {reason}")
    return current
