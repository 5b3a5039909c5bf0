"""MedicationRequest: a dose order as its plan snapshot says, its status through verification,
and search by patient, date and status."""

from datetime import datetime
from decimal import Decimal
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest
import time_machine

from dosing.models import DoseOrder, OrderStatus
from dosing.services.orders import dose_order_cancel, dose_order_reject
from dosing.tests.factories import verified
from patients.tests.factories import MeasurementFactory, UserFactory
from scheduling.models import CourseStatus
from scheduling.services import records
from scheduling.tests.factories import CHECK_ACCEPTED, CourseFactory, local, make_session

from .conftest import body, parsed

pytestmark = pytest.mark.django_db
CANONICAL = "https://ivig.example.org/fhir"
NY = ZoneInfo("America/New_York")


@pytest.fixture(autouse=True)
def canonical_base(settings):
    settings.FHIR_CANONICAL_BASE = CANONICAL


def read(client, order):
    return client.get(f"/fhir/MedicationRequest/{order.uuid}")


def search(client, patient, **params):
    return client.get("/fhir/MedicationRequest", {"patient": f"Patient/{patient.uuid}", **params})


def ids(response) -> list[str]:
    return [entry["resource"]["id"] for entry in body(response).get("entry", [])]


def extension(element: dict, name: str) -> dict:
    return next(ext for ext in element["extension"] if ext["url"] == f"{CANONICAL}/StructureDefinition/{name}")


def sub(ext: dict) -> dict:
    return {
        item["url"]: next(value for key, value in item.items() if key.startswith("value")) for item in ext["extension"]
    }


# --------------------------------------------------------------------------- what the order says


def test_a_verified_order_is_an_active_request_with_its_plan(reader, make_order):
    order = verified(make_order())

    response = read(reader, order)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/fhir+json; fhirVersion=4.0"
    request = body(response)
    model = parsed(response)
    assert model.id == str(order.uuid)
    assert (request["status"], request["intent"]) == ("active", "order")
    assert request["subject"] == {"reference": f"Patient/{order.patient.uuid}"}
    assert request["authoredOn"] == order.prescribed_at.isoformat()
    assert request["requester"] == {"display": order.prescribed_by.get_full_name()}
    assert request["reasonCode"] == [{"text": "Dermatomyositis"}]
    medication = request["contained"][0]
    assert request["medicationReference"]["reference"] == f"#{medication['id']}"
    assert medication["code"]["text"] == order.facts["product"]["name"] == "Octagam 10%"
    assert medication["ingredient"][0]["strength"]["numerator"]["value"] == Decimal(
        order.plan["concentration_mg_per_ml"]
    )
    verification = sub(extension(request, "pharmacist-verification"))
    assert verification == {
        "verifier": {"display": order.verified_by.get_full_name()},
        "verified": order.verified_at.isoformat(),
    }
    assert "statusReason" not in request


def test_the_dose_weight_and_its_basis_are_the_order_s_exactly(reader, make_order):
    order = verified(make_order())
    plan = order.plan

    dosage = body(read(reader, order))["dosageInstruction"][0]

    weight = sub(extension(dosage, "dosing-weight"))
    assert weight["weight"] == {
        "value": Decimal(plan["dosing_weight_kg"]),
        "unit": "kg",
        "system": "http://unitsofmeasure.org",
        "code": "kg",
    }
    assert (weight["basis"], weight["requested"], weight["reason"]) == (
        "actual",
        "auto",
        plan["weight_reason"],
    )
    assert extension(dosage, "dose-per-kg")["valueQuantity"]["value"] == Decimal("2")
    assert dosage["maxDosePerAdministration"]["value"] == Decimal(plan["daily_dose_g"]) == Decimal("70.00")
    assert dosage["maxDosePerAdministration"]["code"] == "g"
    assert dosage["route"]["coding"][0]["code"] == "47625008"
    assert "Dosing weight 70.0 kg, actual body weight" in dosage["text"]
    assert "70 g (700.0 mL) a day on 2 consecutive days" in dosage["text"]


def test_before_a_course_is_booked_the_interval_is_the_authorised_one(reader, make_order):
    order = verified(make_order())
    weeks = order.treatment_course.current_interval_weeks
    dosage = body(read(reader, order))["dosageInstruction"][0]
    assert dosage["timing"]["repeat"] == {"frequency": 2, "period": weeks, "periodUnit": "wk"}


def test_without_any_course_the_interval_is_not_invented(reader, make_order):
    order = verified(make_order())
    DoseOrder.objects.filter(pk=order.pk).update(treatment_course=None)

    dosage = body(read(reader, order))["dosageInstruction"][0]

    # One cycle: once a day on 2 days; no period between cycles, so no dose per period either.
    assert dosage["timing"]["repeat"] == {"count": 2, "frequency": 1, "period": 1, "periodUnit": "d"}
    assert "maxDosePerPeriod" not in dosage
    assert "interval set when the course is booked" in dosage["text"]


def test_the_ladder_is_the_order_s_plan_step_for_step(reader, make_order):
    order = verified(make_order())

    response = read(reader, order)

    entries = body(response)["dosageInstruction"][0]["doseAndRate"]
    steps = order.plan["rate_steps"]
    assert len(entries) == len(steps) == 3
    for number, (entry, step) in enumerate(zip(entries, steps, strict=True), start=1):
        assert entry["rateQuantity"] == {
            "value": Decimal(step["rate_ml_per_h"]),
            "unit": "mL/h",
            "system": "http://unitsofmeasure.org",
            "code": "mL/h",
        }
        assert entry["doseQuantity"]["value"] == Decimal(step["volume_ml"])
        assert entry["doseQuantity"]["code"] == "mL"
        rate_step = sub(extension(entry, "rate-step"))
        assert rate_step["number"] == number
        assert rate_step["rate"]["value"] == Decimal(step["rate_mg_per_kg_min"])
        assert rate_step["start"]["value"] == step["start_min"]
        assert rate_step["duration"] == {
            "value": step["minutes"],
            "unit": "min",
            "system": "http://unitsofmeasure.org",
            "code": "min",
        }
        assert entry["type"]["coding"][0]["code"] == "ordered"
    # Written digit for digit: 42.0 stays 42.0, not 42.
    assert b'"rateQuantity":{"value":42.0,"unit":"mL/h"' in response.content
    assert sum(Decimal(step["volume_ml"]) for step in steps) == Decimal(order.plan["daily_volume_ml"])


def test_the_booked_course_gives_the_interval(reader, make_order):
    order = verified(make_order())
    CourseFactory(order=order, interval_weeks=3)

    dosage = body(read(reader, order))["dosageInstruction"][0]

    assert dosage["timing"]["repeat"] == {"frequency": 2, "period": 3, "periodUnit": "wk"}
    assert dosage["maxDosePerPeriod"]["numerator"]["value"] == Decimal(order.plan["total_dose_g"])
    assert dosage["maxDosePerPeriod"]["denominator"]["value"] == 3
    assert "every 3 weeks" in dosage["text"]


# --------------------------------------------------------------------------- status through the lifecycle


def status_of(client, order) -> tuple[str, str | None]:
    request = body(read(client, order))
    return request["status"], request.get("statusReason", {}).get("text")


def test_awaiting_verification_is_a_draft(reader, make_order):
    order = make_order()
    assert status_of(reader, order) == ("draft", "Awaiting pharmacist verification.")
    assert "extension" not in body(read(reader, order))


def test_rejected_is_cancelled_with_the_pharmacist_s_reason(reader, make_order):
    order = dose_order_reject(by=UserFactory(role="pharmacist"), order=make_order(), reason="Dose above the label")
    assert status_of(reader, order) == ("cancelled", "Rejected by the pharmacist: Dose above the label")


def test_cancelled_before_any_infusion_is_cancelled(reader, make_order):
    order = verified(make_order())
    dose_order_cancel(by=order.prescribed_by, order=order, reason="Patient moved away")
    assert status_of(reader, order) == ("cancelled", "Cancelled: Patient moved away")


def test_cancelled_after_an_infusion_started_is_stopped(reader, make_order, make_user):
    nurse = make_user("nurse")
    order = verified(make_order())
    session = make_session(order, by=nurse)
    records.record_start(**CHECK_ACCEPTED, by=nurse, session=session, started_at=local(9, 5), expected_version=1)
    dose_order_cancel(by=order.prescribed_by, order=order, reason="Switching product")
    assert status_of(reader, order) == ("stopped", "Cancelled: Switching product")


@pytest.mark.parametrize(
    ("status", "expected"),
    [(OrderStatus.REVERIFY, "on-hold"), (OrderStatus.REVIEW, "active")],
)
def test_a_chart_change_after_verification(reader, make_order, status, expected):
    order = verified(make_order())
    DoseOrder.objects.filter(pk=order.pk).update(status=status, status_reason="Weight changed from 70.0 to 80.0 kg.")
    fhir_status, reason = status_of(reader, order)
    assert fhir_status == expected
    assert reason.endswith("Weight changed from 70.0 to 80.0 kg.")


def test_completed_once_every_course_was_given(reader, make_order):
    order = verified(make_order())
    CourseFactory(order=order, status=CourseStatus.COMPLETED, status_reason="all 3 cycles given")
    assert status_of(reader, order) == ("completed", "all 3 cycles given")


def test_stopped_once_its_course_was_replaced(reader, make_order):
    order = verified(make_order())
    CourseFactory(order=order, status=CourseStatus.STOPPED, status_reason="replaced by the course from 2027-01-04")
    assert status_of(reader, order) == ("stopped", "Course stopped: replaced by the course from 2027-01-04")


def test_an_active_course_keeps_it_active(reader, make_order):
    order = verified(make_order())
    CourseFactory(order=order, status=CourseStatus.COMPLETED, status_reason="all 3 cycles given")
    CourseFactory(order=order, status=CourseStatus.ACTIVE)
    assert status_of(reader, order) == ("active", None)


# --------------------------------------------------------------------------- search


def ordered_on(make_order, day: int, **kwargs):
    with time_machine.travel(datetime(2026, 11, day, 10, 0, tzinfo=NY), tick=False):
        return make_order(**kwargs)


def test_search_by_patient_oldest_first_and_only_theirs(reader, make_order, patient):
    MeasurementFactory(patient=patient, weight_kg=Decimal("60.0"), height_cm=Decimal("165.0"))
    first, second = ordered_on(make_order, 10), verified(ordered_on(make_order, 20))
    ordered_on(make_order, 15, patient=patient)

    response = search(reader, first.patient)

    assert response.status_code == 200
    assert ids(response) == [str(first.uuid), str(second.uuid)]
    assert body(response)["total"] == 2
    assert all(entry["resource"]["resourceType"] == "MedicationRequest" for entry in body(response)["entry"])
    parsed(response)
    assert ids(reader.get("/fhir/MedicationRequest", {"patient": str(first.patient.uuid)})) == ids(response)


@pytest.mark.parametrize(
    ("dates", "expected"),
    [
        (["2026-11-10"], [0]),
        (["ge2026-11-15"], [1]),
        (["le2026-11-20"], [0, 1]),
        (["gt2026-11-10", "lt2026-11-21"], [1]),
        (["2026-11-11"], []),
    ],
)
def test_search_by_the_day_authored(reader, make_order, dates, expected):
    orders = [ordered_on(make_order, 10), ordered_on(make_order, 20)]
    params = [("patient", str(orders[0].patient.uuid)), *(("date", value) for value in dates)]
    response = reader.get(f"/fhir/MedicationRequest?{urlencode(params)}")
    assert ids(response) == [str(orders[i].uuid) for i in expected]


def test_search_by_status(reader, make_order):
    draft, active = ordered_on(make_order, 10), verified(ordered_on(make_order, 20))
    assert ids(search(reader, draft.patient, status="active")) == [str(active.uuid)]
    assert ids(search(reader, draft.patient, status="draft,active")) == [str(draft.uuid), str(active.uuid)]
    assert ids(search(reader, draft.patient, status="completed")) == []


def test_paging_with_a_next_link(reader, make_order):
    orders = [ordered_on(make_order, day) for day in (10, 11, 12)]
    first = body(search(reader, orders[0].patient, _count="2"))
    assert [entry["resource"]["id"] for entry in first["entry"]] == [str(o.uuid) for o in orders[:2]]
    next_url = next(link["url"] for link in first["link"] if link["relation"] == "next")
    second = body(reader.get(next_url.removeprefix("http://testserver")))
    assert [entry["resource"]["id"] for entry in second["entry"]] == [str(orders[2].uuid)]
    assert not any(link["relation"] == "next" for link in second["link"])


# --------------------------------------------------------------------------- refusals


def test_an_unknown_id_is_404(reader, make_order):
    make_order()
    for resource_id in ("3f2c1a4e-0000-4000-8000-000000000000", "not-a-uuid"):
        response = reader.get(f"/fhir/MedicationRequest/{resource_id}")
        assert response.status_code == 404
        assert body(response)["issue"][0]["code"] == "not-found"


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({}, "patient"),
        ({"patient": "Patient/nope"}, "patient"),
        ({"patient": "Patient/3f2c1a4e-0000-4000-8000-000000000000", "status": "verified"}, "status"),
        ({"patient": "Patient/3f2c1a4e-0000-4000-8000-000000000000", "date": "2026-13-01"}, "date"),
        ({"patient": "Patient/3f2c1a4e-0000-4000-8000-000000000000", "code": "x"}, "code"),
        ({"patient": "Patient/3f2c1a4e-0000-4000-8000-000000000000", "_count": "-1"}, "_count"),
    ],
)
def test_a_bad_parameter_is_400_naming_it(reader, params, param):
    response = reader.get("/fhir/MedicationRequest", params)
    assert response.status_code == 400
    assert body(response)["issue"][0]["diagnostics"].startswith(f"{param}:")
    parsed(response)


def test_no_token_is_401_and_no_role_is_403(client, token_for, make_order):
    order = make_order()
    assert client.get(f"/fhir/MedicationRequest/{order.uuid}").status_code == 401
    no_role = {"HTTP_AUTHORIZATION": f"Bearer {token_for(None)}"}
    assert client.get(f"/fhir/MedicationRequest/{order.uuid}", **no_role).status_code == 403
    read_only = {"HTTP_AUTHORIZATION": f"Bearer {token_for(scope='read-only')}"}
    assert client.get(f"/fhir/MedicationRequest/{order.uuid}", **read_only).status_code == 200
    assert (
        client.post("/fhir/MedicationRequest", data="{}", content_type="application/fhir+json", **read_only).status_code
        == 403
    )
