"""Observation read and search: weights, heights, labs, a visit's core set measures and its TIS."""

from datetime import date
from decimal import Decimal

import pytest
from django.test import override_settings

from fhir_api.resources import FHIR_ID
from fhir_api.terminology import ucum
from patients.labs import LAB_CATALOG
from patients.tests.factories import LabResultFactory, MeasurementFactory, PatientFactory
from visits.tests.factories import treated_patient

from .conftest import body, parsed

pytestmark = pytest.mark.django_db
CANONICAL = "https://ivig.example.org/fhir"
LOCAL = f"{CANONICAL}/CodeSystem/ivig-clinic-measures"


@pytest.fixture(autouse=True)
def canonical_base(settings):
    settings.FHIR_CANONICAL_BASE = CANONICAL


def search(client, patient, **params):
    return client.get("/fhir/Observation", {"patient": f"Patient/{patient.uuid}", **params})


def ids(response) -> list[str]:
    return [entry["resource"]["id"] for entry in body(response).get("entry", [])]


# --------------------------------------------------------------------------- worked examples


def test_a_weight_of_70_kg_is_a_body_weight_observation(reader):
    m = MeasurementFactory(measured_on=date(2026, 11, 1), weight_kg=Decimal("70.0"), height_cm=None)

    response = reader.get(f"/fhir/Observation/{m.uuid}-weight")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/fhir+json; fhirVersion=4.0"
    assert b'"valueQuantity":{"value":70.0,"unit":"kg","system":"http://unitsofmeasure.org","code":"kg"}' in (
        response.content
    )
    obs = body(response)
    assert obs["code"]["coding"] == [{"system": "http://loinc.org", "code": "29463-7", "display": "Body weight"}]
    assert obs["category"][0]["coding"][0]["code"] == "vital-signs"
    assert obs["subject"] == {"reference": f"Patient/{m.patient.uuid}"}
    assert obs["effectiveDateTime"] == "2026-11-01"
    assert parsed(response).valueQuantity.value == Decimal("70.0")
    assert reader.get(f"/fhir/Observation/{m.uuid}-height").status_code == 404  # no height measured


def test_a_height_is_a_body_height_observation_in_cm(reader):
    m = MeasurementFactory(weight_kg=Decimal("70.0"), height_cm=Decimal("170.5"))
    obs = body(reader.get(f"/fhir/Observation/{m.uuid}-height"))
    assert obs["code"]["coding"][0]["code"] == "8302-2"
    assert obs["valueQuantity"] == {
        "value": Decimal("170.5"),
        "unit": "cm",
        "system": "http://unitsofmeasure.org",
        "code": "cm",
    }


def test_a_creatinine_of_1_2_is_loinc_2160_0_in_mg_per_dl_and_stays_1_2(reader):
    lab = LabResultFactory(
        test="creatinine",
        value=Decimal("1.2"),
        unit="mg/dL",
        upper_limit_normal=Decimal("1.2"),
        collected_on=date(2026, 10, 3),
    )

    response = reader.get(f"/fhir/Observation/{lab.uuid}")

    assert response.status_code == 200
    obs = body(response)
    assert obs["id"] == str(lab.uuid)
    assert obs["code"]["coding"][0] == {"system": "http://loinc.org", "code": "2160-0", "display": "Creatinine"}
    assert obs["valueQuantity"]["code"] == "mg/dL"
    assert b'"value":1.2,' in response.content  # stored as 1.200; sent as entered, never as a float
    assert obs["referenceRange"] == [
        {"high": {"value": Decimal("1.2"), "unit": "mg/dL", "system": "http://unitsofmeasure.org", "code": "mg/dL"}}
    ]
    assert obs["category"][0]["coding"][0]["code"] == "laboratory"
    assert parsed(response).valueQuantity.value == Decimal("1.2")


@pytest.mark.parametrize(
    ("test", "unit", "loinc", "ucum"),
    [
        ("egfr", "mL/min/1.73 m²", "98979-8", "mL/min/{1.73_m2}"),
        ("platelets", "×10⁹/L", "777-3", "10*9/L"),
        ("haematocrit", "%", "4544-3", "%"),
        ("ck", "U/L", "2157-6", "U/L"),
    ],
)
def test_each_lab_goes_out_with_its_loinc_and_ucum_unit(reader, test, unit, loinc, ucum):
    lab = LabResultFactory(test=test, value=Decimal("41.5"), unit=unit, upper_limit_normal=None)
    obs = body(reader.get(f"/fhir/Observation/{lab.uuid}"))
    assert obs["code"]["coding"][0]["code"] == loinc
    assert obs["valueQuantity"] == {
        "value": Decimal("41.5"),
        "unit": unit,
        "system": "http://unitsofmeasure.org",
        "code": ucum,
    }
    assert "referenceRange" not in obs


@pytest.fixture
def treated(physician):
    # tis.md's worked example: baseline 5 Jan 2026, week 16 on 4 May 2026, TIS 35 (minimal).
    return treated_patient(by=physician, today=date(2026, 6, 1))


def test_a_visit_with_a_tis_gives_the_tis_observation_with_its_category(reader, treated):
    week16 = treated.visits.get(visit_date=date(2026, 5, 4))

    response = reader.get(f"/fhir/Observation/{week16.uuid}-tis")

    assert response.status_code == 200
    obs = body(response)
    assert obs["code"]["coding"] == [
        {"system": LOCAL, "code": "total-improvement-score", "display": "Total Improvement Score (TIS)"}
    ]
    assert obs["valueQuantity"] == {
        "value": Decimal("35.0"),
        "unit": "{score}",
        "system": "http://unitsofmeasure.org",
        "code": "{score}",
    }
    assert obs["component"][0]["code"]["coding"][0]["code"] == "improvement-category"
    assert obs["component"][0]["valueCodeableConcept"]["coding"][0] == {
        "system": LOCAL,
        "code": "improvement-minimal",
        "display": "Minimal improvement",
    }
    assert "2026-01-05" in obs["note"][0]["text"]
    parsed(response)


def test_the_baseline_visit_has_its_measures_but_no_tis(reader, treated):
    baseline = treated.visits.get(visit_date=date(2026, 1, 5))
    assert reader.get(f"/fhir/Observation/{baseline.uuid}-tis").status_code == 404
    found = ids(search(reader, treated, date="2026-01-05"))
    assert sorted(found) == sorted(
        f"{baseline.uuid}-{code}"
        for code in (
            "physician-global",
            "patient-global",
            "muscle-strength",
            "physical-function",
            "extramuscular-global",
            "ck",
        )
    )


def test_a_visits_core_set_measures(reader, treated):
    week16 = treated.visits.get(visit_date=date(2026, 5, 4))
    response = search(reader, treated, date="2026-05-04", _count="20")
    by_id = {e["resource"]["id"]: e["resource"] for e in body(response)["entry"]}

    assert len(by_id) == 7  # five scalar measures, the CK, the TIS
    strength = by_id[f"{week16.uuid}-muscle-strength"]
    assert strength["valueQuantity"]["value"] == Decimal("68.0")
    assert strength["method"]["coding"][0]["code"] == "mmt8-80"
    assert {"system": LOCAL, "code": "core-set-measure", "display": "Myositis core set measure"} in (
        strength["category"][1]["coding"]
    )
    haq = by_id[f"{week16.uuid}-physical-function"]
    assert haq["valueQuantity"]["value"] == Decimal("1.050")
    assert haq["method"]["coding"][0]["code"] == "haq-di"
    ck = by_id[f"{week16.uuid}-ck"]
    assert ck["code"]["coding"][0]["code"] == "2157-6"
    assert ck["valueQuantity"]["value"] == Decimal("2550")
    assert ck["referenceRange"][0]["high"]["value"] == Decimal("200")
    parsed(response)


def test_an_incomplete_tis_says_what_is_missing(reader, physician):
    patient = treated_patient(by=physician, today=date(2026, 6, 1))
    patient.visits.filter(visit_date=date(2026, 5, 4)).update(haq_score=None)
    week16 = patient.visits.get(visit_date=date(2026, 5, 4))

    response = reader.get(f"/fhir/Observation/{week16.uuid}-tis")

    obs = body(response)
    assert "valueQuantity" not in obs
    assert obs["dataAbsentReason"]["text"] == "Missing: haq"
    assert obs["component"][0]["valueCodeableConcept"]["coding"][0]["code"] == "improvement-incomplete"
    parsed(response)


# --------------------------------------------------------------------------- search


@pytest.fixture
def five_labs(patient):
    return [
        LabResultFactory(
            patient=patient,
            test="creatinine",
            value=Decimal("1.0") + n / Decimal(10),
            unit="mg/dL",
            collected_on=date(2026, 1, 1 + n),
        )
        for n in range(5)
    ]


def test_count_2_over_5_results_walks_all_5_by_next_links_without_duplicates(reader, patient, five_labs):
    response = search(reader, patient, _count="2")
    seen, pages = [], 0
    while True:
        pages += 1
        bundle = body(response)
        assert bundle["type"] == "searchset"
        assert bundle["total"] == 5
        parsed(response)
        seen += ids(response)
        following = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        if not following:
            break
        response = reader.get(following[0])
    assert pages == 3
    assert seen == [str(lab.uuid) for lab in five_labs]  # oldest first, each once


def test_count_0_gives_the_total_only(reader, patient, five_labs):
    bundle = body(search(reader, patient, _count="0"))
    assert bundle["total"] == 5
    assert "entry" not in bundle


def test_date_ge_and_le_bound_the_results(reader, patient, five_labs):
    response = reader.get(f"/fhir/Observation?patient={patient.uuid}&date=ge2026-01-02&date=le2026-01-04")
    assert ids(response) == [str(lab.uuid) for lab in five_labs[1:4]]
    assert ids(search(reader, patient, date="2026-01-03")) == [str(five_labs[2].uuid)]
    assert ids(search(reader, patient, date="gt2026-01-04")) == [str(five_labs[4].uuid)]
    assert ids(search(reader, patient, date="lt2026-01-02")) == [str(five_labs[0].uuid)]


def test_code_filters_by_loinc_with_or_without_the_system(reader, patient):
    weight = MeasurementFactory(patient=patient, height_cm=None)
    lab = LabResultFactory(patient=patient, test="creatinine", value=Decimal("0.9"), unit="mg/dL")
    assert ids(search(reader, patient, code="http://loinc.org|29463-7")) == [f"{weight.uuid}-weight"]
    assert ids(search(reader, patient, code="2160-0")) == [str(lab.uuid)]
    assert sorted(ids(search(reader, patient, code="2160-0,29463-7"))) == sorted(
        [str(lab.uuid), f"{weight.uuid}-weight"]
    )
    assert ids(search(reader, patient, code="http://snomed.info/sct|2160-0")) == []


def test_another_patients_observations_are_not_found(reader, patient, five_labs):
    other = PatientFactory()
    LabResultFactory(patient=other)
    assert len(ids(search(reader, patient))) == 5
    assert len(ids(search(reader, other))) == 1


def test_an_unknown_patient_has_no_observations(reader):
    bundle = body(reader.get("/fhir/Observation?patient=Patient/6f1c2a44-0000-4000-8000-000000000000"))
    assert bundle["total"] == 0


def test_search_by_patient_id_alone(reader, patient, five_labs):
    assert len(ids(reader.get(f"/fhir/Observation?patient={patient.uuid}"))) == 5


@override_settings(SITE_URL="https://ivig.example.org")
def test_links_point_at_the_site(reader, patient, five_labs):
    bundle = body(search(reader, patient, _count="2"))
    assert bundle["link"][1]["url"].startswith("https://ivig.example.org/fhir/Observation?")
    assert bundle["entry"][0]["fullUrl"] == f"https://ivig.example.org/fhir/Observation/{five_labs[0].uuid}"


def test_read_equals_the_search_entry_and_every_id_is_a_fhir_id(reader, treated):
    for entry in body(search(reader, treated, _count="100"))["entry"]:
        assert FHIR_ID.fullmatch(entry["resource"]["id"])
        assert body(reader.get(f"/fhir/Observation/{entry['resource']['id']}")) == entry["resource"]


@pytest.mark.parametrize("test", sorted(LAB_CATALOG))
def test_every_lab_of_the_catalog_is_a_valid_observation_under_its_loinc(reader, patient, test):
    definition = LAB_CATALOG[test]
    lab = LabResultFactory(
        patient=patient,
        test=test,
        value=Decimal("1.5"),
        unit=definition.unit,
        upper_limit_normal=definition.default_uln,
    )
    response = reader.get(f"/fhir/Observation/{lab.uuid}")
    observation = parsed(response)
    assert observation.code.coding[0].code == definition.loinc
    assert observation.valueQuantity.value == Decimal("1.5")
    assert observation.valueQuantity.code == ucum(definition.unit)
