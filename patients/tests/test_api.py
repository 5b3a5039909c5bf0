"""The read-only JSON API under /api/v1/, authenticated by the browser session."""

from datetime import date
from decimal import Decimal

import pytest

from patients.tests.factories import MeasurementFactory, PatientFactory

LIST_URL = "/api/v1/patients"
UNKNOWN_UUID = "00000000-0000-4000-8000-000000000000"


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def okonkwo(db):
    patient = PatientFactory(mrn="MRN-777", given_name="Ada", family_name="Okonkwo", antibodies=["tif1g", "mda5"])
    MeasurementFactory(patient=patient, measured_on=date(2026, 10, 1), weight_kg="71.5", height_cm="170.0")
    MeasurementFactory(patient=patient, measured_on=date(2026, 11, 1), weight_kg="70.2", height_cm=None)
    return patient


def _number(value) -> Decimal:
    assert isinstance(value, int | float | str), value
    return Decimal(str(value))


@pytest.mark.django_db
def test_list_with_current_weight_and_height(role_client, okonkwo):
    PatientFactory(mrn="X-1", family_name="Smith")
    response = role_client("viewer").get(LIST_URL)
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    item = next(item for item in body["items"] if item["mrn"] == "MRN-777")
    assert item["uuid"] == str(okonkwo.uuid)
    assert (item["family_name"], item["date_of_birth"], item["antibodies"]) == (
        "Okonkwo",
        "1970-05-17",
        ["tif1g", "mda5"],
    )
    assert (_number(item["current_weight_kg"]), item["current_weight_on"]) == (Decimal("70.2"), "2026-11-01")
    assert (_number(item["current_height_cm"]), item["current_height_on"]) == (Decimal("170.0"), "2026-10-01")
    smith = next(item for item in body["items"] if item["mrn"] == "X-1")
    assert smith["current_weight_kg"] is None and smith["current_height_cm"] is None


@pytest.mark.django_db
def test_list_is_paginated_25_a_page(role_client):
    PatientFactory.create_batch(27)
    client = role_client("viewer")
    first, second = client.get(LIST_URL).json(), client.get(LIST_URL, {"page": 2}).json()
    assert (first["count"], len(first["items"]), len(second["items"])) == (27, 25, 2)
    assert not {item["mrn"] for item in first["items"]} & {item["mrn"] for item in second["items"]}


@pytest.mark.django_db
@pytest.mark.parametrize(("query", "expected"), [("mrn-7", ["MRN-777"]), ("smi", ["X-1"]), ("nobody", [])])
def test_search(role_client, okonkwo, query, expected):
    PatientFactory(mrn="X-1", family_name="Smith")
    body = role_client("nurse").get(LIST_URL, {"q": query}).json()
    assert [item["mrn"] for item in body["items"]] == expected
    assert body["count"] == len(expected)


@pytest.mark.django_db
@pytest.mark.parametrize("path", [LIST_URL, f"{LIST_URL}/{UNKNOWN_UUID}", "/api/v1/openapi.json"])
def test_anonymous_gets_401_json(client, path):
    response = client.get(path)
    assert response.status_code == 401
    assert response["Content-Type"].startswith("application/json")
    assert response.json() == {"detail": "Authentication required."}


@pytest.mark.django_db
@pytest.mark.parametrize("path", [LIST_URL, "detail"])
def test_user_without_a_role_gets_403(role_client, okonkwo, path):
    url = f"{LIST_URL}/{okonkwo.uuid}" if path == "detail" else path
    response = role_client(None).get(url)
    assert response.status_code == 403
    assert b"Okonkwo" not in response.content


@pytest.mark.django_db
@pytest.mark.parametrize("debug", [False, True])
def test_user_without_a_role_gets_a_json_403(role_client, okonkwo, settings, debug):
    settings.DEBUG = debug
    response = role_client(None).get(LIST_URL)
    assert response.status_code == 403
    assert response["Content-Type"].startswith("application/json")
    assert "detail" in response.json()


@pytest.mark.django_db
def test_detail(role_client, okonkwo):
    response = role_client("pharmacist").get(f"{LIST_URL}/{okonkwo.uuid}")
    assert response.status_code == 200
    body = response.json()
    assert (body["mrn"], body["diagnosis"], body["iga_status"]) == ("MRN-777", "adult_dm", "unknown")
    assert _number(body["current_weight_kg"]) == Decimal("70.2")
    assert _number(body["current_height_cm"]) == Decimal("170.0")


@pytest.mark.django_db
@pytest.mark.parametrize(("patient_id", "status"), [(UNKNOWN_UUID, 404), ("1", 422)])
def test_unknown_or_malformed_uuid(role_client, okonkwo, patient_id, status):
    response = role_client("viewer").get(f"{LIST_URL}/{patient_id}")
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json")
    assert "detail" in response.json()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "field"),
    [(f"{LIST_URL}/1", "patient_uuid"), (f"{LIST_URL}?page=x", "page"), (f"{LIST_URL}?page=0", "page")],
)
def test_a_bad_path_or_query_value_is_422_in_the_apis_one_shape(role_client, path, field):
    response = role_client("viewer").get(path)
    assert response.status_code == 422
    body = response.json()
    assert body["detail"] == f"Invalid input: {field}."
    assert [(error["field"], bool(error["message"])) for error in body["errors"]] == [(field, True)]


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_read_only(role_client, method):
    client = role_client("physician")
    response = getattr(client, method)(LIST_URL, data={"mrn": "X"}, content_type="application/json")
    assert response.status_code == 405


@pytest.mark.django_db
def test_openapi_schema_lists_both_paths(role_client):
    response = role_client("viewer").get("/api/v1/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["info"]["title"] == "IVIG Clinic API"
    assert {"/api/v1/patients", "/api/v1/patients/{patient_uuid}"} <= set(schema["paths"])
    assert set(schema["paths"]["/api/v1/patients"]) == {"get"}


@pytest.mark.django_db
def test_a_search_with_a_nul_byte_finds_nothing_instead_of_a_server_error(role_client, okonkwo):
    # Found by schemathesis: PostgreSQL refused the comparison and the API answered 500.
    response = role_client("viewer").get(LIST_URL, {"q": "Okon\x00kwo"})
    assert response.status_code == 200
    assert response.json()["items"] == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "status"),
    [(f"{LIST_URL}?page=x", 422), (f"{LIST_URL}/1", 422), (f"{LIST_URL}/{UNKNOWN_UUID}", 404)],
)
def test_every_error_answer_is_in_the_openapi_document(role_client, path, status):
    client = role_client("viewer")
    operation = "/api/v1/patients/{patient_uuid}" if path.count("/") > 3 else LIST_URL
    documented = client.get("/api/v1/openapi.json").json()["paths"][operation]["get"]["responses"]
    assert client.get(path).status_code == status
    assert {"401", "403", "422"} <= set(documented)
    assert str(status) in documented


@pytest.mark.django_db
def test_a_page_number_beyond_any_registry_is_422_not_a_database_overflow(role_client, okonkwo):
    # Found by schemathesis: the offset of page 2^57 overflowed the database integer (500).
    client = role_client("viewer")
    response = client.get(LIST_URL, {"page": 144115188075855872, "page_size": 1881})
    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == ["page"]
    assert client.get(LIST_URL, {"page": 1_000_000, "page_size": 100}).json()["items"] == []
