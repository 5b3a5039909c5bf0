"""Infusion courses: plan a course from a verified dose order, preview it without writing, and
book an open-ended course's next cycles.

Each write locks the unit, lays out the sessions it would book, checks them against the unit
and the patient's other cycles (scheduling/services/booking.py, the arithmetic in
scheduling/conflicts.py) and saves them in one transaction, with who and why in the history.
A course that replaces another closes it (scheduling/services/lifecycle.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, time, timedelta
from zoneinfo import ZoneInfo

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from accounts.audit import audited_save
from accounts.transactions import service
from dosing.models import DoseOrder, SiteSettings
from dosing.planning import first_infusion_of
from risk.services import flags_recompute, flags_recompute_later

from .. import timing
from ..conflicts import CycleStart, Slot, interval_warnings
from ..models import OPEN_SESSION_STATUSES, Course, CourseStatus, Cycle, InfusionSession, UnitSettings
from .booking import (
    check_slots,
    clinic_zone,
    local_clock,
    lock_unit,
    patient_cycle_starts,
    require_accepted,
    with_accepted,
)
from .lifecycle import course_close, courses_replaced_by, session_minutes

# An open-ended course is booked this far ahead of today; course_extend books further later.
OPEN_ENDED_HORIZON_WEEKS = 26


@dataclass(frozen=True)
class PlannedCycle:
    number: int
    start_date: date
    slots: tuple[Slot, ...]


@dataclass(frozen=True)
class CoursePreview:
    """What course_plan would book: cycles with their sessions, the warnings, and for an
    open-ended course the last date booked for now."""

    cycles: tuple[PlannedCycle, ...]
    warnings: tuple[str, ...]
    expected_minutes: int
    interval_weeks: int
    booked_until: date | None


COURSE_FIELDS = {"chair": "chair", "day": "first_day"}
COURSE_TIMING_FIELDS = {
    "first_day": "first_day",
    "interval_weeks": "interval_weeks",
    "cycles": "cycles",
    "start": "start_time",
    "day": "first_day",
    "until": "first_day",
    "minutes": "start_time",
}


def expected_session_minutes(order: DoseOrder, unit: UnitSettings) -> int:
    """The plan's infusion time plus the unit's set-up time (cannulation, checks, observation)."""
    return session_minutes(order, unit)


def _book_cycles(
    *, patient, starts: list[date], first_number: int, day_plan: list[tuple[int, time]], minutes: int, tz: ZoneInfo
) -> list[PlannedCycle]:
    """Sessions for each cycle start: day n of each cycle in chair/time ``day_plan[n - 1]``."""
    cycles = []
    for offset, start in enumerate(starts):
        number = first_number + offset
        slots = []
        for day_number, day in enumerate(timing.cycle_days(start, len(day_plan)), start=1):
            chair, clock = day_plan[day_number - 1]
            window = timing.session_window(day, clock, minutes, tz)
            slots.append(
                Slot(patient.pk, chair, window.start, window.end, f"{patient.mrn} cycle {number} day {day_number}")
            )
        cycles.append(PlannedCycle(number, start, tuple(slots)))
    return cycles


def course_preview(
    *,
    order: DoseOrder,
    first_day: date,
    start_time: time,
    chair: int,
    cycles: int | None = None,
    interval_weeks: int | None = None,
    today: date,
    unit: UnitSettings | None = None,
) -> CoursePreview:
    """Check and lay out a course without writing: raises ValidationError on a refusal.

    ``cycles=None`` is an open-ended course: cycles are booked up to OPEN_ENDED_HORIZON_WEEKS
    (26) weeks after ``today`` and course_extend books more later. ``interval_weeks`` defaults
    to the indication's interval, or 4 weeks.

    Example: 2 g/kg over 2 days (288 min) with 30 set-up minutes, from Mon 23 Nov 2026 at 09:00,
    3 cycles 4-weekly → cycles start 23 Nov, 21 Dec and 18 Jan; each day is booked 318 minutes.
    """
    unit = unit or UnitSettings.load()
    tz = clinic_zone()
    if not order.is_administrable:
        raise ValidationError(f"{order.status_sentence}: a course is planned only from a verified order.")
    if first_day < today:
        raise ValidationError({"first_day": f"{first_day:%Y-%m-%d} has passed; choose today or a later day."})
    label_weeks = order.indication.interval_weeks_min
    weeks = interval_weeks or label_weeks or timing.DEFAULT_INTERVAL_WEEKS
    minutes = expected_session_minutes(order, unit)
    until = None if cycles is not None else max(today + timedelta(weeks=OPEN_ENDED_HORIZON_WEEKS), first_day)
    try:
        starts = timing.cycle_start_dates(first_day, interval_weeks=weeks, cycles=cycles, until=until)
        planned = _book_cycles(
            patient=order.patient,
            starts=starts,
            first_number=1,
            day_plan=[(chair, start_time)] * order.days,
            minutes=minutes,
            tz=tz,
        )
    except ValueError as exc:
        raise _timing_error(exc, COURSE_TIMING_FIELDS) from None
    planned = _first_session_as_first_infusion(planned, order=order, first_day=first_day, unit=unit, tz=tz)
    warnings = []
    if label_weeks and weeks < label_weeks:
        warnings.append(
            f"Every {weeks} weeks is shorter than the {label_weeks} weeks given for {order.indication.name}."
        )
    replaced = courses_replaced_by(order)
    replacing = [course.pk for course in replaced]
    warnings += check_slots(
        [slot for cycle in planned for slot in cycle.slots], unit=unit, tz=tz, fields=COURSE_FIELDS, replacing=replacing
    )
    new_starts = [
        CycleStart(cycle.start_date, weeks, f"cycle {cycle.number} of this course", True) for cycle in planned
    ]
    earlier = patient_cycle_starts(order.patient_id, changed={}, replacing=replacing, today=today)
    warnings += interval_warnings([*earlier, *new_starts])
    for course in replaced:
        ahead = course.cycles.filter(sessions__status__in=OPEN_SESSION_STATUSES, start_date__gte=today).distinct()
        warnings.append(
            f"This course replaces the active course from {course.first_day:%Y-%m-%d} (order of "
            f"{timezone.localtime(course.order.prescribed_at):%Y-%m-%d}): it will be closed and its "
            f"{ahead.count()} cycle(s) still booked from today are cancelled."
        )
    return CoursePreview(tuple(planned), tuple(warnings), minutes, weeks, until)


def _first_session_as_first_infusion(
    planned: list[PlannedCycle], *, order: DoseOrder, first_day: date, unit: UnitSettings, tz: ZoneInfo
) -> list[PlannedCycle]:
    """The course's first session is booked at the length the chair will run it: as a first
    infusion (IVIG-naive, a product switch, a long gap: ``dosing.planning.first_infusion_of``) its
    first step is held longer, so its window is longer and the chair checks see it. Later sessions
    follow an infusion already given and keep the usual length.

    Example: an IVIG-naive patient, 2 g/kg over 2 days at 70 kg: day 1 of cycle 1 is booked
    340 minutes (310 + 30 set-up), day 2 and later cycles 318."""
    mark = first_infusion_of(order.patient, order.product, first_day, SiteSettings.load())
    if mark is None or not planned:
        return planned
    minutes = session_minutes(order, unit, first_infusion=mark)
    first = planned[0]
    slot = first.slots[0]
    local = slot.start.astimezone(tz)
    window = timing.session_window(local.date(), local.time(), minutes, tz)
    longer = replace(slot, start=window.start, end=window.end)
    return [PlannedCycle(first.number, first.start_date, (longer, *first.slots[1:])), *planned[1:]]


@service
def course_plan(
    *,
    by,
    order: DoseOrder,
    first_day: date,
    start_time: time,
    chair: int,
    cycles: int | None = None,
    interval_weeks: int | None = None,
    today: date,
    accept_warnings: bool = False,
) -> Course:
    """Book a course from a verified order: the Course, its Cycles and one InfusionSession per
    infusion day, each in ``chair`` at ``start_time`` local. See course_preview for the rules."""
    unit = lock_unit()
    order = DoseOrder.objects.select_for_update().select_related("patient", "indication").get(pk=order.pk)
    preview = course_preview(
        order=order,
        first_day=first_day,
        start_time=start_time,
        chair=chair,
        cycles=cycles,
        interval_weeks=interval_weeks,
        today=today,
        unit=unit,
    )
    require_accepted(preview.warnings, accept_warnings)
    course = Course(
        order=order,
        patient=order.patient,
        interval_weeks=preview.interval_weeks,
        days_per_cycle=order.days,
        planned_cycles=cycles,
        first_day=first_day,
        created_by=by,
    )
    length = f"{cycles} cycles" if cycles else f"open-ended, booked to {preview.booked_until:%Y-%m-%d}"
    for replaced in courses_replaced_by(order):
        course_close(course=replaced, by=by, reason=f"replaced by the course from {first_day:%Y-%m-%d}")
    audited_save(course, by=by, reason=with_accepted(f"planned: {length}", preview.warnings))
    _create_cycles(course, preview.cycles, minutes=preview.expected_minutes, by=by)
    return course


def _create_cycles(course: Course, planned: Iterable[PlannedCycle], *, minutes: int, by) -> list[Cycle]:
    """Write the cycles, then their sessions, each batch in one insert with its history rows (who
    and "planned"): a 12-cycle course is a handful of statements, not two per row. Each row is
    validated first, without the database look-ups (its course, cycle and patient were just read
    or written, its numbers and UUIDs are new, and the database constraints still hold). Bulk rows
    send no post_save, so the patient is marked for the one recompute of the service's block."""
    planned = list(planned)
    cycles = [Cycle(course=course, number=item.number, start_date=item.start_date) for item in planned]
    for cycle in cycles:
        cycle.full_clean(exclude=["course"], validate_unique=False, validate_constraints=False)
    cycles = bulk_create_with_history(cycles, Cycle, default_user=by, default_change_reason="planned")
    sessions = [
        InfusionSession(
            cycle=cycle,
            patient=course.patient,
            day_number=day_number,
            chair=slot.chair,
            planned_start=slot.start,
            # Each slot's own length: a first infusion's session is longer (see course_preview).
            expected_minutes=int((slot.end_utc - slot.start_utc).total_seconds()) // 60,
        )
        for cycle, item in zip(cycles, planned, strict=True)
        for day_number, slot in enumerate(item.slots, start=1)
    ]
    for session in sessions:
        session.full_clean(exclude=["cycle", "patient"], validate_unique=False, validate_constraints=False)
    bulk_create_with_history(sessions, InfusionSession, default_user=by, default_change_reason="planned")
    if not flags_recompute_later(course.patient_id):
        flags_recompute(patient=course.patient)
    return cycles


@service
def course_extend(*, by, course: Course, today: date, accept_warnings: bool = False) -> list[Cycle]:
    """Book an open-ended course's next cycles up to OPEN_ENDED_HORIZON_WEEKS after ``today``,
    every interval from the last cycle's start, each day in the last cycle's chair and local
    start time. Returns the cycles added (none when the course is already booked that far).

    Example: the last cycle starts Fri 14 May 2027, every 4 weeks; on 1 Jan 2027 the horizon
    is 2 Jul 2027, so one cycle is added, from 11 Jun 2027 (9 Jul is past the horizon).
    """
    unit = lock_unit()
    tz = clinic_zone()
    course = Course.objects.select_for_update().select_related("order", "patient").get(pk=course.pk)
    if course.planned_cycles is not None or course.status != CourseStatus.ACTIVE:
        raise ValidationError("Only an active open-ended course is extended; this one has a planned number of cycles.")
    if not course.order.is_administrable:
        raise ValidationError(f"{course.order.status_sentence}: no more cycles are booked until it is verified.")
    last = course.cycles.order_by("-number").first()
    template = list(last.sessions.order_by("day_number"))
    horizon = today + timedelta(weeks=OPEN_ENDED_HORIZON_WEEKS)
    step = timedelta(weeks=course.interval_weeks)
    starts = []
    while last.start_date + step * (len(starts) + 1) <= horizon:
        starts.append(last.start_date + step * (len(starts) + 1))
    if not starts:
        return []
    minutes = expected_session_minutes(course.order, unit)
    day_plan = [(session.chair, local_clock(session.planned_start, tz)[1]) for session in template]
    try:
        planned = _book_cycles(
            patient=course.patient,
            starts=starts,
            first_number=last.number + 1,
            day_plan=day_plan,
            minutes=minutes,
            tz=tz,
        )
    except ValueError as exc:
        raise _timing_error(exc, {}) from None
    warnings = check_slots(
        [slot for cycle in planned for slot in cycle.slots],
        unit=unit,
        tz=tz,
        fields={"chair": NON_FIELD_ERRORS, "day": NON_FIELD_ERRORS},
    )
    new_starts = [
        CycleStart(cycle.start_date, course.interval_weeks, f"cycle {cycle.number}", True) for cycle in planned
    ]
    warnings += interval_warnings([*patient_cycle_starts(course.patient_id, changed={}), *new_starts])
    require_accepted(warnings, accept_warnings)
    return _create_cycles(course, planned, minutes=minutes, by=by)


def _timing_error(exc: ValueError, fields: dict[str, str]) -> ValidationError:
    """scheduling.timing names the argument (FieldError.field); put its message at the form field."""
    name = getattr(exc, "field", None)
    return ValidationError({fields[name]: str(exc)} if name in fields else str(exc))
