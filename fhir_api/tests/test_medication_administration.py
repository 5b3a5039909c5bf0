"""MedicationAdministration: each pump rate recorded at an infusion, its period and the volume run,
the lot, voided rates as entered-in-error, and search by patient, date and status."""

from datetime import UTC, date
from decimal import Decimal
from urllib.parse import urlencode

import pytest

from dosing.tests.factories import site_first_step_factor, verified
from fhir_api import compartment
from scheduling.models import InfusionRecord
from scheduling.services import records as services
from scheduling.tests.factories import CHECK_ACCEPTED, local, make_session, vitals

from .conftest import body, parsed

pytestmark = pytest.mark.django_db
NOW = local(14)
DAY = date(2026, 11, 22)


@pytest.fixture(autouse=True)
def usual_first_step(db):
    # The fixture patient is IVIG-naive: a site with no slower first step keeps the label's ladder
    # (42, 84, 168 mL/h at 70 kg), as in scheduling's record tests.
    site_first_step_factor(1)


@pytest.fixture
def nurse(make_user):
    return make_user("nurse")


@pytest.fixture
def order(make_order):
    return verified(make_order())


def started_session(order, nurse, day: date = DAY):
    session = make_session(order, by=nurse, planned_start=local(9, day=day))
    services.record_start(
        **CHECK_ACCEPTED, by=nurse, session=session, started_at=local(9, 5, day), expected_version=1, now=NOW
    )
    session.refresh_from_db()
    return session


def rate(session, nurse, at, ml_per_h: str, step: int, **extra):
    return services.rate_change_record(
        by=nurse, session=session, at=at, rate_ml_per_h=Decimal(ml_per_h), step_number=step, now=NOW, **extra
    )


def climb(session, nurse, day: date = DAY):
    """The 70 kg ladder from 09:05: 42 mL/h, 84 at 09:35, 168 at 10:05."""
    return [
        rate(session, nurse, local(9, 5, day), "42", 1),
        rate(session, nurse, local(9, 35, day), "84", 2),
        rate(session, nurse, local(10, 5, day), "168", 3),
    ]


def lot(session, nurse, number="A123", vials=2, size="30"):
    return services.lot_record(
        by=nurse,
        session=session,
        lot_number=number,
        vial_size_g=Decimal(size),
        vials=vials,
        expiry_date=date(2027, 6, 30),
        now=NOW,
    )


def complete(session, nurse, volume: str):
    """Stop at 13:55 with `volume` mL given, vitals before and after, and complete."""
    services.vitals_record(by=nurse, session=session, **vitals("before", local(9, 0)), now=NOW)
    record = InfusionRecord.objects.get(session=session)
    services.record_update(
        by=nurse,
        session=session,
        stopped_at=local(13, 55),
        volume_given_ml=Decimal(volume),
        grams_wasted=Decimal("0"),
        notes="",
        expected_version=record.version,
        now=NOW,
    )
    services.vitals_record(by=nurse, session=session, **vitals("after", local(13, 58)), now=NOW)
    record = InfusionRecord.objects.get(session=session)
    services.record_complete(by=nurse, session=session, expected_version=record.version, confirm=True, now=NOW)


def iso(at) -> str:
    """As the database gives it back: in UTC."""
    return at.astimezone(UTC).isoformat()


def read(client, change):
    return client.get(f"/fhir/MedicationAdministration/{change.uuid}")


def search(client, patient, **params):
    return client.get("/fhir/MedicationAdministration", {"patient": f"Patient/{patient.uuid}", **params})


def resources(response) -> list[dict]:
    return [entry["resource"] for entry in body(response).get("entry", [])]


def ml(value: str) -> dict:
    return {"value": Decimal(value), "unit": "mL", "system": "http://unitsofmeasure.org", "code": "mL"}


# --------------------------------------------------------------------------- a completed infusion


def test_each_rate_of_a_completed_infusion_is_one_completed_administration(reader, order, nurse):
    session = started_session(order, nurse)
    changes = climb(session, nurse)
    lot(session, nurse)
    complete(session, nurse, "700")

    response = search(reader, order.patient)

    assert response.status_code == 200
    parsed(response)
    found = resources(response)
    assert [a["id"] for a in found] == [str(change.uuid) for change in changes]
    assert [a["status"] for a in found] == ["completed", "completed", "completed"]
    assert [a["effectivePeriod"] for a in found] == [
        {"start": iso(local(9, 5)), "end": iso(local(9, 35))},
        {"start": iso(local(9, 35)), "end": iso(local(10, 5))},
        {"start": iso(local(10, 5)), "end": iso(local(13, 55))},
    ]
    assert [a["dosage"]["rateQuantity"]["value"] for a in found] == [Decimal("42.0"), Decimal("84.0"), Decimal("168.0")]
    assert found[0]["dosage"]["rateQuantity"]["code"] == "mL/h"
    # 42 mL/h x 30 min, 84 x 30 min, 168 x 230 min.
    assert [a["dosage"]["dose"] for a in found] == [ml("21.0"), ml("42.0"), ml("644.0")]
    assert "644.0 mL (64.4 g IgG at 100 mg/mL)" in found[2]["dosage"]["text"]
    assert b'"rateQuantity":{"value":168.0,"unit":"mL/h"' in response.content
    for administration in found:
        assert administration["subject"] == {"reference": f"Patient/{order.patient.uuid}"}
        assert administration["request"] == {"reference": f"MedicationRequest/{order.uuid}"}
        assert administration["performer"] == [{"actor": {"display": nurse.get_full_name()}}]
        medication = administration["contained"][0]
        assert administration["medicationReference"]["reference"] == f"#{medication['id']}"
        assert medication["batch"] == {"lotNumber": "A123", "expirationDate": "2027-06-30"}
        assert medication["code"]["text"] == "Octagam 10%"
    assert reader.get(f"/fhir/MedicationRequest/{order.uuid}").status_code == 200


def test_a_read_equals_the_search_entry(reader, order, nurse):
    session = started_session(order, nurse)
    changes = climb(session, nurse)
    response = read(reader, changes[1])
    assert response.status_code == 200
    assert parsed(response).id == str(changes[1].uuid)
    assert body(response) == resources(search(reader, order.patient))[1]


def test_less_than_the_day_s_volume_given_ends_in_a_stopped_last_rate(reader, order, nurse):
    session = started_session(order, nurse)
    climb(session, nurse)
    lot(session, nurse)
    complete(session, nurse, "600")
    assert [a["status"] for a in resources(search(reader, order.patient))] == ["completed", "completed", "stopped"]


def test_a_reaction_that_stopped_the_infusion_stops_the_last_rate_and_its_pause_counts(reader, order, nurse):
    session = started_session(order, nurse)
    climb(session, nurse)
    for at, action, resumed in ((local(10, 15), "paused", None), (local(10, 25), "resumed", Decimal("168"))):
        services.reaction_record(
            by=nurse,
            session=session,
            at=at,
            type="headache",
            severity="moderate",
            action=action,
            resumed_rate_ml_per_h=resumed,
            now=NOW,
        )
    services.reaction_record(
        by=nurse, session=session, at=local(10, 35), type="chest_pain", severity="severe", action="stopped", now=NOW
    )

    last = resources(search(reader, order.patient))[2]

    assert last["status"] == "stopped"
    assert last["effectivePeriod"] == {"start": iso(local(10, 5)), "end": iso(local(10, 35))}
    # 168 mL/h for 10 min, paused 10 min, 168 mL/h for 10 min again: 56.0 mL.
    assert last["dosage"]["dose"] == ml("56.0")


def test_while_the_infusion_runs_the_last_rate_is_in_progress_without_an_end(reader, order, nurse):
    session = started_session(order, nurse)
    rate(session, nurse, local(9, 5), "42", 1)
    rate(session, nurse, local(9, 35), "84", 2)

    first, running = resources(search(reader, order.patient))

    assert (first["status"], first["effectivePeriod"]["end"]) == ("completed", iso(local(9, 35)))
    assert running["status"] == "in-progress"
    assert running["effectivePeriod"] == {"start": iso(local(9, 35))}
    assert "dose" not in running["dosage"]


def test_several_lots_are_named_in_a_note_not_as_one_batch(reader, order, nurse):
    session = started_session(order, nurse)
    change = rate(session, nurse, local(9, 5), "42", 1)
    lot(session, nurse, number="A123", vials=2, size="30")
    lot(session, nurse, number="B456", vials=1, size="10")

    administration = body(read(reader, change))

    assert "batch" not in administration["contained"][0]
    assert administration["note"] == [
        {
            "text": "Lots opened for this infusion: lot A123, 2 x 30 g, expires 2027-06-30; "
            "lot B456, 1 x 10 g, expires 2027-06-30."
        }
    ]


# --------------------------------------------------------------------------- a voided rate


def test_a_voided_rate_is_entered_in_error_with_its_reason_and_stops_counting(reader, order, nurse):
    session = started_session(order, nurse)
    first = rate(session, nurse, local(9, 5), "42", 1)
    wrong = rate(session, nurse, local(9, 35), "80", 2)
    services.entry_void(by=nurse, session=session, entry_id=wrong.uuid, reason="typed 80, pump at 84", now=NOW)
    right = rate(session, nurse, local(9, 36), "84", 2)

    found = {a["id"]: a for a in resources(search(reader, order.patient))}

    voided = found[str(wrong.uuid)]
    assert voided["status"] == "entered-in-error"
    assert voided["statusReason"] == [{"text": "Voided: typed 80, pump at 84"}]
    assert voided["note"][0]["text"].endswith(": typed 80, pump at 84")
    assert "dose" not in voided["dosage"]
    # The live rates run around it: 42 mL/h until the right 84 mL/h at 09:36.
    assert found[str(first.uuid)]["effectivePeriod"]["end"] == iso(local(9, 36))
    assert found[str(first.uuid)]["dosage"]["dose"] == ml("21.7")
    assert found[str(right.uuid)]["status"] == "in-progress"
    assert body(read(reader, wrong))["status"] == "entered-in-error"
    assert [a["id"] for a in resources(search(reader, order.patient, status="entered-in-error"))] == [str(wrong.uuid)]


# --------------------------------------------------------------------------- search, $everything


def test_search_by_day_and_status_with_paging(reader, order, nurse):
    earlier = climb(started_session(order, nurse, date(2026, 11, 21)), nurse, date(2026, 11, 21))
    today = climb(started_session(order, nurse), nurse)

    def ids(*params):
        query = urlencode([("patient", str(order.patient.uuid)), *params])
        return [a["id"] for a in resources(reader.get(f"/fhir/MedicationAdministration?{query}"))]

    assert ids(("date", "2026-11-21")) == [str(c.uuid) for c in earlier]
    assert ids(("date", "ge2026-11-22")) == [str(c.uuid) for c in today]
    assert ids(("date", "gt2026-11-20"), ("date", "lt2026-11-22")) == [str(c.uuid) for c in earlier]
    assert ids(("status", "in-progress")) == [str(earlier[2].uuid), str(today[2].uuid)]
    assert ids(("status", "stopped,entered-in-error")) == []

    page = body(search(reader, order.patient, _count="4"))
    assert page["total"] == 6
    assert [e["resource"]["id"] for e in page["entry"]] == [str(c.uuid) for c in [*earlier, today[0]]]
    next_url = next(link["url"] for link in page["link"] if link["relation"] == "next")
    rest = body(reader.get(next_url.removeprefix("http://testserver")))
    assert [e["resource"]["id"] for e in rest["entry"]] == [str(c.uuid) for c in today[1:]]


def test_everything_and_export_include_both(order, nurse):
    session = started_session(order, nurse)
    changes = climb(session, nurse)
    built = compartment.patient_resources(order.patient)
    assert [r["id"] for r in built["MedicationRequest"]] == [str(order.uuid)]
    assert [r["id"] for r in built["MedicationAdministration"]] == [str(c.uuid) for c in changes]


def test_metadata_lists_exactly_the_search_parameters(reader):
    statement = body(reader.get("/fhir/metadata"))
    served = {r["type"]: r for r in statement["rest"][0]["resource"]}
    for resource_type in ("MedicationRequest", "MedicationAdministration"):
        assert [i["code"] for i in served[resource_type]["interaction"]] == ["read", "search-type"]
        assert [p["name"] for p in served[resource_type]["searchParam"]] == ["patient", "date", "status"]


# --------------------------------------------------------------------------- refusals


def test_an_unknown_id_is_404(reader, order, nurse):
    for resource_id in (str(order.uuid), "3f2c1a4e-0000-4000-8000-000000000000", "x"):
        response = reader.get(f"/fhir/MedicationAdministration/{resource_id}")
        assert response.status_code == 404
        assert body(response)["issue"][0]["code"] == "not-found"


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({}, "patient"),
        ({"patient": "123"}, "patient"),
        ({"patient": "3f2c1a4e-0000-4000-8000-000000000000", "status": "active"}, "status"),
        ({"patient": "3f2c1a4e-0000-4000-8000-000000000000", "date": "sa2026-11-22"}, "date"),
        ({"patient": "3f2c1a4e-0000-4000-8000-000000000000", "request": "MedicationRequest/x"}, "request"),
    ],
)
def test_a_bad_parameter_is_400_naming_it(reader, params, param):
    response = reader.get("/fhir/MedicationAdministration", params)
    assert response.status_code == 400
    assert body(response)["issue"][0]["diagnostics"].startswith(f"{param}:")


def test_no_token_is_401_and_no_role_is_403(client, token_for, order, nurse):
    change = rate(started_session(order, nurse), nurse, local(9, 5), "42", 1)
    path = f"/fhir/MedicationAdministration/{change.uuid}"
    assert client.get(path).status_code == 401
    assert client.get(path, HTTP_AUTHORIZATION=f"Bearer {token_for(None)}").status_code == 403
    assert client.get(path, HTTP_AUTHORIZATION=f"Bearer {token_for(scope='read-only')}").status_code == 200
