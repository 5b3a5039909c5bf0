"""Infusion courses and their sessions in the unit's chairs: plan a course from a verified
dose order, move sessions, confirm or cancel them, and keep the unit's settings.

Every write follows one pattern: lock the unit's settings row (so two nurses booking at the
same moment are checked one after the other), build the sessions as the write would leave
them, check them against the rest of the unit, then save inside the same transaction with
who and why in each record's history.

The check has two outcomes. Refusals (a chair booked twice, a chair the unit does not have,
two sessions for one patient on one day) raise ValidationError naming the form field.
Warnings (outside opening hours, a cycle sooner than its interval) are returned; a write
that has warnings raises `WarningsNotAccepted` unless the caller passes
``accept_warnings=True`` after a person has read them.

Times: a session is booked at a local wall-clock time; scheduling.timing.session_window
keeps 09:00 at 09:00 across daylight-saving changes. The database stores UTC.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import models, transaction
from django.db.models import Prefetch
from django.utils import timezone

from accounts.audit import audited_save, stale_version_error
from dosing.models import DoseOrder
from risk.models import RiskFlag
from risk.services import flags_recompute_once

from .. import timing
from ..models import OPEN_SESSION_STATUSES, Course, CourseStatus, Cycle, InfusionSession, SessionStatus, UnitSettings
from .lifecycle import course_close, course_settle, courses_replaced_by, session_minutes
from .reminders import session_changed

# An open-ended course is booked this far ahead of today; course_extend books further later.
OPEN_ENDED_HORIZON_WEEKS = 26
# What a nurse sets on the status page. In progress and completed belong to the infusion record.
NURSE_STATUSES = (SessionStatus.CONFIRMED, SessionStatus.MISSED, SessionStatus.CANCELLED)
REASON_REQUIRED_STATUSES = (SessionStatus.MISSED, SessionStatus.CANCELLED)
MOVABLE_STATUSES = (SessionStatus.PLANNED, SessionStatus.CONFIRMED)
# A cycle counts for the interval check while any of its days was given or is still to come.
COUNTED_STATUSES = (*OPEN_SESSION_STATUSES, SessionStatus.COMPLETED)
REFUSALS_SHOWN = 3
UNIT_FIELDS = ("chairs", "opens_at", "closes_at", "setup_minutes", "upcoming_reminder_days")


class WarningsNotAccepted(ValidationError):
    """The write has warnings nobody has accepted yet; nothing was written.

    A ValidationError on the form's ``accept_warnings`` field, so a view that only knows
    ValidationError still shows the warnings next to the checkbox."""

    def __init__(self, warnings: Sequence[str]):
        self.warnings = tuple(warnings)
        super().__init__({"accept_warnings": list(self.warnings)})


def warnings_digest(warnings: Iterable[str]) -> str:
    """A short fingerprint of the warnings a person was shown, so a tick given for one set of
    warnings never accepts a different set.

    Example: the same warnings always give the same digest; none give the empty string.

    >>> warnings_digest(["Ends after closing."]) == warnings_digest(["Ends after closing."])
    True
    >>> warnings_digest([])
    ''
    """
    items = list(warnings)
    if not items:
        return ""
    return hashlib.sha256("\n".join(items).encode()).hexdigest()[:16]


def clinic_zone() -> ZoneInfo:
    return timezone.get_default_timezone()


# ----------------------------------------------------------------------- the unit's checks


@dataclass(frozen=True)
class Slot:
    """One session as a write would leave it, or as it stands: who, which chair, when.

    ``start`` and ``end`` are aware; comparisons happen in UTC (two datetimes sharing a zone
    compare by wall clock in Python, which is wrong across a daylight-saving change)."""

    patient_id: int
    chair: int
    start: datetime
    end: datetime
    label: str
    session_id: int | None = None

    @property
    def start_utc(self) -> datetime:
        return self.start.astimezone(UTC)

    @property
    def end_utc(self) -> datetime:
        return self.end.astimezone(UTC)


@dataclass(frozen=True)
class Conflicts:
    refusals: dict[str, list[str]]
    warnings: list[str]


def _when(slot: Slot, tz: ZoneInfo) -> str:
    start, end = slot.start.astimezone(tz), slot.end.astimezone(tz)
    return f"{start:%a %Y-%m-%d %H:%M}–{end:%H:%M}"


def _same_chair_overlap(one: Slot, other: Slot) -> bool:
    return one.chair == other.chair and one.start_utc < other.end_utc and other.start_utc < one.end_utc


def find_conflicts(
    proposed: Sequence[Slot], others: Iterable[Slot], *, chairs: int, opens_at: time, closes_at: time, tz: ZoneInfo
) -> Conflicts:
    """Check sessions a write would leave against each other and the unit's other open sessions.

    Refusals, keyed ``chair`` or ``day``: a chair the unit does not have; two sessions
    overlapping in one chair; two sessions for one patient on one local day. Warnings: a
    session starting before opening time or ending after closing time (local clock).
    ``others`` must not contain the sessions that ``proposed`` replace.

    Example: a 09:00–13:48 session in chair 1 and a 13:00 session in chair 1 overlap; a
    session ending 18:30 in a unit closing at 18:00 only warns.

    >>> ny = ZoneInfo("America/New_York")
    >>> at = lambda h, m: datetime(2026, 11, 23, h, m, tzinfo=ny)
    >>> first = Slot(1, 1, at(9, 0), at(13, 48), "MRN1 day 1")
    >>> late = Slot(2, 1, at(13, 0), at(18, 30), "MRN2 day 1")
    >>> result = find_conflicts([late], [first], chairs=6, opens_at=time(8), closes_at=time(18), tz=ny)
    >>> result.refusals["chair"]
    ['Chair 1 is already booked Mon 2026-11-23 09:00–13:48 (MRN1 day 1).']
    >>> result.warnings
    ['MRN2 day 1 (Mon 2026-11-23 13:00–18:30) would end after closing time (18:00).']
    """
    refusals: dict[str, list[str]] = defaultdict(list)
    warnings: list[str] = []
    others = list(others)
    for slot in proposed:
        if not 1 <= slot.chair <= chairs:
            refusals["chair"].append(f"The unit has chairs 1 to {chairs}; there is no chair {slot.chair}.")
    for index, slot in enumerate(proposed):
        for other in proposed[index + 1 :]:
            if _same_chair_overlap(slot, other):
                refusals["chair"].append(
                    f"Chair {slot.chair} would be booked twice: {_when(slot, tz)} and {_when(other, tz)}."
                )
        for other in others:
            if _same_chair_overlap(slot, other):
                refusals["chair"].append(f"Chair {slot.chair} is already booked {_when(other, tz)} ({other.label}).")
    # One open session per patient per local day.
    by_day: dict[tuple[int, date], list[tuple[Slot, bool]]] = defaultdict(list)
    for slot, is_new in [*((slot, True) for slot in proposed), *((slot, False) for slot in others)]:
        by_day[(slot.patient_id, slot.start.astimezone(tz).date())].append((slot, is_new))
    for (_, day), entries in by_day.items():
        if len(entries) > 1 and any(is_new for _, is_new in entries):
            listed = "; ".join(f"{slot.label} {_when(slot, tz)}" for slot, _ in entries)
            refusals["day"].append(f"The patient would have {len(entries)} sessions on {day:%a %Y-%m-%d}: {listed}.")
    early, late = [], []
    for slot in proposed:
        start, end = slot.start.astimezone(tz), slot.end.astimezone(tz)
        if start.time() < opens_at:
            early.append(slot)
        if end.date() > start.date() or end.time() > closes_at:
            late.append(slot)
    warnings += _hours_warning(early, f"start before opening time ({opens_at:%H:%M})", tz)
    warnings += _hours_warning(late, f"end after closing time ({closes_at:%H:%M})", tz)
    return Conflicts(dict(refusals), warnings)


def _hours_warning(slots: list[Slot], what: str, tz: ZoneInfo) -> list[str]:
    """One warning per kind: a course of many cycles booked late would otherwise list them all."""
    if not slots:
        return []
    first, last = slots[0], slots[-1]
    if len(slots) == 1:
        return [f"{first.label} ({_when(first, tz)}) would {what}."]
    return [
        f"{len(slots)} sessions would {what}: the first {first.label} ({_when(first, tz)}), "
        f"the last {last.label} ({_when(last, tz)})."
    ]


@dataclass(frozen=True)
class CycleStart:
    """When a patient's cycle starts, for the interval check. ``changed``: this write sets it."""

    day: date
    interval_weeks: int
    label: str
    changed: bool


def interval_warnings(starts: Iterable[CycleStart]) -> list[str]:
    """Warn where a cycle starts before the previous cycle's interval is up. Only pairs that
    involve a changed cycle are reported (old gaps were accepted when they were booked).

    Example: cycle 2 moved to 24 days after cycle 1 of a 4-weekly course.

    >>> interval_warnings([CycleStart(date(2026, 11, 23), 4, "cycle 1", False),
    ...                    CycleStart(date(2026, 12, 17), 4, "cycle 2", True)])
    ['cycle 2 would start Thu 2026-12-17, 24 days after cycle 1 (Mon 2026-11-23); the interval is 4 weeks (28 days).']
    """
    ordered = sorted(starts, key=lambda start: start.day)
    warnings = []
    for previous, current in zip(ordered, ordered[1:], strict=False):
        gap = (current.day - previous.day).days
        if (previous.changed or current.changed) and gap < previous.interval_weeks * 7:
            warnings.append(
                f"{current.label} would start {current.day:%a %Y-%m-%d}, {gap} days after {previous.label} "
                f"({previous.day:%a %Y-%m-%d}); the interval is {previous.interval_weeks} weeks "
                f"({previous.interval_weeks * 7} days)."
            )
    return warnings


def _existing_slot(session: InfusionSession) -> Slot:
    return Slot(
        patient_id=session.patient_id,
        chair=session.chair,
        start=session.planned_start,
        end=session.planned_end,
        label=f"{session.patient.mrn} cycle {session.cycle.number} day {session.day_number}",
        session_id=session.pk,
    )


def check_slots(
    proposed: Sequence[Slot],
    *,
    unit: UnitSettings,
    tz: ZoneInfo,
    fields: dict[str, str],
    replacing: Sequence[int] = (),
) -> list[str]:
    """Check proposed sessions against the unit's other open sessions in the database.

    Booked sessions of the courses in ``replacing`` (closed by the same write) do not count.
    Raises ValidationError with each refusal at the form field ``fields`` maps it to
    (``chair`` and ``day``); returns the warnings."""
    if not proposed:
        return []
    replaced = [slot.session_id for slot in proposed if slot.session_id]
    # A session lasts at most 24 h, so a day either side finds every overlap and same-day session.
    low = min(slot.start_utc for slot in proposed) - timedelta(days=1)
    high = max(slot.end_utc for slot in proposed) + timedelta(days=1)
    nearby = (
        InfusionSession.objects.open()
        .filter(planned_start__gte=low, planned_start__lt=high)
        .filter(
            models.Q(chair__in={slot.chair for slot in proposed})
            | models.Q(patient__in={s.patient_id for s in proposed})
        )
        .exclude(pk__in=replaced)
        .exclude(cycle__course__in=replacing, status__in=[SessionStatus.PLANNED, SessionStatus.CONFIRMED])
        .select_related("patient", "cycle")
    )
    found = find_conflicts(
        proposed,
        [_existing_slot(session) for session in nearby],
        chairs=unit.chairs,
        opens_at=unit.opens_at,
        closes_at=unit.closes_at,
        tz=tz,
    )
    if found.refusals:
        raise ValidationError({fields[key]: _at_most(messages) for key, messages in found.refusals.items()})
    return found.warnings


def _at_most(messages: list[str], shown: int = REFUSALS_SHOWN) -> list[str]:
    """A course of many cycles can clash every cycle; the first few say enough."""
    if len(messages) <= shown:
        return messages
    return [*messages[:shown], f"… and {len(messages) - shown} more like these."]


def _patient_cycle_starts(
    patient_id: int, *, changed: dict[int, date], replacing: Sequence[int] = (), today: date | None = None
) -> list[CycleStart]:
    """The patient's counted cycles (any day given or still to come), with the start dates a
    write changes substituted; cycles from ``today`` of the courses in ``replacing`` do not count."""
    cycles = (
        Cycle.objects.filter(course__patient_id=patient_id, sessions__status__in=COUNTED_STATUSES)
        .exclude(course__in=replacing, start_date__gte=today or date.min)
        .select_related("course")
        .distinct()
    )
    return [
        CycleStart(
            day=changed.get(cycle.pk, cycle.start_date),
            interval_weeks=cycle.course.interval_weeks,
            label=f"cycle {cycle.number} of the course from {cycle.course.first_day:%Y-%m-%d}",
            changed=cycle.pk in changed,
        )
        for cycle in cycles
    ]


def _require_accepted(warnings: Sequence[str], accept_warnings: bool) -> None:
    if warnings and not accept_warnings:
        raise WarningsNotAccepted(warnings)


# ----------------------------------------------------------------------- saving


def _lock_unit() -> UnitSettings:
    """The unit's row, locked: every scheduling write takes it first, so the conflict checks of
    two writes never interleave on PostgreSQL. (SQLite ignores the lock but lets one writer
    commit at a time; a racing second booking fails with "database is locked", never doubles.)"""
    UnitSettings.load()
    return UnitSettings.objects.select_for_update().get(pk=1)


def _with_accepted(reason: str, warnings: Sequence[str]) -> str:
    return f"{reason}; accepted: {' | '.join(warnings)}" if warnings else reason


def _timing_error(exc: ValueError, fields: dict[str, str]) -> ValidationError:
    """scheduling.timing names the argument (FieldError.field); put its message at the form field."""
    name = getattr(exc, "field", None)
    return ValidationError({fields[name]: str(exc)} if name in fields else str(exc))


def _local_clock(value: datetime, tz: ZoneInfo) -> tuple[date, time]:
    local = value.astimezone(tz)
    return local.date(), local.time().replace(fold=0)


# ----------------------------------------------------------------------- planning a course


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
    earlier = _patient_cycle_starts(order.patient_id, changed={}, replacing=replacing, today=today)
    warnings += interval_warnings([*earlier, *new_starts])
    for course in replaced:
        ahead = course.cycles.filter(sessions__status__in=OPEN_SESSION_STATUSES, start_date__gte=today).distinct()
        warnings.append(
            f"This course replaces the active course from {course.first_day:%Y-%m-%d} (order of "
            f"{timezone.localtime(course.order.prescribed_at):%Y-%m-%d}): it will be closed and its "
            f"{ahead.count()} cycle(s) still booked from today are cancelled."
        )
    return CoursePreview(tuple(planned), tuple(warnings), minutes, weeks, until)


@transaction.atomic
@flags_recompute_once()
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
    unit = _lock_unit()
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
    _require_accepted(preview.warnings, accept_warnings)
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
    audited_save(course, by=by, reason=_with_accepted(f"planned: {length}", preview.warnings))
    _create_cycles(course, preview.cycles, minutes=preview.expected_minutes, by=by)
    return course


def _create_cycles(course: Course, planned: Iterable[PlannedCycle], *, minutes: int, by) -> list[Cycle]:
    created = []
    for item in planned:
        cycle = Cycle(course=course, number=item.number, start_date=item.start_date)
        audited_save(cycle, by=by, reason="planned")
        for day_number, slot in enumerate(item.slots, start=1):
            session = InfusionSession(
                cycle=cycle,
                patient=course.patient,
                day_number=day_number,
                chair=slot.chair,
                planned_start=slot.start,
                expected_minutes=minutes,
            )
            audited_save(session, by=by, reason="planned")
        created.append(cycle)
    return created


@transaction.atomic
@flags_recompute_once()
def course_extend(*, by, course: Course, today: date, accept_warnings: bool = False) -> list[Cycle]:
    """Book an open-ended course's next cycles up to OPEN_ENDED_HORIZON_WEEKS after ``today``,
    every interval from the last cycle's start, each day in the last cycle's chair and local
    start time. Returns the cycles added (none when the course is already booked that far).

    Example: the last cycle starts Fri 14 May 2027, every 4 weeks; on 1 Jan 2027 the horizon
    is 2 Jul 2027, so one cycle is added, from 11 Jun 2027 (9 Jul is past the horizon).
    """
    unit = _lock_unit()
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
    day_plan = [(session.chair, _local_clock(session.planned_start, tz)[1]) for session in template]
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
    warnings += interval_warnings([*_patient_cycle_starts(course.patient_id, changed={}), *new_starts])
    _require_accepted(warnings, accept_warnings)
    return _create_cycles(course, planned, minutes=minutes, by=by)


# ----------------------------------------------------------------------- moving and status


MOVE_FIELDS = {"chair": "chair", "day": "new_date"}


def _locked_session(session: InfusionSession, expected_version: int | None) -> InfusionSession:
    """The session re-read under a row lock, refused if the page showed another version of it
    (a missing version too: every page that writes here posts one)."""
    session = InfusionSession.objects.select_for_update().select_related("patient", "cycle__course").get(pk=session.pk)
    if expected_version != session.version:
        raise stale_version_error(session, what="session", state=session.get_status_display())
    return session


@dataclass(frozen=True)
class _Move:
    session: InfusionSession
    slot: Slot


def _moves(
    session: InfusionSession, *, new_date: date, new_start: time, chair: int | None, following: bool, tz: ZoneInfo
) -> list[_Move]:
    """The sessions a move changes and where each goes: the same shift in days and in minutes
    of wall clock for each one, chairs kept unless ``chair`` is given."""
    sessions = [session]
    if following:
        sessions += list(
            InfusionSession.objects.select_for_update()
            .filter(cycle__course_id=session.cycle.course_id, status__in=MOVABLE_STATUSES)
            .filter(planned_start__gt=session.planned_start)
            .select_related("patient", "cycle")
            .order_by("planned_start")
        )
    old_day, old_clock = _local_clock(session.planned_start, tz)
    day_shift = new_date - old_day
    clock_shift = datetime.combine(new_date, new_start) - datetime.combine(new_date, old_clock)
    moves = []
    for item in sessions:
        day, clock = _local_clock(item.planned_start, tz)
        target_day = day + day_shift
        local = datetime.combine(target_day, clock) + clock_shift
        label = f"{item.patient.mrn} cycle {item.cycle.number} day {item.day_number}"
        if local.date() != target_day:
            raise ValidationError({"new_start": f"Shifting {label} by the same time would take it past midnight."})
        try:
            window = timing.session_window(local.date(), local.time(), item.expected_minutes, tz)
        except ValueError as exc:
            raise ValidationError({"new_start": f"{label}: {exc}"}) from None
        slot = Slot(item.patient_id, chair or item.chair, window.start, window.end, label, item.pk)
        moves.append(_Move(item, slot))
    return moves


def _cycle_starts_after(moves: Sequence[_Move], tz: ZoneInfo) -> dict[int, date]:
    """Each touched cycle's first day once the moves are applied (from its counted sessions)."""
    moved = {move.session.pk: move.slot.start for move in moves}
    starts = {}
    for cycle_id in {move.session.cycle_id for move in moves}:
        days = [
            moved.get(session.pk, session.planned_start).astimezone(tz).date()
            for session in InfusionSession.objects.filter(cycle_id=cycle_id, status__in=COUNTED_STATUSES)
        ]
        if days:
            starts[cycle_id] = min(days)
    return starts


@transaction.atomic
@flags_recompute_once()
def session_move(
    *,
    by,
    session: InfusionSession,
    new_date: date,
    new_start: time,
    chair: int | None = None,
    following: bool = False,
    expected_version: int | None,
    accept_warnings: bool = False,
    today: date | None = None,
) -> list[InfusionSession]:
    """Move one planned or confirmed session, or it and every later open session of its course
    (``following``) by the same shift. Chairs stay unless ``chair`` is given. Every moved
    session's version goes up; one whose time changes has its pending reminders cancelled
    (session_changed) and, if it was confirmed, goes back to planned (the patient confirmed the
    old time). Returns the sessions moved.

    Example: day 1 of cycle 2 on Mon 21 Dec 09:00 moved to Wed 23 Dec 10:00 with following
    ticked: day 2 goes from Tue 22 Dec 09:00 to Thu 24 Dec 10:00, cycle 3 two days and an hour
    later, and so on.
    """
    unit = _lock_unit()
    tz = clinic_zone()
    today = today or timezone.localdate()
    session = _locked_session(session, expected_version)
    if session.status not in MOVABLE_STATUSES:
        raise ValidationError(f"This session is {session.get_status_display().lower()}; it cannot be moved.")
    if new_date < today:
        raise ValidationError({"new_date": f"{new_date:%Y-%m-%d} has passed; choose today or a later day."})
    moves = [
        move
        for move in _moves(session, new_date=new_date, new_start=new_start, chair=chair, following=following, tz=tz)
        if (move.slot.start, move.slot.chair) != (move.session.planned_start, move.session.chair)
    ]
    if not moves:
        raise ValidationError("The session is already on this day, at this time, in this chair.")
    warnings = check_slots([move.slot for move in moves], unit=unit, tz=tz, fields=MOVE_FIELDS)
    cycles = {move.session.cycle_id: move.session.cycle for move in moves}
    changed = {
        cycle_id: day for cycle_id, day in _cycle_starts_after(moves, tz).items() if day != cycles[cycle_id].start_date
    }
    warnings += interval_warnings(_patient_cycle_starts(session.patient_id, changed=changed))
    _require_accepted(warnings, accept_warnings)
    for move in moves:
        item = move.session
        before = f"{item.planned_start.astimezone(tz):%Y-%m-%d %H:%M} chair {item.chair}"
        reason = f"moved from {before} to {move.slot.start:%Y-%m-%d %H:%M} chair {move.slot.chair}"
        time_changed = move.slot.start != item.planned_start
        if time_changed and item.status == SessionStatus.CONFIRMED:
            # The patient confirmed the old time, not the new one.
            item.status = SessionStatus.PLANNED
            reason += "; confirmation cleared"
        item.planned_start, item.chair = move.slot.start, move.slot.chair
        item.version += 1
        audited_save(item, by=by, reason=_with_accepted(reason, warnings))
        if time_changed:
            session_changed(item)
    for cycle_id, day in changed.items():
        cycle = cycles[cycle_id]
        cycle.start_date = day
        audited_save(cycle, by=by, reason=f"first day moved to {day:%Y-%m-%d}")
        if cycle.number == 1 and cycle.course.first_day != day:
            # The course is named by its first day: keep it true when cycle 1 moves.
            cycle.course.first_day = day
            audited_save(cycle.course, by=by, reason=f"first day moved to {day:%Y-%m-%d}")
    return [move.session for move in moves]


@transaction.atomic
def session_set_status(
    *,
    by,
    session: InfusionSession,
    status: str,
    reason: str = "",
    expected_version: int | None,
    now: datetime | None = None,
) -> InfusionSession:
    """Confirm a planned session, or record it missed or cancelled (with a reason). Missed and
    cancelled sessions' pending reminders are cancelled. In progress and completed are set by
    the infusion record, not here.

    Example: a planned session the patient phoned to cancel → status cancelled, reason "flu".
    """
    now = now or timezone.now()
    reason = reason.strip()
    session = _locked_session(session, expected_version)
    if status not in NURSE_STATUSES:
        if status in (SessionStatus.IN_PROGRESS, SessionStatus.COMPLETED):
            raise ValidationError({"status": "Starting and completing an infusion is recorded on the session page."})
        raise ValidationError({"status": f"{status!r} is not a status a session can be given here."})
    if session.status not in MOVABLE_STATUSES:
        raise ValidationError(
            f"This session is {session.get_status_display().lower()}; only a planned or confirmed session changes here."
        )
    if status == session.status:
        raise ValidationError({"status": f"The session is already {session.get_status_display().lower()}."})
    if status in REASON_REQUIRED_STATUSES and not reason:
        raise ValidationError({"reason": f"Say why the session is {SessionStatus(status).label.lower()}."})
    if status == SessionStatus.MISSED and session.planned_start > now:
        raise ValidationError({"status": "The session has not started yet; cancel it instead of marking it missed."})
    session.status = status
    session.status_reason = reason
    session.version += 1
    audited_save(session, by=by, reason=f"{SessionStatus(status).label.lower()}{': ' + reason if reason else ''}")
    if status in REASON_REQUIRED_STATUSES:
        session_changed(session)
        course_settle(course=session.cycle.course, by=by)
    return session


# ----------------------------------------------------------------------- the unit


@transaction.atomic
def unit_settings_update(*, by, now: datetime | None = None, **fields) -> UnitSettings:
    """Change the unit's chairs, opening hours, set-up time or reminder lead time.

    Sessions already booked keep their expected minutes. Fewer chairs are refused while an
    open session from today on sits in a chair that would go.
    """
    unknown = set(fields) - set(UNIT_FIELDS)
    if unknown:
        raise TypeError(f"unit_settings_update: unknown fields {sorted(unknown)}")
    now = now or timezone.now()
    unit = _lock_unit()
    for name, value in fields.items():
        setattr(unit, name, value)
    if unit.closes_at <= unit.opens_at:
        raise ValidationError({"closes_at": "Closing time must be after opening time."})
    start_of_today = datetime.combine(timezone.localdate(now), time(0), tzinfo=clinic_zone())
    stranded = InfusionSession.objects.open().filter(planned_start__gte=start_of_today, chair__gt=unit.chairs)
    first = stranded.order_by("planned_start").first()
    if first is not None:
        raise ValidationError(
            {
                "chairs": f"{stranded.count()} open sessions are booked in chairs above {unit.chairs} "
                f"(the first {first.planned_start.astimezone(clinic_zone()):%a %Y-%m-%d %H:%M} in chair "
                f"{first.chair}); move them first."
            }
        )
    changed = ", ".join(f"{name} {value}" for name, value in fields.items())
    audited_save(unit, by=by, reason=f"edited: {changed}")
    return unit


# ----------------------------------------------------------------------- reads


@dataclass(frozen=True)
class WeekGrid:
    days: tuple[date, ...]
    rows: tuple[tuple[int, tuple[tuple[InfusionSession, ...], ...]], ...]  # (chair, one tuple per day)
    cancelled: int
    chairs: int  # chairs in the unit this week: its setting, or more when sessions sit beyond it
    first_chair: int
    last_chair: int


# The order's JSON documents, which the week view's chips never show.
ORDER_JSON_NOT_SHOWN = ("inputs", "facts", "plan", "chart_replan", "contraindication_override")
CHAIRS_PER_PAGE = 16  # a bay of chairs per page: a large unit's week stays a readable, fast page


def week_grid(monday: date, *, unit: UnitSettings, tz: ZoneInfo, first_chair: int = 1) -> WeekGrid:
    """CHAIRS_PER_PAGE of the unit's chairs, from ``first_chair``, × 7 days from ``monday``,
    each cell the sessions starting there in start order (cancelled ones only counted). Three
    queries whatever the week or the unit holds (the chair count, the sessions, their flags)."""
    days = tuple(monday + timedelta(days=offset) for offset in range(7))
    start = datetime.combine(monday, time(0), tzinfo=tz)
    end = datetime.combine(monday + timedelta(days=7), time(0), tzinfo=tz)
    week = InfusionSession.objects.between(start, end)
    beyond = week.exclude(status=SessionStatus.CANCELLED).aggregate(chair=models.Max("chair"))["chair"]
    chairs = max(unit.chairs, beyond or 0)
    first_chair = min(max(first_chair, 1), chairs)
    last_chair = min(first_chair + CHAIRS_PER_PAGE - 1, chairs)
    sessions = list(
        week.filter(chair__gte=first_chair, chair__lte=last_chair)
        .select_related("patient", "cycle__course__order__product")
        .defer(
            *(
                f"cycle__course__order__{name}"
                for name in ("inputs", "facts", "plan", "chart_replan", "contraindication_override")
            )
        )
        .prefetch_related(
            Prefetch("patient__risk_flags", queryset=RiskFlag.objects.putting_at_risk(), to_attr="at_risk_flags")
        )
        .order_by("planned_start", "chair")
    )
    shown = [session for session in sessions if session.status != SessionStatus.CANCELLED]
    cells: dict[tuple[int, date], list[InfusionSession]] = defaultdict(list)
    for session in shown:
        cells[(session.chair, session.planned_start.astimezone(tz).date())].append(session)
    rows = tuple(
        (chair, tuple(tuple(cells[(chair, day)]) for day in days)) for chair in range(first_chair, last_chair + 1)
    )
    return WeekGrid(days, rows, len(sessions) - len(shown), chairs, first_chair, last_chair)


def chair_pages(chairs: int) -> list[tuple[int, int]]:
    """The (first, last) chair of each page: 40 chairs -> [(1, 16), (17, 32), (33, 40)]."""
    return [(first, min(first + CHAIRS_PER_PAGE - 1, chairs)) for first in range(1, chairs + 1, CHAIRS_PER_PAGE)]


def feed_sessions(*, now: datetime, days_back: int = 7, days_ahead: int = 90):
    """Open sessions for the calendar feed, from ``days_back`` days ago to ``days_ahead`` ahead."""
    return (
        InfusionSession.objects.open()
        .between(now - timedelta(days=days_back), now + timedelta(days=days_ahead))
        .select_related("patient", "cycle__course__order__product")
        .order_by("planned_start", "chair")
    )
