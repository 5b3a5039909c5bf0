"""Adding, editing and removing the dated records under a patient (weight/height,
labs, medications, risk factors): one set of views, driven by the kind slug."""

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.forms.models import model_to_dict
from django.urls import reverse

from accounts.roles import ROLE_PERMISSIONS
from patients.models import BodyMeasurement, LabResult, Medication, RiskFactor
from patients.tests.factories import (
    LabResultFactory,
    MeasurementFactory,
    MedicationFactory,
    PatientFactory,
    RiskFactorFactory,
)


@dataclass(frozen=True)
class Kind:
    slug: str
    model: type
    factory: type
    add: dict  # a valid add form
    added: dict  # what it stores
    edit: dict  # a valid edit of the factory's record
    edited: dict

    def roles_allowed(self, action: str) -> list[str]:
        permission = f"patients.{action}_{self.model._meta.model_name}"
        return [role for role, permissions in ROLE_PERMISSIONS.items() if permission in permissions]


KINDS = {
    kind.slug: kind
    for kind in [
        Kind(
            "measurements",
            BodyMeasurement,
            MeasurementFactory,
            add={"measured_on": "2026-11-20", "weight_kg": "70.0", "height_cm": "170.0"},
            added={"measured_on": date(2026, 11, 20), "weight_kg": Decimal("70.0"), "height_cm": Decimal("170.0")},
            edit={"measured_on": "2026-11-01", "weight_kg": "68.5", "height_cm": "170.0"},
            edited={"weight_kg": Decimal("68.5"), "height_cm": Decimal("170.0")},
        ),
        Kind(
            "labs",
            LabResult,
            LabResultFactory,
            add={"test": "ck", "collected_on": "2026-11-20", "value": "3000", "upper_limit_normal": "180"},
            added={"test": "ck", "value": Decimal("3000"), "unit": "U/L", "upper_limit_normal": Decimal("180")},
            edit={"test": "ck", "collected_on": "2026-11-01", "value": "2500", "upper_limit_normal": "200"},
            edited={"value": Decimal("2500")},
        ),
        Kind(
            "medications",
            Medication,
            MedicationFactory,
            add={"category": "glucocorticoid", "name": "Prednisone", "daily_dose_mg": "20", "started_on": "2026-11-01"},
            added={"category": "glucocorticoid", "daily_dose_mg": Decimal("20"), "started_on": date(2026, 11, 1)},
            edit={
                "category": "glucocorticoid",
                "name": "Prednisone",
                "daily_dose_mg": "10",
                "stopped_on": "2026-11-20",
            },
            edited={"daily_dose_mg": Decimal("10"), "stopped_on": date(2026, 11, 20)},
        ),
        Kind(
            "risk-factors",
            RiskFactor,
            RiskFactorFactory,
            add={"kind": "smoking", "noted_on": "2020-01-01", "comment": "20 pack-years"},
            added={"kind": "smoking", "noted_on": date(2020, 1, 1), "ended_on": None},
            edit={"kind": "venous_thrombosis", "noted_on": "2024-03-01", "ended_on": "2026-11-01"},
            edited={"ended_on": date(2026, 11, 1)},
        ),
    ]
}
SLUGS = list(KINDS)


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def frozen_today():
    with time_machine.travel(datetime(2026, 11, 22, 12, 0, tzinfo=ZoneInfo("America/New_York")), tick=False):
        yield


@pytest.fixture
def login(client, make_user):
    def login_as(role: str):
        user = make_user(role)
        client.force_login(user)
        return user

    return login_as


@pytest.fixture
def patient(db):
    return PatientFactory(date_of_birth=date(1970, 5, 17))


def _add_url(patient, slug: str) -> str:
    return reverse("patients:record_add", kwargs={"patient_uuid": patient.uuid, "kind_slug": slug})


def _record_url(action: str, patient, slug: str, record) -> str:
    kwargs = {"patient_uuid": patient.uuid, "kind_slug": slug, "record_uuid": record.uuid}
    return reverse(f"patients:record_{action}", kwargs=kwargs)


def _anchored(patient, slug: str) -> str:
    return f"{patient.get_absolute_url()}#{slug}"


def _stored(record) -> dict:
    return model_to_dict(type(record).objects.get(pk=record.pk))


# --- Add


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("slug", "role"), [(slug, role) for slug, kind in KINDS.items() for role in kind.roles_allowed("add")]
)
def test_add(client, login, patient, slug, role):
    kind = KINDS[slug]
    user = login(role)
    response = client.post(_add_url(patient, slug), kind.add)
    assert response.status_code == 302
    assert response.url == _anchored(patient, slug)
    record = kind.model.objects.get()
    assert (record.patient, record.recorded_by) == (patient, user)
    assert {name: getattr(record, name) for name in kind.added} == kind.added
    history = record.history.get()
    assert (history.history_type, history.history_user) == ("+", user)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("test", "uln", "stored_uln", "unit"),
    [
        ("creatinine", "", Decimal("1.2"), "mg/dL"),
        ("d_dimer", "", Decimal("0.5"), "mg/L FEU"),
        ("egfr", "", None, "mL/min/1.73 m²"),  # no site ULN for a test where only a low value matters
        ("creatinine", "1.1", Decimal("1.1"), "mg/dL"),  # the lab's own ULN wins
    ],
)
def test_lab_takes_the_fixed_unit_and_the_site_uln_when_none_given(client, login, patient, test, uln, stored_uln, unit):
    login("nurse")
    form = {"test": test, "collected_on": "2026-11-20", "value": "1.5", "upper_limit_normal": uln, "unit": "mmol/L"}
    assert client.post(_add_url(patient, "labs"), form).status_code == 302
    result = LabResult.objects.get()
    assert (result.unit, result.upper_limit_normal) == (unit, stored_uln)


BAD_ADD = [
    ("measurements", {"weight_kg": "0"}, "weight_kg", "above 0 kg"),
    ("measurements", {"weight_kg": "350.1"}, "weight_kg", "at most 350 kg"),
    ("measurements", {"height_cm": "39.9"}, "height_cm", "between 40 cm and 250 cm"),
    ("measurements", {"height_cm": "250.1"}, "height_cm", "between 40 cm and 250 cm"),
    ("measurements", {"weight_kg": "", "height_cm": ""}, "__all__", "Enter a weight, a height, or both."),
    ("measurements", {"measured_on": "2026-11-23"}, "measured_on", "in the future"),
    ("measurements", {"measured_on": "1970-05-16"}, "measured_on", "before the patient's date of birth"),
    ("labs", {"value": "-1"}, "value", "cannot be below 0"),
    ("labs", {"value": "600000"}, "value", "above the highest plausible CK"),
    ("labs", {"test": "creatinine", "value": "106"}, "value", "Check the unit"),  # µmol/L typed as mg/dL
    ("labs", {"collected_on": "2026-11-23"}, "collected_on", "in the future"),
    ("labs", {"collected_on": "1970-05-16"}, "collected_on", "before the patient's date of birth"),
    ("labs", {"upper_limit_normal": "0"}, "upper_limit_normal", "Must be above 0"),
    ("labs", {"test": "potassium"}, "test", "not one of the available choices"),
    ("medications", {"daily_dose_mg": ""}, "daily_dose_mg", "daily dose in mg"),
    ("medications", {"daily_dose_mg": "0"}, "daily_dose_mg", "Must be above 0"),
    ("medications", {"stopped_on": "2026-10-31"}, "stopped_on", "before the start date"),
    ("medications", {"started_on": "2026-11-23"}, "started_on", "in the future"),
    ("risk-factors", {"kind": "venous_thrombosis"}, "kind", "already recorded as current"),
    ("risk-factors", {"ended_on": "2019-12-31"}, "ended_on", "before the date it was noted"),
    ("risk-factors", {"ended_on": "2026-11-23"}, "ended_on", "in the future"),
    ("risk-factors", {"noted_on": "2026-11-23"}, "noted_on", "in the future"),
    ("risk-factors", {"noted_on": "1970-05-16"}, "noted_on", "before the patient's date of birth"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("slug", "overrides", "field", "message"), BAD_ADD, ids=[f"{b[0]}-{b[1]}" for b in BAD_ADD])
def test_bad_input_shows_the_error_and_writes_nothing(client, login, patient, slug, overrides, field, message):
    kind = KINDS[slug]
    # An active DVT already on the chart, for the duplicate risk factor row.
    RiskFactorFactory(patient=patient, kind="venous_thrombosis")
    before = {model: model.objects.count() for model in (BodyMeasurement, LabResult, Medication, RiskFactor)}
    history_before = kind.model.history.count()
    login("physician")
    response = client.post(_add_url(patient, slug), kind.add | overrides)
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert any(message in error for error in errors.get(field, [])), errors
    assert {model: model.objects.count() for model in before} == before
    assert kind.model.history.count() == history_before


# --- Edit


@pytest.mark.django_db
@pytest.mark.parametrize("slug", SLUGS)
def test_edit(client, login, patient, slug):
    kind = KINDS[slug]
    record = kind.factory(patient=patient)
    user = login(kind.roles_allowed("change")[0])
    response = client.post(_record_url("edit", patient, slug, record), kind.edit)
    assert response.status_code == 302
    assert response.url == _anchored(patient, slug)
    record.refresh_from_db()
    assert {name: getattr(record, name) for name in kind.edited} == kind.edited
    edited = record.history.order_by("history_id").last()
    assert (edited.history_type, edited.history_user, edited.history_change_reason) == ("~", user, "edited")


BAD_EDIT = [
    ("measurements", {"weight_kg": "0"}, "weight_kg"),
    ("measurements", {"measured_on": "2026-11-23"}, "measured_on"),
    ("labs", {"value": "-1"}, "value"),
    ("medications", {"started_on": "2026-11-21", "stopped_on": "2026-11-20"}, "stopped_on"),
    ("risk-factors", {"ended_on": "2024-02-29"}, "ended_on"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("slug", "overrides", "field"), BAD_EDIT, ids=[f"{b[0]}-{b[1]}" for b in BAD_EDIT])
def test_bad_edit_changes_nothing(client, login, patient, slug, overrides, field):
    kind = KINDS[slug]
    record = kind.factory(patient=patient)
    before, history_before = _stored(record), record.history.count()
    login("physician")
    response = client.post(_record_url("edit", patient, slug, record), kind.edit | overrides)
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert _stored(record) == before
    assert record.history.count() == history_before


# --- Delete


@pytest.mark.django_db
@pytest.mark.parametrize("slug", SLUGS)
@pytest.mark.parametrize("reason", ["", "   "])
def test_delete_needs_a_reason(client, login, patient, slug, reason):
    kind = KINDS[slug]
    record = kind.factory(patient=patient)
    login("physician")
    response = client.post(_record_url("delete", patient, slug, record), {"reason": reason})
    assert response.status_code == 200
    assert "reason" in response.context["form"].errors
    assert kind.model.objects.filter(pk=record.pk).exists()
    assert not record.history.filter(history_type="-").exists()


@pytest.mark.django_db
@pytest.mark.parametrize("slug", SLUGS)
def test_delete_with_a_reason_keeps_it_in_the_history(client, login, patient, slug):
    kind = KINDS[slug]
    record = kind.factory(patient=patient)
    user = login(kind.roles_allowed("delete")[0])
    url = _record_url("delete", patient, slug, record)
    assert client.get(url).status_code == 200
    response = client.post(url, {"reason": " entered for the wrong patient "})
    assert response.status_code == 302
    assert response.url == _anchored(patient, slug)
    assert not kind.model.objects.filter(pk=record.pk).exists()
    removed = kind.model.history.get(history_type="-")
    assert (removed.uuid, removed.history_user, removed.history_change_reason) == (
        record.uuid,
        user,
        "entered for the wrong patient",
    )


# --- Someone else's record, unknown kinds, wrong methods


@pytest.mark.django_db
@pytest.mark.parametrize("slug", SLUGS)
@pytest.mark.parametrize("action", ["edit", "delete"])
def test_another_patients_record_is_not_found(client, login, patient, slug, action):
    kind = KINDS[slug]
    theirs = kind.factory(patient=PatientFactory())
    before = _stored(theirs)
    login("physician")
    url = _record_url(action, patient, slug, theirs)
    assert client.get(url).status_code == 404
    assert client.post(url, kind.edit | {"reason": "wrong patient"}).status_code == 404
    assert _stored(theirs) == before


@pytest.mark.django_db
@pytest.mark.parametrize("slug", SLUGS)
def test_a_record_of_another_kind_is_not_found(client, login, patient, slug):
    other_slug = SLUGS[(SLUGS.index(slug) + 1) % len(SLUGS)]
    record = KINDS[other_slug].factory(patient=patient)
    login("physician")
    assert client.get(_record_url("edit", patient, slug, record)).status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize("action", ["add", "edit", "delete"])
def test_unknown_kind_404(client, login, patient, action):
    record = MeasurementFactory(patient=patient)
    login("physician")
    if action == "add":
        url = reverse("patients:record_add", kwargs={"patient_uuid": patient.uuid, "kind_slug": "vitals"})
    else:
        url = _record_url(action, patient, "vitals", record)
    assert client.get(url).status_code == 404
    assert client.post(url, {"reason": "x", **KINDS["measurements"].edit}).status_code == 404
    assert BodyMeasurement.objects.count() == 1


@pytest.mark.django_db
def test_unknown_patient_404(client, login):
    login("physician")
    url = reverse(
        "patients:record_add", kwargs={"patient_uuid": "00000000-0000-4000-8000-000000000000", "kind_slug": "labs"}
    )
    assert client.post(url, KINDS["labs"].add).status_code == 404
    assert not LabResult.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("slug", SLUGS)
@pytest.mark.parametrize("action", ["add", "edit", "delete"])
def test_wrong_method_405(client, login, patient, slug, action):
    record = KINDS[slug].factory(patient=patient)
    login("physician")
    url = _add_url(patient, slug) if action == "add" else _record_url(action, patient, slug, record)
    assert client.put(url).status_code == 405
    assert client.delete(url).status_code == 405
    assert KINDS[slug].model.objects.count() == 1
