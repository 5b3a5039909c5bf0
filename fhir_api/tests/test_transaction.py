"""POST /fhir (the base) with a transaction Bundle of Observation creates: all or nothing."""

from decimal import Decimal

import pytest

from fhir_api.exact_json import dumps
from patients.models import BodyMeasurement, LabResult
from patients.tests.factories import PatientFactory
from risk.models import RiskFlag

from .conftest import body, parsed
from .test_observation_create import MRN_SYSTEM, counts, observation

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def mrn_system(settings, frozen_today):
    settings.FHIR_MRN_SYSTEM = MRN_SYSTEM


@pytest.fixture
def auth(token_for):
    return {"HTTP_AUTHORIZATION": f"Bearer {token_for('nurse')}"}


def bundle(*resources, method="POST", url="Observation") -> dict:
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"resource": r, "request": {"method": method, "url": url}} for r in resources],
    }


def post(client, data, auth, path="/fhir"):
    data = data if isinstance(data, str) else dumps(data)
    return client.post(path, data=data, content_type="application/fhir+json", **auth)


def test_a_bundle_of_labs_and_a_weight_is_recorded_in_one_go(client, auth):
    patient = PatientFactory()
    response = post(
        client,
        bundle(
            observation(patient, "14682-9", "100", "umol/L"),
            observation(patient, "98979-8", "42", "mL/min/{1.73_m2}"),
            observation(patient, "29463-7", "154", "[lb_av]"),
        ),
        auth,
    )

    assert response.status_code == 200, response.content
    answer = body(response)
    assert answer["type"] == "transaction-response"
    parsed(response)
    statuses = [e["response"]["status"] for e in answer["entry"]]
    assert statuses == ["201 Created"] * 3
    labs = {lab.test: lab for lab in LabResult.objects.filter(patient=patient)}
    assert (labs["creatinine"].value, labs["egfr"].value) == (Decimal("1.131"), Decimal("42"))
    assert BodyMeasurement.objects.get(patient=patient).weight_kg == Decimal("69.9")
    assert answer["entry"][0]["response"]["location"] == f"Observation/{labs['creatinine'].uuid}"
    assert RiskFlag.objects.filter(patient=patient, code="renal_low_egfr").exists()


def test_the_base_with_a_slash_takes_it_too_and_a_duplicate_is_200(client, auth):
    patient = PatientFactory()
    first = post(client, bundle(observation(patient)), auth, path="/fhir/")
    again = post(client, bundle(observation(patient), observation(patient, on="2026-11-20")), auth)
    assert first.status_code == again.status_code == 200
    assert [e["response"]["status"] for e in body(again)["entry"]] == ["200 OK", "201 Created"]
    assert LabResult.objects.filter(patient=patient).count() == 2


def test_the_same_result_twice_in_one_bundle_is_written_once(client, auth):
    patient = PatientFactory()
    response = post(client, bundle(observation(patient), observation(patient)), auth)
    assert [e["response"]["status"] for e in body(response)["entry"]] == ["201 Created", "200 OK"]
    assert LabResult.objects.filter(patient=patient).count() == 1


@pytest.mark.parametrize(
    ("bad", "status", "code", "where"),
    [
        ({"valueQuantity": {"value": Decimal("0.1"), "system": "http://unitsofmeasure.org", "code": "mmol/L"}}, 422,
         "code-invalid", "Bundle.entry[1].resource.valueQuantity.code"),
        ({"subject": {"identifier": {"value": "NOBODY"}}}, 422, "not-found", "Bundle.entry[1].resource.subject"),
        ({"status": "amended-ish"}, 422, "business-rule", "Bundle.entry[1].resource.status"),
        ({"colour": "red"}, 400, "invalid", "Bundle.entry[1].resource.colour"),
        # Refused by the service (implausible), after entry 0 was written: rolled back.
        ({"valueQuantity": {"value": Decimal("40"), "system": "http://unitsofmeasure.org", "code": "mg/dL"}}, 422,
         "business-rule", "Bundle.entry[1].resource.valueQuantity.value"),
    ],
)  # fmt: skip
def test_one_bad_entry_refuses_the_whole_bundle_naming_it(client, auth, bad, status, code, where):
    patient = PatientFactory()
    response = post(client, bundle(observation(patient, "2157-6", "900", "U/L"), observation(patient) | bad), auth)

    assert response.status_code == status, response.content
    issue = body(response)["issue"][0]
    assert (issue["code"], issue["expression"]) == (code, [where])
    assert issue["diagnostics"].startswith("Bundle.entry[1]")
    assert counts() == (0, 0)
    assert not LabResult.history.exists()  # not even a history row of the rolled-back entry


@pytest.mark.parametrize(
    ("data", "status"),
    [
        ({"resourceType": "Bundle", "type": "batch", "entry": []}, 400),
        ({"resourceType": "Observation"}, 400),
        ("{", 400),
    ],
)
def test_only_a_transaction_bundle_is_taken(client, auth, data, status):
    assert post(client, data, auth).status_code == status


def test_entries_other_than_post_observation_are_refused(client, auth):
    patient = PatientFactory()
    for data in (bundle(observation(patient), method="PUT"), bundle(observation(patient), url="Patient")):
        response = post(client, data, auth)
        assert response.status_code == 422
        assert body(response)["issue"][0]["expression"] == ["Bundle.entry[0].request"]
    conditional = bundle(observation(patient))
    conditional["entry"][0]["request"]["ifNoneExist"] = "identifier=x"
    assert post(client, conditional, auth).status_code == 422
    assert counts() == (0, 0)


def test_too_many_entries_is_413_with_the_limit(client, auth, settings):
    patient = PatientFactory()
    response = post(client, bundle(*[observation(patient)] * 501), auth)
    assert response.status_code == 413
    assert "at most 500" in body(response)["issue"][0]["diagnostics"]
    assert counts() == (0, 0)


def test_a_read_only_token_and_a_viewer_are_403(client, token_for):
    patient = PatientFactory()
    for role, scope in (("nurse", "read-only"), ("viewer", "read-write")):
        response = post(
            client, bundle(observation(patient)), {"HTTP_AUTHORIZATION": f"Bearer {token_for(role, scope)}"}
        )
        assert response.status_code == 403
    assert counts() == (0, 0)


def test_a_get_at_the_base_serves_nothing(client, auth):
    assert client.get("/fhir", **auth).status_code == 404
    assert client.put("/fhir", data="{}", content_type="application/fhir+json", **auth).status_code == 405
