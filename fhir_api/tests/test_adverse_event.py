"""AdverseEvent read and search: infusion reactions, the product and its lots; voided ones left out."""

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from fhir_api.clinical import SNOMED_FOR_REACTION
from fhir_api.compartment import BUILDERS
from scheduling.models import LotUsage, Reaction, ReactionAction, ReactionType
from scheduling.tests.factories import InfusionRecordFactory, local

from .conftest import body, parsed

pytestmark = pytest.mark.django_db
CANONICAL = "https://ivig.example.org/fhir"
REACTIONS = f"{CANONICAL}/CodeSystem/ivig-clinic-infusion-reactions"


@pytest.fixture(autouse=True)
def canonical_base(settings):
    settings.FHIR_CANONICAL_BASE = CANONICAL


@pytest.fixture
def nurse(make_user):
    return make_user("nurse", first_name="Nora", last_name="Nurse")


@pytest.fixture
def record():
    return InfusionRecordFactory()


def react(record, by, *, at=None, **fields) -> Reaction:
    values = {
        "record": record,
        "at": at or record.started_at + timedelta(minutes=45),
        "type": ReactionType.HEADACHE,
        "severity": "moderate",
        "action": ReactionAction.SLOWED,
        "recorded_by": by,
    }
    return Reaction.objects.create(**(values | fields))


def search(client, patient, **params):
    return client.get("/fhir/AdverseEvent", {"patient": f"Patient/{patient.uuid}", **params})


def ids(response) -> list[str]:
    return [entry["resource"]["id"] for entry in body(response).get("entry", [])]


def test_a_moderate_headache_is_an_actual_adverse_event_with_snomed_and_the_product(reader, record, nurse):
    reaction = react(record, nurse, description="Frontal headache, 6/10")
    product = record.session.cycle.course.order.product

    response = reader.get(f"/fhir/AdverseEvent/{reaction.uuid}")

    assert response.status_code == 200
    event = body(response)
    assert event["id"] == str(reaction.uuid)
    assert event["actuality"] == "actual"
    assert event["category"][0]["coding"] == [
        {"system": REACTIONS, "code": "infusion-reaction", "display": "Infusion reaction"}
    ]
    assert event["event"] == {
        "coding": [
            {"system": REACTIONS, "code": "headache", "display": "Headache"},
            {"system": "http://snomed.info/sct", "code": "25064002", "display": "Headache"},
        ],
        "text": "Frontal headache, 6/10",
    }
    assert event["subject"] == {"reference": f"Patient/{record.session.patient.uuid}"}
    assert event["date"] == timezone.localtime(reaction.at).isoformat()
    assert event["severity"]["coding"] == [
        {
            "system": "http://terminology.hl7.org/CodeSystem/adverse-event-severity",
            "code": "moderate",
            "display": "Moderate",
        }
    ]
    assert event["outcome"]["coding"][0]["code"] == "unknown"
    assert event["recorder"] == {"display": "Nora Nurse"}
    assert product.maker  # the catalog's products name their maker
    assert event["contained"] == [
        {
            "resourceType": "Medication",
            "id": "product-1",
            "code": {"text": product.name},
            "manufacturer": {"display": product.maker},
        }
    ]
    assert event["suspectEntity"] == [{"instance": {"reference": "#product-1", "display": product.name}}]
    assert "Action: Rate slowed" in event["text"]["div"]
    model = parsed(response)
    assert model.suspectEntity[0].instance.reference == "#product-1"
    assert model.contained[0].get_resource_type() == "Medication"


def test_the_action_goes_out_in_an_extension_with_the_resumed_rate_exact(reader, record, nurse):
    reaction = react(record, nurse, action=ReactionAction.RESUMED, resumed_rate_ml_per_h=Decimal("60.0"))

    response = reader.get(f"/fhir/AdverseEvent/{reaction.uuid}")

    extension = body(response)["extension"][0]
    assert extension["url"] == f"{CANONICAL}/StructureDefinition/infusion-reaction-action"
    assert extension["extension"][0]["valueCodeableConcept"]["coding"][0] == {
        "system": REACTIONS,
        "code": "action-resumed",
        "display": "Resumed",
    }
    assert b'"valueQuantity":{"value":60.0,"unit":"mL/h","system":"http://unitsofmeasure.org","code":"mL/h"}' in (
        response.content
    )
    assert "resumed at 60.0 mL/h" in body(response)["text"]["div"]
    parsed(response)


def test_each_lot_given_is_a_contained_medication_with_its_batch(reader, record, nurse):
    for lot_number, expiry in (("A1234", date(2027, 6, 30)), ("B5678", None)):
        LotUsage.objects.create(
            record=record,
            lot_number=lot_number,
            vial_size_g=Decimal("10"),
            vials=2,
            expiry_date=expiry,
            recorded_by=nurse,
        )
    voided = LotUsage.objects.create(record=record, lot_number="WRONG", vial_size_g=Decimal("10"), vials=1)
    voided.voided_at, voided.voided_by, voided.void_reason = timezone.now(), nurse, "Wrong lot scanned"
    voided.save()
    reaction = react(record, nurse)

    event = body(reader.get(f"/fhir/AdverseEvent/{reaction.uuid}"))

    assert [m["batch"] for m in event["contained"]] == [
        {"lotNumber": "A1234", "expirationDate": "2027-06-30"},
        {"lotNumber": "B5678"},
    ]
    assert [s["instance"]["reference"] for s in event["suspectEntity"]] == ["#product-1", "#product-2"]


@pytest.mark.parametrize("severity", ["mild", "moderate", "severe"])
def test_severity_maps_one_to_one(reader, record, nurse, severity):
    reaction = react(record, nurse, severity=severity)
    assert body(reader.get(f"/fhir/AdverseEvent/{reaction.uuid}"))["severity"]["coding"][0]["code"] == severity


@pytest.mark.parametrize("kind", list(ReactionType))
def test_every_reaction_type_is_valid_and_snomed_only_where_exact(reader, record, nurse, kind):
    reaction = react(record, nurse, type=kind)
    response = reader.get(f"/fhir/AdverseEvent/{reaction.uuid}")
    systems = [coding.system for coding in parsed(response).event.coding]
    assert systems == [REACTIONS, "http://snomed.info/sct"] if kind in SNOMED_FOR_REACTION else [REACTIONS]
    assert body(response)["event"]["text"] == kind.label


def test_a_voided_reaction_is_left_out_of_search_and_its_read_is_410(reader, record, nurse):
    kept = react(record, nurse)
    voided = react(record, nurse, type=ReactionType.FLUSHING)
    voided.voided_at, voided.voided_by = datetime(2026, 11, 22, 15, 0, tzinfo=timezone.get_current_timezone()), nurse
    voided.void_reason = "Entered on the wrong patient"
    voided.save()

    assert ids(search(reader, record.session.patient)) == [str(kept.uuid)]
    response = reader.get(f"/fhir/AdverseEvent/{voided.uuid}")
    assert response.status_code == 410
    outcome = body(response)["issue"][0]
    assert outcome["code"] == "deleted"
    assert outcome["diagnostics"].endswith("was voided on 2026-11-22 (entered in error): Entered on the wrong patient")
    parsed(response)


def test_an_unknown_or_malformed_id_is_404(reader):
    assert reader.get("/fhir/AdverseEvent/6f1c2a44-0000-4000-8000-000000000000").status_code == 404
    assert reader.get("/fhir/AdverseEvent/headache").status_code == 404


# --------------------------------------------------------------------------- search


@pytest.fixture
def three_days(nurse):
    """One reaction at each of three infusions of one patient, 22, 23 and 24 Nov 2026."""
    first = InfusionRecordFactory()
    patient, cycle = first.session.patient, first.session.cycle
    records = [first]
    for day in (2, 3):
        records.append(
            InfusionRecordFactory(
                session__cycle=cycle,
                session__day_number=day,
                session__planned_start=local(9, day=date(2026, 11, 21 + day)),
            )
        )
    reactions = [react(r, nurse, at=r.started_at + timedelta(hours=1)) for r in records]
    return patient, reactions


def test_search_gives_the_patients_reactions_oldest_first(reader, three_days, nurse):
    patient, reactions = three_days
    react(InfusionRecordFactory(), nurse)  # another patient's
    response = search(reader, patient)
    assert ids(response) == [str(r.uuid) for r in reactions]
    parsed(response)


def test_date_bounds_the_day_of_the_reaction(reader, three_days):
    patient, reactions = three_days
    assert ids(search(reader, patient, date="2026-11-23")) == [str(reactions[1].uuid)]
    assert ids(search(reader, patient, date="gt2026-11-22")) == [str(r.uuid) for r in reactions[1:]]
    response = reader.get(f"/fhir/AdverseEvent?patient={patient.uuid}&date=ge2026-11-22&date=lt2026-11-24")
    assert ids(response) == [str(r.uuid) for r in reactions[:2]]


def test_count_pages_through_with_next_links(reader, three_days):
    patient, reactions = three_days
    response = search(reader, patient, _count="2")
    assert body(response)["total"] == 3
    following = next(link["url"] for link in body(response)["link"] if link["relation"] == "next")
    assert ids(response) + ids(reader.get(following)) == [str(r.uuid) for r in reactions]


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("", "patient"),
        ("?patient=Patient/x", "patient"),
        ("?patient={uuid}&date=yesterday", "date"),
        ("?patient={uuid}&status=active", "status"),
        ("?patient={uuid}&_offset=-2", "_offset"),
    ],
)
def test_a_bad_parameter_is_400_naming_it(reader, patient, query, param):
    response = reader.get("/fhir/AdverseEvent" + query.format(uuid=patient.uuid))
    assert response.status_code == 400
    assert body(response)["issue"][0]["diagnostics"].startswith(f"{param}:")


def test_read_equals_the_search_entry_and_the_compartment_has_them(reader, three_days):
    patient, _ = three_days
    entries = [entry["resource"] for entry in body(search(reader, patient))["entry"]]
    for resource in entries:
        assert body(reader.get(f"/fhir/AdverseEvent/{resource['id']}")) == resource
    assert BUILDERS["AdverseEvent"](patient) == entries


def test_the_reaction_code_system_lists_types_actions_and_the_category(reader):
    response = reader.get("/fhir/CodeSystem/ivig-clinic-infusion-reactions")
    code_system = body(response)
    codes = [c["code"] for c in code_system["concept"]]
    assert codes[0] == "infusion-reaction"
    assert set(ReactionType.values) <= set(codes)
    assert {f"action-{a}" for a in ReactionAction.values} <= set(codes)
    assert code_system["count"] == 1 + len(ReactionType.values) + len(ReactionAction.values)
    assert all(c["definition"] for c in code_system["concept"])
    parsed(response)


def test_no_token_is_401_and_a_role_without_patients_is_403(client, record, nurse, make_user):
    reaction = react(record, nurse)
    assert client.get(f"/fhir/AdverseEvent/{reaction.uuid}").status_code == 401
    client.force_login(make_user(None))
    assert client.get(f"/fhir/AdverseEvent/{reaction.uuid}").status_code == 403


def test_a_read_only_token_reads(client, record, nurse, token_for):
    reaction = react(record, nurse)
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token_for(scope='read-only')}"}
    assert client.get(f"/fhir/AdverseEvent/{reaction.uuid}", **headers).status_code == 200
