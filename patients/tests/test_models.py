"""The models: database constraints as the second line of defence (writes that
skip full_clean), and the QuerySet methods and properties other code relies on."""

from datetime import date
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from patients.models import (
    WEEK_ZERO_DERIVED,
    WEEK_ZERO_RECORDED,
    BodyMeasurement,
    LabResult,
    Medication,
    Patient,
    RiskFactor,
    week_zero,
)
from patients.tests.factories import (
    LabResultFactory,
    MeasurementFactory,
    MedicationFactory,
    PatientFactory,
    RiskFactorFactory,
)

# model, values that break one constraint (the rest of the row is valid)
REFUSED_BY_THE_DATABASE = [
    ("weight 0", BodyMeasurement, {"weight_kg": Decimal("0")}),
    ("weight below 0", BodyMeasurement, {"weight_kg": Decimal("-1")}),
    ("weight 351", BodyMeasurement, {"weight_kg": Decimal("351")}),
    ("height 39", BodyMeasurement, {"height_cm": Decimal("39")}),
    ("height 251", BodyMeasurement, {"height_cm": Decimal("251")}),
    ("neither weight nor height", BodyMeasurement, {"weight_kg": None, "height_cm": None}),
    ("lab value -1", LabResult, {"value": Decimal("-1")}),
    ("lab ULN 0", LabResult, {"upper_limit_normal": Decimal("0")}),
    ("lab ULN below 0", LabResult, {"upper_limit_normal": Decimal("-5")}),
    ("glucocorticoid without dose", Medication, {"category": "glucocorticoid", "daily_dose_mg": None}),
    ("dose 0", Medication, {"category": "other", "daily_dose_mg": Decimal("0")}),
    ("stopped before started", Medication, {"started_on": date(2026, 5, 2), "stopped_on": date(2026, 5, 1)}),
    ("risk factor ended before noted", RiskFactor, {"noted_on": date(2024, 3, 1), "ended_on": date(2024, 2, 29)}),
]

# Boundary values the constraints must still accept.
ACCEPTED_BY_THE_DATABASE = [
    ("weight 0.1", BodyMeasurement, {"weight_kg": Decimal("0.1")}),
    ("weight 350", BodyMeasurement, {"weight_kg": Decimal("350")}),
    ("height 40", BodyMeasurement, {"height_cm": Decimal("40")}),
    ("height 250", BodyMeasurement, {"height_cm": Decimal("250")}),
    ("weight only", BodyMeasurement, {"height_cm": None}),
    ("height only", BodyMeasurement, {"weight_kg": None}),
    ("lab value 0, no ULN", LabResult, {"value": Decimal("0"), "upper_limit_normal": None}),
    ("other drug without dose", Medication, {"category": "immunosuppressant", "daily_dose_mg": None}),
    ("stopped the day it started", Medication, {"started_on": date(2026, 5, 1), "stopped_on": date(2026, 5, 1)}),
    ("stop date without start date", Medication, {"started_on": None, "stopped_on": date(2026, 5, 1)}),
    ("risk factor ended the day noted", RiskFactor, {"noted_on": date(2024, 3, 1), "ended_on": date(2024, 3, 1)}),
]

FACTORIES = {
    BodyMeasurement: MeasurementFactory,
    LabResult: LabResultFactory,
    Medication: MedicationFactory,
    RiskFactor: RiskFactorFactory,
}


def _row(model, patient, values) -> dict:
    """A full row of valid values (from the factory, unsaved) with `values` on top."""
    instance = FACTORIES[model].build(patient=patient)
    fields = {f.name: getattr(instance, f.name) for f in model._meta.concrete_fields if f.name not in {"id", "uuid"}}
    fields.pop("created_at")
    return fields | values


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("model", "values"), [row[1:] for row in REFUSED_BY_THE_DATABASE], ids=[row[0] for row in REFUSED_BY_THE_DATABASE]
)
def test_database_refuses_what_validation_would_have_caught(patient, model, values):
    with pytest.raises(IntegrityError), transaction.atomic():
        model.objects.create(**_row(model, patient, values))
    assert not model.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("model", "values"),
    [row[1:] for row in ACCEPTED_BY_THE_DATABASE],
    ids=[row[0] for row in ACCEPTED_BY_THE_DATABASE],
)
def test_database_accepts_the_boundaries(patient, model, values):
    record = model.objects.create(**_row(model, patient, values))
    record.refresh_from_db()
    for name, value in values.items():
        assert getattr(record, name) == value


@pytest.mark.django_db
def test_duplicate_mrn_refused():
    PatientFactory(mrn="MRN-1")
    with pytest.raises(IntegrityError), transaction.atomic():
        Patient.objects.create(**_patient_row(mrn="MRN-1"))
    assert Patient.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(("diagnosis_other", "refused"), [("", True), ("Inclusion body myositis", False)])
def test_other_diagnosis_must_be_named(diagnosis_other, refused):
    row = _patient_row(diagnosis="other", diagnosis_other=diagnosis_other)
    if refused:
        with pytest.raises(IntegrityError), transaction.atomic():
            Patient.objects.create(**row)
    else:
        Patient.objects.create(**row)
    assert Patient.objects.count() == (0 if refused else 1)


def _patient_row(**values) -> dict:
    return {
        "mrn": "MRN-2",
        "given_name": "Ada",
        "family_name": "Lovelace",
        "date_of_birth": date(1970, 5, 17),
        "sex_at_birth": "female",
        "diagnosis": "adult_dm",
    } | values


@pytest.mark.django_db
def test_one_active_risk_factor_per_kind(patient):
    RiskFactor.objects.bulk_create(
        [
            RiskFactor(patient=patient, kind="venous_thrombosis", noted_on=date(2020, 1, 1), ended_on=date(2020, 6, 1)),
            RiskFactor(patient=patient, kind="venous_thrombosis", noted_on=date(2021, 1, 1), ended_on=date(2021, 6, 1)),
            RiskFactor(patient=patient, kind="venous_thrombosis", noted_on=date(2024, 3, 1)),
            RiskFactor(patient=PatientFactory(), kind="venous_thrombosis", noted_on=date(2024, 3, 1)),
        ]
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        RiskFactor.objects.bulk_create(
            [RiskFactor(patient=patient, kind="venous_thrombosis", noted_on=date(2025, 1, 1))]
        )
    RiskFactor.objects.create(patient=patient, kind="smoking", noted_on=date(2025, 1, 1))
    assert RiskFactor.objects.filter(patient=patient).count() == 4
    assert list(RiskFactor.objects.filter(patient=patient).active().values_list("kind", flat=True)) == [
        "smoking",
        "venous_thrombosis",
    ]


# --- Search


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["MRN-100", "MRN-200", "X-100"]),
        ("   ", ["MRN-100", "MRN-200", "X-100"]),
        ("mrn-1", ["MRN-100"]),
        ("MRN-100", ["MRN-100"]),
        ("100", []),  # an MRN matches from its start only
        ("OKON", ["MRN-100"]),
        ("kwo", ["MRN-100"]),
        ("Bob", ["MRN-200"]),
        ("smith", ["MRN-200", "X-100"]),
        ("nobody", []),
    ],
)
def test_search(query, expected):
    PatientFactory(mrn="MRN-100", family_name="Okonkwo", given_name="Ada")
    PatientFactory(mrn="MRN-200", family_name="Smith", given_name="Bob")
    PatientFactory(mrn="X-100", family_name="Smith", given_name="Carol")
    assert sorted(Patient.objects.search(query).values_list("mrn", flat=True)) == expected


# --- Current weight and height


@pytest.mark.django_db
def test_current_measurements_are_the_latest_having_each_value(django_assert_num_queries):
    patient = PatientFactory(mrn="A")
    MeasurementFactory(patient=patient, measured_on=date(2026, 9, 1), weight_kg="72.0", height_cm="171.0")
    MeasurementFactory(patient=patient, measured_on=date(2026, 10, 1), weight_kg="70.0", height_cm=None)
    MeasurementFactory(patient=patient, measured_on=date(2026, 11, 1), weight_kg=None, height_cm="170.0")
    MeasurementFactory(patient=patient, measured_on=date(2026, 8, 1), weight_kg="90.0", height_cm="180.0")
    # Same day twice: the one entered last counts.
    MeasurementFactory(patient=patient, measured_on=date(2026, 10, 1), weight_kg="69.5", height_cm=None)
    other = PatientFactory(mrn="B")
    MeasurementFactory(patient=other, measured_on=date(2026, 11, 20), weight_kg="100.0", height_cm="190.0")
    PatientFactory(mrn="C")

    with django_assert_num_queries(1):
        rows = {
            p.mrn: (p.current_weight_kg, p.current_weight_on, p.current_height_cm, p.current_height_on)
            for p in Patient.objects.with_current_measurements()
        }

    assert rows == {
        "A": (Decimal("69.5"), date(2026, 10, 1), Decimal("170.0"), date(2026, 11, 1)),
        "B": (Decimal("100.0"), date(2026, 11, 20), Decimal("190.0"), date(2026, 11, 20)),
        "C": (None, None, None, None),
    }


# --- Age and current medications


@pytest.mark.parametrize(
    ("born", "day", "age"),
    [
        (date(1970, 5, 17), date(2026, 5, 16), 55),
        (date(1970, 5, 17), date(2026, 5, 17), 56),
        (date(1970, 5, 17), date(2026, 5, 18), 56),
        (date(1970, 5, 17), date(2026, 12, 31), 56),
        (date(1970, 5, 17), date(1970, 5, 17), 0),
        (date(2008, 11, 23), date(2026, 11, 22), 17),  # 18 tomorrow
        (date(2008, 11, 22), date(2026, 11, 22), 18),
        (date(2000, 2, 29), date(2025, 2, 28), 24),  # leap-day birthday: a year older on 1 March
        (date(2000, 2, 29), date(2025, 3, 1), 25),
        (date(2000, 2, 29), date(2024, 2, 29), 24),
    ],
)
def test_age_on(born, day, age):
    assert Patient(date_of_birth=born).age_on(day) == age


@pytest.mark.django_db
def test_current_on(patient):
    day = date(2026, 11, 22)
    table = {
        "no dates": (None, None, True),
        "started before": (date(2026, 1, 1), None, True),
        "started that day": (day, None, True),
        "starts tomorrow": (date(2026, 11, 23), None, False),
        "stops tomorrow": (date(2026, 1, 1), date(2026, 11, 23), True),
        "stopped that day": (date(2026, 1, 1), day, False),
        "stopped before": (date(2026, 1, 1), date(2026, 6, 1), False),
        "stop date only, ahead": (None, date(2026, 12, 1), True),
        "stop date only, past": (None, date(2026, 6, 1), False),
    }
    for name, (started_on, stopped_on, _) in table.items():
        MedicationFactory(patient=patient, name=name, started_on=started_on, stopped_on=stopped_on)
    current = set(Medication.objects.current_on(day).values_list("name", flat=True))
    assert current == {name for name, (_, _, is_current) in table.items() if is_current}


@pytest.mark.parametrize(
    ("recorded", "first_given", "expected"),
    [
        (None, None, None),
        (None, date(2026, 8, 1), (date(2026, 8, 1), WEEK_ZERO_DERIVED)),
        (date(2026, 7, 15), None, (date(2026, 7, 15), WEEK_ZERO_RECORDED)),
        # A recorded date wins, later or earlier than the first infusion given here.
        (date(2026, 7, 15), date(2026, 8, 1), (date(2026, 7, 15), WEEK_ZERO_RECORDED)),
        (date(2026, 9, 1), date(2026, 8, 1), (date(2026, 9, 1), WEEK_ZERO_RECORDED)),
    ],
)
def test_week_zero(recorded, first_given, expected):
    assert week_zero(recorded, first_given) == expected
    patient = Patient(ivig_started_on=recorded, first_infusion_on=first_given)
    assert patient.ivig_week_zero == expected
    assert (patient.ivig_week_zero is not None and patient.ivig_week_zero.derived) is (
        expected is not None and expected[1] == WEEK_ZERO_DERIVED
    )


def test_derived_dates_are_not_part_of_the_patients_history():
    recorded = {field.name for field in Patient.history.model._meta.get_fields()}
    assert "ivig_started_on" in recorded
    assert not {"first_infusion_on", "risk_verdict"} & recorded
