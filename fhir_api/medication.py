"""Dose orders as MedicationRequest and the pump rates run as MedicationAdministration (FHIR R4).

MedicationRequest (id: the order's UUID) is read from what the order stores: its plan snapshot
(dosing weight and basis, grams a day, days, the rate ladder with each step's mL/h, minutes and
volume) and its facts (product, concentration, indication), never recomputed. The interval comes
from the course booked from the order (scheduling), or the authorised treatment course.

Status map (OrderStatus -> MedicationRequest.status; statusReason says why in words):

    awaiting_verification -> draft      nothing may be given until a pharmacist verifies it
    verified              -> active     completed once every course booked from it is completed;
                                        stopped once its courses all ended and one was stopped
                                        (replaced by a later course, or closed)
    review                -> active     in use, held to the lower of the verified plan and today's
                                        chart until verified again (statusReason: why)
    reverify              -> on-hold    nothing is given until a pharmacist verifies it again
    rejected              -> cancelled  rejected by the pharmacist, never given
    cancelled             -> cancelled  before any infusion started; stopped once one had started

An order is never voided in the clinic (it is rejected or cancelled), so no MedicationRequest is
sent as entered-in-error.

MedicationAdministration (id: the RateChange's UUID): one per pump rate recorded at an infusion.
Its period runs from that rate to the next live rate (or the infusion's stop). The dose is the
volume the pump delivered in it at the rates recorded (pauses and resumptions by a reaction
included, as ``scheduling.reconcile`` counts them), to the nearest 0.1 mL; the grams of IgG in
that volume (mL x mg/mL / 1000, exact) are in dosage.text. A voided rate is entered-in-error with
its void reason. The last live rate is in-progress while the infusion runs, stopped when a reaction
stopped it or less than the day's volume was given, else completed; every earlier one completed.
"""

from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

from django.utils import timezone

from dosing.models import DoseOrder, OrderStatus
from patients.models import Patient
from scheduling.models import (
    Course,
    CourseStatus,
    InfusionRecord,
    RateChange,
    ReactionAction,
    SessionStatus,
)
from scheduling.reconcile import RateAt, deliverable_ml
from scheduling.services.records import plan_of, rates_as_run

from . import terminology as t
from .exact_json import trimmed
from .resources import validated

ATC = "http://www.whocc.no/atc"
SNOMED = "http://snomed.info/sct"
GTIN = "https://www.gs1.org/gtin"
DOSE_RATE_TYPE = "http://terminology.hl7.org/CodeSystem/dose-rate-type"
# What every product of the catalog is: normal human immunoglobulin for intravenous use.
IVIG_ATC = {"system": ATC, "code": "J06BA02", "display": "immunoglobulins, normal human, for intravascular adm."}
INTRAVENOUS = {
    "coding": [{"system": SNOMED, "code": "47625008", "display": "Intravenous route"}],
    "text": "Intravenous",
}
TENTH = Decimal("0.1")
MG_PER_G = Decimal("1000")

# FHIR R4 status codes, for the status= search (any other value is refused).
REQUEST_STATUSES = ("active", "on-hold", "cancelled", "completed", "entered-in-error", "stopped", "draft", "unknown")
ADMINISTRATION_STATUSES = ("in-progress", "not-done", "on-hold", "completed", "entered-in-error", "stopped", "unknown")


def extension_url(base_url: str, name: str) -> str:
    """Our extensions, where FHIR has no element: dosing-weight, dose-per-kg, rate-step,
    pharmacist-verification."""
    return f"{base_url}/StructureDefinition/{name}"


@dataclass(frozen=True)
class MedicationRow:
    """One resource with what search filters on: its local day (`start`, as the other per-patient
    rows name it) and status."""

    id: str
    start: date
    status: str
    resource: dict


def _plain(value: Decimal) -> str:
    return format(trimmed(Decimal(value)), "f")


def _quantity(value, unit: str, code: str | None = None) -> dict:
    return {"value": Decimal(value), "unit": unit, "system": t.UCUM, "code": code or unit}


def _name(user) -> str:
    return user.get_full_name() or user.get_username()


def _medication(*, name: str, concentration_mg_per_ml: Decimal, batch: dict | None = None, gtin: str = "") -> dict:
    coding = [IVIG_ATC] + ([{"system": GTIN, "code": gtin}] if gtin else [])
    medication = {
        "resourceType": "Medication",
        "id": "medication",
        "code": {"coding": coding, "text": name},
        "form": {"text": "Solution for intravenous infusion"},
        "ingredient": [
            {
                "itemCodeableConcept": {"text": "Human normal immunoglobulin (IgG)"},
                "isActive": True,
                "strength": {
                    "numerator": _quantity(concentration_mg_per_ml, "mg"),
                    "denominator": _quantity(Decimal("1"), "mL"),
                },
            }
        ],
    }
    if batch:
        medication["batch"] = batch
    return medication


# --------------------------------------------------------------------------- MedicationRequest


def _course_of(order: DoseOrder) -> Course | None:
    """The course booked from the order that says its interval: the active one, else the latest."""
    courses = list(order.courses.all())
    active = [course for course in courses if course.status == CourseStatus.ACTIVE]
    return max(active or courses, key=lambda course: course.first_day, default=None)


def _interval_weeks(order: DoseOrder) -> int | None:
    course = _course_of(order)
    if course is not None:
        return course.interval_weeks
    return order.treatment_course.current_interval_weeks if order.treatment_course else None


def request_status(order: DoseOrder) -> tuple[str, str]:
    """(MedicationRequest.status, the reason in words) of an order; see the map above."""
    courses = list(order.courses.all())
    if order.status == OrderStatus.AWAITING_VERIFICATION:
        return "draft", "Awaiting pharmacist verification."
    if order.status == OrderStatus.REVERIFY:
        return "on-hold", f"Needs pharmacist verification again: {order.status_reason}".rstrip(": ")
    if order.status == OrderStatus.REJECTED:
        return "cancelled", f"Rejected by the pharmacist: {order.status_reason}"
    if order.status == OrderStatus.CANCELLED:
        given = any(
            session.status in (SessionStatus.IN_PROGRESS, SessionStatus.COMPLETED)
            for course in courses
            for cycle in course.cycles.all()
            for session in cycle.sessions.all()
        )
        return ("stopped" if given else "cancelled"), f"Cancelled: {order.status_reason}"
    if order.status == OrderStatus.REVIEW:
        return "active", f"In use, held to today's chart until a pharmacist verifies it again: {order.status_reason}"
    if courses and all(course.status == CourseStatus.COMPLETED for course in courses):
        return "completed", "; ".join(course.status_reason for course in courses)
    if courses and all(course.status != CourseStatus.ACTIVE for course in courses):
        stopped = [course.status_reason for course in courses if course.status == CourseStatus.STOPPED]
        return "stopped", f"Course stopped: {'; '.join(stopped)}"
    return "active", ""


def _step_entry(step: dict, number: int, count: int, base_url: str) -> dict:
    last = number == count
    minutes = f"{step['minutes']} min" + (" (until the day's volume is in)" if last else "")
    return {
        "extension": [
            {
                "url": extension_url(base_url, "rate-step"),
                "extension": [
                    {"url": "number", "valueInteger": number},
                    {"url": "rate", "valueQuantity": _quantity(step["rate_mg_per_kg_min"], "mg/kg/min")},
                    {"url": "start", "valueDuration": _quantity(step["start_min"], "min")},
                    {"url": "duration", "valueDuration": _quantity(step["minutes"], "min")},
                ],
            }
        ],
        "type": {
            "coding": [{"system": DOSE_RATE_TYPE, "code": "ordered", "display": "Ordered"}],
            "text": f"Step {number} of {count}: {_plain(step['rate_mg_per_kg_min'])} mg/kg/min, "
            f"{step['rate_ml_per_h']} mL/h for {minutes}, {step['volume_ml']} mL",
        },
        "doseQuantity": _quantity(step["volume_ml"], "mL"),
        "rateQuantity": _quantity(step["rate_ml_per_h"], "mL/h"),
    }


def _dosage(order: DoseOrder, base_url: str) -> dict:
    plan = order.plan
    steps = plan["rate_steps"]
    interval = _interval_weeks(order)
    basis = plan["weight_basis"]
    every = f", every {interval} weeks" if interval else " (interval set when the course is booked)"
    ladder = "; ".join(
        f"{step['rate_ml_per_h']} mL/h for {step['minutes']} min" + (" (until done)" if i == len(steps) else "")
        for i, step in enumerate(steps, start=1)
    )
    text = (
        f"{_plain(plan['dose_g_per_kg'])} g/kg per cycle = {_plain(plan['total_dose_g'])} g: "
        f"{_plain(plan['daily_dose_g'])} g ({plan['daily_volume_ml']} mL) a day on {plan['days']} consecutive "
        f"day{'s' if plan['days'] != 1 else ''}{every}, by intravenous infusion. Dosing weight "
        f"{plan['dosing_weight_kg']} kg, {basis} body weight ({plan['weight_reason']}). Rate ladder: {ladder}; "
        f"{plan['infusion_minutes']} min in all."
    )
    if interval:
        timing = {"repeat": {"frequency": plan["days"], "period": interval, "periodUnit": "wk"}}
    else:
        timing = {"repeat": {"count": plan["days"], "frequency": 1, "period": 1, "periodUnit": "d"}}
    timing["code"] = {"text": f"Once a day on {plan['days']} consecutive day(s){every}"}
    dosage = {
        "extension": [
            {
                "url": extension_url(base_url, "dosing-weight"),
                "extension": [
                    {"url": "weight", "valueQuantity": _quantity(plan["dosing_weight_kg"], "kg")},
                    {"url": "basis", "valueCode": basis},
                    {"url": "requested", "valueCode": plan["weight_basis_requested"]},
                    {"url": "reason", "valueString": plan["weight_reason"]},
                ],
            },
            {
                "url": extension_url(base_url, "dose-per-kg"),
                "valueQuantity": _quantity(plan["dose_g_per_kg"], "g/kg"),
            },
        ],
        "sequence": 1,
        "text": text,
        "timing": timing,
        "route": INTRAVENOUS,
        "doseAndRate": [_step_entry(step, i, len(steps), base_url) for i, step in enumerate(steps, start=1)],
        "maxDosePerAdministration": _quantity(plan["daily_dose_g"], "g"),
    }
    if interval:
        dosage["maxDosePerPeriod"] = {
            "numerator": _quantity(plan["total_dose_g"], "g"),
            "denominator": _quantity(interval, "wk"),
        }
    return dosage


def _verification(order: DoseOrder, base_url: str) -> list[dict]:
    """Who verified the order and when (MedicationRequest has no element for it)."""
    if not order.verified_by_id:
        return []
    return [
        {
            "url": extension_url(base_url, "pharmacist-verification"),
            "extension": [
                {"url": "verifier", "valueReference": {"display": _name(order.verified_by)}},
                {"url": "verified", "valueDateTime": order.verified_at.isoformat()},
            ],
        }
    ]


def medication_request(order: DoseOrder, *, base_url: str) -> MedicationRow:
    status, reason = request_status(order)
    product = order.facts["product"]
    notes = []
    if order.verified_by_id:
        verified_at = timezone.localtime(order.verified_at)
        notes.append(f"Verified by {_name(order.verified_by)} (pharmacist) at {verified_at:%Y-%m-%d %H:%M}.")
    if order.notes.strip():
        notes.append(f"Prescriber's notes: {order.notes.strip()}")
    optional = {
        "extension": _verification(order, base_url),
        "statusReason": {"text": reason} if reason else None,
        "note": [{"text": note} for note in notes],
    }
    resource = {
        "resourceType": "MedicationRequest",
        "id": str(order.uuid),
        "contained": [
            _medication(name=product["name"], concentration_mg_per_ml=Decimal(order.plan["concentration_mg_per_ml"]))
        ],
        "extension": optional["extension"],
        "status": status,
        "statusReason": optional["statusReason"],
        "intent": "order",
        "medicationReference": {"reference": "#medication", "display": product["name"]},
        "subject": {"reference": f"Patient/{order.patient.uuid}"},
        "authoredOn": order.prescribed_at.isoformat(),
        "requester": {"display": _name(order.prescribed_by)},
        "reasonCode": [{"text": order.facts["indication"]["name"]}],
        "note": optional["note"],
        "dosageInstruction": [_dosage(order, base_url)],
    }
    resource = {key: value for key, value in resource.items() if value}
    return MedicationRow(str(order.uuid), timezone.localdate(order.prescribed_at), status, validated(resource))


def _orders(patient: Patient):
    return (
        DoseOrder.objects.filter(patient=patient)
        .select_related("patient", "prescribed_by", "verified_by", "treatment_course")
        .prefetch_related("courses__cycles__sessions")
    )


def medication_request_rows(patient: Patient, *, base_url: str) -> list[MedicationRow]:
    """The patient's orders, oldest first, ties by id: the order search pages through."""
    rows = [medication_request(order, base_url=base_url) for order in _orders(patient)]
    return sorted(rows, key=lambda row: (row.resource["authoredOn"], row.id))


# --------------------------------------------------------------------------- MedicationAdministration


def _lot_batch(record: InfusionRecord) -> tuple[dict | None, str, str]:
    """(batch, gtin, words) of the record's live lots: a batch when they are all one lot."""
    lots = list(record.lots.live())
    words = "; ".join(
        f"lot {lot.lot_number}, {lot.vials} x {_plain(lot.vial_size_g)} g"
        + (f", expires {lot.expiry_date.isoformat()}" if lot.expiry_date else "")
        for lot in lots
    )
    if len({(lot.lot_number, lot.expiry_date) for lot in lots}) != 1:
        return None, "", words
    batch = {"lotNumber": lots[0].lot_number}
    if lots[0].expiry_date:
        batch["expirationDate"] = lots[0].expiry_date.isoformat()
    gtins = {lot.gtin for lot in lots if lot.gtin}
    return batch, (gtins.pop() if len(gtins) == 1 else ""), words


def _ended_early(record: InfusionRecord, plan: dict) -> bool:
    """Stopped by a reaction, or less than the day's volume given."""
    if any(reaction.action == ReactionAction.STOPPED for reaction in record.reactions.live()):
        return True
    return record.volume_given_ml is not None and record.volume_given_ml < Decimal(plan["daily_volume_ml"])


def administration_rows(record: InfusionRecord) -> list[MedicationRow]:
    session = record.session
    order = session.cycle.course.order
    plan = plan_of(session, record=record)
    changes = list(record.rate_changes.all().select_related("recorded_by", "voided_by").order_by("at", "pk"))
    live = [change for change in changes if not change.is_voided]
    rates = rates_as_run(plan, record)
    batch, gtin, lot_words = _lot_batch(record)
    product_name = order.facts["product"]["name"]
    concentration = Decimal(plan["concentration_mg_per_ml"])
    closed = session.status in (SessionStatus.CANCELLED, SessionStatus.MISSED)
    rows = []
    for change in changes:
        later = [other.at for other in live if other.at > change.at]
        end = min(later) if later else record.stopped_at
        if change.is_voided:
            status = "entered-in-error"
        elif later:
            status = "completed"
        elif end is None:
            status = "stopped" if closed else "in-progress"
        else:
            status = "stopped" if closed or _ended_early(record, plan) else "completed"
        rows.append(
            _administration(
                change,
                order=order,
                status=status,
                end=end,
                rates=rates,
                concentration=concentration,
                medication=_medication(
                    name=product_name, concentration_mg_per_ml=concentration, batch=batch, gtin=gtin
                ),
                lot_words=lot_words,
            )
        )
    return rows


def _administration(
    change: RateChange,
    *,
    order: DoseOrder,
    status: str,
    end: datetime | None,
    rates: list[RateAt],
    concentration: Decimal,
    medication: dict,
    lot_words: str,
) -> MedicationRow:
    rate = change.rate_ml_per_h
    words = "paused (0 mL/h)" if rate == 0 else f"{rate} mL/h"
    text = f"Step {change.step_number}: {words} from {timezone.localtime(change.at):%H:%M}"
    dosage: dict = {"route": INTRAVENOUS, "rateQuantity": _quantity(rate, "mL/h")}
    period = {"start": change.at.isoformat()}
    if end is not None:
        period["end"] = end.isoformat()
    if end is not None and not change.is_voided:
        # The rate itself is the pump's before the first reaction in the period: counting from
        # the change, its own rate applies first, then any pause or resumption recorded.
        volume = deliverable_ml(start=change.at, stop=end, initial_rate_ml_per_h=rate, rates=rates)
        # To the nearest 0.1 mL (the pump's resolution): deliverable_ml divides time into hours at
        # 28 digits, so 230 min at 168 mL/h comes back as 643.99999...; rounding down would say 643.9.
        volume = volume.quantize(TENTH, ROUND_HALF_UP)
        grams = volume * concentration / MG_PER_G
        dosage["dose"] = _quantity(volume, "mL")
        text += (
            f" to {timezone.localtime(end):%H:%M}: {volume} mL ({_plain(grams)} g IgG at "
            f"{_plain(concentration)} mg/mL), the volume the recorded pump rates deliver"
        )
    dosage["text"] = text + "."
    notes = []
    if change.reason:
        notes.append(f"Reason for the rate: {change.reason}")
    if change.late_reason:
        notes.append(f"Recorded late: {change.late_reason}")
    if lot_words:
        notes.append(f"Lots opened for this infusion: {lot_words}.")
    resource = {
        "resourceType": "MedicationAdministration",
        "id": str(change.uuid),
        "contained": [medication],
        "status": status,
        "medicationReference": {"reference": "#medication", "display": medication["code"]["text"]},
        "subject": {"reference": f"Patient/{order.patient.uuid}"},
        "effectivePeriod": period,
        "performer": [{"actor": {"display": _name(change.recorded_by)}}],
        "request": {"reference": f"MedicationRequest/{order.uuid}"},
        "dosage": dosage,
    }
    if change.is_voided:
        resource["statusReason"] = [{"text": f"Voided: {change.void_reason}"}]
        notes.insert(
            0,
            f"Voided by {_name(change.voided_by)} at {timezone.localtime(change.voided_at):%Y-%m-%d %H:%M}: "
            f"{change.void_reason}",
        )
    if notes:
        resource["note"] = [{"text": note} for note in notes]
    return MedicationRow(str(change.uuid), timezone.localdate(change.at), status, validated(resource))


def _records(patient: Patient):
    return (
        InfusionRecord.objects.filter(session__patient=patient)
        .select_related("session__cycle__course__order__patient", "session__patient")
        .prefetch_related("lots", "reactions")
    )


def medication_administration_rows(patient: Patient) -> list[MedicationRow]:
    """Every rate run at the patient's infusions, earliest first, ties by id."""
    rows = [row for record in _records(patient) for row in administration_rows(record)]
    return sorted(rows, key=lambda row: (row.resource["effectivePeriod"]["start"], row.id))
