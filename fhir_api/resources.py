"""Our records as FHIR R4 resources: plain dicts with exact Decimals, each checked against the
fhir.resources R4B model before it leaves (`validated`), then written by exact_json.

Observation ids: a lab result's is its UUID; a body measurement holds a weight and a height
under one UUID, so "<uuid>-weight" and "<uuid>-height"; a visit's measures are "<visit uuid>-<code>"
(e.g. "<uuid>-tis", "<uuid>-ck"). Every id is stable: it is made from the record, not from a query.
"""

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from fhir.resources.R4B.adverseevent import AdverseEvent
from fhir.resources.R4B.appointment import Appointment
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.codesystem import CodeSystem
from fhir.resources.R4B.flag import Flag
from fhir.resources.R4B.location import Location
from fhir.resources.R4B.medicationadministration import MedicationAdministration
from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.patient import Patient as FhirPatient

from patients.labs import LAB_CATALOG
from patients.models import LabTest, Patient
from visits import scoring

from . import terminology as t
from .exact_json import trimmed

MODELS = {
    model.get_resource_type(): model
    for model in (
        FhirPatient,
        Observation,
        Bundle,
        CapabilityStatement,
        CodeSystem,
        OperationOutcome,
        MedicationRequest,
        MedicationAdministration,
        Flag,
        AdverseEvent,
        Appointment,
        Location,
    )
}
# FHIR's id datatype; the R4B models do not check its length, so we do.
FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
V2_IDENTIFIER_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0203"


def validated(resource: dict) -> dict:
    """The resource itself, once its R4B model accepts it (pydantic.ValidationError if not).
    Extra elements are refused by the models, so what we send is exactly what was checked."""
    MODELS[resource["resourceType"]].model_validate(resource)
    return resource


def local_code_system_url(base_url: str) -> str:
    return f"{base_url}/CodeSystem/{t.LOCAL_CODE_SYSTEM_ID}"


# --------------------------------------------------------------------------- Patient


def patient_resource(patient: Patient, *, mrn_system: str) -> dict:
    """Patient: our UUID as id, the MRN as identifier under the site's MRN system.

    `gender` is FHIR's administrative gender; we hold only the sex at birth (the dosing formulas
    need it), so that is what is sent, and no other gender is invented.
    """
    return validated(
        {
            "resourceType": "Patient",
            "id": str(patient.uuid),
            "meta": {"lastUpdated": patient.updated_at.isoformat()},
            "identifier": [
                {
                    "use": "usual",
                    "type": {
                        "coding": [{"system": V2_IDENTIFIER_TYPE, "code": "MR", "display": "Medical record number"}]
                    },
                    "system": mrn_system,
                    "value": patient.mrn,
                }
            ],
            # A patient removed from the registry (a duplicate, registered in error) stays readable,
            # as in the app, but is no longer an active record.
            "active": patient.archived_at is None,
            "name": [{"use": "official", "family": patient.family_name, "given": [patient.given_name]}],
            "gender": patient.sex_at_birth,
            "birthDate": patient.date_of_birth.isoformat(),
        }
    )


# --------------------------------------------------------------------------- Observation


@dataclass(frozen=True)
class ObservationRow:
    """One Observation with what search filters on."""

    id: str
    effective: date
    codes: frozenset[tuple[str, str]]  # (system, code) of every coding of Observation.code
    resource: dict


def _category(code: str) -> dict:
    return {"coding": [{"system": t.OBSERVATION_CATEGORY, "code": code}]}


def _quantity(value: Decimal, unit: str) -> dict:
    return {"value": value, "unit": unit, "system": t.UCUM, "code": t.ucum(unit)}


def _observation(
    *, obs_id: str, patient: Patient, categories: list[dict], coding: dict, effective: date, **elements
) -> ObservationRow:
    if not FHIR_ID.fullmatch(obs_id):
        raise ValueError(f"id: {obs_id!r} is not a FHIR id ([A-Za-z0-9-.], at most 64 characters)")
    resource = {
        "resourceType": "Observation",
        "id": obs_id,
        "status": "final",
        "category": categories,
        "code": {"coding": [coding], "text": coding["display"]},
        "subject": {"reference": f"Patient/{patient.uuid}"},
        "effectiveDateTime": effective.isoformat(),
        **elements,
    }
    return ObservationRow(obs_id, effective, frozenset({(coding["system"], coding["code"])}), validated(resource))


def _loinc(code: str, display: str) -> dict:
    return {"system": t.LOINC, "code": code, "display": display}


def _local(concept: t.LocalConcept, system: str) -> dict:
    return {"system": system, "code": concept.code, "display": concept.display}


def measurement_rows(patient: Patient) -> list[ObservationRow]:
    rows = []
    for m in patient.measurements.all():
        for suffix, value, unit, loinc in (
            ("weight", m.weight_kg, "kg", t.BODY_WEIGHT),
            ("height", m.height_cm, "cm", t.BODY_HEIGHT),
        ):
            if value is not None:
                rows.append(
                    _observation(
                        obs_id=f"{m.uuid}-{suffix}",
                        patient=patient,
                        categories=[_category("vital-signs")],
                        coding=_loinc(loinc.code, loinc.display),
                        effective=m.measured_on,
                        valueQuantity=_quantity(value, unit),
                    )
                )
    return rows


def lab_rows(patient: Patient) -> list[ObservationRow]:
    rows = []
    for lab in patient.lab_results.all():
        definition = LAB_CATALOG[lab.test]
        extra = {}
        if lab.upper_limit_normal is not None:
            extra["referenceRange"] = [{"high": _quantity(trimmed(lab.upper_limit_normal), definition.unit)}]
        rows.append(
            _observation(
                obs_id=str(lab.uuid),
                patient=patient,
                categories=[_category("laboratory")],
                coding=_loinc(definition.loinc, lab.get_test_display()),
                effective=lab.collected_on,
                valueQuantity=_quantity(trimmed(lab.value), definition.unit),
                **extra,
            )
        )
    return rows


def visit_rows(patient: Patient, *, local_system: str) -> list[ObservationRow]:
    """Each visit's core set measures (the five scalar ones, each enzyme under its LOINC code) and,
    for a visit after the baseline, its TIS with the improvement category."""
    core_set = {"coding": [_local(t.CORE_SET_CATEGORY, local_system)]}
    response = scoring.patient_response(patient)
    rows = []
    for scored in response.visits:
        visit = scored.visit
        for measure in t.VISIT_MEASURES:
            value = getattr(visit, measure.field)
            if value is None:
                continue
            extra = {}
            method_key = {"mmt_score": visit.mmt_scale, "haq_score": visit.haq_instrument}.get(measure.field)
            if method_key:
                extra["method"] = {"coding": [_local(t.METHOD_CONCEPTS[method_key], local_system)]}
            rows.append(
                _observation(
                    obs_id=f"{visit.uuid}-{measure.id_suffix}",
                    patient=patient,
                    categories=[_category(measure.category), core_set],
                    coding=_local(measure.concept, local_system),
                    effective=visit.visit_date,
                    valueQuantity=_quantity(value, measure.unit),
                    **extra,
                )
            )
        for enzyme, (value, uln) in visit.enzymes().items():
            definition = LAB_CATALOG[enzyme]
            rows.append(
                _observation(
                    obs_id=f"{visit.uuid}-{enzyme}",
                    patient=patient,
                    categories=[_category("laboratory"), core_set],
                    coding=_loinc(t.enzyme_loinc(enzyme), LabTest(enzyme).label),
                    effective=visit.visit_date,
                    valueQuantity=_quantity(trimmed(value), definition.unit),
                    referenceRange=[{"high": _quantity(trimmed(uln), definition.unit)}],
                )
            )
        if scored.result is not None:
            rows.append(_tis_row(patient, scored, response.baseline, local_system))
    return rows


def _tis_row(patient: Patient, scored: scoring.ScoredVisit, baseline, local_system: str) -> ObservationRow:
    result = scored.result
    category = t.CATEGORY_CONCEPTS[result.category]
    elements: dict = {
        "component": [
            {
                "code": {"coding": [_local(t.IMPROVEMENT_CATEGORY, local_system)]},
                "valueCodeableConcept": {"coding": [_local(category, local_system)], "text": category.display},
            }
        ],
        "note": [
            {
                "text": f"Against the baseline visit of {baseline.visit_date.isoformat()}, "
                f"{result.population} thresholds."
            }
        ],
    }
    if result.total is None:
        elements["dataAbsentReason"] = {
            "coding": [{"system": t.DATA_ABSENT_REASON, "code": "not-performed"}],
            "text": "Missing: " + ", ".join(result.missing),
        }
    else:
        elements["valueQuantity"] = _quantity(result.total.quantize(Decimal("0.1")), "{score}")
    return _observation(
        obs_id=f"{scored.visit.uuid}-tis",
        patient=patient,
        categories=[_category("exam")],
        coding=_local(t.TIS, local_system),
        effective=scored.visit.visit_date,
        **elements,
    )


def observation_rows(patient: Patient, *, local_system: str) -> list[ObservationRow]:
    """Every Observation of a patient, oldest first, ties by id: the order search pages through."""
    rows = [*measurement_rows(patient), *lab_rows(patient), *visit_rows(patient, local_system=local_system)]
    return sorted(rows, key=lambda row: (row.effective, row.id))


# --------------------------------------------------------------------------- CodeSystem, OperationOutcome


def local_code_system(*, base_url: str) -> dict:
    return code_system_resource(
        code_system_id=t.LOCAL_CODE_SYSTEM_ID,
        base_url=base_url,
        name="IvigClinicMeasures",
        title="IVIG Clinic myositis measures",
        description="Local codes for the myositis core set measures, the Total Improvement Score, its "
        "categories and the instruments, which have no LOINC code. Muscle enzymes, weight, height and "
        "laboratory results are sent under LOINC.",
        concepts=t.local_concepts(),
    )


def code_system_resource(
    *, code_system_id: str, base_url: str, name: str, title: str, description: str, concepts: list[t.LocalConcept]
) -> dict:
    """One of our local CodeSystems, complete: every code with its display and definition."""
    codes = [c.code for c in concepts]
    if len(codes) != len(set(codes)):
        raise ValueError(f"code: a code of {code_system_id} is defined twice")
    return validated(
        {
            "resourceType": "CodeSystem",
            "id": code_system_id,
            "url": f"{base_url}/CodeSystem/{code_system_id}",
            "name": name,
            "title": title,
            "status": "active",
            "experimental": False,
            "publisher": "IVIG Clinic",
            "description": description,
            "caseSensitive": True,
            "content": "complete",
            "count": len(concepts),
            "concept": [{"code": c.code, "display": c.display, "definition": c.definition} for c in concepts],
        }
    )


@dataclass(frozen=True)
class Gone:
    """What a reader returns for a resource that existed and was withdrawn (HTTP 410)."""

    diagnostics: str


def operation_outcome(*, code: str, diagnostics: str, severity: str = "error", expression: str | None = None) -> dict:
    """code: an issue-type of FHIR (invalid, security, login, forbidden, not-found, not-supported...);
    expression: where in the resource sent the issue lies (FHIRPath, e.g. "Observation.valueQuantity.code")."""
    issue = {"severity": severity, "code": code, "diagnostics": diagnostics}
    if expression:
        issue["expression"] = [expression]
    return validated({"resourceType": "OperationOutcome", "issue": [issue]})
