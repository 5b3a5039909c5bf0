"""Flag read and search: active and resolved risk flags, and their local CodeSystem."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from fhir_api.compartment import BUILDERS
from patients.tests.factories import PatientFactory
from risk import rules
from risk.models import RiskFlag

from .conftest import body, parsed

pytestmark = pytest.mark.django_db
CANONICAL = "https://ivig.example.org/fhir"
FLAGS = f"{CANONICAL}/CodeSystem/ivig-clinic-risk-flags"
NY = ZoneInfo("America/New_York")


@pytest.fixture(autouse=True)
def canonical_base(settings):
    settings.FHIR_CANONICAL_BASE = CANONICAL


@pytest.fixture
def patient(db):
    """A patient the rules raise no flag for (the factory's anti-TIF1γ would raise one)."""
    patient = PatientFactory(antibodies=[])
    assert not patient.risk_flags.exists()
    return patient


def at(day: int, month: int = 11, hour: int = 9) -> datetime:
    return datetime(2026, month, day, hour, 0, tzinfo=NY)


def make_flag(patient, code="renal_low_egfr", *, raised=None, resolved=None, **overrides) -> RiskFlag:
    known = rules.FLAG_CODES[code]
    fields = {
        "patient": patient,
        "code": code,
        "category": known.category,
        "severity": rules.MODERATE,
        "title": known.title,
        "evidence": "eGFR 42 mL/min/1.73 m² on 2026-11-08 (below 60)",
        "mitigation": rules.SAFETY_MITIGATION_RENAL,
        "source": rules.BOXED_WARNING,
        "first_seen_at": raised or at(10),
        "last_evaluated_at": resolved or raised or at(10),
        "resolved_at": resolved,
    }
    return RiskFlag.objects.create(**(fields | overrides))


def search(client, patient, **params):
    return client.get("/fhir/Flag", {"patient": f"Patient/{patient.uuid}", **params})


def ids(response) -> list[str]:
    return [entry["resource"]["id"] for entry in body(response).get("entry", [])]


def test_an_active_renal_flag_is_an_active_flag_under_its_local_code(reader, patient):
    flag = make_flag(patient, evidence_on=datetime(2026, 11, 8).date())

    response = reader.get(f"/fhir/Flag/{flag.uuid}")

    assert response.status_code == 200
    resource = body(response)
    assert resource["id"] == str(flag.uuid)
    assert resource["status"] == "active"
    assert resource["code"] == {
        "coding": [{"system": FLAGS, "code": "renal_low_egfr", "display": "Reduced kidney function"}],
        "text": "Reduced kidney function",
    }
    assert resource["category"][0]["coding"][0]["code"] == "safety"
    assert resource["category"][0]["text"] == "Renal"
    assert resource["period"] == {"start": "2026-11-10T09:00:00-05:00"}
    assert resource["subject"] == {"reference": f"Patient/{patient.uuid}"}
    priority = resource["extension"][0]
    assert priority["url"] == "http://hl7.org/fhir/StructureDefinition/flag-priority"
    assert priority["valueCodeableConcept"]["coding"][0]["code"] == "PM"
    assert "eGFR 42 mL/min/1.73 m² on 2026-11-08 (below 60) (2026-11-08)" in resource["text"]["div"]
    model = parsed(response)
    assert model.status == "active"


def test_a_resolved_flag_is_inactive_with_the_end_of_its_period(reader, patient):
    flag = make_flag(patient, raised=at(1), resolved=at(15, hour=14))
    resource = body(reader.get(f"/fhir/Flag/{flag.uuid}"))
    assert resource["status"] == "inactive"
    assert resource["period"] == {"start": "2026-11-01T09:00:00-05:00", "end": "2026-11-15T14:00:00-05:00"}


@pytest.mark.parametrize(("severity", "priority"), [(rules.HIGH, "PH"), (rules.MODERATE, "PM"), (rules.INFO, "PL")])
def test_severity_is_the_flag_priority(reader, patient, severity, priority):
    flag = make_flag(patient, severity=severity)
    resource = body(reader.get(f"/fhir/Flag/{flag.uuid}"))
    assert resource["extension"][0]["valueCodeableConcept"]["coding"][0]["code"] == priority


def test_an_informational_flag_of_category_other_is_clinical(reader, patient):
    flag = make_flag(patient, "info_haemolysis_risk", severity=rules.INFO)
    resource = body(reader.get(f"/fhir/Flag/{flag.uuid}"))
    assert resource["category"][0]["coding"][0]["code"] == "clinical"


def test_the_acknowledgement_goes_out_with_who_when_and_the_comment(reader, patient, make_user):
    nurse = make_user("nurse")
    nurse.first_name, nurse.last_name = "Nora", "Nurse"
    nurse.save()
    flag = make_flag(patient, acknowledged_by=nurse, acknowledged_at=at(11), acknowledgement_comment="Hydrating")

    response = reader.get(f"/fhir/Flag/{flag.uuid}")

    acknowledgement = body(response)["extension"][1]
    assert acknowledgement["url"] == f"{CANONICAL}/StructureDefinition/flag-acknowledgement"
    assert acknowledgement["extension"] == [
        {"url": "by", "valueReference": {"display": "Nora Nurse"}},
        {"url": "at", "valueDateTime": "2026-11-11T09:00:00-05:00"},
        {"url": "comment", "valueString": "Hydrating"},
    ]
    assert "Acknowledged by Nora Nurse on 2026-11-11 09:00: Hydrating" in body(response)["text"]["div"]
    parsed(response)


def test_a_code_no_rule_raises_any_more_keeps_its_title_without_a_coding(reader, patient):
    flag = make_flag(patient, code="renal_sepsis", title="An old rule")
    RiskFlag.objects.filter(pk=flag.pk).update(code="renal_retired_rule")
    resource = body(reader.get(f"/fhir/Flag/{flag.uuid}"))
    assert resource["code"] == {"text": "An old rule"}


def test_text_is_escaped_in_the_narrative(reader, patient):
    flag = make_flag(patient, evidence="<script>alert(1)</script> & more")
    div = body(reader.get(f"/fhir/Flag/{flag.uuid}"))["text"]["div"]
    assert "<script>" not in div
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in div


def test_an_unknown_or_malformed_id_is_404(reader):
    assert reader.get("/fhir/Flag/6f1c2a44-0000-4000-8000-000000000000").status_code == 404
    response = reader.get("/fhir/Flag/not-a-uuid")
    assert response.status_code == 404
    assert body(response)["issue"][0]["code"] == "not-found"


# --------------------------------------------------------------------------- search


@pytest.fixture
def history(patient):
    """Resolved 1-5 Nov, resolved 3-20 Nov, active since 12 Nov."""
    return [
        make_flag(patient, "renal_sepsis", raised=at(1), resolved=at(5)),
        make_flag(patient, "renal_diabetes", raised=at(3), resolved=at(20)),
        make_flag(patient, "thrombosis_advanced_age", raised=at(12)),
    ]


def test_search_gives_every_flag_of_the_patient_oldest_first(reader, patient, history):
    make_flag(PatientFactory(antibodies=[]))
    response = search(reader, patient)
    assert ids(response) == [str(flag.uuid) for flag in history]
    assert body(response)["total"] == 3
    parsed(response)


def test_status_filters_active_and_inactive(reader, patient, history):
    assert ids(search(reader, patient, status="active")) == [str(history[2].uuid)]
    assert ids(search(reader, patient, status="inactive")) == [str(f.uuid) for f in history[:2]]
    assert len(ids(search(reader, patient, status="active,inactive"))) == 3
    assert ids(search(reader, patient, status="entered-in-error")) == []


def test_date_is_the_period_the_flag_stood(reader, patient, history):
    sepsis, diabetes, age = (str(flag.uuid) for flag in history)
    assert ids(search(reader, patient, date="2026-11-04")) == [sepsis, diabetes]
    assert ids(search(reader, patient, date="2026-11-30")) == [age]
    assert ids(search(reader, patient, date="ge2026-11-06")) == [diabetes, age]
    assert ids(search(reader, patient, date="le2026-11-02")) == [sepsis]
    response = reader.get(f"/fhir/Flag?patient={patient.uuid}&date=ge2026-11-13&date=le2026-11-19")
    assert ids(response) == [diabetes, age]


def test_count_pages_through_with_next_links(reader, patient, history):
    response = search(reader, patient, _count="2")
    first = body(response)
    assert ids(response) == [str(f.uuid) for f in history[:2]]
    following = next(link["url"] for link in first["link"] if link["relation"] == "next")
    assert ids(reader.get(following)) == [str(history[2].uuid)]


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("", "patient"),
        ("?patient=nobody", "patient"),
        ("?patient={uuid}&status=resolved", "status"),
        ("?patient={uuid}&date=2026-13-01", "date"),
        ("?patient={uuid}&code=renal_sepsis", "code"),
        ("?patient={uuid}&_count=many", "_count"),
    ],
)
def test_a_bad_parameter_is_400_naming_it(reader, patient, query, param):
    response = reader.get("/fhir/Flag" + query.format(uuid=patient.uuid))
    assert response.status_code == 400
    assert body(response)["issue"][0]["diagnostics"].startswith(f"{param}:")


def test_an_unknown_patient_has_no_flags(reader):
    assert body(reader.get("/fhir/Flag?patient=6f1c2a44-0000-4000-8000-000000000000"))["total"] == 0


def test_read_equals_the_search_entry_and_the_compartment_has_them(reader, patient, history):
    entries = [entry["resource"] for entry in body(search(reader, patient))["entry"]]
    for resource in entries:
        assert body(reader.get(f"/fhir/Flag/{resource['id']}")) == resource
    assert BUILDERS["Flag"](patient) == entries


# --------------------------------------------------------------------------- the CodeSystem


def test_the_risk_flag_code_system_lists_every_flag_code_with_its_definition(reader):
    response = reader.get("/fhir/CodeSystem/ivig-clinic-risk-flags")

    assert response.status_code == 200
    code_system = body(response)
    assert code_system["url"] == FLAGS
    assert code_system["content"] == "complete"
    concepts = {c["code"]: c for c in code_system["concept"]}
    assert set(concepts) == set(rules.FLAG_CODES)
    assert code_system["count"] == len(rules.FLAG_CODES)
    assert concepts["renal_low_egfr"]["display"] == "Reduced kidney function"
    assert "60 mL/min/1.73 m²" in concepts["renal_low_egfr"]["definition"]
    parsed(response)


# --------------------------------------------------------------------------- access


def test_no_token_is_401_and_a_role_without_patients_is_403(client, patient, make_user):
    flag = make_flag(patient)
    assert client.get(f"/fhir/Flag/{flag.uuid}").status_code == 401
    client.force_login(make_user(None))
    assert client.get(f"/fhir/Flag/{flag.uuid}").status_code == 403


def test_a_read_only_token_reads_flags_but_may_not_write(client, patient, token_for):
    flag = make_flag(patient)
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token_for(scope='read-only')}"}
    assert client.get(f"/fhir/Flag/{flag.uuid}", **headers).status_code == 200
    assert client.post("/fhir/Flag", {}, **headers).status_code == 403
