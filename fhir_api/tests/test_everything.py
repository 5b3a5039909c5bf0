"""GET /fhir/Patient/{id}/$everything: the patient's compartment, Patient first, paged like search."""

from datetime import date
from decimal import Decimal

import pytest

from fhir_api import compartment
from fhir_api.resources import MODELS
from patients.tests.factories import LabResultFactory, MeasurementFactory, PatientFactory

from .conftest import body, parsed

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_patients():
    """Ann with a weight, a height and a creatinine; Bob with a creatinine of his own."""
    ann, bob = PatientFactory(family_name="Ann"), PatientFactory(family_name="Bob")
    MeasurementFactory(patient=ann, measured_on=date(2026, 11, 1), weight_kg=Decimal("70.0"), height_cm=Decimal("170"))
    LabResultFactory(patient=ann, test="creatinine", value=Decimal("0.90"), collected_on=date(2026, 11, 2))
    LabResultFactory(patient=bob, test="creatinine", value=Decimal("1.10"), collected_on=date(2026, 11, 2))
    return ann, bob


def everything(client, patient, **params):
    return client.get(f"/fhir/Patient/{patient.uuid}/$everything", params)


def entries(response) -> list[dict]:
    return [entry["resource"] for entry in body(response).get("entry", [])]


def walk_pages(client, response) -> list[dict]:
    """Every resource of every page, following the next links."""
    found = entries(response)
    while nxt := next((link["url"] for link in body(response)["link"] if link["relation"] == "next"), None):
        response = client.get(nxt.removeprefix("http://testserver"))
        assert response.status_code == 200
        found += entries(response)
    return found


def test_returns_exactly_the_patients_resources_patient_first(reader, two_patients):
    ann, bob = two_patients

    response = everything(reader, ann, _count=100)

    assert response.status_code == 200
    bundle = parsed(response)
    assert bundle.type == "searchset"
    found = entries(response)
    expected = [r for build in compartment.BUILDERS.values() for r in build(ann)]
    assert found[0] == {**found[0], "resourceType": "Patient", "id": str(ann.uuid)}
    assert [(r["resourceType"], r["id"]) for r in found] == [(r["resourceType"], r["id"]) for r in expected]
    assert body(response)["total"] == len(expected)
    # Ann's weight, height and creatinine, none of Bob's.
    observations = [r for r in found if r["resourceType"] == "Observation"]
    assert len(observations) == 3
    assert {r["subject"]["reference"] for r in observations} == {f"Patient/{ann.uuid}"}
    assert str(bob.uuid) not in response.content.decode()
    for entry in body(response)["entry"]:
        assert (
            entry["fullUrl"] == f"http://testserver/fhir/{entry['resource']['resourceType']}/{entry['resource']['id']}"
        )
        MODELS[entry["resource"]["resourceType"]].model_validate(entry["resource"])


def test_pages_follow_next_links_to_the_same_resources(reader, two_patients):
    ann, _ = two_patients
    whole = entries(everything(reader, ann, _count=100))

    first = everything(reader, ann, _count=2)

    assert len(entries(first)) == 2
    assert body(first)["total"] == len(whole) > 2
    next_url = next(link["url"] for link in body(first)["link"] if link["relation"] == "next")
    assert f"/fhir/Patient/{ann.uuid}/$everything?" in next_url and "_offset=2" in next_url
    assert walk_pages(reader, first) == whole


def test_type_filters_the_compartment(reader, two_patients):
    ann, _ = two_patients

    response = everything(reader, ann, _type="Observation")

    assert {r["resourceType"] for r in entries(response)} == {"Observation"}
    patient_only = entries(everything(reader, ann, _type="Patient"))
    assert [r["id"] for r in patient_only] == [str(ann.uuid)]


@pytest.mark.parametrize(
    ("params", "param"),
    [({"_type": "Encounter"}, "_type"), ({"_type": ""}, "_type"), ({"start": "2026-01-01"}, "start")],
)
def test_a_bad_or_unsupported_parameter_is_400(reader, two_patients, params, param):
    response = everything(reader, two_patients[0], **params)
    assert response.status_code == 400
    assert body(response)["issue"][0]["diagnostics"].startswith(f"{param}:")
    parsed(response)


@pytest.mark.parametrize("resource_id", ["0b6f1c2e-8d4a-4f3b-9a51-2c7d9e0f1a3b", "not-a-uuid"])
def test_an_unknown_patient_is_404(reader, resource_id):
    response = reader.get(f"/fhir/Patient/{resource_id}/$everything")
    assert response.status_code == 404
    assert body(response)["issue"][0]["code"] == "not-found"
    parsed(response)


def test_a_read_only_token_may_ask_and_no_login_is_401(client, token_for, two_patients):
    path = f"/fhir/Patient/{two_patients[0].uuid}/$everything"
    assert client.get(path, HTTP_AUTHORIZATION=f"Bearer {token_for(scope='read-only')}").status_code == 200
    assert client.get(path).status_code == 401
    assert client.post(path, HTTP_AUTHORIZATION=f"Bearer {token_for()}").status_code == 405


def test_the_capability_statement_declares_the_operations(reader):
    statement = body(reader.get("/fhir/metadata"))
    rest = statement["rest"][0]
    patient = next(r for r in rest["resource"] if r["type"] == "Patient")
    assert {op["name"]: op["definition"] for op in patient["operation"]} == {
        "everything": "http://hl7.org/fhir/OperationDefinition/Patient-everything",
        "export": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export",
    }
    assert [(op["name"], op["definition"]) for op in rest["operation"]] == [
        ("export", "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export")
    ]
    assert statement["instantiates"] == ["http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data"]
