"""Issue 18 (items 5 to 7): what an outside probe sent that made a server error or was taken
as it came. Each answer is a clear 4xx (or a field error) and nothing is written."""

import json
from datetime import date

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

CALCULATE_URLS = ["/api/v1/dose-plans/calculate", "/api/v1/tis/calculate"]


@pytest.mark.parametrize("start", ["9999-12-31", "0001-01-01", "0001-01-02"])
def test_week_view_far_dates_are_a_400_with_the_message(role_client, start):
    response = role_client("viewer").get(reverse("scheduling:week"), {"start": start})
    assert response.status_code == 400
    assert "start" in response.content.decode().lower()


@pytest.mark.parametrize("url", CALCULATE_URLS)
def test_a_body_nested_100000_deep_is_refused_as_json(role_client, url):
    body = "[" * 100_000 + "]" * 100_000
    response = role_client("nurse").post(url, body, content_type="application/json")
    assert response.status_code in (400, 422)
    assert response["Content-Type"].startswith("application/json")
    assert "nested" in response.json()["errors"][0]["message"]


@pytest.mark.parametrize("url", CALCULATE_URLS)
def test_a_body_nested_inside_an_object_is_refused_too(role_client, url):
    body = '{"product": ' + "[" * 5_000 + "]" * 5_000 + "}"
    response = role_client("nurse").post(url, body, content_type="application/json")
    assert response.status_code == 422


@pytest.mark.parametrize("url", CALCULATE_URLS)
@pytest.mark.parametrize("field", ["product", "indication"])
def test_a_nul_in_a_string_of_a_body_is_a_field_error(role_client, url, field):
    body = {"product": "octagam-10", "indication": "dermatomyositis", field: "octagam\x00"}
    response = role_client("nurse").post(url, json.dumps(body), content_type="application/json")
    assert response.status_code == 422
    assert {"field": field, "message": "must not contain a NUL character"} in response.json()["errors"]


def test_a_nul_in_a_key_is_named_too(role_client):
    body = {"product": "octagam-10", "x\x00": 1}
    response = role_client("nurse").post(CALCULATE_URLS[0], json.dumps(body), content_type="application/json")
    assert response.status_code == 422
    assert {"field": "x\x00", "message": "must not contain a NUL character"} in response.json()["errors"]


# ------------------------------------------------------------------ scheduling pages


@pytest.fixture
def booked(make_user, make_order, frozen_today):
    from dosing.services.orders import dose_order_verify
    from scheduling.tests.factories import book_course

    order = dose_order_verify(by=make_user("pharmacist"), order=make_order())
    return book_course(order, make_user("nurse"), date(2026, 11, 23), cycles=1)


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01", "2206-11-23"])
def test_moving_a_session_to_a_far_day_is_a_field_error(role_client, booked, day):
    session = booked.cycles.get().sessions.order_by("day_number").first()
    url = reverse("scheduling:session_move", kwargs={"session_uuid": session.uuid})
    form = {"new_date": day, "new_start": "10:30", "chair": "", "version": str(session.version)}
    response = role_client("nurse").post(url, form)
    assert response.status_code == 400  # refused, the reason at the field
    assert "outside" in response.context["form"].errors["new_date"][0]
    session.refresh_from_db()
    assert session.version == 1


@pytest.mark.parametrize("following", ["", "on"])
def test_moving_following_sessions_past_the_last_date_is_a_field_error(role_client, booked, following):
    # The window stops the day itself; the shift of the following sessions stays in range too.
    session = booked.cycles.get().sessions.order_by("day_number").first()
    url = reverse("scheduling:session_move", kwargs={"session_uuid": session.uuid})
    form = {"new_date": "2028-11-22", "new_start": "10:30", "version": "1", "following": following}
    response = role_client("nurse").post(url, form)
    assert response.status_code < 500


def test_posting_an_empty_body_to_the_course_page_writes_nothing(role_client, booked):
    from scheduling.models import InfusionSession

    before = InfusionSession.objects.count()
    response = role_client("nurse").post(
        booked.get_absolute_url(), "", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 400
    assert "Nothing was booked" in response.content.decode()
    assert InfusionSession.objects.count() == before


@pytest.mark.parametrize("name", ["course_detail", "course_edit", "review"])
def test_posting_an_empty_body_to_a_treatment_course_page_is_not_a_server_error(role_client, dm_patient, name):
    from dosing.tests.factories import DoseOrderFactory

    course = DoseOrderFactory(patient=dm_patient, verified=True).treatment_course
    url = reverse(f"pathway:{name}", args=[course.uuid])
    response = role_client("physician").post(url, "", content_type="application/x-www-form-urlencoded")
    assert response.status_code in (200, 400, 405)


# ------------------------------------------------------------------ MRN race


def _raced_past_the_check(monkeypatch):
    """The other registration commits between this one's uniqueness check and its insert."""
    from patients.models import Patient

    real, calls = Patient.validate_unique, []

    def racing(self, *args, **kwargs):
        calls.append(1)
        if len(calls) > 1:
            return real(self, *args, **kwargs)
        return None

    monkeypatch.setattr(Patient, "validate_unique", racing)


def test_a_registration_that_loses_the_mrn_race_is_a_field_error(physician, monkeypatch):
    from django.core.exceptions import ValidationError

    from patients.models import Patient
    from patients.services import patient_create
    from patients.tests.factories import PatientFactory

    first = PatientFactory(mrn="MRN-RACE")
    _raced_past_the_check(monkeypatch)
    fields = {"mrn": "MRN-RACE", "given_name": "A", "family_name": "B", "date_of_birth": date(1970, 1, 1)}
    with pytest.raises(ValidationError) as refused:
        patient_create(by=physician, sex_at_birth="female", diagnosis="adult_dm", **fields)
    assert "mrn" in refused.value.message_dict
    assert list(Patient.objects.values_list("pk", flat=True)) == [first.pk]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_simultaneous_registrations_of_one_mrn_on_postgresql(make_user, monkeypatch):
    import threading

    from django.core.exceptions import ValidationError
    from django.db import connection

    from patients.models import Patient
    from patients.services import patient_create

    if connection.vendor != "postgresql":
        pytest.skip("a real race needs PostgreSQL's row locks (CI runs the suite on both)")
    by = make_user("physician")
    both_checked = threading.Barrier(2, timeout=10)
    real = Patient.validate_unique

    def check_then_wait(self, *args, **kwargs):
        real(self, *args, **kwargs)
        if threading.current_thread() is not threading.main_thread():
            both_checked.wait()  # each has seen the MRN free before either inserts

    monkeypatch.setattr(Patient, "validate_unique", check_then_wait)
    outcomes = []

    def register(given_name):
        try:
            fields = {"given_name": given_name, "family_name": "B", "date_of_birth": date(1970, 1, 1)}
            patient_create(by=by, mrn="MRN-RACE", sex_at_birth="female", diagnosis="adult_dm", **fields)
            outcomes.append("saved")
        except ValidationError as exc:
            outcomes.append(sorted(exc.message_dict))
        finally:
            connection.close()

    threads = [threading.Thread(target=register, args=(name,)) for name in ("A", "C")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes, key=str) == [["mrn"], "saved"]
    assert Patient.objects.filter(mrn="MRN-RACE").count() == 1


# ------------------------------------------------------------------ implausible dates, spoofing identifiers

PATIENT_FORM = {
    "mrn": "MRN-1001",
    "given_name": "Jane",
    "family_name": "Doe",
    "date_of_birth": "1974-02-03",
    "sex_at_birth": "female",
    "diagnosis": "adult_dm",
    "iga_status": "normal",
}


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("cancer_screen_on", "0001-01-01", "a clinical date"),
        ("cancer_screen_on", "9999-12-31", "a clinical date"),
        ("date_of_birth", "1899-12-31", "a date of birth"),
        ("diagnosis_date", "1900-06-01", "a clinical date"),
    ],
)
def test_a_patient_date_outside_its_window_is_refused_at_its_field(role_client, frozen_today, field, value, words):
    from patients.models import Patient

    response = role_client("physician").post(reverse("patients:create"), {**PATIENT_FORM, field: value})
    assert response.status_code == 200
    assert words in response.context["form"].errors[field][0]
    assert not Patient.objects.exists()


@pytest.mark.parametrize("field", ["started_on", "stopped_on"])
@pytest.mark.parametrize("value", ["0001-01-01", "9999-12-31"])
def test_a_medication_start_or_stop_outside_the_window_is_refused(role_client, patient, frozen_today, field, value):
    from patients.models import Medication

    url = reverse("patients:record_add", kwargs={"patient_uuid": patient.uuid, "kind_slug": "medications"})
    form = {"category": "other", "name": "Paracetamol", field: value}
    response = role_client("physician").post(url, form)
    assert "a clinical date" in response.context["form"].errors[field][0]
    assert not Medication.objects.exists()


def test_a_course_first_day_years_away_is_refused(role_client, make_user, make_order, frozen_today):
    from dosing.services.orders import dose_order_verify
    from scheduling.models import Course

    order = dose_order_verify(by=make_user("pharmacist"), order=make_order())
    url = reverse("scheduling:course_create", kwargs={"order_uuid": order.uuid})
    form = {"first_day": "9999-12-27", "start_time": "09:00", "chair": "1", "cycles": "1", "interval_weeks": "4"}
    response = role_client("nurse").post(url, {**form, "action": "save"})
    assert "a booking date" in response.context["form"].errors["first_day"][0]
    assert not Course.objects.exists()


@pytest.mark.parametrize("mrn", ["SEC\u202eexe.fdp", "MRN-1\r\nBcc: all@example.org", "MRN\u200b-1001"])
def test_an_mrn_that_spoofs_is_refused_at_mrn(role_client, frozen_today, mrn):
    from patients.models import Patient

    response = role_client("physician").post(reverse("patients:create"), {**PATIENT_FORM, "mrn": mrn})
    assert "printable" in response.context["form"].errors["mrn"][0]
    assert not Patient.objects.exists()


def test_free_text_is_kept_as_typed_and_shown_isolated(role_client, frozen_today):
    from patients.models import Patient

    notes = "left arm only \u202eplease\u202c\r\nsee letter"
    client = role_client("physician")
    response = client.post(reverse("patients:create"), {**PATIENT_FORM, "family_name": "Doe\u202e", "notes": notes})
    assert response.status_code == 302
    patient = Patient.objects.get()
    assert patient.notes == notes.replace("\r\n", "\n") or patient.notes == notes
    page = client.get(reverse("patients:list")).content.decode()
    assert "<bdi>Doe\u202e</bdi>" in page


def test_a_token_name_that_spoofs_is_refused(role_client):
    from accounts.models import ApiToken

    response = role_client("nurse").post(reverse("accounts:tokens"), {"name": "script\u202e", "lifetime_days": "30"})
    assert "printable" in response.context["form"].errors["name"][0]
    assert not ApiToken.objects.exists()


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01"])
def test_an_infusion_sheet_for_a_far_date_is_not_a_server_error(role_client, make_user, make_order, frozen_today, day):
    from dosing.services.orders import dose_order_verify

    order = dose_order_verify(by=make_user("pharmacist"), order=make_order())
    url = reverse("dosing:order_sheet", kwargs={"order_uuid": order.uuid, "day": 1})
    response = role_client("nurse").get(url, {"date": day, "start": "23:59"})
    assert response.status_code == 200
    assert response.context["options"].errors["date"]
