"""Who may read, and every refusal as an OperationOutcome with its status."""

import pytest
from django.test import Client

from accounts.roles import ROLES

from .conftest import body, parsed

pytestmark = pytest.mark.django_db
PATHS = ["/fhir/metadata", "/fhir/Patient", "/fhir/CodeSystem/ivig-clinic-measures"]


def bearer(secret: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


def assert_outcome(response, status: int, code: str):
    assert response.status_code == status
    assert response["Content-Type"] == "application/fhir+json; fhirVersion=4.0"
    assert body(response)["issue"][0]["code"] == code
    parsed(response)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("path", PATHS)
def test_every_clinic_role_reads_with_a_token(client, token_for, role, path):
    assert client.get(path, **bearer(token_for(role))).status_code == 200


@pytest.mark.parametrize("role", ROLES)
def test_every_clinic_role_reads_with_its_session(role_client, role):
    assert role_client(role).get("/fhir/Patient").status_code == 200


def test_a_read_only_token_reads(client, token_for):
    assert client.get("/fhir/Patient", **bearer(token_for(scope="read-only"))).status_code == 200


@pytest.mark.parametrize("path", PATHS)
def test_no_token_is_401_not_a_login_redirect(client, path):
    response = client.get(path)
    assert_outcome(response, 401, "login")
    assert response["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize("header", ["Bearer not-a-token", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer " + "x" * 500])
def test_a_bad_token_is_401(client, header):
    assert_outcome(client.get("/fhir/Patient", HTTP_AUTHORIZATION=header), 401, "login")


def test_a_revoked_token_is_401(client, make_user):
    from accounts.services import api_token_create, api_token_revoke

    user = make_user("viewer")
    token, secret = api_token_create(by=user, name="EHR")
    api_token_revoke(by=user, token=token)
    assert_outcome(client.get("/fhir/Patient", **bearer(secret)), 401, "login")


def test_a_user_without_a_clinic_role_is_403(client, token_for, role_client):
    assert_outcome(client.get("/fhir/Patient", **bearer(token_for(None))), 403, "forbidden")
    assert_outcome(role_client(None).get("/fhir/Patient"), 403, "forbidden")


def test_a_read_only_token_may_not_post_403(client, token_for):
    response = client.post(
        "/fhir/Patient", data="{}", content_type="application/fhir+json", **bearer(token_for(scope="read-only"))
    )
    assert_outcome(response, 403, "forbidden")


@pytest.mark.parametrize("method", ["post", "put", "delete", "patch"])
def test_writes_are_405_for_a_read_write_token(token_for, method):
    client = Client(enforce_csrf_checks=True)  # as in production: a token's write is not a CSRF failure
    response = getattr(client, method)(
        "/fhir/Patient", data="{}", content_type="application/fhir+json", **bearer(token_for())
    )
    assert_outcome(response, 405, "not-supported")
    assert response["Allow"] == "GET, HEAD"


@pytest.mark.parametrize(
    "accept",
    ["application/fhir+json", "application/json", "application/fhir+json; fhirVersion=4.0", "text/html, */*;q=0.8"],
)
def test_json_is_served_to_what_accepts_it(reader, accept):
    assert reader.get("/fhir/metadata", HTTP_ACCEPT=accept).status_code == 200


def test_xml_only_is_406(reader):
    assert_outcome(reader.get("/fhir/metadata", HTTP_ACCEPT="application/fhir+xml"), 406, "not-supported")
    assert_outcome(reader.get("/fhir/metadata", {"_format": "xml"}), 406, "not-supported")


@pytest.mark.parametrize(
    "path", ["/fhir/Immunization", "/fhir/Encounter/123", "/fhir/CodeSystem", "/fhir/x/y/z", "/fhir/"]
)
def test_an_unknown_resource_type_is_404(reader, path):
    assert_outcome(reader.get(path), 404, "not-supported")


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("/fhir/Patient?gender=female", "gender"),
        ("/fhir/Patient?_count=two", "_count"),
        ("/fhir/Patient?_count=-1", "_count"),
        ("/fhir/Patient?_offset=x", "_offset"),
        ("/fhir/Patient?identifier=urn:x|", "identifier"),
        ("/fhir/Patient?name=", "name"),
        ("/fhir/Patient?name=a&name=b", "name"),
        ("/fhir/Observation", "patient"),
        ("/fhir/Observation?patient=Practitioner/1", "patient"),
        ("/fhir/Observation?patient=6f1c2a44-0000-4000-8000-000000000000&date=2026-13-01", "date"),
        ("/fhir/Observation?patient=6f1c2a44-0000-4000-8000-000000000000&date=sa2026-01-01", "date"),
        ("/fhir/Observation?patient=6f1c2a44-0000-4000-8000-000000000000&date=2026-01", "date"),
    ],
)
def test_a_bad_search_parameter_is_400_naming_it(reader, query, param):
    response = reader.get(query)
    assert_outcome(response, 400, "invalid")
    assert body(response)["issue"][0]["diagnostics"].startswith(f"{param}")


def test_a_nul_character_is_400_not_a_database_error(reader):
    assert_outcome(reader.get("/fhir/Patient", {"name": "a\x00b"}), 400, "invalid")


def test_an_unknown_observation_is_404(reader):
    for oid in ("6f1c2a44-0000-4000-8000-000000000000", "6f1c2a44-0000-4000-8000-000000000000-tis", "x"):
        assert_outcome(reader.get(f"/fhir/Observation/{oid}"), 404, "not-found")


def test_head_is_a_read(reader):
    response = reader.head("/fhir/metadata")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/fhir+json; fhirVersion=4.0"
