from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse

from patients.models import BodyMeasurement, Patient
from patients.tests.factories import PatientFactory

URL = reverse("patients:create")
TODAY = date(2026, 11, 22)


def valid_form(**overrides):
    data = {
        "mrn": "MRN-1001",
        "given_name": "Jane",
        "family_name": "Doe",
        "date_of_birth": "1974-02-03",
        "sex_at_birth": "female",
        "diagnosis": "adult_dm",
        "diagnosis_date": "2026-05-01",
        "antibodies": ["tif1g", "nxp2"],
        "iga_status": "normal",
        "weight_kg": "70.0",
        "height_cm": "170.0",
        "measured_on": "2026-11-20",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


@pytest.fixture(autouse=True)
def frozen_today():
    with time_machine.travel(datetime(2026, 11, 22, 12, 0, tzinfo=ZoneInfo("America/New_York")), tick=False):
        yield


@pytest.mark.django_db
def test_registers_patient_with_first_weight_and_height(role_client):
    client = role_client("physician")
    response = client.post(URL, valid_form())
    patient = Patient.objects.get(mrn="MRN-1001")
    assert response.status_code == 302
    assert response.url == reverse("patients:detail", kwargs={"patient_uuid": patient.uuid})
    assert patient.antibodies == ["tif1g", "nxp2"]
    measurement = patient.measurements.get()
    assert (measurement.weight_kg, measurement.height_cm, measurement.measured_on) == (70, 170, date(2026, 11, 20))
    history = patient.history.get()
    assert history.history_type == "+" and history.history_user.groups.get().name == "physician"
    assert history.history_change_reason == "registered"


@pytest.mark.django_db
def test_weight_optional_and_measured_on_defaults_to_today(role_client):
    role_client("physician").post(URL, valid_form(height_cm=None, measured_on=None))
    measurement = BodyMeasurement.objects.get()
    assert measurement.measured_on == TODAY and measurement.height_cm is None
    role_client("physician").post(URL, valid_form(mrn="MRN-2", weight_kg=None, height_cm=None))
    assert not Patient.objects.get(mrn="MRN-2").measurements.exists()


BAD_INPUT = [
    ("weight_kg", {"weight_kg": "0"}, "above 0 kg"),
    ("weight_kg", {"weight_kg": "-5"}, "above 0 kg"),
    ("weight_kg", {"weight_kg": "350.1"}, "at most 350 kg"),
    ("weight_kg", {"weight_kg": "seventy"}, "Enter a number"),
    ("height_cm", {"height_cm": "39.9"}, "between 40 cm and 250 cm"),
    ("height_cm", {"height_cm": "250.1"}, "between 40 cm and 250 cm"),
    ("date_of_birth", {"date_of_birth": "2026-11-23", "diagnosis_date": None}, "in the future"),
    ("date_of_birth", {"date_of_birth": "1880-01-01"}, "Enter a date from 1900-01-01"),
    ("date_of_birth", {"date_of_birth": "1901-01-01"}, "older than 120"),
    ("measured_on", {"measured_on": "2026-11-23"}, "in the future"),
    ("measured_on", {"measured_on": "1970-01-01"}, "before the patient's date of birth"),
    ("diagnosis_date", {"diagnosis_date": "1960-01-01"}, "before the date of birth"),
    ("diagnosis_other", {"diagnosis": "other"}, "Name the diagnosis"),
    ("antibody_other", {"antibodies": ["other"]}, "Name the other antibody"),
    ("antibodies", {"antibodies": ["xyz"]}, "not one of the available choices"),
    ("mrn", {"mrn": ""}, "This field is required"),
    ("sex_at_birth", {"sex_at_birth": "unknown"}, "not one of the available choices"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("field", "overrides", "message"), BAD_INPUT, ids=[f"{b[0]}-{b[1]}" for b in BAD_INPUT])
def test_bad_input_shows_message_at_field_and_writes_nothing(role_client, field, overrides, message):
    response = role_client("physician").post(URL, valid_form(**overrides))
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert field in errors, errors
    assert any(message in error for error in errors[field]), errors[field]
    assert Patient.objects.count() == 0
    assert BodyMeasurement.objects.count() == 0
    assert Patient.history.count() == 0


@pytest.mark.django_db
def test_duplicate_mrn_refused(role_client):
    PatientFactory(mrn="MRN-1001")
    response = role_client("physician").post(URL, valid_form())
    assert "mrn" in response.context["form"].errors
    assert Patient.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["nurse", "pharmacist", "viewer"])
def test_only_physicians_register(role_client, role):
    assert role_client(role).post(URL, valid_form()).status_code == 403
    assert Patient.objects.count() == 0


@pytest.mark.django_db
def test_wrong_method_405(role_client):
    assert role_client("physician").put(URL).status_code == 405
