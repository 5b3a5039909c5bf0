"""The chair API (JSON): a day's infusion sessions and what a nurse records at the chair, for
tablets and pump integration (issue 14, item 10).

    GET  /sessions?date=YYYY-MM-DD            the day's sessions, each with its rate ladder
    POST /sessions/{session_id}/start         start the infusion: 200, the session as started
    POST /sessions/{session_id}/rates         a pump rate: 201, the entry
    POST /sessions/{session_id}/vitals        vital signs: 201, the entry
    POST /sessions/{session_id}/reactions     an infusion reaction: 201, the entry
    POST /sessions/{session_id}/lots          a product lot, typed or scanned (GS1): 201, the entry
    POST /sessions/{session_id}/entries/{entry_id}/void   void any entry with a reason: 200, the entry
    POST /sessions/{session_id}/complete      stop, volume and confirmation: 200, the summary

Authentication as for the rest of the API: a per-user token (``Authorization: Bearer ...``, no
CSRF) or the browser session (with CSRF). Decisions:

- Ids. A session's ``id`` is its UUID, as the patients API and the pages name a resource
  (``/scheduling/sessions/<uuid>/``); so are the patient's ``id`` and the ``order``. An entry's
  ``id`` is its UUID (``RecordEntry.uuid``), one id space across every kind of entry, so
  ``/entries/{entry_id}/void`` takes any of them.
- Amendments. Once the infusion is completed an entry or a void amends its record: each write
  takes an optional ``late_reason`` (a void's ``reason`` is its own), refused without one.
- Same rules as the pages. Each write calls the service the infusion record pages call
  (scheduling/services/records.py) with the same arguments; no clinical rule is checked here.
  A service's refusal becomes the API's one 422 (`_call`), each message at the request field it
  is about: every route has a map from the service's names (``systolic_mmhg``, ``type``) to its
  own (``systolic``, ``reaction``); a message about no request field is at field null.
- Who. Any clinic role reads (``scheduling.view_infusionsession``); writing needs the nurse's
  permissions on the record (``scheduling.add_infusionrecord`` and ``change_infusionrecord``,
  as the pages), anyone else gets 403; an unknown session 404 (`_session_for`, role first, so a
  403 says nothing about which sessions exist). As for every route of this API, Ninja checks the
  body before the route runs: a malformed body is answered 422 whoever sends it. Nothing is
  written either way.
- The ladder. ``steps`` is the administration plan's (``plan_of``: the verified plan held to
  today's chart, run as a first infusion when the session is one: ``first_infusion`` then says
  why, and step 1 runs the site's factor times its minutes). ``limit_ml_h`` is ``step_limit``'s
  (each step also held to the plan's maximum); ``from_minute`` is
  ``dosing.chart_limits.ladder_may_begin`` with the unit's tolerance, counted from the actual
  start; ``minutes`` is null for the last step, which runs until the day's volume is in. Worked:
  70 kg dermatomyositis, Octagam 10 %, 5 min tolerance -> 42.0, 84.0, 168.0 mL/h from minutes 0,
  25, 55 (a first infusion, factor 2: 0, 55, 85).
- A rate comes without its step. ``rate_step`` (records.py) gives it the lowest step whose limit
  covers it among those that may have begun at ``at`` (``ladder_clock``); a pause stays at the
  step running. A rate too early or too fast is therefore refused at ``rate_ml_h`` by the
  service's own limit check, followed by the limit in force at that minute in
  ``limit_in_force``'s words. The step is worked out before the service locks the session; the
  service checks it again under the lock, so a reaction recorded meanwhile can only refuse.
- The start. A tablet shows no page, so the session's version is not compared
  (``expected_version=None``, the "caller without a page" of accounts.audit.check_version). A
  stale or missing item of the pre-infusion check needs ``check_accepted`` with a
  ``check_reason``, as on the page; without them the 422 carries the check's words at those
  fields. The answer is the session as started, with its pre-infusion check as kept.
- Numbers in: JSON numbers or decimal strings, read exactly (patients/api_common.py) and held to
  the digits the record stores: 42.00 mL/h is 42.0, 42.05 is refused, never rounded. Ranges are
  the models' validators (run by the services), shown in the OpenAPI document. Numbers out:
  decimal strings. Times in: ISO 8601 with an offset (none: 422 at that field); out: the
  clinic's local time with its offset.
- Names. Requests use the issue's names (``systolic``, ``rate_ml_h``); every number in an answer
  carries its unit in its name (``systolic_mmhg``, ``heart_rate_bpm``).

Adding a route (``/lots``, ``/entries/{entry_id}/void``, ``/complete``): fetch the session with
`_session_for(request, session_id, write=True)`, call the service through
`_call(service, FIELD_MAP, by=request.auth, session=session, ...)`, and answer with
``Status(201, ...)`` built around `_entry_id`; list its statuses with ``WRITE_ERRORS``.
"""

from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Annotated, Literal
from uuid import UUID

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from ninja import Field, Path, Query, Router, Schema, Status
from ninja.errors import AuthorizationError, HttpError
from pydantic import AfterValidator, StrictBool

from dosing.chart_limits import ladder_may_begin
from dosing.models import SiteSettings
from patients.api_common import (
    DECIMAL_TEXT_PATTERN,
    WHOLE_TEXT,
    AwareTime,
    DecimalText,
    ExactDecimal,
    InvalidInput,
    InvalidInputOut,
    JsonObjectBody,
    MessageOut,
    PlainText,
    WholeNumber,
)

from .models import (
    InfusionRecord,
    InfusionSession,
    LotUsage,
    RateChange,
    Reaction,
    ReactionAction,
    ReactionSeverity,
    ReactionType,
    SessionStatus,
    UnitSettings,
    VitalSigns,
    VitalsPhase,
)
from .services import records as services

router = Router(tags=["chair"])

READ_PERMISSIONS = ("scheduling.view_infusionsession",)
# The pages' permissions for recording an infusion: the nurse's (accounts/roles.py).
WRITE_PERMISSIONS = ("scheduling.add_infusionrecord", "scheduling.change_infusionrecord")

READ_ERRORS = {401: MessageOut, 403: MessageOut, 422: InvalidInputOut}
WRITE_ERRORS = {**READ_ERRORS, 404: MessageOut}

SessionId = Annotated[
    UUID,
    Path(description="The session's id (from GET /sessions).", examples=["6f1c2e3a-4b5d-4e6f-8a7b-9c0d1e2f3a4b"]),
]


# ----------------------------------------------------------------------- shared by every route


def _session_for(request, session_id: UUID, *, write: bool) -> InfusionSession:
    """The session a route acts on, once the caller's role allows it: 403, then 404."""
    if not request.auth.has_perms(WRITE_PERMISSIONS if write else READ_PERMISSIONS):
        what = "record infusions" if write else "see infusion sessions"
        raise AuthorizationError(message=f"Your role does not allow you to {what}.")
    session = (
        InfusionSession.objects.select_related("patient", "cycle__course__order", "record")
        .filter(uuid=session_id)
        .first()
    )
    if session is None:
        raise HttpError(404, "No infusion session has this id.")
    return session


def _call(service, fields: Mapping[str, str], *, explain: Mapping[str, str] | None = None, **kwargs):
    """Run a records service; its refusal (a Django ValidationError) becomes the API's 422.

    ``fields`` maps the service's field names to the request's; a message at any other name
    (a rule about the session as a whole, a model field the request does not carry) is at
    field null. ``explain`` adds a sentence to the first message at a request field."""
    try:
        return service(**kwargs)
    except ValidationError as exc:
        by_name = exc.message_dict if hasattr(exc, "error_dict") else {NON_FIELD_ERRORS: exc.messages}
        errors, explained = [], set()
        for name, messages in by_name.items():
            field = fields.get(name)
            for message in messages:
                extra = (explain or {}).get(field) if field not in explained else None
                explained.add(field)
                errors.append({"field": field, "message": f"{message} {extra}" if extra else message})
        raise InvalidInput(errors) from None


EntryId = UUID


def _entry_id(entry: models.Model) -> EntryId:
    return entry.uuid


def _local(moment: datetime | None) -> datetime | None:
    return None if moment is None else timezone.localtime(moment)


def _json_number(value: int | Decimal) -> int | float:
    # For the OpenAPI document only (a JSON schema bound is a JSON number); the bounds are whole.
    return int(value) if value == int(value) else float(value)


def _number(model: type[models.Model], name: str, *, whole: bool, nullable: bool = False):
    """A request number as the record stores it in ``model.name``: a JSON number or its text, its
    range (the model field's validators, which the service's full_clean applies) shown in the
    OpenAPI document. A decimal is held to the field's digits and places: 42.00 is read as 42.0,
    42.05 is refused, nothing is rounded."""
    field = model._meta.get_field(name)
    bounds = {}
    for validator in field.validators:
        if isinstance(validator, MinValueValidator):
            bounds["minimum"] = _json_number(validator.limit_value)
        elif isinstance(validator, MaxValueValidator):
            bounds["maximum"] = _json_number(validator.limit_value)

    def document(schema: dict) -> None:
        # pydantic's own max_digits and decimal_places are no JSON Schema keywords.
        for key in ("type", "anyOf", "minimum", "maximum", "pattern", "max_digits", "decimal_places"):
            schema.pop(key, None)
        number = {"type": "integer" if whole else "number", **bounds}
        text = {"type": "string", "pattern": f"^{WHOLE_TEXT.pattern}$" if whole else DECIMAL_TEXT_PATTERN}
        schema["anyOf"] = [number, text, *([{"type": "null"}] if nullable else [])]

    if whole:
        kind = WholeNumber
    else:
        quantum = Decimal(1).scaleb(-field.decimal_places)
        digits = Field(max_digits=field.max_digits, decimal_places=field.decimal_places)
        kind = Annotated[ExactDecimal, digits, AfterValidator(lambda value: value.quantize(quantum))]
    return (kind | None if nullable else kind), document


def _text_max(model: type[models.Model], name: str) -> int:
    return model._meta.get_field(name).max_length


# ----------------------------------------------------------------------- sessions


class PatientRefOut(Schema):
    id: UUID = Field(description="The patient's id (as in /patients/{patient_uuid}).")
    mrn: str


class StepOut(Schema):
    step: int = Field(description="Numbered from 1.")
    limit_ml_h: DecimalText = Field(description="The fastest pump rate allowed at this step (mL/h).")
    from_minute: int = Field(
        description="The earliest minute after the actual start at which this step may begin "
        "(the steps before it have run their minutes, less the unit's tolerance)."
    )
    minutes: int | None = Field(description="The step's planned minutes; null for the last step.")


class SessionOut(Schema):
    id: UUID
    patient: PatientRefOut
    order: UUID = Field(description="The dose order's id.")
    day_number: int = Field(description="Day of the cycle.")
    chair: int
    status: Literal[tuple(SessionStatus.values)]
    planned_start: datetime
    started_at: datetime | None = Field(description="The actual start; null before the infusion starts.")
    steps: list[StepOut] = Field(description="The rate ladder the chair follows.")
    first_infusion: str | None = Field(
        description="Why this is a first infusion (IVIG-naive, product switch, a gap without IVIG), with the "
        "slower first step the site's policy holds it to; null when it is not one."
    )


def _steps(plan: dict, *, tolerance_minutes: int) -> list[dict]:
    rate_steps = plan["rate_steps"]
    begins = ladder_may_begin(rate_steps, tolerance_minutes=tolerance_minutes)
    return [
        {
            "step": number,
            "limit_ml_h": str(services.step_limit(plan, number).rate_ml_per_h),
            "from_minute": begin,
            "minutes": None if number == len(rate_steps) else step["minutes"],
        }
        for number, (step, begin) in enumerate(zip(rate_steps, begins, strict=True), start=1)
    ]


def _session_out(
    session: InfusionSession, record: InfusionRecord | None, *, tolerance_minutes: int, site: SiteSettings | None = None
) -> dict:
    plan = services.plan_of(session, record=record, site=site)
    return {
        "id": session.uuid,
        "patient": {"id": session.patient.uuid, "mrn": session.patient.mrn},
        "order": services.order_of(session).uuid,
        "day_number": session.day_number,
        "chair": session.chair,
        "status": session.status,
        "planned_start": _local(session.planned_start),
        "started_at": _local(record.started_at if record else None),
        "steps": _steps(plan, tolerance_minutes=tolerance_minutes),
        "first_infusion": plan["first_infusion"]["text"] if plan.get("first_infusion") else None,
    }


# A day far enough from the end of the calendar that its following midnight exists.
LAST_DAY = date(9999, 12, 30)


@router.get("/sessions", response={200: list[SessionOut], **READ_ERRORS}, summary="A day's infusion sessions")
def list_sessions(
    request,
    day: Annotated[date, Query(alias="date", le=LAST_DAY, description="The clinic's local date, YYYY-MM-DD.")],
):
    """Every session planned on that local date (any status), by planned start and chair, with
    the rate ladder of its order's administration plan.

    Example: the 70 kg dermatomyositis plan (Octagam 10 %), the unit's 5 min tolerance ->
    steps 42.0, 84.0, 168.0 mL/h from minutes 0, 25, 55; minutes 30, 30, null.
    """
    if not request.auth.has_perms(READ_PERMISSIONS):
        raise AuthorizationError(message="Your role does not allow you to see infusion sessions.")
    start = timezone.make_aware(datetime.combine(day, time.min))
    end = timezone.make_aware(datetime.combine(day + timedelta(days=1), time.min))
    sessions = (
        InfusionSession.objects.between(start, end)
        .select_related("patient", "cycle__course__order__product", "record")
        .order_by("planned_start", "chair")
    )
    tolerance = UnitSettings.load().ladder_tolerance_minutes
    site = SiteSettings.load()
    return [
        _session_out(session, getattr(session, "record", None), tolerance_minutes=tolerance, site=site)
        for session in sessions
    ]


# ----------------------------------------------------------------------- start


class StartIn(JsonObjectBody):
    at: AwareTime = Field(description="When the pump was started.")
    check_accepted: StrictBool = Field(
        False, description="Accept starting with the stale or missing items of the pre-infusion check."
    )
    check_reason: PlainText = Field("", description="Why the infusion starts anyway; needed with check_accepted.")


START_FIELDS = {"started_at": "at", "check_accepted": "check_accepted", "check_reason": "check_reason"}


class CheckItemOut(Schema):
    code: str
    label: str
    value: str
    unit: str
    on: date | None
    age_days: int | None
    status: Literal["ok", "stale", "missing"]
    why: str


class ActiveFlagOut(Schema):
    code: str
    severity: str
    title: str


class PreInfusionCheckOut(Schema):
    checked_on: date
    cycle_first_day: date
    order_weight_kg: DecimalText = Field(description="The weight the order was dosed on (kg).")
    policy: str = Field(description="How recent each item must be (site policy).")
    items: list[CheckItemOut]
    needs_acceptance: bool
    active_flags: list[ActiveFlagOut]
    accepted: bool = Field(description="A stale or missing item was accepted, with `reason`.")
    reason: str


class StartOut(SessionOut):
    pre_infusion_check: PreInfusionCheckOut = Field(description="The check as kept with the start.")


@router.post(
    "/sessions/{session_id}/start",
    response={200: StartOut, **WRITE_ERRORS},
    summary="Start an infusion",
)
def start_infusion(request, session_id: SessionId, payload: StartIn):
    """The session is in progress from `at`, with the pre-infusion check kept. Refused for a
    session that is cancelled, missed, completed or already started, an order not (or no longer)
    verified, a start on another day than planned, or a stale or missing check item without
    `check_accepted` and `check_reason`. Nurses only."""
    session = _session_for(request, session_id, write=True)
    record = _call(
        services.record_start,
        START_FIELDS,
        by=request.auth,
        session=session,
        started_at=payload.at,
        expected_version=None,
        check_accepted=payload.check_accepted,
        check_reason=payload.check_reason,
    )
    session.refresh_from_db()
    tolerance = UnitSettings.load().ladder_tolerance_minutes
    check = dict(record.pre_infusion_check, order_weight_kg=str(record.pre_infusion_check["order_weight_kg"]))
    return _session_out(session, record, tolerance_minutes=tolerance) | {"pre_infusion_check": check}


# ----------------------------------------------------------------------- rates

RateMlH, _rate_schema = _number(RateChange, "rate_ml_per_h", whole=False)


class RateIn(JsonObjectBody):
    at: AwareTime = Field(description="When the pump was set.")
    rate_ml_h: RateMlH = Field(
        description="Pump rate (mL/h); 0 is a pause. Never above the limit of the highest step that may have begun.",
        examples=["42.0"],
        json_schema_extra=_rate_schema,
    )
    reason: PlainText = Field("", max_length=_text_max(RateChange, "reason"), description="E.g. tolerated.")
    late_reason: PlainText = Field(
        "", max_length=300, description="Only after completion: why this entry is made late (an amendment)."
    )


# The step is worked out from the rate (`rate_step`): a refusal of it is a refusal of the rate.
RATE_FIELDS = {
    "at": "at",
    "rate_ml_per_h": "rate_ml_h",
    "step_number": "rate_ml_h",
    "reason": "reason",
    "late_reason": "late_reason",
}


class RateOut(Schema):
    id: EntryId
    at: datetime
    rate_ml_h: DecimalText
    step: int = Field(description="The step of the ladder the rate was recorded at.")
    reason: str


def _step_for_rate(session: InfusionSession, at: datetime, rate_ml_per_h: Decimal) -> tuple[int, str]:
    """The step the rate belongs to, and the limit in force at ``at`` in words when the rate is
    above that step's limit (so the refusal says when the next step may begin). Before the start
    there is no clock: step 1, and the service refuses the rate for want of a start."""
    record = services.record_of(session)
    if record is None or record.started_at is None:
        return 1, ""
    plan = services.plan_of(session)
    clock = services.ladder_clock(plan, record, at=max(at, record.started_at))
    step = services.rate_step(plan, record, clock, rate_ml_per_h)
    over = rate_ml_per_h > services.step_limit(plan, step).rate_ml_per_h
    return step, services.limit_in_force(plan, clock) if over else ""


@router.post(
    "/sessions/{session_id}/rates",
    response={201: RateOut, **WRITE_ERRORS},
    summary="Record a pump rate",
)
def add_rate(request, session_id: SessionId, payload: RateIn):
    """A pump rate set at `at`, filed under the lowest step whose limit covers it among the steps
    that may have begun by then. A rate above the limit in force at that minute is refused at
    `rate_ml_h`, with that limit and when the next step may begin. Nurses only.

    Example: started 09:00 (the 70 kg plan, 5 min tolerance): 84 mL/h at 09:10 -> 422, "84.0 mL/h
    is above this step's limit of 42.0 mL/h ... Limit at 09:10: step 1, 42.0 mL/h. Step 2 may begin
    from 09:25 (local time)."; at 09:25 -> 201, step 2.
    """
    session = _session_for(request, session_id, write=True)
    step, limit_now = _step_for_rate(session, payload.at, payload.rate_ml_h)
    change = _call(
        services.rate_change_record,
        RATE_FIELDS,
        explain={"rate_ml_h": limit_now},
        by=request.auth,
        session=session,
        at=payload.at,
        rate_ml_per_h=payload.rate_ml_h,
        step_number=step,
        reason=payload.reason,
        late_reason=payload.late_reason,
    )
    return Status(
        201,
        {
            "id": _entry_id(change),
            "at": _local(change.at),
            "rate_ml_h": str(change.rate_ml_per_h),
            "step": change.step_number,
            "reason": change.reason,
        },
    )


# ----------------------------------------------------------------------- vitals

Systolic, _systolic_schema = _number(VitalSigns, "systolic_mmhg", whole=True)
Diastolic, _diastolic_schema = _number(VitalSigns, "diastolic_mmhg", whole=True)
HeartRate, _heart_rate_schema = _number(VitalSigns, "heart_rate_bpm", whole=True)
Temperature, _temperature_schema = _number(VitalSigns, "temperature_c", whole=False)
Spo2, _spo2_schema = _number(VitalSigns, "spo2_percent", whole=True, nullable=True)
RespiratoryRate, _respiratory_rate_schema = _number(VitalSigns, "respiratory_rate", whole=True, nullable=True)


class VitalsIn(JsonObjectBody):
    at: AwareTime = Field(description="When they were taken.")
    phase: Literal[tuple(VitalsPhase.values)] = Field(
        description="before (may precede the start), during or after the infusion."
    )
    systolic: Systolic = Field(description="Systolic blood pressure (mmHg).", json_schema_extra=_systolic_schema)
    diastolic: Diastolic = Field(
        description="Diastolic blood pressure (mmHg), below the systolic.", json_schema_extra=_diastolic_schema
    )
    heart_rate: HeartRate = Field(description="Heart rate (beats/min).", json_schema_extra=_heart_rate_schema)
    temperature_c: Temperature = Field(
        description="Temperature (°C), to 0.1.", examples=["36.8"], json_schema_extra=_temperature_schema
    )
    spo2: Spo2 = Field(None, description="Oxygen saturation (%).", json_schema_extra=_spo2_schema)
    respiratory_rate: RespiratoryRate = Field(
        None, description="Respiratory rate (breaths/min).", json_schema_extra=_respiratory_rate_schema
    )
    late_reason: PlainText = Field(
        "", max_length=300, description="Only after completion: why this entry is made late (an amendment)."
    )


VITALS_FIELDS = {
    "at": "at",
    "phase": "phase",
    "systolic_mmhg": "systolic",
    "diastolic_mmhg": "diastolic",
    "heart_rate_bpm": "heart_rate",
    "temperature_c": "temperature_c",
    "spo2_percent": "spo2",
    "respiratory_rate": "respiratory_rate",
    "late_reason": "late_reason",
}


class VitalsOut(Schema):
    id: EntryId
    at: datetime
    phase: str
    systolic_mmhg: int
    diastolic_mmhg: int
    heart_rate_bpm: int
    temperature_c: DecimalText
    spo2_percent: int | None
    respiratory_rate_per_min: int | None


@router.post(
    "/sessions/{session_id}/vitals",
    response={201: VitalsOut, **WRITE_ERRORS},
    summary="Record vital signs",
)
def add_vitals(request, session_id: SessionId, payload: VitalsIn):
    """Vital signs before, during or after the infusion. 'before' may be taken ahead of the
    start; 'during' and 'after' need it, and each must fit the start and stop recorded so far.
    A diastolic at or above the systolic is refused at `diastolic`. Nurses only."""
    session = _session_for(request, session_id, write=True)
    vitals = _call(
        services.vitals_record,
        VITALS_FIELDS,
        by=request.auth,
        session=session,
        phase=payload.phase,
        at=payload.at,
        systolic_mmhg=payload.systolic,
        diastolic_mmhg=payload.diastolic,
        heart_rate_bpm=payload.heart_rate,
        temperature_c=payload.temperature_c,
        spo2_percent=payload.spo2,
        respiratory_rate=payload.respiratory_rate,
        late_reason=payload.late_reason,
    )
    return Status(
        201,
        {
            "id": _entry_id(vitals),
            "at": _local(vitals.at),
            "phase": vitals.phase,
            "systolic_mmhg": vitals.systolic_mmhg,
            "diastolic_mmhg": vitals.diastolic_mmhg,
            "heart_rate_bpm": vitals.heart_rate_bpm,
            "temperature_c": str(vitals.temperature_c),
            "spo2_percent": vitals.spo2_percent,
            "respiratory_rate_per_min": vitals.respiratory_rate,
        },
    )


# ----------------------------------------------------------------------- reactions

ResumedRateMlH, _resumed_rate_schema = _number(Reaction, "resumed_rate_ml_per_h", whole=False, nullable=True)


class ReactionIn(JsonObjectBody):
    at: AwareTime = Field(description="When the reaction was noticed.")
    reaction: Literal[tuple(ReactionType.values)]
    severity: Literal[tuple(ReactionSeverity.values)]
    action: Literal[tuple(ReactionAction.values)] = Field(description="What was done.")
    description: PlainText = Field(
        "", max_length=_text_max(Reaction, "description"), description="Required for 'other'."
    )
    resumed_rate_ml_h: ResumedRateMlH = Field(
        None,
        description="Only with action 'resumed': the rate resumed at (mL/h), never above the limit of the step "
        "running; the ladder climbs again from there.",
        json_schema_extra=_resumed_rate_schema,
    )
    late_reason: PlainText = Field(
        "", max_length=300, description="Only after completion: why this entry is made late (an amendment)."
    )


REACTION_FIELDS = {
    "at": "at",
    "type": "reaction",
    "severity": "severity",
    "action": "action",
    "description": "description",
    "resumed_rate_ml_per_h": "resumed_rate_ml_h",
    "late_reason": "late_reason",
}


class ReactionOut(Schema):
    id: EntryId
    at: datetime
    reaction: str
    severity: str
    action: str
    description: str
    resumed_rate_ml_h: DecimalText | None


@router.post(
    "/sessions/{session_id}/reactions",
    response={201: ReactionOut, **WRITE_ERRORS},
    summary="Record an infusion reaction",
)
def add_reaction(request, session_id: SessionId, payload: ReactionIn):
    """An infusion reaction and what was done. 'stopped' also stops the infusion at `at` if no
    stop is recorded; a moderate or severe reaction reaches the prescriber. Nurses only."""
    session = _session_for(request, session_id, write=True)
    reaction = _call(
        services.reaction_record,
        REACTION_FIELDS,
        by=request.auth,
        session=session,
        at=payload.at,
        type=payload.reaction,
        severity=payload.severity,
        action=payload.action,
        description=payload.description,
        resumed_rate_ml_per_h=payload.resumed_rate_ml_h,
        late_reason=payload.late_reason,
    )
    resumed = reaction.resumed_rate_ml_per_h
    return Status(
        201,
        {
            "id": _entry_id(reaction),
            "at": _local(reaction.at),
            "reaction": reaction.type,
            "severity": reaction.severity,
            "action": reaction.action,
            "description": reaction.description,
            "resumed_rate_ml_h": None if resumed is None else str(resumed),
        },
    )


# ----------------------------------------------------------------------- lots

VialGrams, _vial_grams_schema = _number(LotUsage, "vial_size_g", whole=False, nullable=True)
Vials, _vials_schema = _number(LotUsage, "vials", whole=True, nullable=True)


class LotIn(JsonObjectBody):
    gs1: PlainText = Field(
        "",
        max_length=200,
        description="A scanned GS1 DataMatrix element string (GTIN, expiry, lot), as a handheld scanner types it. "
        "Gives the lot, expiry and vial size; the typed fields may then be left out.",
        examples=["]d201095200000030151727063010A123"],
    )
    lot: PlainText = Field("", max_length=_text_max(LotUsage, "lot_number"), description="Lot number on the vial.")
    expiry: date | None = Field(None, description="Expiry date on the vial (YYYY-MM-DD).")
    vial_grams: VialGrams = Field(None, description="Vial size (g).", json_schema_extra=_vial_grams_schema)
    vials: Vials = Field(
        None, description="Vials opened from this lot (1 when left out).", json_schema_extra=_vials_schema
    )
    excess_reason: PlainText = Field(
        "",
        max_length=300,
        description="Needed when the vials opened come to more than the day's grams and one smallest vial.",
    )
    late_reason: PlainText = Field(
        "", max_length=300, description="Only after completion: why this entry is made late (an amendment)."
    )


LOT_FIELDS = {
    "gs1": "gs1",
    "lot_number": "lot",
    "expiry_date": "expiry",
    "vial_size_g": "vial_grams",
    "vials": "vials",
    "excess_reason": "excess_reason",
    "late_reason": "late_reason",
}


class LotOut(Schema):
    id: EntryId
    lot: str
    expiry: date | None
    vial_grams: DecimalText
    vials: int
    grams: DecimalText
    gtin: str = Field(description="The GTIN scanned; empty when the lot was typed.")
    excess_reason: str


@router.post("/sessions/{session_id}/lots", response={201: LotOut, **WRITE_ERRORS}, summary="Record a product lot")
def add_lot(request, session_id: SessionId, payload: LotIn):
    """A product lot opened for this infusion, typed (`lot`, `expiry`, `vial_grams`, `vials`) or
    scanned (`gs1`). A GTIN not on file, of another product or of a vial size the plan is not made
    of, or an expired lot, is refused at `gs1` (or at the typed field). Nurses only."""
    session = _session_for(request, session_id, write=True)
    lot = _call(
        services.lot_record,
        LOT_FIELDS,
        by=request.auth,
        session=session,
        gs1=payload.gs1,
        lot_number=payload.lot,
        expiry_date=payload.expiry,
        vial_size_g=payload.vial_grams,
        vials=1 if payload.vials is None else payload.vials,
        excess_reason=payload.excess_reason,
        late_reason=payload.late_reason,
    )
    return Status(
        201,
        {
            "id": _entry_id(lot),
            "lot": lot.lot_number,
            "expiry": lot.expiry_date,
            "vial_grams": str(lot.vial_size_g),
            "vials": lot.vials,
            "grams": str(lot.vial_size_g * lot.vials),
            "gtin": lot.gtin,
            "excess_reason": lot.excess_reason,
        },
    )


# ----------------------------------------------------------------------- voids


class VoidIn(JsonObjectBody):
    reason: PlainText = Field(max_length=300, description="Why the entry is voided.", examples=["wrong lot scanned"])


class VoidOut(Schema):
    id: EntryId
    entry: str = Field(description="The entry voided, in words.")
    voided_at: datetime
    void_reason: str


@router.post(
    "/sessions/{session_id}/entries/{entry_id}/void",
    response={200: VoidOut, **WRITE_ERRORS},
    summary="Void an entry of the record",
)
def void_entry(request, session_id: SessionId, entry_id: EntryId, payload: VoidIn):
    """Void one entry of any kind (start, stop, volume, waste, rate, vitals, lot, reaction) with a
    reason. It stays in the record, struck through, and no longer counts; enter the right one
    afterwards. An entry of another session is 404. Nurses only."""
    session = _session_for(request, session_id, write=True)
    try:
        entry = _call(
            services.entry_void,
            {"reason": "reason"},
            by=request.auth,
            session=session,
            entry_id=entry_id,
            reason=payload.reason,
        )
    except services.EntryNotFound as exc:
        raise HttpError(404, str(exc)) from None
    return {
        "id": _entry_id(entry),
        "entry": services.entry_words(entry),
        "voided_at": _local(entry.voided_at),
        "void_reason": entry.void_reason,
    }


# ----------------------------------------------------------------------- completion

VolumeMl, _volume_schema = _number(InfusionRecord, "volume_given_ml", whole=False, nullable=True)


class CompleteIn(JsonObjectBody):
    at: AwareTime | None = Field(None, description="When the pump was stopped (left out: the stop already recorded).")
    volume_ml: VolumeMl = Field(
        None, description="Volume given (mL), as read from the pump.", json_schema_extra=_volume_schema
    )
    confirm: StrictBool | None = Field(
        None, description="true: the nurse has checked the summary of grams, volume and time. Required."
    )


COMPLETE_FIELDS = {"stopped_at": "at", "volume_given_ml": "volume_ml", "confirm": "confirm"}


class CompleteOut(Schema):
    grams_planned: DecimalText
    grams_opened: DecimalText
    grams_given: DecimalText
    grams_wasted: DecimalText
    grams_unaccounted: DecimalText = Field(description="Opened, less given, less not given.")
    volume_planned_ml: DecimalText
    volume_given_ml: DecimalText
    started_at: datetime
    stopped_at: datetime
    minutes: int
    planned_minutes: int


@router.post(
    "/sessions/{session_id}/complete", response={200: CompleteOut, **WRITE_ERRORS}, summary="Complete the infusion"
)
def complete_infusion(request, session_id: SessionId, payload: CompleteIn):
    """Record the stop (`at`) and the volume given (`volume_ml`) when not recorded yet, and
    complete the infusion. Refused (422) without `confirm: true`, when something completion needs
    is missing, or when the volume is more than the recorded pump rates could deliver between the
    start and the stop (2 % tolerance), with the figure. Answers the summary. Nurses only."""
    session = _session_for(request, session_id, write=True)
    record = _call(
        services.record_complete,
        COMPLETE_FIELDS,
        by=request.auth,
        session=session,
        expected_version=None,
        confirm=payload.confirm,
        stopped_at=payload.at,
        volume_given_ml=payload.volume_ml,
    )
    summary = services.summary_of(session, record)
    return summary.to_dict() | {"started_at": _local(summary.started_at), "stopped_at": _local(summary.stopped_at)}
