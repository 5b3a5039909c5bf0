"""Appointment read and search: infusion sessions in their chairs, with their dose order."""

from datetime import date

import pytest

from fhir_api.compartment import BUILDERS
from scheduling.models import SessionStatus
from scheduling.tests.factories import InfusionSessionFactory, book_course, local

from .conftest import body, parsed

pytestmark = pytest.mark.django_db


def search(client, patient, **params):
    return client.get("/fhir/Appointment", {"patient": f"Patient/{patient.uuid}", **params})


def ids(response) -> list[str]:
    return [entry["resource"]["id"] for entry in body(response).get("entry", [])]


@pytest.fixture
def session():
    return InfusionSessionFactory(chair=3, planned_start=local(9, day=date(2026, 11, 22)), expected_minutes=330)


def test_a_confirmed_session_is_a_booked_appointment_in_its_chair(reader, session):
    response = reader.get(f"/fhir/Appointment/{session.uuid}")

    assert response.status_code == 200
    appointment = body(response)
    order = session.cycle.course.order
    assert appointment["id"] == str(session.uuid)
    assert appointment["status"] == "booked"
    assert appointment["start"] == "2026-11-22T09:00:00-05:00"
    assert appointment["end"] == "2026-11-22T14:30:00-05:00"
    assert appointment["minutesDuration"] == 330
    assert appointment["supportingInformation"] == [
        {"reference": f"MedicationRequest/{order.uuid}", "display": "The dose order"}
    ]
    patient, chair = appointment["participant"]
    assert patient == {
        "actor": {"reference": f"Patient/{session.patient.uuid}"},
        "required": "required",
        "status": "accepted",
    }
    assert chair["actor"] == {"reference": "Location/chair-3", "display": "Chair 3"}
    assert appointment["description"] == (
        f"IVIG infusion, cycle 1, day 1 of {session.cycle.course.days_per_cycle}: {order.product.name}, chair 3"
    )
    assert parsed(response).minutesDuration == 330


@pytest.mark.parametrize(
    ("status", "fhir", "patient_status"),
    [
        (SessionStatus.PLANNED, "pending", "needs-action"),
        (SessionStatus.CONFIRMED, "booked", "accepted"),
        (SessionStatus.IN_PROGRESS, "arrived", "accepted"),
        (SessionStatus.COMPLETED, "fulfilled", "accepted"),
        (SessionStatus.MISSED, "noshow", "accepted"),
        (SessionStatus.CANCELLED, "cancelled", "accepted"),
    ],
)
def test_each_session_status_maps_to_an_appointment_status(reader, status, fhir, patient_status):
    session = InfusionSessionFactory(status=status)
    response = reader.get(f"/fhir/Appointment/{session.uuid}")
    assert body(response)["status"] == fhir
    assert body(response)["participant"][0]["status"] == patient_status
    parsed(response)


def test_every_session_status_has_a_mapping():
    from fhir_api.clinical import APPOINTMENT_STATUS, APPOINTMENT_STATUSES

    assert set(APPOINTMENT_STATUS) == set(SessionStatus.values)
    assert set(APPOINTMENT_STATUS.values()) <= set(APPOINTMENT_STATUSES)


def test_a_cancelled_session_gives_its_reason_and_a_missed_one_a_comment(reader):
    cancelled = InfusionSessionFactory(status=SessionStatus.CANCELLED, status_reason="Patient unwell (fever)")
    missed = InfusionSessionFactory(status=SessionStatus.MISSED, status_reason="Did not attend")
    assert body(reader.get(f"/fhir/Appointment/{cancelled.uuid}"))["cancelationReason"] == {
        "text": "Patient unwell (fever)"
    }
    resource = body(reader.get(f"/fhir/Appointment/{missed.uuid}"))
    assert resource["comment"] == "Did not attend"
    assert "cancelationReason" not in resource


def test_an_unknown_or_malformed_id_is_404(reader):
    assert reader.get("/fhir/Appointment/6f1c2a44-0000-4000-8000-000000000000").status_code == 404
    assert reader.get("/fhir/Appointment/chair-1").status_code == 404


# --------------------------------------------------------------------------- search


@pytest.fixture
def course(make_order, physician, dm_patient):
    """Two cycles of two days from 1 Dec 2026, every 4 weeks: 1-2 Dec and 29-30 Dec."""
    return book_course(make_order(), physician, date(2026, 12, 1), cycles=2, days=2)


def sessions_of(course):
    return [s for cycle in course.cycles.order_by("number") for s in cycle.sessions.order_by("day_number")]


def test_search_gives_the_patients_sessions_earliest_first(reader, dm_patient, course):
    InfusionSessionFactory()  # another patient's
    response = search(reader, dm_patient)
    assert ids(response) == [str(s.uuid) for s in sessions_of(course)]
    assert body(response)["total"] == 4
    bundle = parsed(response)
    assert bundle.entry[1].resource.description.startswith("IVIG infusion, cycle 1, day 2 of 2")


def test_date_bounds_the_start_day(reader, dm_patient, course):
    sessions = [str(s.uuid) for s in sessions_of(course)]
    assert ids(search(reader, dm_patient, date="2026-12-02")) == sessions[1:2]
    assert ids(search(reader, dm_patient, date="ge2026-12-29")) == sessions[2:]
    response = reader.get(f"/fhir/Appointment?patient={dm_patient.uuid}&date=ge2026-12-02&date=le2026-12-29")
    assert ids(response) == sessions[1:3]


def test_status_filters_by_the_fhir_status(reader, dm_patient, course):
    first = sessions_of(course)[0]
    first.status = SessionStatus.COMPLETED
    first.save()
    assert ids(search(reader, dm_patient, status="fulfilled")) == [str(first.uuid)]
    assert len(ids(search(reader, dm_patient, status="pending"))) == 3
    assert len(ids(search(reader, dm_patient, status="pending,fulfilled"))) == 4
    assert ids(search(reader, dm_patient, status="booked")) == []


def test_count_pages_through_with_next_links(reader, dm_patient, course):
    seen, response = [], search(reader, dm_patient, _count="3")
    while True:
        seen += ids(response)
        following = [link["url"] for link in body(response)["link"] if link["relation"] == "next"]
        if not following:
            break
        response = reader.get(following[0])
    assert seen == [str(s.uuid) for s in sessions_of(course)]


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("", "patient"),
        ("?patient=Patient/123", "patient"),
        ("?patient={uuid}&status=planned", "status"),
        ("?patient={uuid}&date=on2026-12-01", "date"),
        ("?patient={uuid}&date=2026-12-01T09:00", "date"),
        ("?patient={uuid}&location=chair-1", "location"),
        ("?patient={uuid}&status=booked&status=pending", "status"),
    ],
)
def test_a_bad_parameter_is_400_naming_it(reader, dm_patient, query, param):
    response = reader.get("/fhir/Appointment" + query.format(uuid=dm_patient.uuid))
    assert response.status_code == 400
    assert body(response)["issue"][0]["diagnostics"].startswith(f"{param}:")


def test_read_equals_the_search_entry_and_the_compartment_has_them(reader, dm_patient, course):
    entries = [entry["resource"] for entry in body(search(reader, dm_patient))["entry"]]
    for resource in entries:
        assert body(reader.get(f"/fhir/Appointment/{resource['id']}")) == resource
    assert BUILDERS["Appointment"](dm_patient) == entries


def test_no_token_is_401_and_a_role_without_patients_is_403(client, session, make_user):
    assert client.get(f"/fhir/Appointment/{session.uuid}").status_code == 401
    client.force_login(make_user(None))
    assert client.get(f"/fhir/Appointment/{session.uuid}").status_code == 403


def test_a_read_only_token_searches(client, session, token_for):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token_for(scope='read-only')}"}
    response = client.get(f"/fhir/Appointment?patient={session.patient.uuid}", **headers)
    assert response.status_code == 200
    assert body(response)["total"] == 1
