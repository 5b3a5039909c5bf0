"""Patient read and search (identifier, name)."""

from datetime import date

import pytest

from patients.tests.factories import PatientFactory

from .conftest import body, parsed

pytestmark = pytest.mark.django_db
MRN_SYSTEM = "urn:oid:2.16.840.1.113883.3.9999.1"


@pytest.fixture(autouse=True)
def mrn_system(settings):
    settings.FHIR_MRN_SYSTEM = MRN_SYSTEM


@pytest.fixture
def ada():
    return PatientFactory(
        mrn="A-1001", given_name="Ada", family_name="Lovelace", sex_at_birth="female", date_of_birth=date(1970, 5, 17)
    )


def ids(response) -> list[str]:
    return [entry["resource"]["id"] for entry in body(response).get("entry", [])]


def test_read(reader, ada):
    response = reader.get(f"/fhir/Patient/{ada.uuid}")

    assert response.status_code == 200
    resource = body(response)
    assert resource["id"] == str(ada.uuid)
    assert resource["identifier"][0]["system"] == MRN_SYSTEM
    assert resource["identifier"][0]["value"] == "A-1001"
    assert resource["identifier"][0]["type"]["coding"][0]["code"] == "MR"
    assert resource["name"] == [{"use": "official", "family": "Lovelace", "given": ["Ada"]}]
    assert resource["gender"] == "female"
    assert resource["birthDate"] == "1970-05-17"
    assert parsed(response).birthDate == date(1970, 5, 17)
    assert resource["active"] is True


def test_a_patient_removed_from_the_registry_is_still_read_but_not_active(reader, ada, make_user):
    from patients.services import patient_archive

    patient_archive(by=make_user("physician"), patient=ada, reason="duplicate of A-1002")

    resource = body(reader.get(f"/fhir/Patient/{ada.uuid}"))
    assert resource["active"] is False
    assert ids(reader.get("/fhir/Patient?identifier=A-1001")) == [str(ada.uuid)]


def test_an_unknown_id_is_404_operation_outcome(reader):
    for path in ("/fhir/Patient/6f1c2a44-0000-4000-8000-000000000000", "/fhir/Patient/not-a-uuid"):
        response = reader.get(path)
        assert response.status_code == 404
        assert body(response)["issue"][0]["code"] == "not-found"
        parsed(response)


@pytest.mark.parametrize("identifier", [f"{MRN_SYSTEM}|A-1001", "A-1001"])
def test_search_by_mrn(reader, ada, identifier):
    PatientFactory(mrn="A-10011")
    response = reader.get("/fhir/Patient", {"identifier": identifier})
    assert ids(response) == [str(ada.uuid)]
    assert body(response)["total"] == 1
    parsed(response)


@pytest.mark.parametrize("identifier", ["urn:oid:1.2.3|A-1001", "|A-1001"])
def test_an_mrn_of_another_system_or_of_none_matches_no_one(reader, ada, identifier):
    # "|value" asks for an identifier without a system; every MRN of ours has one.
    assert ids(reader.get("/fhir/Patient", {"identifier": identifier})) == []


@pytest.mark.parametrize("name", ["love", "LOVELACE", "ad"])
def test_search_by_the_start_of_a_name(reader, ada, name):
    PatientFactory(given_name="Grace", family_name="Hopper")
    assert ids(reader.get("/fhir/Patient", {"name": name})) == [str(ada.uuid)]


def test_a_name_in_the_middle_does_not_match(reader, ada):
    assert ids(reader.get("/fhir/Patient", {"name": "lace"})) == []


def test_identifier_and_name_together_must_both_match(reader, ada):
    assert ids(reader.get("/fhir/Patient", {"identifier": "A-1001", "name": "Ada"})) == [str(ada.uuid)]
    assert ids(reader.get("/fhir/Patient", {"identifier": "A-1001", "name": "Grace"})) == []


def test_search_pages_through_every_patient_once(reader):
    made = {str(PatientFactory().uuid) for _ in range(5)}
    response = reader.get("/fhir/Patient", {"_count": "2"})
    seen = []
    while True:
        seen += ids(response)
        following = [link["url"] for link in body(response)["link"] if link["relation"] == "next"]
        if not following:
            break
        response = reader.get(following[0])
    assert sorted(seen) == sorted(made)
    assert len(seen) == 5


def test_count_above_100_gets_100(reader):
    PatientFactory.create_batch(101)
    bundle = body(reader.get("/fhir/Patient", {"_count": "500"}))
    assert bundle["total"] == 101
    assert len(bundle["entry"]) == 100
    assert bundle["link"][1]["relation"] == "next"
