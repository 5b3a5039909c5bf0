"""The patient page: everything a clinician checks before an infusion, read-only."""

import re
from datetime import date, datetime
from decimal import Decimal
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse

from dosing.tests.factories import verified
from patients.models import Patient
from patients.tests.factories import (
    LabResultFactory,
    MeasurementFactory,
    MedicationFactory,
    PatientFactory,
    RiskFactorFactory,
)
from scheduling.services.records import record_start
from scheduling.tests.factories import CHECK_ACCEPTED, local, make_session


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def frozen_today():
    with time_machine.travel(datetime(2026, 11, 22, 12, 0, tzinfo=ZoneInfo("America/New_York")), tick=False):
        yield


def _url(patient) -> str:
    return reverse("patients:detail", kwargs={"patient_uuid": patient.uuid})


class _Tables(HTMLParser):
    """Every <table> on the page as rows of (row classes, cell texts)."""

    def __init__(self):
        super().__init__()
        self.tables, self._row, self._cell = [], None, None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self._row = (dict(attrs).get("class") or "", [])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row[1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr":
            self.tables[-1].append(self._row)

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def _table(response, first_header: str) -> list[tuple[str, list[str]]]:
    """The body rows of the table whose first column heading is `first_header`."""
    parser = _Tables()
    parser.feed(response.content.decode())
    for rows in parser.tables:
        if rows[0][1][0] == first_header:
            return rows[1:]
    raise AssertionError(f"no table headed {first_header!r}")


def _text(response) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", response.content.decode()).split())


@pytest.mark.django_db
def test_shows_identity_age_diagnosis_and_immunology(role_client):
    patient = PatientFactory(
        mrn="MRN-4242",
        given_name="Ada",
        family_name="Okonkwo",
        date_of_birth=date(1970, 11, 23),  # 56 tomorrow
        sex_at_birth="female",
        diagnosis="other",
        diagnosis_other="Overlap myositis",
        diagnosis_date=date(2026, 3, 4),
        antibodies=["tif1g", "jo1", "other"],
        antibody_other="Anti-PM/Scl",
        iga_status="deficient",
        allergies="Penicillin",
    )
    response = role_client("viewer").get(_url(patient))
    assert response.status_code == 200
    text = _text(response)
    assert "<bdi>Okonkwo</bdi>, <bdi>Ada</bdi>" in response.content.decode()  # each name isolated
    assert "MRN MRN-4242 · born 1970-11-23 (55 years) · Female at birth" in text
    assert "Diagnosis Overlap myositis" in text
    assert "Date of diagnosis 2026-03-04" in text
    assert "Myositis antibodies Anti-TIF1γ, Anti-Jo-1 / antisynthetase, Anti-PM/Scl" in text
    assert "IgA status IgA deficient" in text
    assert "Other allergies Penicillin" in text
    assert "Immunoglobulin safety" not in text  # IgA deficiency alone is no contraindication


ANTI_IGA = "IgA deficient with anti-IgA antibodies"
HYPERSENSITIVITY = "History of severe hypersensitivity to human immunoglobulin"
CORN = "Corn allergy: Octagam contains maltose from corn"
PROLINE = "Hyperprolinaemia: Privigen contains L-proline and is contraindicated"
BANNER = [
    ({"iga_status": "deficient_anti_iga"}, {ANTI_IGA}),
    ({"hypersensitivity_to_immunoglobulin": True}, {HYPERSENSITIVITY}),
    ({"corn_allergy": True}, {CORN}),
    ({"hyperprolinaemia": True}, {PROLINE}),
    (
        {"iga_status": "deficient_anti_iga", "hypersensitivity_to_immunoglobulin": True, "corn_allergy": True},
        {ANTI_IGA, HYPERSENSITIVITY, CORN},
    ),
    ({"iga_status": "deficient"}, set()),
    ({"iga_status": "normal"}, set()),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("facts", "shown"), BANNER, ids=[str(row[0]) for row in BANNER])
def test_contraindication_banner(role_client, facts, shown):
    response = role_client("nurse").get(_url(PatientFactory(**facts)))
    banner = re.search(r'<div class="alert alert-danger" role="alert">(.*?)</div>', response.content.decode(), re.S)
    if not shown:
        assert banner is None
        return
    assert "Immunoglobulin safety" in banner.group(1)
    assert {message for message in (ANTI_IGA, HYPERSENSITIVITY, CORN, PROLINE) if message in banner.group(1)} == shown
    proline_row = re.search(r"<dt[^>]*>Hyperprolinaemia</dt><dd[^>]*>(yes|no)</dd>", response.content.decode())
    assert proline_row.group(1) == ("yes" if facts.get("hyperprolinaemia") else "no")


@pytest.mark.django_db
def test_current_weight_and_height_are_the_latest_measurement_having_each(role_client, patient):
    MeasurementFactory(patient=patient, measured_on=date(2026, 8, 1), weight_kg="90.0", height_cm="165.0")
    MeasurementFactory(patient=patient, measured_on=date(2026, 10, 1), weight_kg="70.0", height_cm="170.0")
    MeasurementFactory(patient=patient, measured_on=date(2026, 11, 1), weight_kg="68.5", height_cm=None)
    text = _text(role_client("viewer").get(_url(patient)))
    assert "Weight 68.5 kg measured 2026-11-01" in text
    assert "Height 170.0 cm measured 2026-10-01" in text


@pytest.mark.django_db
def test_missing_weight_is_flagged(role_client, patient):
    MeasurementFactory(patient=patient, weight_kg=None, height_cm="170.0")
    text = _text(role_client("viewer").get(_url(patient)))
    assert "Weight none recorded: dosing needs a weight" in text
    assert "Height 170.0 cm measured 2026-11-01" in text


@pytest.mark.django_db
def test_latest_lab_per_test_with_unit_uln_and_marker(role_client, patient):
    LabResultFactory(patient=patient, test="ck", collected_on=date(2026, 10, 1), value="5000", upper_limit_normal="200")
    LabResultFactory(patient=patient, test="ck", collected_on=date(2026, 11, 1), value="150", upper_limit_normal="200")
    LabResultFactory(
        patient=patient, test="creatinine", collected_on=date(2026, 10, 15), value="1.6", unit="mg/dL",
        upper_limit_normal="1.2",
    )  # fmt: skip
    LabResultFactory(
        patient=patient, test="egfr", collected_on=date(2026, 10, 15), value="42", unit="mL/min/1.73 m²",
        upper_limit_normal=None,
    )  # fmt: skip
    response = role_client("viewer").get(_url(patient))
    assert [cells for _, cells in _table(response, "Test")] == [
        ["CK", "150 U/L", "200 U/L", "2026-11-01", "2157-6"],
        ["Creatinine", "1.6 mg/dL above upper limit↑", "1.2 mg/dL", "2026-10-15", "2160-0"],
        ["eGFR", "42 mL/min/1.73 m²", "—", "2026-10-15", "98979-8"],
    ]
    # All results stay listed, newest first.
    assert [cells[:4] for _, cells in _table(response, "Collected")] == [
        ["2026-11-01", "CK", "150 U/L", "200 U/L"],
        ["2026-10-15", "Creatinine", "1.6 mg/dL", "1.2 mg/dL"],
        ["2026-10-15", "eGFR", "42 mL/min/1.73 m²", "—"],
        ["2026-10-01", "CK", "5000 U/L", "200 U/L"],
    ]


@pytest.mark.django_db
def test_medications_current_and_stopped(role_client, patient):
    MedicationFactory(patient=patient, name="Prednisone", daily_dose_mg=Decimal("20"), started_on=date(2026, 1, 5))
    MedicationFactory(
        patient=patient, category="immunosuppressant", name="Methotrexate", daily_dose_mg=None,
        started_on=date(2025, 1, 1), stopped_on=date(2026, 6, 1),
    )  # fmt: skip
    MedicationFactory(
        patient=patient, category="estrogen", name="Ethinylestradiol", daily_dose_mg=None,
        started_on=date(2026, 1, 1), stopped_on=date(2026, 12, 31),
    )  # fmt: skip
    rows = _table(role_client("viewer").get(_url(patient)), "Category")
    shown = {cells[1]: (cells[2], cells[3], cells[4], "text-secondary" in classes) for classes, cells in rows}
    assert shown == {
        "Prednisone": ("20 mg/day = 20.0 mg prednisone", "2026-01-05", "current", False),
        "Ethinylestradiol": ("—", "2026-01-01", "2026-12-31", False),  # planned stop still ahead
        "Methotrexate": ("—", "2025-01-01", "2026-06-01", True),
    }


@pytest.mark.django_db
def test_risk_factors_active_and_ended(role_client, patient):
    RiskFactorFactory(patient=patient, kind="venous_thrombosis", noted_on=date(2024, 3, 1), comment="Left femoral DVT")
    RiskFactorFactory(patient=patient, kind="immobilisation", noted_on=date(2025, 1, 1), ended_on=date(2025, 3, 1))
    rows = _table(role_client("viewer").get(_url(patient)), "Risk factor")
    shown = sorted((cells[:4], "text-secondary" in classes) for classes, cells in rows)
    assert shown == [
        (["History of venous thrombosis (DVT/PE)", "2024-03-01", "current", "Left femoral DVT"], False),
        (["Prolonged immobilisation", "2025-01-01", "2025-03-01", ""], True),
    ]


@pytest.mark.django_db
def test_current_risk_factors_and_medications_are_listed_first(role_client, patient):
    RiskFactorFactory(patient=patient, kind="venous_thrombosis", ended_on=date(2024, 6, 1))
    RiskFactorFactory(patient=patient, kind="smoking")
    RiskFactorFactory(patient=patient, kind="active_malignancy", ended_on=date(2025, 6, 1))
    RiskFactorFactory(patient=patient, kind="central_catheter")
    MedicationFactory(patient=patient, category="immunosuppressant", name="Azathioprine", stopped_on=date(2026, 1, 1))
    MedicationFactory(patient=patient, category="other", name="Omeprazole")
    MedicationFactory(patient=patient, category="anticoagulant", name="Apixaban")
    response = role_client("viewer").get(_url(patient))
    assert [cells[2] for _, cells in _table(response, "Risk factor")] == [
        "current",
        "current",
        "2024-06-01",
        "2025-06-01",
    ]
    assert [cells[1] for _, cells in _table(response, "Category")] == ["Apixaban", "Omeprazole", "Azathioprine"]


# role → the record kinds it may add from the patient page (forms or links), and whether it may edit details
QUICK_ADD = [
    ("physician", {"measurements", "labs", "medications", "risk-factors"}, True),
    ("nurse", {"measurements", "labs"}, False),
    ("pharmacist", {"medications"}, False),
    ("viewer", set(), False),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("role", "kinds", "edits"), QUICK_ADD, ids=[row[0] for row in QUICK_ADD])
def test_add_forms_and_links_only_for_roles_allowed_to_use_them(role_client, patient, role, kinds, edits):
    html = role_client(role).get(_url(patient)).content.decode()
    for kind in ("measurements", "labs", "medications", "risk-factors"):
        add_url = reverse("patients:record_add", kwargs={"patient_uuid": patient.uuid, "kind_slug": kind})
        assert (add_url in html) == (kind in kinds), kind
    assert (reverse("patients:edit", kwargs={"patient_uuid": patient.uuid}) in html) == edits
    assert ('name="weight_kg"' in html) == ("measurements" in kinds)
    assert ('name="test"' in html) == ("labs" in kinds)


@pytest.mark.django_db
def test_unknown_patient_404(role_client):
    assert role_client("viewer").get("/patients/00000000-0000-4000-8000-000000000000/").status_code == 404


@pytest.mark.django_db
def test_sequential_id_is_not_an_address(role_client, patient):
    assert role_client("viewer").get(f"/patients/{patient.pk}/").status_code == 404


@pytest.mark.django_db
def test_wrong_method_405(role_client, patient):
    assert role_client("physician").post(_url(patient)).status_code == 405


def _first_infusion(response) -> str:
    html = response.content.decode()
    match = re.search(r"<dt[^>]*>First IVIG infusion</dt>\s*<dd[^>]*>(.*?)</dd>", html, re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", match.group(1)).split())


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("recorded", "started", "shown"),
    [
        (None, None, "not recorded"),
        (None, date(2026, 8, 1), "2026-08-01 (16 weeks ago) derived from the first infusion given"),
        (date(2026, 7, 25), date(2026, 8, 1), "2026-07-25 (17 weeks ago)"),  # a recorded date wins
    ],
)
def test_weeks_on_ivig_count_from_week_0_marked_when_derived(
    role_client, make_user, make_order, dm_patient, recorded, started, shown
):
    Patient.objects.filter(pk=dm_patient.pk).update(ivig_started_on=recorded)
    if started:
        nurse = make_user("nurse")
        session = make_session(verified(make_order()), by=nurse, planned_start=local(9, day=started))
        record_start(
            **CHECK_ACCEPTED, by=nurse, session=session, started_at=local(9, 5, day=started), expected_version=1
        )
    text = _first_infusion(role_client("viewer").get(_url(dm_patient)))
    assert text.startswith(shown)
    assert ("derived" in text) is (recorded is None and started is not None)
