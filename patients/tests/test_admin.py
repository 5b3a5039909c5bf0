"""The admin never deletes a patient or a chart record: no reason would be kept, the chart would
cascade away and the patient's audit page would 404."""

import pytest

from patients.models import Patient
from patients.tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, make_user):
    client.force_login(make_user(None, is_staff=True, is_superuser=True))
    return client


def test_the_admin_cannot_delete_a_patient(admin_client):
    patient = PatientFactory()
    assert admin_client.get(f"/admin/patients/patient/{patient.pk}/delete/").status_code == 403
    assert admin_client.post(f"/admin/patients/patient/{patient.pk}/delete/", {"post": "yes"}).status_code == 403
    admin_client.post(
        "/admin/patients/patient/", {"action": "delete_selected", "_selected_action": [patient.pk], "post": "yes"}
    )
    assert Patient.objects.filter(pk=patient.pk).exists()
    assert "delete_selected" not in admin_client.get("/admin/patients/patient/").content.decode()


@pytest.mark.parametrize("model", ["bodymeasurement", "labresult", "medication", "riskfactor"])
def test_the_admin_offers_no_delete_for_chart_records(admin_client, model):
    assert "delete_selected" not in admin_client.get(f"/admin/patients/{model}/").content.decode()
