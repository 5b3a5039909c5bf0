"""Booked sessions: move one (or it and every later one of its course), and confirm, cancel or
record a missed session.

Each write re-reads the session under a row lock and refuses a page that showed another version
of it. A move locks the unit and checks where the sessions would go like a new booking
(scheduling/services/booking.py); a session whose time changes or that is cancelled or missed
has its pending reminders cancelled, and the next sweep creates the ones that fit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.audit import audited_save, check_version
from accounts.transactions import service

from .. import timing
from ..conflicts import CycleDays, Slot, consecutive_day_warnings, interval_warnings
from ..models import InfusionSession, SessionStatus
from .booking import (
    COUNTED_STATUSES,
    check_slots,
    clinic_zone,
    local_clock,
    lock_unit,
    patient_cycle_starts,
    require_accepted,
    with_accepted,
)
from .lifecycle import course_settle
from .sweep import session_changed

# What a nurse sets on the status page. In progress and completed belong to the infusion record.
NURSE_STATUSES = (SessionStatus.CONFIRMED, SessionStatus.MISSED, SessionStatus.CANCELLED)
REASON_REQUIRED_STATUSES = (SessionStatus.MISSED, SessionStatus.CANCELLED)
MOVABLE_STATUSES = (SessionStatus.PLANNED, SessionStatus.CONFIRMED)
MOVE_FIELDS = {"chair": "chair", "day": "new_date"}


def _locked_session(session: InfusionSession, expected_version: int | None) -> InfusionSession:
    """The session re-read under a row lock, refused if the page showed another version of it
    (accounts.audit.check_version: None is a caller without a page)."""
    session = InfusionSession.objects.select_for_update().select_related("patient", "cycle__course").get(pk=session.pk)
    check_version(session, expected_version, what="session", state=session.get_status_display())
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
    old_day, old_clock = local_clock(session.planned_start, tz)
    day_shift = new_date - old_day
    clock_shift = datetime.combine(new_date, new_start) - datetime.combine(new_date, old_clock)
    moves = []
    for item in sessions:
        day, clock = local_clock(item.planned_start, tz)
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


def _cycle_days_after(moves: Sequence[_Move], tz: ZoneInfo) -> dict[int, list[tuple[int, date]]]:
    """Each touched cycle's (day number, local date) of its counted sessions once the moves are applied."""
    moved = {move.session.pk: move.slot.start for move in moves}
    sessions = InfusionSession.objects.filter(
        cycle_id__in={move.session.cycle_id for move in moves}, status__in=COUNTED_STATUSES
    )
    days: dict[int, list[tuple[int, date]]] = {}
    for session in sessions:
        day = moved.get(session.pk, session.planned_start).astimezone(tz).date()
        days.setdefault(session.cycle_id, []).append((session.day_number, day))
    return days


@service
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
    unit = lock_unit()
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
    days_after = _cycle_days_after(moves, tz)
    starts_after = {cycle_id: min(day for _, day in days) for cycle_id, days in days_after.items()}
    changed = {cycle_id: day for cycle_id, day in starts_after.items() if day != cycles[cycle_id].start_date}
    warnings += interval_warnings(patient_cycle_starts(session.patient_id, changed=changed))
    warnings += consecutive_day_warnings(
        CycleDays(f"{session.patient.mrn} cycle {cycles[cycle_id].number}", tuple(days))
        for cycle_id, days in sorted(days_after.items(), key=lambda item: cycles[item[0]].number)
    )
    require_accepted(warnings, accept_warnings)
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
        audited_save(item, by=by, reason=with_accepted(reason, warnings))
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


@service
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
