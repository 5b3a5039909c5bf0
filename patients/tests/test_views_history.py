"""The audit trail page: who changed what on a patient's chart, when, and why."""

from datetime import date, datetime, timedelta
from decimal import Decimal
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse

from patients import services
from patients.models import BodyMeasurement

NOON = datetime(2026, 11, 22, 12, 0, tzinfo=ZoneInfo("America/New_York"))


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def clock():
    with time_machine.travel(NOON, tick=False) as traveller:
        yield traveller


class _Rows(HTMLParser):
    """The body rows of the page's table, each as its cell texts (rowspan cells only on an entry's first row)."""

    def __init__(self):
        super().__init__()
        self.rows, self._row, self._cell, self._in_body = [], None, None, False

    def handle_starttag(self, tag, attrs):
        if tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_body:
            self._row = []
        elif tag == "td" and self._row is not None:
            self._cell = []
        elif tag == "br" and self._cell is not None:
            self._cell.append(" ")

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def _rows(response) -> list[list[str]]:
    parser = _Rows()
    parser.feed(response.content.decode())
    return parser.rows


def _register(by, mrn: str, **fields):
    values = {
        "given_name": "Jane",
        "family_name": "Doe",
        "date_of_birth": date(1974, 2, 3),
        "sex_at_birth": "female",
        "diagnosis": "adult_dm",
        "antibodies": [],
        "iga_status": "normal",
    }
    return services.patient_create(by=by, mrn=mrn, **(values | fields))


@pytest.mark.django_db
def test_lists_every_change_newest_first_with_labels_and_reasons(client, make_user, clock):
    doctor = make_user("physician", username="dr.okafor")
    nurse = make_user("nurse", username="nurse.lind")

    patient = _register(doctor, "MRN-1")
    clock.shift(timedelta(minutes=2))
    weight = services.measurement_record(
        by=nurse, patient=patient, measured_on=date(2026, 11, 20), weight_kg=Decimal("70.0"), height_cm=Decimal("170.0")
    )
    clock.shift(timedelta(minutes=3))
    services.clinical_record_update(by=nurse, record=weight, weight_kg=Decimal("68.5"))
    clock.shift(timedelta(minutes=2))
    # Someone else's chart, changed in between: never shown on this one.
    other = _register(doctor, "MRN-2", family_name="Roe")
    services.measurement_record(by=nurse, patient=other, measured_on=date(2026, 11, 21), weight_kg=Decimal("99.0"))
    clock.shift(timedelta(minutes=3))
    services.patient_update(by=doctor, patient=patient, diagnosis="polymyositis", iga_status="deficient_anti_iga")
    clock.shift(timedelta(minutes=5))
    services.clinical_record_delete(by=doctor, record=weight, reason="entered for the wrong patient")

    client.force_login(make_user("viewer"))
    response = client.get(reverse("patients:history", kwargs={"patient_uuid": patient.uuid}))

    assert response.status_code == 200
    assert _rows(response) == [
        [
            "2026-11-22 12:15",
            "dr.okafor",
            "Body measurement: 68.5 kg / 170.0 cm on 2026-11-20",
            "deleted entered for the wrong patient",
            "record removed",
        ],
        [
            "2026-11-22 12:10",
            "dr.okafor",
            "Patient: Doe, Jane (MRN-1)",
            "changed edited",
            "Diagnosis",
            "Dermatomyositis (adult)",
            "Polymyositis",
        ],
        ["IgA status", "Normal", "IgA deficient with anti-IgA antibodies"],
        [
            "2026-11-22 12:05",
            "nurse.lind",
            "Body measurement: 68.5 kg / 170.0 cm on 2026-11-20",
            "changed edited",
            "Weight (kg)",
            "70.0",
            "68.5",
        ],
        [
            "2026-11-22 12:02",
            "nurse.lind",
            "Body measurement: 70.0 kg / 170.0 cm on 2026-11-20",
            "created",
            "Measured on",
            "",
            "2026-11-20",
        ],
        ["Weight (kg)", "", "70.0"],
        ["Height (cm)", "", "170.0"],
        ["2026-11-22 12:00", "dr.okafor", "Patient: Doe, Jane (MRN-1)", "created registered", "MRN", "", "MRN-1"],
        ["Given name", "", "Jane"],
        ["Family name", "", "Doe"],
        ["Date of birth", "", "1974-02-03"],
        ["Sex at birth", "", "Female"],
        ["Diagnosis", "", "Dermatomyositis (adult)"],
        ["IgA status", "", "Normal"],
    ]
    assert not BodyMeasurement.objects.filter(patient=patient).exists()


@pytest.mark.django_db
def test_antibody_changes_show_labels_not_codes(client, make_user, clock):
    doctor = make_user("physician")
    patient = _register(doctor, "MRN-1", antibodies=["tif1g"])
    clock.shift(timedelta(minutes=1))
    services.patient_update(by=doctor, patient=patient, antibodies=["tif1g", "nxp2"])
    client.force_login(doctor)
    rows = _rows(client.get(reverse("patients:history", kwargs={"patient_uuid": patient.uuid})))
    assert rows[0][4:] == ["Myositis antibodies (positive)", "Anti-TIF1γ", "Anti-TIF1γ, Anti-NXP2"]


@pytest.mark.django_db
def test_a_chart_without_history_says_so(client, make_user, patient):
    patient.history.all().delete()
    client.force_login(make_user("viewer"))
    response = client.get(reverse("patients:history", kwargs={"patient_uuid": patient.uuid}))
    assert _rows(response) == [["No changes recorded."]]


@pytest.mark.django_db
def test_unknown_patient_404(role_client):
    url = reverse("patients:history", kwargs={"patient_uuid": "00000000-0000-4000-8000-000000000000"})
    assert role_client("viewer").get(url).status_code == 404


@pytest.mark.django_db
def test_wrong_method_405(role_client, patient):
    url = reverse("patients:history", kwargs={"patient_uuid": patient.uuid})
    assert role_client("physician").post(url).status_code == 405


@pytest.mark.django_db
def test_a_corrected_lab_test_shows_its_unit_change_too(client, make_user, clock):
    # The unit is not a form field (it follows the test), yet the audit trail must show it changing.
    doctor = make_user("physician")
    patient = _register(doctor, "MRN-1")
    result = services.lab_result_record(
        by=doctor, patient=patient, test="creatinine", collected_on=date(2026, 11, 20), value=Decimal("1.1")
    )
    clock.shift(timedelta(minutes=1))
    services.clinical_record_update(by=doctor, record=result, test="haemoglobin", value=Decimal("11.5"))
    client.force_login(doctor)
    rows = _rows(client.get(reverse("patients:history", kwargs={"patient_uuid": patient.uuid})))
    assert rows[0][3:] == ["changed edited", "Test", "Creatinine", "Haemoglobin"]
    assert rows[1:3] == [["Value (in the test's unit)", "1.100", "11.500"], ["Unit", "mg/dL", "g/dL"]]
