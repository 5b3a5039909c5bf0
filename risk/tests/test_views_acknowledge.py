import pytest
from django.urls import reverse

from patients.tests.factories import RiskFactorFactory
from risk.models import RiskFlag


@pytest.fixture
def flag(patient):
    RiskFactorFactory(patient=patient, kind="venous_thrombosis")
    return RiskFlag.objects.get(patient=patient, code="thrombosis_history")


def url(flag):
    return reverse("risk:acknowledge", kwargs={"flag_uuid": flag.uuid})


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["physician", "pharmacist", "nurse"])
def test_clinicians_acknowledge_with_a_comment(role_client, flag, role):
    response = role_client(role).post(url(flag), {"comment": "Hydration ordered; at-risk cap confirmed"})
    assert response.status_code == 302 and response.url == flag.patient.get_absolute_url()
    flag.refresh_from_db()
    assert flag.acknowledged_at and flag.acknowledgement_comment == "Hydration ordered; at-risk cap confirmed"
    assert flag.history.first().history_change_reason == "acknowledged"


@pytest.mark.django_db
def test_returns_to_a_safe_next_only(role_client, flag):
    client = role_client("nurse")
    assert client.post(url(flag) + "?next=/", {"comment": "ok", "next": "/"}).url == "/"
    other = RiskFlag.objects.get(pk=flag.pk)
    other.acknowledged_at = None
    other.acknowledged_by = None
    other.save()
    assert (
        client.post(url(flag), {"comment": "ok", "next": "https://evil.example/"}).url
        == flag.patient.get_absolute_url()
    )


@pytest.mark.django_db
def test_empty_comment_is_refused_at_the_field(role_client, flag):
    response = role_client("nurse").post(url(flag), {"comment": ""})
    assert response.status_code == 200 and "comment" in response.context["form"].errors
    flag.refresh_from_db()
    assert flag.acknowledged_at is None


@pytest.mark.django_db
def test_viewer_403_unknown_404_wrong_method_405(role_client, flag):
    assert role_client("viewer").post(url(flag), {"comment": "x"}).status_code == 403
    client = role_client("nurse")
    assert (
        client.get(
            reverse("risk:acknowledge", kwargs={"flag_uuid": "00000000-0000-0000-0000-000000000000"})
        ).status_code
        == 404
    )
    assert client.put(url(flag)).status_code == 405


@pytest.mark.django_db
def test_patient_page_shows_flags_and_the_at_risk_cap(role_client, flag):
    html = role_client("viewer").get(flag.patient.get_absolute_url()).content.decode()
    assert "History of venous or arterial thrombosis" in html
    assert "at-risk rate cap" in html


@pytest.mark.django_db
@pytest.mark.parametrize("next_value", ["-1", "00:00", "home", "//evil.example/"])
def test_a_next_that_is_not_a_path_here_returns_to_the_patient(role_client, flag, next_value):
    response = role_client("nurse").post(url(flag), {"comment": "hydration ordered", "next": next_value})
    assert response.status_code == 302 and response.url == flag.patient.get_absolute_url()
