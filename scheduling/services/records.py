"""What happened at one infusion: start, pump rates, vital signs, product lots, reactions,
stop, volume and waste, then completion.

Every write validates first, then writes inside one transaction, and leaves who did it and
why in the history of each row it touches. The session row is locked for the whole write, so
two nurses at the same chair are served one after the other.

The limits are the order's administration plan (``plan_of``): the plan the pharmacist verified,
held to the lower of it and the plan from today's chart (``DoseOrder.administration_plan``), so
a renal or thrombosis flag raised after verification lowers the limit at the chair at once.
Pump rates in the plan are already rounded down, so a step's pump rate is its limit.

Versions: ``record_start`` checks the session's ``version`` (the page showed the session
before any record existed); ``record_update`` and ``record_complete`` check the record's
``version``. Adding a rate, vitals, a lot or a reaction raises the record's version, so a
form opened before a colleague added, say, a severe reaction is refused instead of
completing an infusion its author never saw. A refusal names who changed what and when
(``stale_version_error``). Adding a part takes no version: parts are only ever added, each is
checked under the session lock against the record as it is then (start, stop, step limits,
completion), so two nurses' entries cannot overwrite each other and neither is refused for
the other's.

The ladder is tied to the clock (``ladder_clock``): a pump rate is refused above the limit of
the highest step that may have begun since the actual start, with the unit's tolerance
(``UnitSettings.ladder_tolerance_minutes``). After a reaction the infusion resumes at a step at
or below the one running, and that step's clock starts again at the reaction.

Times are aware datetimes; ``now`` is passed in (``timezone.now()`` when omitted). Anything
recorded more than ``FUTURE_GRACE`` ahead of ``now`` is refused: a small grace absorbs a
ward clock a minute or two ahead of the server.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_DOWN, Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db.models import Min
from django.utils import timezone

from accounts.audit import audited_save, check_version
from accounts.errors import FieldError
from accounts.transactions import service
from dosing.barcodes import VialScan, parse_vial_scan
from dosing.chart_limits import ladder_may_begin, ladder_step_begun
from dosing.first_infusion import FirstInfusion
from dosing.models import ProductPresentation, SiteSettings
from dosing.planning import as_first_infusion, first_infusion_of
from dosing.services.orders import dose_order_note_last_cycle
from patients.labs import LAB_CATALOG
from patients.models import BloodGroup, IgAStatus, LabTest, Patient
from risk.models import SEVERITY_RANK

from ..infusion_review import REVIEWED_SEVERITIES, Finding, ReactionSeen, infusion_review
from ..models import (
    LIVE_REMINDER_STATUSES,
    OPEN_SESSION_STATUSES,
    InfusionRecord,
    InfusionSession,
    LotUsage,
    RateChange,
    Reaction,
    ReactionAction,
    ReactionType,
    RecordValue,
    RecordValueKind,
    Reminder,
    ReminderStatus,
    SessionStatus,
    UnitSettings,
    VitalSigns,
    VitalsPhase,
)
from ..pre_infusion import SITE_POLICY, CheckItem, Fact, needs_acceptance, pre_infusion_check
from ..reconcile import (
    VOLUME_DELIVERY_TOLERANCE_PERCENT,
    CompletionSummary,
    RateAt,
    completion_summary,
    deliverable_limit_ml,
    deliverable_ml,
    opened_allowance_g,
)
from ..timing import subject_key
from .delivery import fit_message
from .inbox import KIND_ROLES
from .lifecycle import course_settle

FUTURE_GRACE = timedelta(minutes=5)
# The day's volume may be exceeded by at most this much (measuring and pump tolerance).
VOLUME_TOLERANCE_PERCENT = Decimal("1")
TENTH = Decimal("0.1")
HUNDREDTH = Decimal("0.01")
CLOSED_STATUSES = (SessionStatus.CANCELLED, SessionStatus.MISSED)


# ----------------------------------------------------------------------- pure helpers


def _plain(value: Decimal) -> str:
    # normalize() alone would write 100 as 1E+2.
    return format(value.normalize(), "f")


def _clock(value: datetime) -> str:
    return f"{timezone.localtime(value):%H:%M}"


@dataclass(frozen=True)
class StepLimit:
    step_number: int
    rate_ml_per_h: Decimal
    rate_mg_per_kg_min: Decimal
    dosing_weight_kg: Decimal

    def refusal(self, rate_ml_per_h: Decimal) -> str | None:
        """Why a pump rate may not be set at this step, in a nurse's words; None when it may.

        Example: 124 mL/h at step 2 of the 70 kg plan -> "124.0 mL/h is above this step's limit
        of 84.0 mL/h (2 mg/kg/min for 70 kg). Do not exceed the plan."
        """
        if rate_ml_per_h < 0:
            return "A rate cannot be negative; enter 0 mL/h for a pause."
        if rate_ml_per_h > self.rate_ml_per_h:
            return (
                f"{rate_ml_per_h.quantize(TENTH)} mL/h is above this step's limit of {self.rate_ml_per_h} mL/h "
                f"({_plain(self.rate_mg_per_kg_min)} mg/kg/min for {_plain(self.dosing_weight_kg)} kg). "
                "Do not exceed the plan."
            )
        return None


def step_limit(plan: dict, step_number: int) -> StepLimit:
    """The fastest pump rate allowed at one step (numbered from 1) of an order's plan.

    A step's limit is its own pump rate, which the plan rounded down so it never exceeds the
    step's mg/kg/min. Every step, and so the last one, is also held to the plan's maximum
    (``max_rate_ml_per_h``), in case a ladder ever reaches past it.
    An unknown step raises ``ValueError`` starting with ``step_number``.

    Example: the 70 kg dermatomyositis plan (42, 84, 168 mL/h; maximum 168) -> step 2 is
    84.0 mL/h at 2 mg/kg/min; for an at-risk patient (42, 84, 138.6) step 3 is 138.6 mL/h.

    >>> plan = {"dosing_weight_kg": "70.0", "max_rate_ml_per_h": "138.6", "max_rate_mg_per_kg_min": "3.3",
    ...         "rate_steps": [{"rate_ml_per_h": "42.0", "rate_mg_per_kg_min": "1"},
    ...                        {"rate_ml_per_h": "168.0", "rate_mg_per_kg_min": "4"}]}
    >>> limit = step_limit(plan, 2)
    >>> str(limit.rate_ml_per_h), str(limit.rate_mg_per_kg_min)
    ('138.6', '3.3')
    """
    steps = plan["rate_steps"]
    if isinstance(step_number, bool) or not isinstance(step_number, int):
        raise FieldError("step_number", f"must be a whole number, not {type(step_number).__name__}")
    if not 1 <= step_number <= len(steps):
        raise FieldError(
            "step_number",
            f"step {step_number} is not in this plan; its steps are 1 to {len(steps)}"
            if steps
            else "step_number: this plan has no rate steps",
        )
    step = steps[step_number - 1]
    limit, mg_per_kg_min = Decimal(step["rate_ml_per_h"]), Decimal(step["rate_mg_per_kg_min"])
    # A step held to today's chart carries the dosing weight its mg/kg/min is for.
    weight = Decimal(step.get("dosing_weight_kg", plan["dosing_weight_kg"]))
    maximum = Decimal(plan["max_rate_ml_per_h"])
    if maximum < limit:
        limit, mg_per_kg_min = maximum, Decimal(plan["max_rate_mg_per_kg_min"])
        weight = Decimal(plan.get("max_rate_dosing_weight_kg", plan["dosing_weight_kg"]))
    return StepLimit(step_number, limit.quantize(TENTH), mg_per_kg_min, weight)


def resumed_step(plan: dict, *, running_step: int, rate_ml_per_h: Decimal) -> int:
    """The step a rate resumed at after a reaction belongs to: the lowest step whose limit is at or
    above it, never above the step running at the reaction. The climb starts again from there.

    Example: the 70 kg plan (42, 84, 168 mL/h), step 3 running -> resumed at 42 mL/h is step 1,
    at 60 mL/h step 2, at 168 mL/h step 3; step 2 running, resumed at 84 mL/h -> step 2.
    """
    for number in range(1, running_step + 1):
        if rate_ml_per_h <= step_limit(plan, number).rate_ml_per_h:
            return number
    return running_step


def _elapsed_minutes(since: datetime, at: datetime) -> Decimal:
    # Exact, to the microsecond: no float minutes.
    return Decimal(max(at - since, timedelta(0)) // timedelta(microseconds=1)) / 60_000_000


@dataclass(frozen=True)
class LadderClock:
    """Where the ladder stands at one moment (``at``): the clock it runs by (the actual start with
    step 1, or the latest resumption up to ``at`` with the step resumed at), the highest step that
    may have begun, and from when each step may begin (aware, UTC)."""

    at: datetime
    clock_start: datetime
    from_step: int
    resumed: bool
    tolerance_minutes: int
    highest_step: int
    may_begin: tuple[datetime, ...]

    @property
    def basis(self) -> str:
        counted = (
            f"counted from the resumption at step {self.from_step} at {_clock(self.clock_start)}"
            if self.resumed
            else f"counted from the start at {_clock(self.clock_start)}"
        )
        early = f", up to {self.tolerance_minutes} min early" if self.tolerance_minutes else ""
        return counted + early

    @property
    def next_step(self) -> str:
        """When the next step may begin, as a sentence; empty at the last step."""
        following = self.highest_step + 1
        if following > len(self.may_begin):
            return ""
        return f" Step {following} may begin from {_clock(self.may_begin[following - 1])} (local time)."

    def step_refusal(self, step_number: int) -> str | None:
        if step_number <= self.highest_step:
            return None
        return (
            f"Too early for step {step_number}: at {_clock(self.at)} the infusion may be at step "
            f"{self.highest_step} at most ({self.basis}).{self.next_step}"
        )

    def rate_refusal(self, limit: StepLimit, rate_ml_per_h: Decimal) -> str | None:
        if rate_ml_per_h <= limit.rate_ml_per_h:
            return None
        return (
            f"{rate_ml_per_h.quantize(TENTH)} mL/h is above {limit.rate_ml_per_h} mL/h, the limit of step "
            f"{limit.step_number}, the highest step that may have begun by {_clock(self.at)} ({self.basis})."
            f"{self.next_step}"
        )


def ladder_now(plan: dict, record: InfusionRecord | None, *, now: datetime) -> LadderClock | None:
    """The ladder as it stands at ``now`` (at the stop, once recorded); None before the start."""
    if record is None or record.started_at is None:
        return None
    at = min(now, record.stopped_at) if record.stopped_at else now
    return ladder_clock(plan, record, at=max(at, record.started_at))


def limit_in_force(plan: dict, clock: LadderClock) -> str:
    """The limit at the moment of ``clock``, in a nurse's words.

    Example: "Limit at 09:45: step 2, 84.0 mL/h. Step 3 may begin from 10:00 (local time)."
    """
    limit = step_limit(plan, clock.highest_step)
    return f"Limit at {_clock(clock.at)}: step {limit.step_number}, {limit.rate_ml_per_h} mL/h.{clock.next_step}"


def _running_step(record: InfusionRecord, at: datetime) -> int:
    """The step of the latest rate change up to ``at``; step 1 before any."""
    latest = record.rate_changes.live().filter(at__lte=at).order_by("-at", "-pk").first()
    return latest.step_number if latest else 1


def ladder_clock(
    plan: dict, record: InfusionRecord, *, at: datetime, tolerance_minutes: int | None = None
) -> LadderClock:
    """The ladder of a started record at ``at``, by the unit's tolerance unless one is given.

    Example: started 09:05, the 70 kg plan (30, 30 min, then the rest), 5 min tolerance: at
    09:30 step 2 may have begun, step 3 from 10:00; after a reaction at 10:20 resumed at 42 mL/h,
    step 1 again, step 2 from 10:45.
    """
    if tolerance_minutes is None:
        tolerance_minutes = UnitSettings.load().ladder_tolerance_minutes
    clock_start, from_step = record.started_at, 1
    resumption = (
        record.reactions.live()
        .filter(action=ReactionAction.RESUMED, at__lte=at, at__gte=record.started_at)
        .order_by("-at", "-pk")
        .first()
    )
    if resumption is not None:
        clock_start = resumption.at
        from_step = resumed_step(
            plan,
            running_step=_running_step(record, resumption.at),
            rate_ml_per_h=resumption.resumed_rate_ml_per_h,
        )
    steps = plan["rate_steps"]
    begins = ladder_may_begin(steps, tolerance_minutes=tolerance_minutes, from_step=from_step)
    highest = ladder_step_begun(
        steps,
        elapsed_minutes=_elapsed_minutes(clock_start, at),
        tolerance_minutes=tolerance_minutes,
        from_step=from_step,
    )
    return LadderClock(
        at=at,
        clock_start=clock_start,
        from_step=from_step,
        resumed=resumption is not None,
        tolerance_minutes=tolerance_minutes,
        highest_step=highest,
        may_begin=tuple(clock_start + timedelta(minutes=minute) for minute in begins),
    )


def rate_step(plan: dict, record: InfusionRecord, clock: LadderClock, rate_ml_per_h: Decimal) -> int:
    """The step a pump rate set at ``clock.at`` belongs to, for a caller that gives only the rate
    (the chair API): the lowest step whose limit is at or above it among the steps that may have
    begun then (``clock.highest_step``). A rate above all of them gets the highest, whose limit then
    refuses it in ``rate_change_record``. A pause (0 mL/h) stays at the step running (the latest
    rate change's), never above the highest that may have begun: a reaction's resumption is held
    to that step, so a pause at step 3 must not be filed under step 1.

    Example: the 70 kg plan (42, 84, 168 mL/h) started at 09:00, 5 min tolerance: at 09:40 (steps
    1 and 2 may have begun) 42 mL/h is step 1, 60 mL/h step 2, 100 mL/h step 2 (refused: above
    84.0 mL/h); at 10:30, after 168 mL/h at step 3, a pause is step 3.
    """
    if rate_ml_per_h == 0:
        return min(_running_step(record, clock.at), clock.highest_step)
    for number in range(1, clock.highest_step + 1):
        if rate_ml_per_h <= step_limit(plan, number).rate_ml_per_h:
            return number
    return clock.highest_step


def volume_limit_ml(plan: dict) -> Decimal:
    """The most that may be recorded as given: the day's volume plus 1 %, to 0.1 mL (rounded down).

    Example: 700.0 mL planned -> 707.0 mL.
    """
    planned = Decimal(plan["daily_volume_ml"])
    return (planned * (100 + VOLUME_TOLERANCE_PERCENT) / 100).quantize(TENTH, ROUND_DOWN)


def plan_vial_sizes(plan: dict) -> list[Decimal]:
    """The vial sizes the plan is made of, largest first. Example: 2 x 30 g + 1 x 10 g -> [30, 10]."""
    return sorted({Decimal(vial["size_g"]) for vial in plan["vials_per_day"]}, reverse=True)


# ----------------------------------------------------------------------- reading


def order_of(session: InfusionSession):
    return session.cycle.course.order


# "Look the record up": a caller that has the session's record (or knows there is none) passes it.
_LOOKUP = object()


def plan_of(session: InfusionSession, *, record=_LOOKUP, site: SiteSettings | None = None) -> dict:
    """The plan this session is given by: the order's verified plan, held to today's chart, and run
    as a first infusion (the first step held the site's factor times its minutes, with
    ``first_infusion`` saying why) when the session is one (``session_first_infusion``). The ladder
    clock, the step refusals, the session page, the sheet and the chair API all read it here.
    A list passes each session's ``record`` and the ``site`` once, for no query per session."""
    site = site or SiteSettings.load()
    mark = session_first_infusion(session, record=record, site=site)
    return as_first_infusion(order_of(session).administration_plan, mark, site)


def session_first_infusion(
    session: InfusionSession, *, record=_LOOKUP, site: SiteSettings | None = None
) -> FirstInfusion | None:
    """Whether this session is a first infusion, and why: ``dosing.planning.first_infusion_of`` for
    its order's product on its day (the day it started, else the day planned), over the infusions
    given before that day (kept on the patient by ``first_infusion_keep``).

    Example: Gamunex-C given on 2026-10-25; an Octagam 10 % session on 2026-11-22 -> product switch
    from Gamunex-C; its day 2, on 2026-11-23, once day 1 was started -> None.
    """
    site = site or SiteSettings.load()
    day = infusion_date(session, record_of(session) if record is _LOOKUP else record)
    return first_infusion_of(session.patient, order_of(session).product, day, site)


def record_of(session: InfusionSession) -> InfusionRecord | None:
    return InfusionRecord.objects.filter(session=session).first()


def grams_opened(record: InfusionRecord | None) -> Decimal:
    if record is None or record.pk is None:
        return Decimal("0")
    return sum((lot.vial_size_g * lot.vials for lot in record.lots.live()), Decimal("0"))


def infusion_date(session: InfusionSession, record: InfusionRecord | None):
    """The local date of the infusion: the day it started, or the day it is planned."""
    started = record.started_at if record is not None and record.started_at else None
    return timezone.localdate(started or session.planned_start)


def closed_reason(session: InfusionSession, record: InfusionRecord | None) -> str | None:
    """Why nothing can be recorded at this session, or None while it can. A completed infusion
    can still be amended, each entry with a reason (``amending``)."""
    if session.status in CLOSED_STATUSES:
        return f"This session is {session.get_status_display().lower()}: nothing can be recorded for it."
    return None


def amending(session: InfusionSession, record: InfusionRecord | None) -> bool:
    """True once the infusion is completed: an entry is then an amendment and needs a reason."""
    return session.status == SessionStatus.COMPLETED or (record is not None and record.completed_at is not None)


def completed_sentence(record: InfusionRecord | None) -> str:
    if record is None or record.completed_at is None:
        return "This infusion is completed"
    who = record.completed_by.get_full_name() or record.completed_by.get_username()
    when = f"{_clock(record.completed_at)} on {timezone.localdate(record.completed_at)}"
    return f"This infusion was completed by {who} at {when}"


def completion_missing(record: InfusionRecord | None) -> list[str]:
    """What the record still needs before the infusion can be completed, in a nurse's words."""
    if record is None:
        return [
            "the start time",
            "the stop time",
            "the volume given",
            "at least one product lot",
            "vital signs before the infusion",
            "vital signs after the infusion",
        ]
    missing = []
    if record.started_at is None:
        missing.append("the start time")
    if record.stopped_at is None:
        missing.append("the stop time")
    if record.volume_given_ml is None:
        missing.append("the volume given")
    if not record.lots.live().exists():
        missing.append("at least one product lot")
    phases = set(record.vitals.live().values_list("phase", flat=True))
    if VitalsPhase.BEFORE not in phases:
        missing.append("vital signs before the infusion")
    if VitalsPhase.AFTER not in phases:
        missing.append("vital signs after the infusion")
    return missing


def rates_as_run(plan: dict, record: InfusionRecord) -> list[RateAt]:
    """The pump rates as recorded: live rate changes, 0 mL/h from a reaction that paused or
    stopped the infusion, and the rate it resumed at."""
    rates = [RateAt(change.at, change.rate_ml_per_h) for change in record.rate_changes.live()]
    for reaction in record.reactions.live():
        if reaction.action in (ReactionAction.PAUSED, ReactionAction.STOPPED):
            rates.append(RateAt(reaction.at, Decimal("0")))
        elif reaction.action == ReactionAction.RESUMED:
            rates.append(RateAt(reaction.at, reaction.resumed_rate_ml_per_h))
    return rates


def volume_refusal(plan: dict, record: InfusionRecord, *, volume, started_at, stopped_at) -> str | None:
    """Why ``volume`` mL cannot have been given between the start and the stop at the rates
    recorded (``scheduling.reconcile``; before the first rate the pump runs at most at step 1's
    limit), in a nurse's words; None when it can, or while the start, stop or volume is missing.

    Example: 730.0 mL between 08:10 and 12:36 where the rates deliver 534.0 mL -> refused,
    "... the recorded pump rates deliver 534.0 mL in that time (at most 544.6 mL with the 2 %
    tolerance) ..."."""
    if volume is None or started_at is None or stopped_at is None:
        return None
    deliverable = deliverable_ml(
        start=started_at,
        stop=stopped_at,
        initial_rate_ml_per_h=step_limit(plan, 1).rate_ml_per_h,
        rates=rates_as_run(plan, record),
    )
    limit = deliverable_limit_ml(deliverable)
    if volume <= limit:
        return None
    return (
        f"{volume.quantize(TENTH)} mL cannot have been given between {_clock(started_at)} and {_clock(stopped_at)}: "
        f"the recorded pump rates deliver {deliverable.quantize(TENTH)} mL in that time (at most {limit} mL with "
        f"the {_plain(VOLUME_DELIVERY_TOLERANCE_PERCENT)} % tolerance). Check the volume read from the pump, or "
        "record the rate changes that are missing first."
    )


def recorded_volume_refusal(session: InfusionSession, record: InfusionRecord) -> str | None:
    """``volume_refusal`` of the record as it stands: its own start, stop and volume."""
    return volume_refusal(
        plan_of(session),
        record,
        volume=record.volume_given_ml,
        started_at=record.started_at,
        stopped_at=record.stopped_at,
    )


def summary_of(session: InfusionSession, record: InfusionRecord | None) -> CompletionSummary | None:
    """What completing confirms (``scheduling.reconcile.completion_summary``); None until the
    start, stop and volume are recorded."""
    if record is None or None in (record.started_at, record.stopped_at, record.volume_given_ml):
        return None
    plan = plan_of(session)
    return completion_summary(
        daily_dose_g=Decimal(plan["daily_dose_g"]),
        daily_volume_ml=Decimal(plan["daily_volume_ml"]),
        concentration_mg_per_ml=Decimal(plan["concentration_mg_per_ml"]),
        planned_minutes=plan["infusion_minutes"],
        grams_opened=grams_opened(record),
        grams_wasted=record.grams_wasted,
        volume_given_ml=record.volume_given_ml,
        started_at=record.started_at,
        stopped_at=record.stopped_at,
    )


def _latest_lab(patient: Patient, test: str, day: date) -> Fact | None:
    result = (
        patient.lab_results.filter(test=test, collected_on__lte=day).order_by("-collected_on", "-created_at").first()
    )
    return None if result is None else Fact(result.value, result.collected_on, LAB_CATALOG[test].unit)


def pre_infusion_items(session: InfusionSession, *, today: date) -> tuple[CheckItem, ...]:
    """The pre-infusion check of this session on ``today`` (``scheduling.pre_infusion``), from
    the chart as it is now and the weight the order was dosed on."""
    patient, order = session.patient, order_of(session)
    weight = patient.latest_measurement("weight_kg", today)
    known_group = patient.blood_group not in ("", BloodGroup.UNKNOWN)
    return pre_infusion_check(
        today=today,
        cycle_first_day=session.cycle.start_date,
        order_weight_kg=Decimal(order.inputs["weight_kg"]),
        weight=None if weight is None else Fact(weight.weight_kg, weight.measured_on, "kg"),
        creatinine=_latest_lab(patient, LabTest.CREATININE, today),
        egfr=_latest_lab(patient, LabTest.EGFR, today),
        haemoglobin=_latest_lab(patient, LabTest.HAEMOGLOBIN, today),
        blood_group=Fact(patient.get_blood_group_display()) if known_group else None,
        iga_status=None if patient.iga_status == IgAStatus.UNKNOWN else Fact(patient.get_iga_status_display()),
    )


def active_flags_of(patient: Patient):
    """The patient's active risk flags, most severe first."""
    return patient.risk_flags.active().annotate(rank=SEVERITY_RANK).order_by("rank", "code")


def pre_infusion_snapshot(session: InfusionSession, *, today: date) -> dict:
    """The check as shown at the start page and kept with the start: its items, the policy, the
    cycle's first day, the order's weight and the active risk flags."""
    items = pre_infusion_items(session, today=today)
    return {
        "checked_on": today.isoformat(),
        "cycle_first_day": session.cycle.start_date.isoformat(),
        "order_weight_kg": order_of(session).inputs["weight_kg"],
        "policy": SITE_POLICY.sentence,
        "items": [item.to_dict() for item in items],
        "needs_acceptance": needs_acceptance(items),
        "active_flags": [
            {"code": flag.code, "severity": flag.severity, "title": flag.title}
            for flag in active_flags_of(session.patient)
        ],
    }


def _unchecked(snapshot: dict) -> str:
    return "; ".join(
        f"{item['label']} ({item['status']}: {item['why']})" for item in snapshot["items"] if item["status"] != "ok"
    )


# ----------------------------------------------------------------------- writing helpers


def _lock(session: InfusionSession) -> tuple[InfusionSession, InfusionRecord | None]:
    locked = (
        InfusionSession.objects.select_for_update().select_related("cycle__course__order", "patient").get(pk=session.pk)
    )
    record = InfusionRecord.objects.select_for_update().filter(session=locked).first()
    return locked, record


def _check_version(instance: InfusionSession | InfusionRecord, expected, *, session: InfusionSession) -> None:
    """Refuse a write from a page that showed another version of the session or its record
    (accounts.audit.check_version: None is a caller without a page)."""
    what = "session" if isinstance(instance, InfusionSession) else "infusion record"
    check_version(instance, expected, what=what, state=session.get_status_display())


def _require_recordable(session: InfusionSession, record: InfusionRecord | None, late_reason=None) -> str:
    """Refuse an entry at a cancelled or missed session. At a completed one an entry is an
    amendment: refused without a ``late_reason`` (None: this write cannot amend), which is
    returned stripped ("" before completion)."""
    reason = closed_reason(session, record)
    if reason:
        raise ValidationError(reason)
    if not amending(session, record):
        return ""
    if late_reason is None:
        raise ValidationError(f"{completed_sentence(record)}: this cannot be changed any more.")
    return _reason(
        "late_reason",
        late_reason,
        required_because=f"{completed_sentence(record)}. Say why this entry is made late (an amendment).",
    )


def _reason(field: str, value, *, required_because: str) -> str:
    reason = (value or "").strip()
    if not reason:
        raise ValidationError({field: required_because})
    if len(reason) > 300:
        raise ValidationError({field: f"At most 300 characters, not {len(reason)}."})
    return reason


def _amended(session: InfusionSession, record: InfusionRecord, *, by, now, voiding: bool = False) -> None:
    """After an amendment of a completed infusion: its volume must stay possible at its rates
    (else the amendment is refused, nothing written), and the prescriber sees the findings as
    they now are. A void may leave a required entry missing (the wrong lot goes before the right
    one is entered; the page lists what is missing); any other amendment keeps it complete."""
    missing = completion_missing(record)
    if missing and not voiding:
        raise ValidationError(
            f"A completed infusion keeps {', '.join(missing)}: record the right entry first, then void the wrong one."
        )
    refusal = recorded_volume_refusal(session, record)
    if refusal:
        raise ValidationError(f"After this change the record would not add up. {refusal}")
    _review_reach_prescriber(session, record, by=by, completed=True, now=now)


def _void(entry, *, by, now, reason: str) -> None:
    entry.voided_at, entry.voided_by, entry.void_reason = now, by, reason
    audited_save(entry, by=by, reason=f"voided: {reason}")


VALUE_FIELDS = {
    RecordValueKind.START: "started_at",
    RecordValueKind.STOP: "stopped_at",
    RecordValueKind.VOLUME: "volume_given_ml",
    RecordValueKind.WASTE: "grams_wasted",
}


def _set_value(record: InfusionRecord, kind: str, value, *, by, now, reason: str = "", late_reason: str = ""):
    """Make ``value`` (a time, mL or g; None for none) the live entry of ``kind`` and the record's
    field: the live entry, when it differs, is voided with ``reason``. No waste is no entry."""
    if kind == RecordValueKind.WASTE:
        value = value or None
    live = record.values.live().filter(kind=kind).first()
    current = None if live is None else (live.at if live.at is not None else live.amount)
    if current == value:
        return live
    if live is not None:
        _void(live, by=by, now=now, reason=reason or f"{kind} re-entered")
    field = VALUE_FIELDS[kind]
    setattr(record, field, Decimal("0") if kind == RecordValueKind.WASTE and value is None else value)
    if value is None:
        return None
    timed = kind in (RecordValueKind.START, RecordValueKind.STOP)
    entry = RecordValue(
        record=record,
        kind=kind,
        at=value if timed else None,
        amount=None if timed else value,
        recorded_by=by,
        recorded_at=now,
        late_reason=late_reason,
    )
    audited_save(entry, by=by, reason=f"{kind} entered" + (f" late: {late_reason}" if late_reason else ""))
    return entry


def _require_started(record: InfusionRecord | None) -> InfusionRecord:
    if record is None or record.started_at is None:
        raise ValidationError("Record the start of the infusion first.")
    return record


def _check_time(field: str, at, *, now: datetime, not_before=None, not_after=None, day=None) -> None:
    """Refuse a missing, naive, future or out-of-bounds time, at the field it came from.

    ``not_before`` / ``not_after`` are (datetime, words) pairs, e.g. (started_at, "the start")."""
    if at is None:
        raise ValidationError({field: "Enter the time."})
    if timezone.is_naive(at):
        raise ValidationError({field: "The time needs a time zone."})
    if at > now + FUTURE_GRACE:
        raise ValidationError({field: f"{_clock(at)} on {timezone.localdate(at)} is in the future."})
    if day is not None and timezone.localdate(at) < day:
        raise ValidationError({field: f"This is before the infusion day ({day:%Y-%m-%d})."})
    if not_before and not_before[0] and at < not_before[0]:
        raise ValidationError({field: f"{_clock(at)} is before {not_before[1]} ({_clock(not_before[0])})."})
    if not_after and not_after[0] and at > not_after[0]:
        raise ValidationError({field: f"{_clock(at)} is after {not_after[1]} ({_clock(not_after[0])})."})


def _decimal(field: str, value, *, required: bool = True) -> Decimal | None:
    if value is None or value == "":
        if required:
            raise ValidationError({field: "Enter a number."})
        return None
    try:
        number = Decimal(str(value)) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        raise ValidationError({field: "Enter a number."}) from None
    if not number.is_finite():
        raise ValidationError({field: "Enter a number."})
    return number


def _times_out_of_order(record: InfusionRecord, started_at, stopped_at) -> dict[str, list[str]]:
    """Entries that a start or stop time would contradict, as errors at those two fields."""
    errors: dict[str, list[str]] = {}

    def before_start(at, what):
        if started_at and at < started_at:
            errors.setdefault("started_at", []).append(f"{what} at {_clock(at)} is before this start time.")

    def after_stop(at, what):
        if stopped_at and at > stopped_at:
            errors.setdefault("stopped_at", []).append(f"{what} at {_clock(at)} is after this stop time.")

    for change in record.rate_changes.live():
        before_start(change.at, f"The rate change to {change.rate_ml_per_h} mL/h")
        after_stop(change.at, f"The rate change to {change.rate_ml_per_h} mL/h")
    for reaction in record.reactions.live():
        before_start(reaction.at, f"The reaction ({reaction.get_type_display().lower()})")
        after_stop(reaction.at, f"The reaction ({reaction.get_type_display().lower()})")
    for vitals in record.vitals.live():
        if vitals.phase == VitalsPhase.BEFORE and started_at and vitals.at > started_at:
            errors.setdefault("started_at", []).append(
                f"Vital signs 'before' were taken at {_clock(vitals.at)}, after this start time."
            )
        if vitals.phase == VitalsPhase.DURING:
            before_start(vitals.at, "Vital signs 'during'")
            after_stop(vitals.at, "Vital signs 'during'")
        if vitals.phase == VitalsPhase.AFTER and stopped_at and vitals.at < stopped_at:
            errors.setdefault("stopped_at", []).append(
                f"Vital signs 'after' were taken at {_clock(vitals.at)}, before this stop time."
            )
    return errors


def _late(late_reason: str) -> str:
    return f"; late entry: {late_reason}" if late_reason else ""


def _enter(entry, *, session, record, by, now, late: str, reason: str, record_reason: str) -> None:
    """Save a new part of the record (a rate, vitals, a lot, a reaction): who entered it and when,
    its history and the record's (whose version rises, so open forms go stale), and, entered
    after completion with ``late``, the amendment's checks (``_amended``)."""
    entry.recorded_by, entry.recorded_at, entry.late_reason = by, now, late
    audited_save(entry, by=by, reason=reason + _late(late))
    _touch(record, by=by, reason=record_reason + _late(late))
    if late:
        _amended(session, record, by=by, now=now)


def _touch(record: InfusionRecord, *, by, reason: str) -> None:
    """Raise the record's version for a change to one of its parts, so open forms go stale."""
    record.version += 1
    audited_save(record, by=by, reason=reason)


def _open_record(session: InfusionSession, record: InfusionRecord | None, *, by) -> InfusionRecord:
    """The session's record, created (not yet started) for what comes before the start."""
    if record is not None:
        return record
    record = InfusionRecord(session=session)
    audited_save(record, by=by, reason="record opened")
    return record


def first_infusion_keep(*, patient: Patient) -> date | None:
    """Keep ``Patient.first_infusion_on`` (week 0 when none is recorded: ``Patient.ivig_week_zero``)
    as the local date of the earliest infusion start recorded for the patient; None before any.
    Keeps ``Patient.infusions_given`` with it (``infusions_given_rows``): a first infusion, a
    product switch or a gap (``dosing.first_infusion``) is read from there.
    Called inside the services that record or correct a start, so it commits with them.

    Example: starts recorded at 09:05 on 2026-11-22 and 2026-12-20 -> 2026-11-22; the first
    corrected to 2026-11-21 23:55 local -> 2026-11-21.
    """
    earliest = InfusionRecord.objects.filter(session__patient=patient, started_at__isnull=False).aggregate(
        at=Min("started_at")
    )["at"]
    patient.first_infusion_on = timezone.localdate(earliest) if earliest else None
    patient.infusions_given = infusions_given_rows(patient)
    # An update, not a save: derived data, outside the patient's history and version.
    Patient.objects.filter(pk=patient.pk).update(
        first_infusion_on=patient.first_infusion_on, infusions_given=patient.infusions_given
    )
    return patient.first_infusion_on


def infusions_given_rows(patient: Patient) -> list[dict]:
    """What ``first_infusion_keep`` keeps as ``Patient.infusions_given``: every infusion started
    (given: in progress or completed), one row per local day and product, oldest first, for
    ``dosing.first_infusion``.

    Example: Gamunex-C started 2026-08-01 and 2026-08-02, Octagam 10 % 2026-10-24 -> three rows
    [{"on": "2026-08-01", "product_slug": "gamunex-c", "product_name": "Gamunex-C"}, ...].
    """
    started = (
        InfusionRecord.objects.filter(session__patient=patient, started_at__isnull=False)
        .order_by("started_at")
        .values_list(
            "started_at", "session__cycle__course__order__product__slug", "session__cycle__course__order__product__name"
        )
    )
    rows = []
    for at, slug, name in started:
        row = {"on": timezone.localdate(at).isoformat(), "product_slug": slug, "product_name": name}
        if row not in rows:
            rows.append(row)
    return rows


def review_findings(session: InfusionSession, record: InfusionRecord, *, completed: bool) -> tuple[Finding, ...]:
    """What of this infusion the prescriber should review (``scheduling.infusion_review``): the
    volume given is judged once the infusion is completed, the reactions at any time."""
    plan = plan_of(session)
    return infusion_review(
        on=infusion_date(session, record),
        planned_volume_ml=plan["daily_volume_ml"],
        planned_dose_g=plan["daily_dose_g"],
        concentration_mg_per_ml=plan["concentration_mg_per_ml"],
        vial_sizes_g=plan_vial_sizes(plan),
        given_volume_ml=record.volume_given_ml if completed else None,
        reactions=[
            ReactionSeen(reaction.severity, reaction.get_type_display(), reaction.get_action_display())
            for reaction in record.reactions.live()
        ],
    )


def _review_reach_prescriber(session: InfusionSession, record: InfusionRecord, *, by, completed: bool, now) -> None:
    """Each finding becomes one reminder to the prescriber, due now, and a note on the order for the
    next cycle. Once: the subject key (kind, session, infusion day) is unique and the session is
    locked, so completing twice or recording a second reaction finds the reminder already there
    (a live one takes the new figures). The sweep returns it among its due ids for e-mail.

    A clean completion of a later cycle, once nothing of it is left to give, clears the note."""
    order = order_of(session)
    day = infusion_date(session, record)
    findings = review_findings(session, record, completed=completed)
    # The prescriber; every physician when the prescriber can no longer receive it (left the clinic).
    prescriber = order.prescribed_by if order.prescribed_by.is_active else None
    for finding in findings:
        key = subject_key(finding.kind, f"session-{session.pk}", day)
        message = fit_message(finding.message)
        reminder = Reminder.objects.filter(subject_key=key).first()
        if reminder is None:
            reminder = Reminder(
                subject_key=key,
                kind=finding.kind,
                patient=session.patient,
                session=session,
                cycle=session.cycle,
                due_at=now,
                message=message,
                role=KIND_ROLES[finding.kind],
                user=prescriber,
            )
            audited_save(reminder, by=by, reason=f"{finding.kind} for the prescriber")
        elif reminder.message != message and reminder.status in LIVE_REMINDER_STATUSES:
            reminder.message = message
            audited_save(reminder, by=by, reason=f"{finding.kind}: figures updated")
    # A finding that no longer holds (its reaction voided, the volume corrected) withdraws its
    # live reminder; the incomplete-infusion finding is only judged once completed.
    judged = {"infusion_reaction"} | ({"infusion_incomplete"} if completed else set())
    for stale in Reminder.objects.filter(
        session=session, kind__in=judged - {finding.kind for finding in findings}, status__in=LIVE_REMINDER_STATUSES
    ):
        stale.status = ReminderStatus.CANCELLED
        audited_save(stale, by=by, reason=f"{stale.kind} withdrawn: the record was corrected")
    if findings:
        # The note speaks for the whole cycle: every day of it with something to review, in order.
        notes, last_day = [], day
        for other in session.cycle.sessions.exclude(pk=session.pk).select_related("record").order_by("planned_start"):
            other_record = getattr(other, "record", None)
            if other_record is None or other_record.started_at is None:
                continue
            done = other.status == SessionStatus.COMPLETED
            for finding in review_findings(other, other_record, completed=done):
                notes.append(finding.note)
                last_day = max(last_day, infusion_date(other, other_record))
        notes += [finding.note for finding in findings]
        if (" ".join(notes), last_day) != (order.last_cycle_note, order.last_cycle_note_on):
            dose_order_note_last_cycle(order=order, note=" ".join(notes), on=last_day)
    elif (
        completed
        and order.last_cycle_note_on
        and order.last_cycle_note_on < session.cycle.start_date
        and not session.cycle.sessions.filter(status__in=OPEN_SESSION_STATUSES).exclude(pk=session.pk).exists()
    ):
        dose_order_note_last_cycle(order=order, note="", on=None)


# ----------------------------------------------------------------------- services


@service
def record_start(
    *,
    by,
    session: InfusionSession,
    started_at: datetime,
    expected_version,
    check_accepted: bool = False,
    check_reason: str = "",
    now=None,
) -> InfusionRecord:
    """Start the infusion: the session is in progress and its record has a start time.

    Refused for a session that is cancelled, missed, completed or already started, for an
    order that is not (or no longer) verified, and for a page showing an older session.

    The pre-infusion check (``pre_infusion_snapshot``, on the planned day) is kept with the
    record. When an item is stale or missing the start is refused unless ``check_accepted``
    with a ``check_reason``; the acceptance is kept with the check, who and when in the history.
    """
    now = now or timezone.now()
    session, record = _lock(session)
    _check_version(session, expected_version, session=session)
    _require_recordable(session, record)
    if record is not None and record.started_at:
        raise ValidationError(f"This infusion already started at {_clock(record.started_at)}.")
    order = order_of(session)
    if not order.is_administrable:
        raise ValidationError(
            f"{order.status_sentence}: a pharmacist must verify it before the infusion starts."
            + (f" {order.status_reason}" if order.status_reason else "")
        )
    planned_day = timezone.localdate(session.planned_start)
    _check_time("started_at", started_at, now=now)
    if timezone.localdate(started_at) != planned_day:
        raise ValidationError(
            {
                "started_at": f"This session is planned for {planned_day:%Y-%m-%d}. "
                "If it happens on another day, move the session first."
            }
        )
    if record is not None:
        errors = _times_out_of_order(record, started_at, None)
        if errors:
            raise ValidationError(errors)
    check = pre_infusion_snapshot(session, today=planned_day)
    check_reason = (check_reason or "").strip()
    if check["needs_acceptance"]:
        errors = {}
        if not check_accepted:
            errors["check_accepted"] = (
                f"Stale or missing before this infusion: {_unchecked(check)}. Update the chart, or tick to "
                "accept starting without it."
            )
        if not check_reason:
            errors["check_reason"] = "Say why the infusion starts with a stale or missing item."
        elif len(check_reason) > 300:
            errors["check_reason"] = f"At most 300 characters, not {len(check_reason)}."
        if errors:
            raise ValidationError(errors)
    check |= {"accepted": check["needs_acceptance"], "reason": check_reason if check["needs_acceptance"] else ""}

    session.status = SessionStatus.IN_PROGRESS
    session.version += 1
    audited_save(session, by=by, reason="infusion started")
    if record is None:
        record = InfusionRecord(session=session, started_at=started_at)
    else:
        record.started_at = started_at
        record.version += 1
    record.pre_infusion_check = check
    accepted = f"; pre-infusion check accepted: {check_reason}" if check["accepted"] else ""
    audited_save(record, by=by, reason=f"infusion started at {_clock(started_at)}{accepted}")
    _set_value(record, RecordValueKind.START, started_at, by=by, now=now)
    first_infusion_keep(patient=session.patient)
    return record


@service
def rate_change_record(
    *,
    by,
    session: InfusionSession,
    at: datetime,
    rate_ml_per_h,
    step_number,
    reason: str = "",
    late_reason: str = "",
    now=None,
) -> RateChange:
    """Record a pump rate set at one step of the plan; 0 mL/h means paused.

    A rate above the step's limit (see ``step_limit``) is refused, at the rate field. So is a
    rate above the limit of the highest step that may have begun at ``at`` (``ladder_clock``),
    and a step beyond that one, at the step field. A pause is always allowed.
    """
    now = now or timezone.now()
    session, record = _lock(session)
    late = _require_recordable(session, record, late_reason)
    record = _require_started(record)
    plan = plan_of(session)
    rate = _decimal("rate_ml_per_h", rate_ml_per_h)
    try:
        limit = step_limit(plan, step_number)
    except FieldError as exc:
        raise ValidationError({"step_number": exc.sentence + "."}) from exc
    refusal = limit.refusal(rate)
    if refusal:
        raise ValidationError({"rate_ml_per_h": refusal})
    _check_time(
        "at", at, now=now, not_before=(record.started_at, "the start"), not_after=(record.stopped_at, "the stop")
    )
    if rate > 0:
        clock = ladder_clock(plan, record, at=at)
        errors = {
            "step_number": clock.step_refusal(step_number),
            "rate_ml_per_h": clock.rate_refusal(step_limit(plan, clock.highest_step), rate),
        }
        errors = {field: message for field, message in errors.items() if message}
        if errors:
            raise ValidationError(errors)
    change = RateChange(
        record=record,
        at=at,
        rate_ml_per_h=rate,
        step_number=step_number,
        reason=(reason or "").strip(),
    )
    what = "paused" if rate == 0 else f"{rate.quantize(TENTH)} mL/h"
    _enter(
        change,
        session=session,
        record=record,
        by=by,
        now=now,
        late=late,
        reason=f"rate {what} at step {step_number}",
        record_reason=f"rate change recorded ({what}, step {step_number})",
    )
    return change


@service
def vitals_record(
    *,
    by,
    session: InfusionSession,
    phase: str,
    at: datetime,
    systolic_mmhg,
    diastolic_mmhg,
    heart_rate_bpm,
    temperature_c,
    spo2_percent=None,
    respiratory_rate=None,
    late_reason: str = "",
    now=None,
) -> VitalSigns:
    """Record vital signs before, during or after the infusion.

    'Before' may be taken ahead of the start (the record is opened then); 'during' and
    'after' need the start, and each must fit the start and stop times recorded so far.
    """
    now = now or timezone.now()
    session, record = _lock(session)
    late = _require_recordable(session, record, late_reason)
    if phase not in VitalsPhase.values:
        raise ValidationError({"phase": "Choose before, during or after."})
    started = record.started_at if record else None
    stopped = record.stopped_at if record else None
    if phase != VitalsPhase.BEFORE and not started:
        raise ValidationError({"phase": "Record the start of the infusion before vital signs during or after it."})
    bounds = {
        VitalsPhase.BEFORE: {"not_after": (started, "the start")},
        VitalsPhase.DURING: {"not_before": (started, "the start"), "not_after": (stopped, "the stop")},
        VitalsPhase.AFTER: {"not_before": (stopped or started, "the stop" if stopped else "the start")},
    }[phase]
    _check_time("at", at, now=now, day=infusion_date(session, record), **bounds)
    if systolic_mmhg is not None and diastolic_mmhg is not None and diastolic_mmhg >= systolic_mmhg:
        raise ValidationError(
            {"diastolic_mmhg": f"{diastolic_mmhg} mmHg is not below the systolic {systolic_mmhg} mmHg."}
        )
    record = _open_record(session, record, by=by)
    vitals = VitalSigns(
        record=record,
        phase=phase,
        at=at,
        systolic_mmhg=systolic_mmhg,
        diastolic_mmhg=diastolic_mmhg,
        heart_rate_bpm=heart_rate_bpm,
        temperature_c=temperature_c,
        spo2_percent=spo2_percent,
        respiratory_rate=respiratory_rate,
    )
    _enter(
        vitals,
        session=session,
        record=record,
        by=by,
        now=now,
        late=late,
        reason=f"vital signs {phase}",
        record_reason=f"vital signs recorded ({phase})",
    )
    return vitals


SCANNED_WORDS = {"lot_number": "lot", "vial_size_g": "vial size", "expiry_date": "expiry date"}


def _typed(value) -> bool:
    return value is not None and str(value).strip() != ""


def _same(field: str, typed, scanned) -> bool:
    if field == "lot_number":
        # Without case: a lot typed in lower case is the same lot; the scan's own text is stored.
        return str(typed).strip().casefold() == scanned.casefold()
    if field == "vial_size_g":
        return _decimal(field, typed) == scanned
    return typed == scanned


def _shown(field: str, value) -> str:
    if field == "vial_size_g":
        return f"{_plain(_decimal(field, value))} g"
    if field == "expiry_date" and isinstance(value, date):
        return f"{value:%Y-%m-%d}"
    return f"“{str(value).strip()}”"


def _lot_from_scan(gs1: str, *, session: InfusionSession, plan: dict, typed: dict) -> tuple[VialScan, Decimal]:
    """The lot, expiry and vial size a scanned GS1 element string gives (``dosing.barcodes``), or a
    refusal at the ``gs1`` field: unreadable, no lot or expiry, a GTIN not on file, another
    product's vial, a size the plan is not made of, or typed fields that say otherwise.

    Example: the order is Octagam 10% and the scan names Privigen 10 g -> "This vial is
    Privigen 10%, 10 g; the order is for Octagam 10%. Do not use it."
    """
    try:
        scan = parse_vial_scan(gs1)
    except FieldError as error:
        raise ValidationError({"gs1": error.sentence}) from None
    missing = scan.missing()
    if missing:
        raise ValidationError({"gs1": missing})
    presentation = ProductPresentation.objects.on_file().select_related("product").filter(gtin=scan.gtin).first()
    product = order_of(session).product
    if presentation is None:
        raise ValidationError(
            {"gs1": f"GTIN {scan.gtin} is not on file: a pharmacist can add it to the product's catalog page."}
        )
    if presentation.product_id != product.pk:
        raise ValidationError(
            {"gs1": f"This vial is {presentation.vial_text}; the order is for {product.name}. Do not use it."}
        )
    sizes = plan_vial_sizes(plan)
    if presentation.vial_size_g not in sizes:
        allowed = " and ".join(f"{_plain(size)} g" for size in sizes)
        raise ValidationError({"gs1": f"This vial is {presentation.vial_text}; the plan uses {allowed} vials."})
    scanned = {"lot_number": scan.lot_number, "vial_size_g": presentation.vial_size_g, "expiry_date": scan.expiry_date}
    disagreements = [
        f"{SCANNED_WORDS[field]} {_shown(field, value)} scanned, {_shown(field, typed[field])} typed"
        for field, value in scanned.items()
        if _typed(typed.get(field)) and not _same(field, typed[field], value)
    ]
    if disagreements:
        raise ValidationError(
            {"gs1": f"The scan and the typed fields disagree: {'; '.join(disagreements)}. Clear the typed fields."}
        )
    return scan, presentation.vial_size_g


@service
def lot_record(
    *,
    by,
    session: InfusionSession,
    lot_number: str = "",
    vial_size_g=None,
    vials,
    expiry_date=None,
    gs1: str = "",
    excess_reason: str = "",
    late_reason: str = "",
    now=None,
) -> LotUsage:
    """Record a product lot opened for this infusion (traceability of a plasma product).

    The lot number and the expiry date are required; the vial size must be one the plan is
    made of; an expired lot (expiry before the infusion day) is refused. A scanned GS1 element
    string (``gs1``) gives the lot, expiry and, from the catalog's presentation of its GTIN, the
    vial size (``_lot_from_scan``); the GTIN is kept on the lot and every refusal is at ``gs1``.
    Opening more than the day's grams plus the plan's smallest vial
    (``scheduling.reconcile.opened_allowance_g``) needs an ``excess_reason``, kept on the lot.
    """
    now = now or timezone.now()
    session, record = _lock(session)
    late = _require_recordable(session, record, late_reason)
    plan = plan_of(session)
    gtin = ""
    if (gs1 or "").strip():
        typed = {"lot_number": lot_number, "vial_size_g": vial_size_g, "expiry_date": expiry_date}
        scan, vial_size_g = _lot_from_scan(gs1, session=session, plan=plan, typed=typed)
        lot_number, expiry_date, gtin = scan.lot_number, scan.expiry_date, scan.gtin
    errors = {}
    lot_number = (lot_number or "").strip()
    if not lot_number:
        errors["lot_number"] = "Enter the lot number printed on the vial."
    size = _decimal("vial_size_g", vial_size_g)
    sizes = plan_vial_sizes(plan)
    if size not in sizes:
        allowed = " and ".join(f"{_plain(s)} g" for s in sizes)
        errors["vial_size_g"] = f"The plan uses {allowed} vials; {_plain(size)} g is not one of them."
    if vials is None or vials < 1:
        errors["vials"] = "At least 1 vial."
    day = infusion_date(session, record)
    if expiry_date is None:
        errors["expiry_date"] = "Enter the expiry date printed on the vial."
    elif expiry_date < day:
        errors["expiry_date"] = (
            f"This lot expired on {expiry_date:%Y-%m-%d}, before the infusion day ({day:%Y-%m-%d}). Do not use it."
        )
    excess_reason = (excess_reason or "").strip()
    if not errors:
        daily = Decimal(plan["daily_dose_g"])
        allowance = opened_allowance_g(daily_dose_g=daily, vial_sizes_g=sizes)
        opened = grams_opened(record) + size * vials
        if opened > allowance and not excess_reason:
            errors["excess_reason"] = (
                f"With this lot {_plain(opened)} g would be opened for a day of {_plain(daily)} g planned (up to "
                f"{_plain(allowance)} g may be opened without a reason: the day's grams and one {_plain(min(sizes))} g "
                "vial). Check the number of vials; if they really were opened, say why."
            )
        elif len(excess_reason) > 300:
            errors["excess_reason"] = f"At most 300 characters, not {len(excess_reason)}."
        elif opened <= allowance:
            excess_reason = ""
    if errors:
        # What the scan gave is refused at the scan, where the nurse looks.
        scanned = ("lot_number", "vial_size_g", "expiry_date") if gtin else ()
        raise ValidationError({("gs1" if field in scanned else field): message for field, message in errors.items()})
    record = _open_record(session, record, by=by)
    lot = LotUsage(
        record=record,
        lot_number=lot_number,
        vial_size_g=size,
        vials=vials,
        expiry_date=expiry_date,
        gtin=gtin,
        excess_reason=excess_reason,
    )
    excess = f"; more than planned: {excess_reason}" if excess_reason else ""
    scanned = " (scanned)" if gtin else ""
    _enter(
        lot,
        session=session,
        record=record,
        by=by,
        now=now,
        late=late,
        reason=f"lot {lot_number} opened{scanned}{excess}",
        record_reason=f"lot recorded ({lot_number}: {vials} x {_plain(size)} g)",
    )
    return lot


@service
def reaction_record(
    *,
    by,
    session: InfusionSession,
    at: datetime,
    type: str,  # the model's field name, so form errors land at the field
    severity: str,
    action: str,
    description: str = "",
    resumed_rate_ml_per_h=None,
    late_reason: str = "",
    now=None,
) -> Reaction:
    """Record an infusion reaction and what was done.

    'Resumed' needs the rate it resumed at, held to the limit of the current step (the step of
    the latest rate change up to the reaction; step 1 before any). 'Stopped' also stops the
    record at that time if no stop time is recorded yet.
    """
    now = now or timezone.now()
    session, record = _lock(session)
    late = _require_recordable(session, record, late_reason)
    record = _require_started(record)
    _check_time(
        "at", at, now=now, not_before=(record.started_at, "the start"), not_after=(record.stopped_at, "the stop")
    )
    resumed = _decimal("resumed_rate_ml_per_h", resumed_rate_ml_per_h, required=False)
    if action == ReactionAction.RESUMED:
        if resumed is None:
            raise ValidationError({"resumed_rate_ml_per_h": "Enter the rate the infusion resumed at."})
        if resumed == 0:
            raise ValidationError({"resumed_rate_ml_per_h": "A resumed infusion runs above 0 mL/h."})
        latest = record.rate_changes.live().filter(at__lte=at).order_by("-at", "-pk").first()
        limit = step_limit(plan_of(session), latest.step_number if latest else 1)
        refusal = limit.refusal(resumed)
        if refusal:
            raise ValidationError({"resumed_rate_ml_per_h": f"Current step {limit.step_number}: {refusal}"})
    elif resumed is not None:
        raise ValidationError({"resumed_rate_ml_per_h": "Only for a reaction after which the infusion resumed."})
    if type == ReactionType.OTHER and not (description or "").strip():
        raise ValidationError({"description": "Describe the reaction."})
    stops = action == ReactionAction.STOPPED and record.stopped_at is None
    if stops:
        errors = _times_out_of_order(record, None, at)
        if errors:
            raise ValidationError({"at": errors["stopped_at"]})

    reaction = Reaction(
        record=record,
        at=at,
        type=type,
        description=(description or "").strip(),
        severity=severity,
        action=action,
        resumed_rate_ml_per_h=resumed,
    )
    if stops:
        _set_value(record, RecordValueKind.STOP, at, by=by, now=now, late_reason=late)
    stopped = f"; infusion stopped at {_clock(at)}" if stops else ""
    _enter(
        reaction,
        session=session,
        record=record,
        by=by,
        now=now,
        late=late,
        reason=f"reaction: {type}, {severity}, {action}",
        record_reason=f"reaction recorded ({type}){stopped}",
    )
    # A late entry's review was brought up to date by the amendment's checks (``_enter``).
    if not late and severity in REVIEWED_SEVERITIES:
        _review_reach_prescriber(session, record, by=by, completed=False, now=now)
    return reaction


@service
def record_update(
    *,
    by,
    session: InfusionSession,
    stopped_at,
    volume_given_ml,
    grams_wasted,
    notes: str,
    expected_version,
    started_at=None,
    reason: str = "",
    now=None,
) -> InfusionRecord:
    """Record the stop, the volume given, the grams opened but not given, and notes.

    Each of start, stop, volume and waste is an entry (``RecordValue``): changing one already
    entered voids it with ``reason`` and enters the new value (``started_at`` None keeps the
    start). After completion every change is an amendment and needs the ``reason``.

    The volume given may not exceed the day's planned volume by more than 1 % (refused, not
    warned: a figure above what the verified plan's vials hold is a typo or a dosing incident,
    and neither belongs in the record unremarked), nor what the recorded rates could deliver
    between the start and the stop with a 2 % tolerance (``volume_refusal``). Waste is 0 or
    more and at most the grams opened (lots x vial size).
    """
    now = now or timezone.now()
    session, record = _lock(session)
    if record is None or record.started_at is None:
        raise ValidationError("Record the start of the infusion first.")
    _check_version(record, expected_version, session=session)
    completed = amending(session, record)
    _require_recordable(session, record, "" if not completed else reason)
    plan = plan_of(session)
    started_at = started_at or record.started_at
    errors = {}

    for field, value, words in (("started_at", started_at, None), ("stopped_at", stopped_at, "the start")):
        if value is None:
            continue
        try:
            bound = (started_at, words) if words else None
            _check_time(field, value, now=now, not_before=bound)
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if "started_at" not in errors and timezone.localdate(started_at) != timezone.localdate(session.planned_start):
        errors["started_at"] = (
            f"This session is planned for {timezone.localdate(session.planned_start):%Y-%m-%d}. "
            "If it happened on another day, move the session first."
        )
    if completed:
        for field, value, words in (("stopped_at", stopped_at, "stop"), ("volume_given_ml", volume_given_ml, "volume")):
            if value is None or value == "":
                errors.setdefault(field, [f"A completed infusion keeps its {words}: correct it, do not remove it."])
    if not errors:
        for field, messages in _times_out_of_order(record, started_at, stopped_at).items():
            errors[field] = messages

    volume = _decimal("volume_given_ml", volume_given_ml, required=False)
    if volume is not None and "volume_given_ml" not in errors:
        limit = volume_limit_ml(plan)
        if volume < 0:
            errors["volume_given_ml"] = "The volume given cannot be negative."
        elif volume > limit:
            errors["volume_given_ml"] = (
                f"{volume.quantize(TENTH)} mL is more than 1 % above today's planned {plan['daily_volume_ml']} mL "
                f"(at most {limit} mL). Check the figure; if more was really given, report it as a dosing "
                "incident and tell the prescriber."
            )
        elif not errors:
            refusal = volume_refusal(plan, record, volume=volume, started_at=started_at, stopped_at=stopped_at)
            if refusal:
                errors["volume_given_ml"] = refusal
    waste = _decimal("grams_wasted", grams_wasted, required=False) or Decimal("0")
    opened = grams_opened(record)
    if waste < 0:
        errors["grams_wasted"] = "Grams not given cannot be negative."
    elif waste > opened:
        errors["grams_wasted"] = (
            f"{_plain(waste)} g is more than the {_plain(opened)} g opened (the lots recorded)."
            if opened
            else "No vials are recorded as opened yet: record the lots first."
        )
    changes = {
        RecordValueKind.START: (record.started_at, started_at),
        RecordValueKind.STOP: (record.stopped_at, stopped_at),
        RecordValueKind.VOLUME: (record.volume_given_ml, volume),
        RecordValueKind.WASTE: (record.grams_wasted or None, waste or None),
    }
    corrected = [kind for kind, (old, new) in changes.items() if old is not None and old != new]
    reason = (reason or "").strip()
    if corrected and not reason and "late_reason" not in errors:
        words = ", ".join(RecordValueKind(kind).label.lower() for kind in corrected)
        errors["reason"] = f"Say why the {words} already entered is corrected; the entry is voided, not erased."
    elif len(reason) > 300:
        errors["reason"] = f"At most 300 characters, not {len(reason)}."
    if errors:
        raise ValidationError(errors)

    changed = [kind for kind, (old, new) in changes.items() if old != new]
    late = reason if completed else ""
    for kind in changed:
        _set_value(record, kind, changes[kind][1], by=by, now=now, reason=reason, late_reason=late)
    notes = (notes or "").strip()
    if notes != record.notes:
        changed.append("notes")
    record.notes = notes
    record.version += 1
    why = f" ({reason})" if reason else ""
    audited_save(
        record, by=by, reason=f"record edited: {', '.join(changed)}{why}" if changed else "record saved unchanged"
    )
    if RecordValueKind.START in changed:
        first_infusion_keep(patient=session.patient)
    if completed and changed:
        _amended(session, record, by=by, now=now)
    return record


@service
def record_complete(
    *,
    by,
    session: InfusionSession,
    expected_version,
    confirm: bool = False,
    stopped_at=None,
    volume_given_ml=None,
    now=None,
) -> InfusionRecord:
    """Complete the infusion: needs the start, stop, volume given, at least one lot, and vital
    signs before and after, a volume the recorded rates could deliver (``volume_refusal``), and
    ``confirm``: the nurse has seen the summary (``summary_of``). The session becomes completed;
    a second completion is refused.

    ``stopped_at`` and ``volume_given_ml`` (the chair API sends them with the completion) are
    entered first when the record has none; one that differs from an entry already made is
    refused: correct the record instead.

    Post-infusion reminders are not created here: the sweep creates them from completed sessions.
    An incomplete infusion or a moderate or severe reaction reaches the prescriber here, in this
    transaction (``_review_reach_prescriber``).
    """
    now = now or timezone.now()
    session, record = _lock(session)
    if record is None:
        raise ValidationError("Record the start of the infusion first.")
    _check_version(record, expected_version, session=session)
    if record.completed_at:
        raise ValidationError(f"Already completed: {completed_sentence(record)}.")
    _require_recordable(session, record)
    volume = _decimal("volume_given_ml", volume_given_ml, required=False)
    errors = {}
    for kind, field, value in (
        (RecordValueKind.STOP, "stopped_at", stopped_at),
        (RecordValueKind.VOLUME, "volume_given_ml", volume),
    ):
        current = getattr(record, field)
        if value is None or value == current:
            continue
        if current is not None:
            shown = _clock(current) if kind == RecordValueKind.STOP else f"{current} mL"
            errors[field] = f"Already recorded as {shown}: correct the record first."
    if errors:
        raise ValidationError(errors)
    if stopped_at is not None and record.stopped_at is None:
        _check_time("stopped_at", stopped_at, now=now, not_before=(record.started_at, "the start"))
        out_of_order = _times_out_of_order(record, record.started_at, stopped_at)
        if out_of_order:
            raise ValidationError(out_of_order)
        _set_value(record, RecordValueKind.STOP, stopped_at, by=by, now=now)
    if volume is not None and record.volume_given_ml is None:
        limit = volume_limit_ml(plan_of(session))
        if volume < 0 or volume > limit:
            raise ValidationError(
                {"volume_given_ml": f"{volume} mL: at least 0 and at most {limit} mL (today's volume + 1 %)."}
            )
        _set_value(record, RecordValueKind.VOLUME, volume, by=by, now=now)
    missing = completion_missing(record)
    if missing:
        raise ValidationError(f"Before completing, record {', '.join(missing)}.")
    errors = _times_out_of_order(record, record.started_at, record.stopped_at)
    if errors:
        raise ValidationError([message for messages in errors.values() for message in messages])
    if record.grams_wasted > grams_opened(record):
        raise ValidationError("The grams not given are more than the grams opened: correct the record first.")
    refusal = recorded_volume_refusal(session, record)
    if refusal:
        raise ValidationError({"volume_given_ml": refusal})
    if confirm is not True:
        raise ValidationError({"confirm": "Check the summary (grams, volume, time) and confirm it to complete."})

    record.completed_by = by
    record.completed_at = now
    record.version += 1
    audited_save(record, by=by, reason="infusion completed")
    session.status = SessionStatus.COMPLETED
    session.status_reason = ""
    session.version += 1
    audited_save(session, by=by, reason="infusion completed")
    _review_reach_prescriber(session, record, by=by, completed=True, now=now)
    course_settle(course=session.cycle.course, by=by)
    return record


class EntryNotFound(LookupError):
    """No entry with this id in this session's record."""


ENTRY_MODELS = (RateChange, VitalSigns, LotUsage, Reaction, RecordValue)


def entry_of(session: InfusionSession, entry_id):
    """The entry (of any kind) with this id in the session's record; ``EntryNotFound`` otherwise."""
    for model in ENTRY_MODELS:
        try:
            entry = model.objects.filter(uuid=entry_id, record__session=session).first()
        except ValidationError:  # not a UUID
            break
        if entry is not None:
            return entry
    raise EntryNotFound(f"No entry {entry_id} in the record of this infusion.")


def entry_words(entry) -> str:
    """One entry in a nurse's words, for messages and the audit trail."""
    if isinstance(entry, RecordValue):
        return f"{entry.get_kind_display().lower()} {entry.shown}"
    if isinstance(entry, RateChange):
        return f"pump rate {entry.rate_ml_per_h} mL/h at {_clock(entry.at)}"
    if isinstance(entry, VitalSigns):
        return f"vital signs {entry.get_phase_display().lower()} at {_clock(entry.at)}"
    if isinstance(entry, LotUsage):
        return f"lot {entry.lot_number} ({entry.vials} x {_plain(entry.vial_size_g)} g)"
    return f"reaction {entry.get_type_display().lower()} at {_clock(entry.at)}"


@service
def entry_void(*, by, session: InfusionSession, entry_id, reason: str, now=None):
    """Void one entry of the record with a reason: it stays, struck through, in the record and
    the history, and no longer counts; the right one is then entered as usual.

    A voided start reopens the session (it is not in progress any more) and is refused while a
    stop is recorded; the start, stop and volume of a completed infusion are corrected, not
    voided. At a completed infusion a void is an amendment: the record must stay complete and
    add up (``_amended``). An unknown id raises ``EntryNotFound``.
    """
    now = now or timezone.now()
    session, record = _lock(session)
    if record is None:
        raise EntryNotFound(f"No entry {entry_id} in the record of this infusion.")
    entry = entry_of(session, entry_id)
    what = entry_words(entry)
    if entry.is_voided:
        who = entry.voided_by.get_full_name() or entry.voided_by.get_username()
        raise ValidationError(
            f"The {what} was already voided by {who} at {_clock(entry.voided_at)}: {entry.void_reason}"
        )
    reason = _reason("reason", reason, required_because=f"Say why the {what} is voided.")
    _require_recordable(session, record, reason)
    completed = amending(session, record)
    if isinstance(entry, RecordValue):
        if completed and entry.kind != RecordValueKind.WASTE:
            raise ValidationError(
                {"reason": f"A completed infusion keeps its {entry.get_kind_display().lower()}: correct it instead."}
            )
        if entry.kind == RecordValueKind.START and record.stopped_at is not None:
            raise ValidationError({"reason": "Void the stop first, or correct the start time."})
        _set_value(record, entry.kind, None, by=by, now=now, reason=reason)
        if entry.kind == RecordValueKind.START:
            session.status = SessionStatus.CONFIRMED
            session.status_reason = f"Start voided: {reason}"
            session.version += 1
            audited_save(session, by=by, reason=f"start voided: {reason}")
    else:
        _void(entry, by=by, now=now, reason=reason)
    _touch(record, by=by, reason=f"{what} voided: {reason}")
    entry.refresh_from_db()
    if isinstance(entry, RecordValue) and entry.kind == RecordValueKind.START:
        first_infusion_keep(patient=session.patient)
    if completed:
        _amended(session, record, by=by, now=now, voiding=True)
    elif isinstance(entry, Reaction):
        _review_reach_prescriber(session, record, by=by, completed=False, now=now)
    return entry
