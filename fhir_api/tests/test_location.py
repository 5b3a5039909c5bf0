"""Location read and search: the infusion unit and its chairs."""

import pytest

from fhir_api.compartment import BUILDERS
from scheduling.models import UnitSettings
from scheduling.tests.factories import InfusionSessionFactory

from .conftest import body, parsed

pytestmark = pytest.mark.django_db


def ids(response) -> list[str]:
    return [entry["resource"]["id"] for entry in body(response).get("entry", [])]


@pytest.fixture
def unit():
    unit = UnitSettings.load()
    unit.chairs = 4
    unit.save()
    return unit


def test_a_chair_is_a_location_part_of_the_unit(reader, unit):
    response = reader.get("/fhir/Location/chair-3")

    assert response.status_code == 200
    location = body(response)
    assert location["id"] == "chair-3"
    assert location["name"] == "Chair 3"
    assert location["status"] == "active"
    assert location["mode"] == "instance"
    assert location["partOf"] == {"reference": "Location/infusion-unit", "display": "IVIG infusion unit"}
    assert parsed(response).name == "Chair 3"


def test_the_unit_has_its_chairs_and_opening_hours(reader, unit):
    response = reader.get("/fhir/Location/infusion-unit")
    location = body(response)
    assert location["name"] == "IVIG infusion unit"
    assert location["description"] == "The infusion unit: 4 chairs, open 08:00 to 18:00."
    assert location["hoursOfOperation"] == [{"allDay": False, "openingTime": "08:00:00", "closingTime": "18:00:00"}]
    parsed(response)


def test_search_lists_the_unit_then_every_chair(reader, unit):
    response = reader.get("/fhir/Location")
    assert ids(response) == ["infusion-unit", "chair-1", "chair-2", "chair-3", "chair-4"]
    parsed(response)


def test_a_chair_beyond_the_unit_still_named_by_a_session_is_inactive(reader, unit):
    InfusionSessionFactory(chair=6)
    assert ids(reader.get("/fhir/Location"))[-1] == "chair-6"
    chair = body(reader.get("/fhir/Location/chair-6"))
    assert chair["status"] == "inactive"
    assert "not in service" in chair["description"]
    assert reader.get("/fhir/Location/chair-7").status_code == 404


def test_name_is_the_start_of_the_name_any_case(reader, unit):
    assert ids(reader.get("/fhir/Location?name=chair 2")) == ["chair-2"]
    assert ids(reader.get("/fhir/Location?name=CHAIR")) == ["chair-1", "chair-2", "chair-3", "chair-4"]
    assert ids(reader.get("/fhir/Location?name=ivig")) == ["infusion-unit"]
    assert ids(reader.get("/fhir/Location?name=ward")) == []


def test_count_pages_through_with_next_links(reader, unit):
    response = reader.get("/fhir/Location?_count=2")
    assert ids(response) == ["infusion-unit", "chair-1"]
    following = next(link["url"] for link in body(response)["link"] if link["relation"] == "next")
    assert ids(reader.get(following)) == ["chair-2", "chair-3"]


@pytest.mark.parametrize("location_id", ["chair-0", "chair-5", "chair-03", "chair", "ward-1", "chair-1.0"])
def test_an_unknown_location_is_404(reader, unit, location_id):
    response = reader.get(f"/fhir/Location/{location_id}")
    assert response.status_code == 404
    assert body(response)["issue"][0]["code"] == "not-found"


@pytest.mark.parametrize(
    ("query", "param"), [("?name=", "name"), ("?address=Boston", "address"), ("?_count=-1", "_count")]
)
def test_a_bad_parameter_is_400_naming_it(reader, query, param):
    response = reader.get("/fhir/Location" + query)
    assert response.status_code == 400
    assert body(response)["issue"][0]["diagnostics"].startswith(f"{param}:")


def test_a_patients_compartment_has_the_chairs_its_appointments_use_and_the_unit(unit):
    session = InfusionSessionFactory(chair=3)
    InfusionSessionFactory(chair=1)  # another patient's chair
    locations = BUILDERS["Location"](session.patient)
    assert [location["id"] for location in locations] == ["infusion-unit", "chair-3"]
    appointment = BUILDERS["Appointment"](session.patient)[0]
    assert appointment["participant"][1]["actor"]["reference"] == "Location/chair-3"


def test_a_patient_without_sessions_has_no_location(patient):
    assert BUILDERS["Location"](patient) == []


def test_no_token_is_401_and_a_role_without_patients_is_403(client, make_user, unit):
    assert client.get("/fhir/Location").status_code == 401
    client.force_login(make_user(None))
    assert client.get("/fhir/Location/chair-1").status_code == 403


def test_a_read_only_token_reads(client, token_for, unit):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token_for(scope='read-only')}"}
    assert client.get("/fhir/Location/chair-1", **headers).status_code == 200
