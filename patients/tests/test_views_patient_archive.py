"""Removing a patient from the registry: with a reason, never deleted, hidden from the lists,
and the audit page still readable."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from patients.models import Patient
from patients.services import patient_archive
from patients.tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


def archive_url(patient) -> str:
    return reverse("patients:archive", args=[patient.uuid])


@pytest.fixture
def patient():
    return PatientFactory(family_name="Archivable", mrn="Z-9001")


def test_remove_with_a_reason_keeps_the_chart_and_its_history(role_client, patient):
    client = role_client("physician")
    response = client.post(archive_url(patient), {"reason": "duplicate of Z-9002", "expected_version": patient.version})
    assert response.status_code == 302
    patient.refresh_from_db()
    assert patient.archived_at is not None and patient.archive_reason == "duplicate of Z-9002"
    assert patient.history.first().history_change_reason == "removed from the registry: duplicate of Z-9002"
    history = client.get(reverse("patients:history", args=[patient.uuid]))
    assert history.status_code == 200
    assert "duplicate of Z-9002" in history.content.decode()


def test_a_removed_patient_is_hidden_from_the_list_and_the_api(role_client, patient, make_user):
    patient_archive(by=make_user("physician"), patient=patient, reason="registered in error")
    client = role_client("nurse")
    assert "Archivable" not in client.get(reverse("patients:list")).content.decode()
    assert client.get("/api/v1/patients", {"q": "Z-9001"}).json()["items"] == []
    assert client.get(f"/api/v1/patients/{patient.uuid}").status_code == 200  # by its id it still reads


def test_no_reason_is_refused_and_nothing_is_written(role_client, patient):
    response = role_client("physician").post(archive_url(patient), {"reason": "  ", "expected_version": 1})
    assert response.status_code == 200
    patient.refresh_from_db()
    assert patient.archived_at is None
    with pytest.raises(ValidationError, match="Say why"):
        patient_archive(by=None, patient=patient, reason="")


def test_a_stale_page_is_409(role_client, patient):
    response = role_client("physician").post(archive_url(patient), {"reason": "x", "expected_version": 99})
    assert response.status_code == 409
    assert Patient.objects.in_registry().filter(pk=patient.pk).exists()


def test_removing_twice_is_refused(patient, make_user):
    patient_archive(by=make_user("physician"), patient=patient, reason="duplicate")
    with pytest.raises(ValidationError, match="already removed"):
        patient_archive(by=make_user("physician"), patient=patient, reason="again")


def test_a_viewer_may_not_remove_403(role_client, patient):
    assert role_client("viewer").post(archive_url(patient), {"reason": "x", "expected_version": 1}).status_code == 403


def test_unknown_patient_404(role_client):
    assert role_client("physician").get("/patients/00000000-0000-4000-8000-000000000000/remove/").status_code == 404


def test_wrong_method_405(role_client, patient):
    assert role_client("physician").delete(archive_url(patient)).status_code == 405
