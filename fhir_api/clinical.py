"""Risk flags, infusion reactions, infusion sessions and chairs as FHIR R4 resources: Flag,
AdverseEvent, Appointment and Location. Each builder gives the resource already checked by its
R4B model (resources.validated); ids are our UUIDs, except the chairs', which have none.

- Flag: a risk flag (risk.RiskFlag), active or resolved, under its code in the local CodeSystem
  ``ivig-clinic-risk-flags`` (published from risk.rules.FLAG_CODES, the one list of flag codes).
- AdverseEvent: an infusion reaction (scheduling.Reaction) that is not voided (see `reaction_rows`).
- Appointment: an infusion session (scheduling.InfusionSession) in its chair.
- Location: the infusion unit (id ``infusion-unit``) and each chair (id ``chair-<n>``), part of it.

Times go out in the clinic's time zone with its offset; a `date=` search compares the local day.
"""

from dataclasses import dataclass
from datetime import date, datetime

from django.db.models import Max
from django.utils import timezone
from django.utils.html import escape

from patients.models import Patient
from risk import rules
from risk.models import RiskFlag
from scheduling.models import (
    InfusionSession,
    Reaction,
    ReactionAction,
    ReactionType,
    SessionStatus,
    UnitSettings,
)

from . import terminology as t
from .resources import FHIR_ID, code_system_resource, validated

RISK_FLAG_SYSTEM_ID = "ivig-clinic-risk-flags"
REACTION_SYSTEM_ID = "ivig-clinic-infusion-reactions"
SNOMED = "http://snomed.info/sct"
FLAG_CATEGORY = "http://terminology.hl7.org/CodeSystem/flag-category"
FLAG_PRIORITY_EXTENSION = "http://hl7.org/fhir/StructureDefinition/flag-priority"
FLAG_PRIORITY = "http://terminology.hl7.org/CodeSystem/flag-priority-code"
AE_SEVERITY = "http://terminology.hl7.org/CodeSystem/adverse-event-severity"
AE_OUTCOME = "http://terminology.hl7.org/CodeSystem/adverse-event-outcome"
LOCATION_PHYSICAL_TYPE = "http://terminology.hl7.org/CodeSystem/location-physical-type"
UNIT_LOCATION_ID = "infusion-unit"
XHTML = "http://www.w3.org/1999/xhtml"


def code_system_url(base_url: str, code_system_id: str) -> str:
    return f"{base_url}/CodeSystem/{code_system_id}"


def _local_time(moment: datetime) -> str:
    return timezone.localtime(moment).isoformat()


def _narrative(*lines: str) -> dict:
    """Human-readable text for what has no element of its own (a Flag's evidence, an action)."""
    paragraphs = "".join(f"<p>{escape(line)}</p>" for line in lines if line)
    return {"status": "generated", "div": f'<div xmlns="{XHTML}">{paragraphs}</div>'}


def _person(user) -> dict:
    """A user as a display-only reference: Practitioner is not served here."""
    return {"display": user.get_full_name() or user.get_username()}


# --------------------------------------------------------------------------- Flag

# Our category -> HL7 flag-category: thrombosis, renal and contraindication flags are safety
# precautions for the infusion; the others (informational, deterioration) are clinical.
FLAG_CATEGORY_FOR = {
    rules.THROMBOSIS: ("safety", "Safety"),
    rules.RENAL: ("safety", "Safety"),
    rules.CONTRAINDICATION: ("safety", "Safety"),
    rules.OTHER: ("clinical", "Clinical"),
}
# Our severity -> the flag-priority extension's code (high, medium, low priority).
FLAG_PRIORITY_FOR = {
    rules.HIGH: ("PH", "High priority"),
    rules.MODERATE: ("PM", "Medium priority"),
    rules.INFO: ("PL", "Low priority"),
}
FLAG_STATUSES = ("active", "inactive", "entered-in-error")


def risk_flag_concepts() -> list[t.LocalConcept]:
    return [t.LocalConcept(code, c.title, c.definition) for code, c in rules.FLAG_CODES.items()]


@dataclass(frozen=True)
class Row:
    """One resource with what search filters on: its start and end (local days; end None while open),
    its status code."""

    id: str
    start: date
    end: date | None
    status: str
    resource: dict


def flag_row(flag: RiskFlag, *, base_url: str) -> Row:
    status = "active" if flag.resolved_at is None else "inactive"
    category_code, category_display = FLAG_CATEGORY_FOR[flag.category]
    priority_code, priority_display = FLAG_PRIORITY_FOR[flag.severity]
    known = rules.FLAG_CODES.get(flag.code)
    code: dict = {"text": flag.title}
    if known is not None:  # a code no rule raises any more keeps its title, without a coding
        code["coding"] = [
            {"system": code_system_url(base_url, RISK_FLAG_SYSTEM_ID), "code": flag.code, "display": known.title}
        ]
    period = {"start": _local_time(flag.first_seen_at)}
    if flag.resolved_at is not None:
        period["end"] = _local_time(flag.resolved_at)
    extensions = [
        {
            "url": FLAG_PRIORITY_EXTENSION,
            "valueCodeableConcept": {
                "coding": [{"system": FLAG_PRIORITY, "code": priority_code, "display": priority_display}],
                "text": flag.get_severity_display(),
            },
        }
    ]
    lines = [
        f"{flag.title} ({flag.get_severity_display().lower()}, {flag.get_category_display().lower()})",
        f"Evidence: {flag.evidence}" + (f" ({flag.evidence_on:%Y-%m-%d})" if flag.evidence_on else ""),
        f"What to do: {flag.mitigation}",
        f"Source: {flag.source}",
    ]
    if flag.acknowledged_at is not None:
        acknowledgement = [
            {"url": "by", "valueReference": _person(flag.acknowledged_by)},
            {"url": "at", "valueDateTime": _local_time(flag.acknowledged_at)},
        ]
        if flag.acknowledgement_comment:
            acknowledgement.append({"url": "comment", "valueString": flag.acknowledgement_comment})
        extensions.append({"url": f"{base_url}/StructureDefinition/flag-acknowledgement", "extension": acknowledgement})
        lines.append(
            f"Acknowledged by {_person(flag.acknowledged_by)['display']} on "
            f"{timezone.localtime(flag.acknowledged_at):%Y-%m-%d %H:%M}"
            + (f": {flag.acknowledgement_comment}" if flag.acknowledgement_comment else "")
        )
    resource = {
        "resourceType": "Flag",
        "id": str(flag.uuid),
        "meta": {"lastUpdated": _local_time(flag.last_evaluated_at)},
        "text": _narrative(*lines),
        "extension": extensions,
        "status": status,
        "category": [
            {
                "coding": [{"system": FLAG_CATEGORY, "code": category_code, "display": category_display}],
                "text": flag.get_category_display(),
            }
        ],
        "code": code,
        "subject": {"reference": f"Patient/{flag.patient.uuid}"},
        "period": period,
        # The rules raised it; no person authored it.
        "author": {"display": "IVIG Clinic risk rules"},
    }
    end = timezone.localdate(flag.resolved_at) if flag.resolved_at else None
    return Row(str(flag.uuid), timezone.localdate(flag.first_seen_at), end, status, validated(resource))


def flag_rows(patient: Patient, *, base_url: str) -> list[Row]:
    """Every flag of the patient, active and resolved, oldest raised first."""
    flags = RiskFlag.objects.filter(patient=patient).select_related("patient", "acknowledged_by")
    return [flag_row(flag, base_url=base_url) for flag in flags.order_by("first_seen_at", "uuid")]


# --------------------------------------------------------------------------- AdverseEvent

# Reaction types with a SNOMED CT code that means exactly the same; the combined ones ("fever or
# chills", "urticaria or rash", ...) have none and go out under the local code only.
SNOMED_FOR_REACTION = {
    ReactionType.HEADACHE: ("25064002", "Headache"),
    ReactionType.HYPOTENSION: ("45007003", "Low blood pressure"),
    ReactionType.DYSPNOEA: ("267036007", "Dyspnea"),
    ReactionType.ANAPHYLAXIS: ("39579001", "Anaphylaxis"),
}
INFUSION_REACTION = t.LocalConcept(
    "infusion-reaction",
    "Infusion reaction",
    "An adverse reaction during or after an IVIG infusion, recorded by the nurse on the infusion record.",
)


def _action_concept(action: str) -> t.LocalConcept:
    label = ReactionAction(action).label
    return t.LocalConcept(
        f"action-{action}", label, f"What was done with the infusion because of the reaction: {label.lower()}."
    )


def reaction_concepts() -> list[t.LocalConcept]:
    """The infusion reaction category, each reaction type and each action taken (scheduling.models)."""
    return [
        INFUSION_REACTION,
        *(
            t.LocalConcept(kind.value, kind.label, f"Infusion reaction recorded as: {kind.label.lower()}.")
            for kind in ReactionType
        ),
        *(_action_concept(action) for action in ReactionAction.values),
    ]


def _medication(product, lot=None, index: int = 1) -> dict:
    medication: dict = {"resourceType": "Medication", "id": f"product-{index}", "code": {"text": product.name}}
    if product.maker:
        medication["manufacturer"] = {"display": product.maker}
    if lot is not None:
        medication["batch"] = {"lotNumber": lot.lot_number}
        if lot.expiry_date:
            medication["batch"]["expirationDate"] = lot.expiry_date.isoformat()
    return medication


def reaction_row(reaction: Reaction, *, base_url: str) -> Row:
    system = code_system_url(base_url, REACTION_SYSTEM_ID)
    session = reaction.record.session
    product = session.cycle.course.order.product
    coding = [{"system": system, "code": reaction.type, "display": reaction.get_type_display()}]
    if reaction.type in SNOMED_FOR_REACTION:
        snomed_code, snomed_display = SNOMED_FOR_REACTION[reaction.type]
        coding.append({"system": SNOMED, "code": snomed_code, "display": snomed_display})
    # One contained Medication per live lot given at that infusion (a batch is one lot), or the
    # product alone when no lot was recorded.
    lots = sorted((lot for lot in reaction.record.lots.all() if not lot.is_voided), key=lambda lot: lot.pk)
    medications = [_medication(product, lot, n) for n, lot in enumerate(lots, 1)] or [_medication(product)]
    action = _action_concept(reaction.action)
    action_parts = [{"url": "action", "valueCodeableConcept": {"coding": [_coding(action, system)]}}]
    action_text = f"Action: {action.display}"
    if reaction.resumed_rate_ml_per_h is not None:
        action_parts.append(
            {
                "url": "resumedRate",
                "valueQuantity": {
                    "value": reaction.resumed_rate_ml_per_h,
                    "unit": "mL/h",
                    "system": t.UCUM,
                    "code": t.ucum("mL/h"),
                },
            }
        )
        action_text += f", resumed at {format(reaction.resumed_rate_ml_per_h, 'f')} mL/h"
    resource = {
        "resourceType": "AdverseEvent",
        "id": str(reaction.uuid),
        "text": _narrative(
            f"{reaction.get_type_display()} ({reaction.get_severity_display().lower()}) at "
            f"{timezone.localtime(reaction.at):%Y-%m-%d %H:%M} during the infusion of {product.name}",
            reaction.description,
            action_text,
            f"Late entry: {reaction.late_reason}" if reaction.late_reason else "",
        ),
        "contained": medications,
        "extension": [{"url": f"{base_url}/StructureDefinition/infusion-reaction-action", "extension": action_parts}],
        "actuality": "actual",
        "category": [{"coding": [_coding(INFUSION_REACTION, system)], "text": INFUSION_REACTION.display}],
        "event": {"coding": coding, "text": reaction.description or reaction.get_type_display()},
        "subject": {"reference": f"Patient/{session.patient.uuid}"},
        "date": _local_time(reaction.at),
        "recordedDate": _local_time(reaction.recorded_at),
        "recorder": _person(reaction.recorded_by),
        "severity": {
            "coding": [{"system": AE_SEVERITY, "code": reaction.severity, "display": reaction.get_severity_display()}]
        },
        # How the reaction ended is not recorded: said so, not guessed from the action.
        "outcome": {
            "coding": [{"system": AE_OUTCOME, "code": "unknown", "display": "Unknown"}],
            "text": "Not recorded; see the action taken.",
        },
        "suspectEntity": [{"instance": {"reference": f"#{m['id']}", "display": product.name}} for m in medications],
    }
    day = timezone.localdate(reaction.at)
    return Row(str(reaction.uuid), day, day, "actual", validated(resource))


def _coding(concept: t.LocalConcept, system: str) -> dict:
    return {"system": system, "code": concept.code, "display": concept.display}


def _reactions():
    return Reaction.objects.select_related(
        "record__session__patient", "record__session__cycle__course__order__product", "recorded_by"
    ).prefetch_related("record__lots")


def reaction_rows(patient: Patient, *, base_url: str) -> list[Row]:
    """The patient's reactions, oldest first. A voided reaction is left out: voiding says the entry
    was wrong and no longer counts (the right one is entered anew), and R4's AdverseEvent has no
    status to carry "entered in error"; sending it would count one reaction twice. Its read is 410."""
    reactions = _reactions().filter(record__session__patient=patient).live().order_by("at", "uuid")
    return [reaction_row(reaction, base_url=base_url) for reaction in reactions]


def reaction_by_uuid(reaction_uuid) -> Reaction | None:
    return _reactions().filter(uuid=reaction_uuid).first()


# --------------------------------------------------------------------------- Appointment

# SessionStatus -> Appointment.status. A planned session holds its chair and time but is not yet
# confirmed with the patient: pending (the calendar feed says TENTATIVE); confirmed is booked.
APPOINTMENT_STATUS = {
    SessionStatus.PLANNED: "pending",
    SessionStatus.CONFIRMED: "booked",
    SessionStatus.IN_PROGRESS: "arrived",
    SessionStatus.COMPLETED: "fulfilled",
    SessionStatus.MISSED: "noshow",
    SessionStatus.CANCELLED: "cancelled",
}
APPOINTMENT_STATUSES = (
    "proposed",
    "pending",
    "booked",
    "arrived",
    "fulfilled",
    "cancelled",
    "noshow",
    "entered-in-error",
    "checked-in",
    "waitlist",
)


def chair_location_id(chair: int) -> str:
    return f"chair-{chair}"


def session_row(session: InfusionSession) -> Row:
    status = APPOINTMENT_STATUS[session.status]
    order = session.cycle.course.order
    resource: dict = {
        "resourceType": "Appointment",
        "id": str(session.uuid),
        "status": status,
        "description": f"IVIG infusion, cycle {session.cycle.number}, day {session.day_number} of "
        f"{session.cycle.course.days_per_cycle}: {order.product.name}, chair {session.chair}",
        "start": _local_time(session.planned_start),
        "end": _local_time(session.planned_end),
        "minutesDuration": session.expected_minutes,
        "supportingInformation": [{"reference": f"MedicationRequest/{order.uuid}", "display": "The dose order"}],
        "participant": [
            {
                "actor": {"reference": f"Patient/{session.patient.uuid}"},
                "required": "required",
                "status": "needs-action" if session.status == SessionStatus.PLANNED else "accepted",
            },
            {
                "actor": {
                    "reference": f"Location/{chair_location_id(session.chair)}",
                    "display": f"Chair {session.chair}",
                },
                "required": "required",
                "status": "accepted",
            },
        ],
    }
    if session.status_reason:
        if session.status == SessionStatus.CANCELLED:
            resource["cancelationReason"] = {"text": session.status_reason}
        else:
            resource["comment"] = session.status_reason
    day = timezone.localdate(session.planned_start)
    return Row(str(session.uuid), day, day, status, validated(resource))


def _sessions():
    return InfusionSession.objects.select_related("patient", "cycle__course__order__product")


def session_rows(patient: Patient) -> list[Row]:
    """The patient's sessions, earliest start first."""
    return [session_row(s) for s in _sessions().filter(patient=patient).order_by("planned_start", "uuid")]


def session_by_uuid(session_uuid) -> InfusionSession | None:
    return _sessions().filter(uuid=session_uuid).first()


# --------------------------------------------------------------------------- Location


def chair_count() -> int:
    """Chairs 1 to this: the unit's chairs, and any higher one a session still names."""
    used = InfusionSession.objects.aggregate(highest=Max("chair"))["highest"] or 0
    return max(UnitSettings.load().chairs, used)


def unit_location(unit: UnitSettings) -> dict:
    return validated(
        {
            "resourceType": "Location",
            "id": UNIT_LOCATION_ID,
            "status": "active",
            "name": "IVIG infusion unit",
            "description": f"The infusion unit: {unit.chairs} chairs, open {unit.opens_at:%H:%M} to "
            f"{unit.closes_at:%H:%M}.",
            "mode": "instance",
            "physicalType": {"coding": [{"system": LOCATION_PHYSICAL_TYPE, "code": "wa", "display": "Ward"}]},
            "hoursOfOperation": [
                {"allDay": False, "openingTime": unit.opens_at.isoformat(), "closingTime": unit.closes_at.isoformat()}
            ],
        }
    )


def chair_location(chair: int, unit: UnitSettings) -> dict:
    """A chair; one beyond the unit's current number (kept for the sessions that name it) is inactive."""
    location_id = chair_location_id(chair)
    if chair < 1 or not FHIR_ID.fullmatch(location_id):
        raise ValueError(f"chair: {chair} is not a chair number")
    in_service = chair <= unit.chairs
    return validated(
        {
            "resourceType": "Location",
            "id": location_id,
            "status": "active" if in_service else "inactive",
            "name": f"Chair {chair}",
            "description": f"Infusion chair {chair} of the IVIG infusion unit"
            + ("" if in_service else f" (not in service: the unit has {unit.chairs} chairs)"),
            "mode": "instance",
            "partOf": {"reference": f"Location/{UNIT_LOCATION_ID}", "display": "IVIG infusion unit"},
        }
    )


def all_locations() -> list[dict]:
    """The unit, then every chair in number order."""
    unit = UnitSettings.load()
    return [unit_location(unit), *(chair_location(n, unit) for n in range(1, chair_count() + 1))]


def patient_locations(patient: Patient) -> list[dict]:
    """The chairs the patient's sessions use, and the unit they are part of."""
    chairs = sorted(set(InfusionSession.objects.filter(patient=patient).values_list("chair", flat=True)))
    if not chairs:
        return []
    unit = UnitSettings.load()
    return [unit_location(unit), *(chair_location(n, unit) for n in chairs)]


# --------------------------------------------------------------------------- CodeSystems


def risk_flag_code_system(*, base_url: str) -> dict:
    return code_system_resource(
        code_system_id=RISK_FLAG_SYSTEM_ID,
        base_url=base_url,
        name="IvigClinicRiskFlags",
        title="IVIG Clinic risk flags",
        description="The codes of the risk flags the IVIG Clinic rules raise (boxed-warning thrombosis and renal "
        "risk factors, contraindications, informational flags), each with its title and what raises it. "
        "Sent as Flag.code.",
        concepts=risk_flag_concepts(),
    )


def reaction_code_system(*, base_url: str) -> dict:
    return code_system_resource(
        code_system_id=REACTION_SYSTEM_ID,
        base_url=base_url,
        name="IvigClinicInfusionReactions",
        title="IVIG Clinic infusion reactions",
        description="The infusion reaction category, the reaction types a nurse records (sent as AdverseEvent.event, "
        "with SNOMED CT where a code means exactly the same) and the actions taken with the infusion.",
        concepts=reaction_concepts(),
    )
