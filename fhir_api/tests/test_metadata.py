"""GET /fhir/metadata and the local CodeSystem."""

import pytest

from fhir_api import terminology as t
from fhir_api.capability import SERVED
from fhir_api.views import READERS, SEARCHERS

from .conftest import body, parsed

pytestmark = pytest.mark.django_db


def test_the_capability_statement_lists_what_the_views_serve(reader):
    response = reader.get("/fhir/metadata")

    assert response.status_code == 200
    statement = body(response)
    assert statement["fhirVersion"] == "4.0.1"
    assert statement["kind"] == "instance"
    resources = {r["type"]: r for r in statement["rest"][0]["resource"]}
    assert set(resources) == {
        "Patient",
        "Observation",
        "MedicationRequest",
        "MedicationAdministration",
        "CodeSystem",
        "Flag",
        "AdverseEvent",
        "Appointment",
        "Location",
    }
    assert [p["name"] for p in resources["Flag"]["searchParam"]] == ["patient", "status", "date"]
    assert [p["name"] for p in resources["Appointment"]["searchParam"]] == ["patient", "date", "status"]
    assert [p["name"] for p in resources["Location"]["searchParam"]] == ["name"]
    assert [p["name"] for p in resources["Patient"]["searchParam"]] == ["identifier", "name"]
    assert [p["name"] for p in resources["Observation"]["searchParam"]] == ["patient", "code", "date"]
    assert [i["code"] for i in resources["CodeSystem"]["interaction"]] == ["read"]
    parsed(response)


def test_the_statement_says_observations_may_be_created_and_which_codes_and_units(reader):
    statement = body(reader.get("/fhir/metadata"))
    rest = statement["rest"][0]
    observation = next(r for r in rest["resource"] if r["type"] == "Observation")
    assert [i["code"] for i in observation["interaction"]] == ["read", "search-type", "create"]
    assert observation["conditionalCreate"] is False
    assert rest["interaction"] == [{"code": "transaction"}]
    assert "creatinine: LOINC 2160-0, 14682-9; UCUM mg/dL; converted from umol/L" in rest["documentation"]
    assert "weight: LOINC 29463-7, 3141-9; UCUM kg; converted from g, [lb_av]" in rest["documentation"]
    patient = next(r for r in rest["resource"] if r["type"] == "Patient")
    assert "create" not in [i["code"] for i in patient["interaction"]]


def test_every_declared_interaction_has_a_handler_and_no_handler_is_undeclared():
    readers = {r.type for r in SERVED if "read" in r.interactions}
    searchers = {r.type for r in SERVED if "search-type" in r.interactions}
    assert readers == set(READERS)
    assert searchers == set(SEARCHERS)
    assert {r.type for r in SERVED if "create" in r.interactions} == {"Observation"}  # views.create's only type


def test_the_local_code_system_lists_every_local_code(reader, settings):
    settings.FHIR_CANONICAL_BASE = "https://ivig.example.org/fhir"

    response = reader.get("/fhir/CodeSystem/ivig-clinic-measures")

    assert response.status_code == 200
    code_system = body(response)
    assert code_system["url"] == "https://ivig.example.org/fhir/CodeSystem/ivig-clinic-measures"
    assert code_system["content"] == "complete"
    codes = {c["code"]: c for c in code_system["concept"]}
    assert set(codes) == {c.code for c in t.local_concepts()}
    assert code_system["count"] == len(codes)
    for code in (
        "total-improvement-score",
        "improvement-category",
        "improvement-major",
        "physician-global-activity",
        "muscle-strength",
        "mmt8-80",
        "core-set-measure",
    ):
        assert codes[code]["display"] and codes[code]["definition"]
    parsed(response)


def test_another_code_system_is_404(reader):
    assert reader.get("/fhir/CodeSystem/loinc").status_code == 404
