"""What every scheduling write shares: the unit's row lock, the check of the sessions a write
would leave against the unit's other open sessions, the patient's cycle starts for the interval
check, and the rule that warnings need a person's acceptance.

Every write follows one pattern: lock the unit's settings row (so two nurses booking at the
same moment are checked one after the other), build the sessions as the write would leave
them, check them against the rest of the unit, then save inside the same transaction with
who and why in each record's history.

The check has two outcomes (the arithmetic is scheduling/conflicts.py). Refusals (a chair
booked twice, a chair the unit does not have, two sessions for one patient on one day) raise
ValidationError naming the form field. Warnings (outside opening hours, a cycle sooner than its
interval) are returned; a write that has warnings raises `WarningsNotAccepted` unless the
caller passes ``accept_warnings=True`` after a person has read them.

Times: a session is booked at a local wall-clock time; scheduling.timing.session_window
keeps 09:00 at 09:00 across daylight-saving changes. The database stores UTC.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from ..conflicts import CycleStart, Slot, find_conflicts
from ..models import OPEN_SESSION_STATUSES, Cycle, InfusionSession, SessionStatus, UnitSettings

# A cycle counts for the interval check while any of its days was given or is still to come.
COUNTED_STATUSES = (*OPEN_SESSION_STATUSES, SessionStatus.COMPLETED)
REFUSALS_SHOWN = 3


class WarningsNotAccepted(ValidationError):
    """The write has warnings nobody has accepted yet; nothing was written.

    A ValidationError on the form's ``accept_warnings`` field, so a view that only knows
    ValidationError still shows the warnings next to the checkbox."""

    def __init__(self, warnings: Sequence[str]):
        self.warnings = tuple(warnings)
        super().__init__({"accept_warnings": list(self.warnings)})


def clinic_zone() -> ZoneInfo:
    return timezone.get_default_timezone()


def existing_slot(session: InfusionSession) -> Slot:
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
        [existing_slot(session) for session in nearby],
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


def patient_cycle_starts(
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


def require_accepted(warnings: Sequence[str], accept_warnings: bool) -> None:
    if warnings and not accept_warnings:
        raise WarningsNotAccepted(warnings)


def lock_unit() -> UnitSettings:
    """The unit's row, locked: every scheduling write takes it first, so the conflict checks of
    two writes never interleave on PostgreSQL. (SQLite ignores the lock but lets one writer
    commit at a time; a racing second booking fails with "database is locked", never doubles.)"""
    UnitSettings.load()
    return UnitSettings.objects.select_for_update().get(pk=1)


def with_accepted(reason: str, warnings: Sequence[str]) -> str:
    return f"{reason}; accepted: {' | '.join(warnings)}" if warnings else reason


def local_clock(value: datetime, tz: ZoneInfo) -> tuple[date, time]:
    local = value.astimezone(tz)
    return local.date(), local.time().replace(fold=0)
