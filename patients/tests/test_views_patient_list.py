import pytest
from django.urls import reverse

from patients.tests.factories import MeasurementFactory, PatientFactory

URL = reverse("patients:list")


@pytest.mark.django_db
def test_lists_patients_with_current_weight(role_client):
    patient = PatientFactory(family_name="Okonkwo")
    MeasurementFactory(patient=patient, weight_kg="71.5", measured_on="2026-10-01")
    MeasurementFactory(patient=patient, weight_kg="70.2", height_cm=None, measured_on="2026-11-01")
    response = role_client("viewer").get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Okonkwo" in html
    assert "70.2" in html and "71.5" not in html
    assert "170.0" in html  # height comes from the latest measurement that has one


@pytest.mark.django_db
@pytest.mark.parametrize("query", ["MRN-777", "mrn-7", "okon", "Ada Okon", "Okonkwo, Ada"])
def test_search_by_mrn_or_name(role_client, query):
    PatientFactory(mrn="MRN-777", family_name="Okonkwo", given_name="Ada")
    PatientFactory(mrn="X-1", family_name="Smith", given_name="Bob")
    page = role_client("nurse").get(URL, {"q": query}).context["page"]
    assert [p.mrn for p in page] == ["MRN-777"]


@pytest.mark.django_db
def test_paginates_25_per_page(role_client):
    PatientFactory.create_batch(30)
    client = role_client("viewer")
    assert len(client.get(URL).context["page"]) == 25
    second = client.get(URL, {"page": 2}).context["page"]
    assert len(second) == 5
    assert client.get(URL, {"page": "not-a-number"}).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("params", [{}, {"q": "Okon"}])
def test_query_count_does_not_grow_with_patients(role_client, django_assert_max_num_queries, params):
    client = role_client("viewer")
    for patient in PatientFactory.create_batch(3, family_name="Okonkwo"):
        MeasurementFactory(patient=patient)
    client.get(URL, params)  # the first request after login renews the session (a write)
    with django_assert_max_num_queries(12) as small:
        client.get(URL, params)
    for patient in PatientFactory.create_batch(40, family_name="Okonjo"):  # more than a page
        MeasurementFactory(patient=patient)
    with django_assert_max_num_queries(len(small.captured_queries)) as large:
        client.get(URL, params)
    assert len(large.captured_queries) == len(small.captured_queries)


@pytest.mark.django_db
def test_user_without_role_gets_403(role_client):
    assert role_client(None).get(URL).status_code == 403


@pytest.mark.django_db
def test_wrong_method_405(role_client):
    assert role_client("physician").post(URL).status_code == 405


@pytest.mark.django_db
def test_a_search_with_a_nul_byte_finds_nothing(role_client):
    # PostgreSQL cannot compare text with a NUL byte; the search must not send one.
    PatientFactory(family_name="Okonkwo")
    response = role_client("viewer").get(URL, {"q": "Okon\x00"})
    assert response.status_code == 200
    assert list(response.context["page"]) == []
