"""Labs, weights and heights in: an inbound FHIR Observation read into what the patient page would
enter, then written through the page's own service (patients.services.clinical_record_create),
so risk flags, dose orders that follow the chart and everything else that watches the chart
react exactly as they do to a result typed on the page.

Reading refuses with a `Refusal` (status, FHIR issue code, message, where): nothing is written
for a refused Observation, and a transaction Bundle with one refused entry writes none.
"""

import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from uuid import UUID

import pydantic
from django.core.exceptions import ValidationError
from django.utils import timezone
from fhir.resources.R4B.observation import Observation

from accounts.transactions import service_transaction
from patients.models import BodyMeasurement, LabResult, Patient
from patients.services import clinical_record_create

from . import terminology as t
from . import units

ACCEPTED_STATUSES = ("final", "amended", "corrected")
MEASUREMENT_FIELDS = {"weight": "weight_kg", "height": "height_cm"}


class Refusal(Exception):
    def __init__(self, status: int, code: str, message: str, where: str | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.where = status, code, message, where

    def at(self, prefix: str) -> "Refusal":
        """The same refusal, located inside a Bundle entry: where = "Bundle.entry[3].resource..."."""
        where = prefix if self.where is None else f"{prefix}.{self.where.removeprefix('Observation.')}"
        return Refusal(self.status, self.code, f"{prefix}: {self.message}", where)


@dataclass(frozen=True)
class Incoming:
    """One inbound result, in our units, for one patient: what the page's form would hand the service."""

    patient: Patient
    quantity: str  # a LAB_CATALOG test, "weight" or "height"
    on: date
    value: Decimal
    upper_limit_normal: Decimal | None = None

    @property
    def permission(self) -> str:
        return "patients.add_bodymeasurement" if self.quantity in MEASUREMENT_FIELDS else "patients.add_labresult"


# --------------------------------------------------------------------------- reading


def parse_json(raw: bytes) -> dict:
    """The body as JSON with every number an exact Decimal (or int); not an object: Refusal 400."""

    def no_constant(name):
        raise ValueError(f"{name} is not a number JSON allows")

    try:
        data = json.loads(raw, parse_float=Decimal, parse_constant=no_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Refusal(400, "structure", f"The body is not JSON: {exc}") from None
    if not isinstance(data, dict) or "resourceType" not in data:
        raise Refusal(400, "structure", "The body is not a FHIR resource (a JSON object with resourceType).")
    return data


def validate_observation(resource: dict) -> None:
    """The R4B Observation model's verdict; the first error it finds, with where, as a 400."""
    if resource.get("resourceType") != "Observation":
        raise Refusal(400, "invalid", f"resourceType is {resource.get('resourceType')!r}, not Observation.")
    try:
        Observation.model_validate(resource)
    except pydantic.ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(["Observation", *(str(part) for part in error["loc"])])
        raise Refusal(400, "invalid", f"{where}: {error['msg']}", where) from None


def read_observation(resource: dict, *, mrn_system: str, places: dict[str, int]) -> Incoming:
    """A valid Observation (validate_observation first) as an Incoming, or a Refusal (422)."""
    status = resource["status"]
    if status not in ACCEPTED_STATUSES:
        raise Refusal(
            422,
            "business-rule",
            f"status {status!r} is not a result to record: only {', '.join(ACCEPTED_STATUSES)}.",
            "Observation.status",
        )
    quantity = _quantity(resource)
    value, unit = _value(resource)
    try:
        stored = units.to_stored_unit(quantity, value, unit, places=places[quantity])
    except units.UnitError as exc:
        raise Refusal(422, "code-invalid", str(exc), "Observation.valueQuantity.code") from None
    uln = _upper_limit_normal(resource, quantity, places) if quantity not in MEASUREMENT_FIELDS else None
    return Incoming(
        patient=_patient(resource, mrn_system), quantity=quantity, on=_effective(resource), value=stored,
        upper_limit_normal=uln,
    )  # fmt: skip


def _quantity(resource: dict) -> str:
    codes = t.inbound_codes()
    codings = resource["code"].get("coding", [])
    found = {codes[c["code"]] for c in codings if c.get("system") == t.LOINC and c.get("code") in codes}
    if len(found) > 1:
        raise Refusal(
            422, "code-invalid", f"code names more than one test ({', '.join(sorted(found))}).", "Observation.code"
        )
    if not found:
        given = ", ".join(f"{c.get('system', '')}|{c.get('code', '')}" for c in codings) or "no coding"
        raise Refusal(
            422,
            "code-invalid",
            f"code {given} is not a result recorded here: send a LOINC code the CapabilityStatement lists "
            "(http://loinc.org).",
            "Observation.code",
        )
    return found.pop()


def _value(resource: dict) -> tuple[Decimal, str]:
    q = resource.get("valueQuantity")
    if q is None:
        raise Refusal(
            422, "required", "valueQuantity is required (a number with its UCUM unit).", "Observation.value[x]"
        )
    if "comparator" in q:
        raise Refusal(
            422,
            "business-rule",
            f"valueQuantity.comparator {q['comparator']!r}: a bound (such as >90) is not a number to record.",
            "Observation.valueQuantity.comparator",
        )
    if "value" not in q:
        raise Refusal(422, "required", "valueQuantity.value is required.", "Observation.valueQuantity.value")
    if q.get("system") != t.UCUM or not q.get("code"):
        raise Refusal(
            422,
            "required",
            f"valueQuantity needs a UCUM unit: system {t.UCUM} and code (got unit {q.get('unit')!r}).",
            "Observation.valueQuantity.code",
        )
    return Decimal(q["value"]), q["code"]


def _upper_limit_normal(resource: dict, quantity: str, places: dict[str, int]) -> Decimal | None:
    """The first reference range's high, in our unit; none: the site's default (as on the page)."""
    high = next((r["high"] for r in resource.get("referenceRange", []) if "high" in r), None)
    if high is None:
        return None
    where = "Observation.referenceRange.high"
    if "value" not in high or "comparator" in high or high.get("system") != t.UCUM or not high.get("code"):
        raise Refusal(
            422, "required", "referenceRange.high needs a plain value and a UCUM unit (system and code).", where
        )
    try:
        return units.to_stored_unit(quantity, Decimal(high["value"]), high["code"], places=places["uln"])
    except units.UnitError as exc:
        raise Refusal(422, "code-invalid", f"referenceRange.high {exc}", where) from None


def _effective(resource: dict) -> date:
    """The collection date: effectiveDateTime, effectivePeriod.start or effectiveInstant; a time with
    its offset counts on the clinic's local day (23:30 UTC in New York is that day's 18:30)."""
    text = resource.get("effectiveDateTime") or resource.get("effectivePeriod", {}).get("start")
    text = text or resource.get("effectiveInstant")
    where = "Observation.effective[x]"
    if not text:
        raise Refusal(422, "required", "effectiveDateTime (the collection date) is required.", where)
    if len(text) < 10:
        raise Refusal(422, "invalid", f"effective {text!r} is not a whole day (YYYY-MM-DD).", where)
    if len(text) == 10:
        return date.fromisoformat(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise Refusal(422, "invalid", f"effective {text!r} is not a date-time.", where) from None
    if moment.tzinfo is None:
        raise Refusal(422, "invalid", f"effective {text!r} has a time but no time zone offset.", where)
    return timezone.localdate(moment)


def _patient(resource: dict, mrn_system: str) -> Patient:
    subject, where = resource.get("subject"), "Observation.subject"
    if not subject:
        raise Refusal(422, "required", "subject is required: the patient's MRN (identifier) or Patient/<id>.", where)
    by_reference = by_identifier = None
    if "reference" in subject:
        reference = subject["reference"]
        try:
            patient_uuid = UUID(reference.removeprefix("Patient/")) if reference.startswith("Patient/") else None
        except ValueError:
            patient_uuid = None
        by_reference = Patient.objects.filter(uuid=patient_uuid).first() if patient_uuid else None
        if by_reference is None:
            raise Refusal(422, "not-found", f"subject.reference {reference!r} is not a patient here.", where)
    if "identifier" in subject:
        identifier = subject["identifier"]
        system, mrn = identifier.get("system"), identifier.get("value")
        if system not in (None, mrn_system) or not mrn:
            raise Refusal(
                422,
                "not-found",
                f"subject.identifier must be an MRN of system {mrn_system} (got {system}|{mrn}).",
                where,
            )
        by_identifier = Patient.objects.filter(mrn=mrn).first()
        if by_identifier is None:
            raise Refusal(422, "not-found", f"No patient has MRN {mrn!r}.", where)
    if by_reference and by_identifier and by_reference != by_identifier:
        raise Refusal(422, "conflict", "subject.reference and subject.identifier name different patients.", where)
    patient = by_reference or by_identifier
    if patient is None:
        raise Refusal(422, "required", "subject needs the patient's MRN (identifier) or Patient/<id>.", where)
    return patient


def stored_places() -> dict[str, int]:
    """Decimal places of the column each quantity is stored in (what units rounds to)."""
    lab = LabResult._meta.get_field("value").decimal_places
    places = dict.fromkeys(units.CONVERSIONS, lab)
    places |= {q: BodyMeasurement._meta.get_field(field).decimal_places for q, field in MEASUREMENT_FIELDS.items()}
    places["uln"] = LabResult._meta.get_field("upper_limit_normal").decimal_places
    return places


# --------------------------------------------------------------------------- writing


def observation_receive(*, by, incoming: Incoming, reason: str) -> tuple[str, bool]:
    """Record one inbound result through the page's service, unless the same one is on file.

    Same patient, test, day and value (in our unit, after rounding) is the same result: nothing
    is written and the existing Observation's id comes back with False. Else the id of the new
    one, True. The patient row is locked so two deliveries of one result cannot both write.
    """
    with service_transaction():
        Patient.objects.select_for_update().filter(pk=incoming.patient.pk).first()
        if incoming.quantity in MEASUREMENT_FIELDS:
            field = MEASUREMENT_FIELDS[incoming.quantity]
            existing = incoming.patient.measurements.filter(measured_on=incoming.on, **{field: incoming.value}).first()
            if existing is None:
                existing = clinical_record_create(
                    by=by, model=BodyMeasurement, patient=incoming.patient, reason=reason,
                    measured_on=incoming.on, **{field: incoming.value},
                )  # fmt: skip
                return f"{existing.uuid}-{incoming.quantity}", True
            return f"{existing.uuid}-{incoming.quantity}", False
        existing = incoming.patient.lab_results.filter(
            test=incoming.quantity, collected_on=incoming.on, value=incoming.value
        ).first()
        if existing is not None:
            return str(existing.uuid), False
        record = clinical_record_create(
            by=by, model=LabResult, patient=incoming.patient, reason=reason, test=incoming.quantity,
            collected_on=incoming.on, value=incoming.value, upper_limit_normal=incoming.upper_limit_normal,
        )  # fmt: skip
        return str(record.uuid), True


# The service's field names -> where that is in the Observation sent.
FIELD_WHERE = {
    "collected_on": "Observation.effective[x]",
    "measured_on": "Observation.effective[x]",
    "value": "Observation.valueQuantity.value",
    "weight_kg": "Observation.valueQuantity.value",
    "height_cm": "Observation.valueQuantity.value",
    "upper_limit_normal": "Observation.referenceRange.high",
}


def service_refusal(exc: ValidationError) -> Refusal:
    """The page service's refusal (a ValidationError) as a 422 in the sender's terms: one line,
    each field named as the Observation names it ("Observation.valueQuantity.value: 40 mg/dL is
    above the highest plausible ...")."""
    if not hasattr(exc, "error_dict"):
        return Refusal(422, "business-rule", " ".join(exc.messages))
    parts, wheres = [], []
    for field, errors in exc.error_dict.items():
        where = FIELD_WHERE.get(field, f"Observation ({field})")
        wheres.append(where)
        parts.append(f"{where}: {' '.join(m for e in errors for m in e.messages)}")
    return Refusal(422, "business-rule", "; ".join(parts), wheres[0])
