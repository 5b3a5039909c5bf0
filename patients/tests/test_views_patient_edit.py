from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.forms.models import model_to_dict
from django.urls import reverse

from patients.models import Patient
from patients.tests.factories import PatientFactory


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def frozen_today():
    with time_machine.travel(datetime(2026, 11, 22, 12, 0, tzinfo=ZoneInfo("America/New_York")), tick=False):
        yield


@pytest.fixture
def patient(db):
    return PatientFactory(
        mrn="MRN-1001",
        given_name="Jane",
        family_name="Doe",
        date_of_birth=date(1974, 2, 3),
        diagnosis="adult_dm",
        diagnosis_date=date(2026, 5, 1),
        antibodies=["tif1g"],
        iga_status="normal",
    )


def _url(patient) -> str:
    return reverse("patients:edit", kwargs={"patient_uuid": patient.uuid})


def _form(**overrides) -> dict:
    data = {
        "mrn": "MRN-1001",
        "given_name": "Jane",
        "family_name": "Doe",
        "date_of_birth": "1974-02-03",
        "sex_at_birth": "female",
        "diagnosis": "adult_dm",
        "diagnosis_date": "2026-05-01",
        "antibodies": ["tif1g"],
        "iga_status": "normal",
        "blood_group": "O",
        "antiphospholipid_screen": "negative",
        "antiphospholipid_screen_on": "2026-01-05",
        "expected_version": "1",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def _stored(patient) -> dict:
    return model_to_dict(Patient.objects.get(pk=patient.pk))


@pytest.mark.django_db
def test_shows_the_form_filled_in(client, physician, patient):
    client.force_login(physician)
    response = client.get(_url(patient))
    assert response.status_code == 200
    assert response.context["form"].instance == patient
    assert 'value="MRN-1001"' in response.content.decode()


def test_the_page_carries_the_version_it_shows_so_a_browser_posts_it_back(client, physician, patient):
    Patient.objects.filter(pk=patient.pk).update(version=3)
    client.force_login(physician)
    html = client.get(_url(patient)).content.decode()
    assert '<input type="hidden" name="expected_version" value="3"' in html


@pytest.mark.django_db
def test_physician_edits_and_the_change_is_in_the_history(client, physician, patient):
    client.force_login(physician)
    response = client.post(
        _url(patient),
        _form(
            family_name="Doe-Smith",
            iga_status="deficient_anti_iga",
            antibodies=["tif1g", "nxp2"],
            corn_allergy="on",
            hyperprolinaemia="on",
        ),
    )
    assert response.status_code == 302
    assert response.url == patient.get_absolute_url()
    patient.refresh_from_db()
    assert (
        patient.family_name,
        patient.iga_status,
        patient.antibodies,
        patient.corn_allergy,
        patient.hyperprolinaemia,
    ) == ("Doe-Smith", "deficient_anti_iga", ["tif1g", "nxp2"], True, True)
    registered, edited = patient.history.order_by("history_id")
    assert (edited.history_type, edited.history_user, edited.history_change_reason) == ("~", physician, "edited")
    assert {change.field for change in edited.diff_against(registered).changes} == {
        "family_name",
        "iga_status",
        "antibodies",
        "corn_allergy",
        "hyperprolinaemia",
        "version",  # bookkeeping: the audit trail page leaves it out
    }


BAD_INPUT = [
    ("date_of_birth", {"date_of_birth": "2026-11-23", "diagnosis_date": None}, "in the future"),
    ("diagnosis_date", {"diagnosis_date": "2026-11-23"}, "in the future"),
    ("diagnosis_other", {"diagnosis": "other", "diagnosis_other": "  "}, "Name the diagnosis"),
    ("mrn", {"mrn": "MRN-2002"}, "already exists"),
    ("mrn", {"mrn": ""}, "This field is required"),
    ("antibodies", {"antibodies": ["xyz"]}, "not one of the available choices"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("field", "overrides", "message"), BAD_INPUT, ids=[f"{b[0]}-{b[1]}" for b in BAD_INPUT])
def test_bad_input_shows_the_field_error_and_changes_nothing(client, physician, patient, field, overrides, message):
    PatientFactory(mrn="MRN-2002")
    before, history_rows = _stored(patient), Patient.history.count()
    client.force_login(physician)
    # Also change the name, so an accidental save would show.
    response = client.post(_url(patient), _form(family_name="Changed", **overrides))
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert any(message in error for error in errors.get(field, [])), errors
    assert _stored(patient) == before
    assert Patient.history.count() == history_rows


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["nurse", "pharmacist", "viewer", None])
def test_only_physicians_edit(role_client, patient, role):
    client = role_client(role)
    before = _stored(patient)
    assert client.get(_url(patient)).status_code == 403
    assert client.post(_url(patient), _form(family_name="Changed")).status_code == 403
    assert _stored(patient) == before


@pytest.mark.django_db
def test_unknown_patient_404(client, physician):
    client.force_login(physician)
    url = reverse("patients:edit", kwargs={"patient_uuid": "00000000-0000-4000-8000-000000000000"})
    assert client.get(url).status_code == 404
    assert client.post(url, _form()).status_code == 404
    assert not Patient.objects.exists()


@pytest.mark.django_db
def test_wrong_method_405(client, physician, patient):
    client.force_login(physician)
    assert client.put(_url(patient), _form(family_name="Changed")).status_code == 405
    assert Patient.objects.get().family_name == "Doe"


@pytest.mark.django_db
class TestTwoPeopleEditing:
    """Two physicians open the edit page at version 1: the first save stands; the second is
    told who changed the record and when (409), and nothing of theirs is written."""

    @staticmethod
    def browser(user):
        from django.test import Client

        client = Client()
        client.force_login(user)
        return client

    def test_second_save_from_the_same_version_is_refused(self, make_user, patient):
        first = self.browser(make_user("physician", first_name="Dana", last_name="Reyes"))
        second = self.browser(make_user("physician"))
        assert first.get(_url(patient)).context["form"]["expected_version"].value() == 1
        assert second.get(_url(patient)).context["form"]["expected_version"].value() == 1

        assert first.post(_url(patient), _form(iga_status="deficient")).status_code == 302
        response = second.post(_url(patient), _form(family_name="Doe-Smith"))

        assert response.status_code == 409
        assert response.context["form"].non_field_errors() == [
            "This patient's record was changed by Dana Reyes at 2026-11-22 12:00 after you opened it. "
            "Nothing was saved — review the patient's record as it is now and try again."
        ]
        stored = Patient.objects.get(pk=patient.pk)
        assert (stored.iga_status, stored.family_name, stored.version) == ("deficient", "Doe", 2)
        assert stored.history.count() == 2
        # Saving the same page again is refused too: the person reloads and sees the change first.
        assert second.post(_url(patient), _form(family_name="Doe-Smith")).status_code == 409

    def test_save_from_the_current_version(self, role_client, patient):
        client = role_client("physician")
        assert client.post(_url(patient), _form(family_name="Changed")).status_code == 302
        assert client.post(_url(patient), _form(family_name="Again", expected_version="2")).status_code == 302
        stored = Patient.objects.get(pk=patient.pk)
        assert (stored.family_name, stored.version) == ("Again", 3)

    def test_a_post_without_a_version_writes_nothing(self, role_client, patient):
        response = role_client("physician").post(_url(patient), _form(family_name="X", expected_version=None))
        assert "This page is out of date" in str(response.context["form"].non_field_errors())
        assert Patient.objects.get(pk=patient.pk).family_name == "Doe"
