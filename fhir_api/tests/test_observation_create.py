"""POST /fhir/Observation: a lab result, weight or height in, through the page's service."""

from datetime import date
from decimal import Decimal

import pytest

from conftest import TODAY
from dosing.models import OrderStatus
from dosing.services.orders import dose_order_verify
from fhir_api.exact_json import dumps
from patients.labs import LAB_CATALOG
from patients.models import BodyMeasurement, LabResult
from patients.tests.factories import LabResultFactory, PatientFactory
from risk.models import RiskFlag

from .conftest import body

pytestmark = pytest.mark.django_db
MRN_SYSTEM = "https://ivig.example.org/fhir/sid/mrn"
UCUM = "http://unitsofmeasure.org"


@pytest.fixture(autouse=True)
def mrn_system(settings, frozen_today):
    settings.FHIR_MRN_SYSTEM = MRN_SYSTEM


@pytest.fixture
def nurse_token(token_for):
    return {"HTTP_AUTHORIZATION": f"Bearer {token_for('nurse')}"}


def observation(patient, loinc="2160-0", value="1.4", unit="mg/dL", on="2026-11-21", **extra) -> dict:
    resource = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
        "subject": {"identifier": {"system": MRN_SYSTEM, "value": patient.mrn}},
        "effectiveDateTime": on,
        "valueQuantity": {"value": Decimal(value), "unit": unit, "system": UCUM, "code": unit},
    }
    return resource | extra


def post(client, resource, auth, **headers):
    data = resource if isinstance(resource, str) else dumps(resource)
    return client.post("/fhir/Observation", data=data, content_type="application/fhir+json", **auth, **headers)


def counts():
    return LabResult.objects.count(), BodyMeasurement.objects.count()


def assert_refused(response, status, code, before, diagnostics=""):
    assert response.status_code == status, response.content
    issue = body(response)["issue"][0]
    assert body(response)["resourceType"] == "OperationOutcome"
    assert issue["code"] == code
    assert diagnostics in issue["diagnostics"]
    assert counts() == before


# --------------------------------------------------------------------------- accepted


# One posting per quantity the issue names (plus the rest of the catalog), in its stored unit.
LAB_CASES = [(test, d.loinc, "12.5", d.unit) for test, d in LAB_CATALOG.items()]


@pytest.mark.parametrize(("test", "loinc", "value", "unit"), LAB_CASES, ids=[c[0] for c in LAB_CASES])
def test_each_lab_of_the_catalog_is_recorded(client, nurse_token, test, loinc, value, unit):
    from fhir_api.terminology import ucum

    patient = PatientFactory()
    response = post(client, observation(patient, loinc, value, ucum(unit)), nurse_token)

    assert response.status_code == 201, response.content
    lab = LabResult.objects.get(patient=patient)
    assert (lab.test, lab.value, lab.collected_on, lab.unit) == (test, Decimal(value), date(2026, 11, 21), unit)
    assert response["Location"].endswith(f"/fhir/Observation/{lab.uuid}")
    assert body(response)["id"] == str(lab.uuid)
    assert body(response)["code"]["coding"][0]["code"] == loinc


@pytest.mark.parametrize(
    ("loinc", "value", "unit", "field", "stored", "suffix"),
    [
        ("29463-7", "72.5", "kg", "weight_kg", "72.5", "weight"),
        ("29463-7", "154", "[lb_av]", "weight_kg", "69.9", "weight"),
        ("3141-9", "70500", "g", "weight_kg", "70.5", "weight"),
        ("8302-2", "171", "cm", "height_cm", "171.0", "height"),
        ("8302-2", "67", "[in_i]", "height_cm", "170.2", "height"),
    ],
)
def test_weight_and_height_are_recorded_in_kg_and_cm(client, nurse_token, loinc, value, unit, field, stored, suffix):
    patient = PatientFactory()
    response = post(client, observation(patient, loinc, value, unit), nurse_token)

    assert response.status_code == 201, response.content
    m = BodyMeasurement.objects.get(patient=patient)
    assert getattr(m, field) == Decimal(stored)
    assert body(response)["id"] == f"{m.uuid}-{suffix}"
    assert body(response)["valueQuantity"]["value"] == Decimal(stored)


@pytest.mark.parametrize(
    ("loinc", "value", "unit", "test", "stored"),
    [
        ("14682-9", "100", "umol/L", "creatinine", "1.131"),
        ("2160-0", "88.42", "umol/L", "creatinine", "1.000"),
        ("718-7", "135", "g/L", "haemoglobin", "13.500"),
        ("4544-3", "0.42", "L/L", "haematocrit", "42.000"),
        ("2157-6", "3.5", "ukat/L", "ck", "210.000"),
        ("2571-8", "2", "mmol/L", "triglycerides", "177.140"),
        ("2458-8", "2.5", "g/L", "iga", "250.000"),
        ("62238-1", "58", "mL/min/{1.73_m2}", "egfr", "58.000"),
    ],
)
def test_convertible_units_are_converted_exactly(client, nurse_token, loinc, value, unit, test, stored):
    patient = PatientFactory()
    assert post(client, observation(patient, loinc, value, unit), nurse_token).status_code == 201
    lab = LabResult.objects.get(patient=patient)
    assert (lab.test, lab.value) == (test, Decimal(stored))


def test_the_reference_range_high_is_the_upper_limit_of_normal_in_our_unit(client, nurse_token):
    patient = PatientFactory()
    high = {"value": Decimal("106"), "unit": "umol/L", "system": UCUM, "code": "umol/L"}
    resource = observation(patient, "14682-9", "120", "umol/L", referenceRange=[{"high": high}])
    assert post(client, resource, nurse_token).status_code == 201
    assert LabResult.objects.get(patient=patient).upper_limit_normal == Decimal("1.199")  # 106 / 88.42


def test_without_a_reference_range_the_site_default_applies_as_on_the_page(client, nurse_token):
    patient = PatientFactory()
    assert post(client, observation(patient, "2157-6", "900", "U/L"), nurse_token).status_code == 201
    assert LabResult.objects.get(patient=patient).upper_limit_normal == Decimal("200")


def test_the_patient_may_be_named_by_reference_and_a_time_counts_on_the_clinic_day(client, nurse_token):
    patient = PatientFactory()
    resource = observation(patient, effectiveDateTime="2026-11-21T02:30:00Z")  # 21:30 on the 20th in New York
    resource["subject"] = {"reference": f"Patient/{patient.uuid}"}
    assert post(client, resource, nurse_token).status_code == 201
    assert LabResult.objects.get(patient=patient).collected_on == date(2026, 11, 20)


def test_a_duplicate_is_not_written_twice(client, nurse_token):
    patient = PatientFactory()
    first = post(client, observation(patient, "14682-9", "100", "umol/L"), nurse_token)
    again = post(client, observation(patient, "2160-0", "1.131", "mg/dL"), nurse_token)  # the same, in our unit

    assert (first.status_code, again.status_code) == (201, 200)
    assert LabResult.objects.filter(patient=patient).count() == 1
    assert body(again)["id"] == body(first)["id"]
    other_day = post(client, observation(patient, "2160-0", "1.131", "mg/dL", on="2026-11-20"), nurse_token)
    assert other_day.status_code == 201


def test_a_duplicate_weight_is_not_written_twice(client, nurse_token):
    patient = PatientFactory()
    assert post(client, observation(patient, "29463-7", "70", "kg"), nurse_token).status_code == 201
    assert post(client, observation(patient, "29463-7", "70.0", "kg"), nurse_token).status_code == 200
    assert BodyMeasurement.objects.filter(patient=patient).count() == 1


def test_the_history_names_the_tokens_user_and_fhir(client, make_user):
    from accounts.services import api_token_create

    nurse = make_user("nurse")
    secret = api_token_create(by=nurse, name="Lab interface")[1]
    patient = PatientFactory()
    post(client, observation(patient), {"HTTP_AUTHORIZATION": f"Bearer {secret}"})
    entry = LabResult.objects.get(patient=patient).history.get()
    assert entry.history_user == nurse
    assert entry.history_change_reason == "received through FHIR (token 'Lab interface')"


# --------------------------------------------------------------------------- the chart reacts as to the page


def test_a_low_egfr_raises_the_renal_flag_as_the_page_would(client, nurse_token):
    patient = PatientFactory()
    assert not RiskFlag.objects.filter(patient=patient, code="renal_low_egfr").exists()
    assert post(client, observation(patient, "98979-8", "42", "mL/min/{1.73_m2}"), nurse_token).status_code == 201
    flag = RiskFlag.objects.get(patient=patient, code="renal_low_egfr")
    assert "eGFR 42" in flag.evidence


def test_a_weight_change_of_ten_percent_sends_a_verified_order_back(
    client, nurse_token, make_order, make_user, dm_patient
):
    order = make_order()
    dose_order_verify(by=make_user("pharmacist"), order=order)
    response = post(client, observation(dm_patient, "29463-7", "77", "kg", on=TODAY.isoformat()), nurse_token)
    assert response.status_code == 201
    order.refresh_from_db()
    assert order.status == OrderStatus.REVERIFY
    assert "Weight changed from 70.0 kg to" in order.status_reason


def test_a_posted_lab_shows_on_the_patient_page(client, nurse_token, make_user):
    patient = PatientFactory()
    post(client, observation(patient, "14682-9", "100", "umol/L"), nurse_token)
    client.force_login(make_user("viewer"))
    page = client.get(patient.get_absolute_url())
    assert page.status_code == 200
    assert "1.131" in page.content.decode()


# --------------------------------------------------------------------------- refused, nothing written


def test_an_unknown_patient_is_422_and_nothing_is_written(client, nurse_token):
    before = counts()
    ghost = PatientFactory.build(mrn="NOBODY")
    assert_refused(post(client, observation(ghost), nurse_token), 422, "not-found", before, "'NOBODY'")
    resource = observation(ghost)
    resource["subject"] = {"reference": "Patient/6f1c5f7e-0000-4000-8000-000000000000"}
    assert_refused(post(client, resource, nurse_token), 422, "not-found", before)


def test_an_mrn_of_another_system_is_not_ours(client, nurse_token):
    patient = PatientFactory()
    resource = observation(patient)
    resource["subject"]["identifier"]["system"] = "urn:oid:1.2.3"
    assert_refused(post(client, resource, nurse_token), 422, "not-found", counts())


def test_a_unit_that_cannot_be_converted_is_422_naming_it(client, nurse_token):
    patient = PatientFactory()
    response = post(client, observation(patient, "2160-0", "0.1", "mmol/L"), nurse_token)
    assert_refused(response, 422, "code-invalid", counts(), "'mmol/L'")
    assert body(response)["issue"][0]["expression"] == ["Observation.valueQuantity.code"]


def test_an_unknown_code_is_422(client, nurse_token):
    patient = PatientFactory()
    assert_refused(
        post(client, observation(patient, "2345-7", "5", "mmol/L"), nurse_token), 422, "code-invalid", counts()
    )


def test_the_page_services_refusal_names_the_element(client, nurse_token):
    patient = PatientFactory()
    response = post(client, observation(patient, value="40"), nurse_token)
    issue = body(response)["issue"][0]
    assert (response.status_code, issue["expression"]) == (422, ["Observation.valueQuantity.value"])
    assert "above the highest plausible" in issue["diagnostics"]


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"status": "preliminary"}, 422, "business-rule"),
        ({"effectiveDateTime": None}, 422, "required"),
        ({"effectiveDateTime": "2026-11"}, 422, "invalid"),
        ({"effectiveDateTime": "2026-12-25"}, 422, "business-rule"),  # in the future
        (
            {
                "valueQuantity": {
                    "value": Decimal(">90".strip(">")),
                    "comparator": ">",
                    "system": UCUM,
                    "code": "mL/min/{1.73_m2}",
                }
            },
            422,
            "business-rule",
        ),
        ({"valueQuantity": {"value": Decimal("1.4"), "unit": "mg/dL"}}, 422, "required"),  # no UCUM code
        (
            {"valueQuantity": {"value": Decimal("40"), "system": UCUM, "code": "mg/dL"}},
            422,
            "business-rule",
        ),  # implausible
        ({"subject": None}, 422, "required"),
    ],
)
def test_a_result_that_cannot_be_recorded_is_refused(client, nurse_token, change, status, code):
    patient = PatientFactory()
    resource = {k: v for k, v in (observation(patient) | change).items() if v is not None}
    assert_refused(post(client, resource, nurse_token), status, code, counts())


@pytest.mark.parametrize(
    ("data", "where"),
    [
        ('{"resourceType": "Observation", "code": {"text": "x"}}', "Observation.status"),
        ('{"resourceType": "Observation", "status": "final", "code": {}, "colour": "red"}', "Observation.colour"),
        (
            '{"resourceType": "Observation", "status": "final", "code": {}, "effectiveDateTime": "21/11/2026"}',
            "Observation.effectiveDateTime",
        ),
    ],
)
def test_invalid_fhir_is_400_with_where(client, nurse_token, data, where):
    response = post(client, data, nurse_token)
    assert_refused(response, 400, "invalid", counts(), where)
    assert body(response)["issue"][0]["expression"] == [where]


@pytest.mark.parametrize("data", ["not json", "[1]", '{"value": NaN}', '{"resourceType": "Patient"}'])
def test_a_body_that_is_not_an_observation_is_400(client, nurse_token, data):
    assert post(client, data, nurse_token).status_code == 400
    assert counts() == (0, 0)


def test_a_form_post_is_415(client, nurse_token):
    response = client.post("/fhir/Observation", {"a": "b"}, **nurse_token)
    assert_refused(response, 415, "not-supported", counts())


def test_a_body_too_large_is_413(client, nurse_token):
    response = post(client, " " * 2_000_001 + "{}", nurse_token)
    assert_refused(response, 413, "too-costly", counts())


# --------------------------------------------------------------------------- who may


def test_a_read_only_token_is_403(client, token_for):
    patient = PatientFactory()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token_for('nurse', scope='read-only')}"}
    assert_refused(post(client, observation(patient), auth), 403, "forbidden", counts())


@pytest.mark.parametrize("role", ["viewer", "pharmacist"])
def test_a_role_without_the_permission_is_403(client, token_for, role):
    patient = PatientFactory()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token_for(role)}"}
    assert_refused(post(client, observation(patient), auth), 403, "forbidden", counts())


def test_a_viewer_session_is_403(client, make_user):
    client.force_login(make_user("viewer"))
    assert_refused(post(client, observation(PatientFactory()), {}), 403, "forbidden", counts())


def test_a_physician_session_may_post(client, make_user):
    client.force_login(make_user("physician"))
    assert post(client, observation(PatientFactory()), {}).status_code == 201


def test_other_types_stay_read_only(client, nurse_token):
    response = client.post("/fhir/Patient", data="{}", content_type="application/fhir+json", **nurse_token)
    assert response.status_code == 405 and response["Allow"] == "GET, HEAD"
    response = client.put(
        f"/fhir/Observation/{LabResultFactory().uuid}", data="{}", content_type="application/fhir+json", **nurse_token
    )
    assert response.status_code == 405
