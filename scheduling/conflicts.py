"""The unit's booking rules as arithmetic: do sessions clash, and does a cycle come too soon.

Pure functions over aware ``datetime``, ``date`` and small frozen dataclasses: no ORM, no clock,
no settings. The services in scheduling/services/ read the sessions from the database, turn
them into ``Slot`` and ``CycleStart`` values and ask these functions.

Two outcomes. Refusals (a chair booked twice, a chair the unit does not have, two sessions for
one patient on one local day) are keyed ``chair`` or ``day`` for the caller to put at a form
field. Warnings (outside opening hours, a cycle sooner than its interval, a cycle's days no
longer consecutive) are sentences a person reads and accepts; ``warnings_digest``
fingerprints the set they accepted.

Comparisons happen in UTC: two datetimes sharing a zone compare by wall clock in Python, which
is wrong across a daylight-saving change. Days and clock times are judged in the clinic's zone.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class Slot:
    """One session as a write would leave it, or as it stands: who, which chair, when.

    ``start`` and ``end`` are aware; comparisons happen in UTC (two datetimes sharing a zone
    compare by wall clock in Python, which is wrong across a daylight-saving change).

    Example: 01:00 EDT on the fall-back night plus 90 minutes is 01:30 EST, 06:30 UTC.

    >>> ny = ZoneInfo("America/New_York")
    >>> slot = Slot(1, 1, datetime(2026, 11, 1, 1, 0, tzinfo=ny), datetime(2026, 11, 1, 6, 30, tzinfo=UTC), "a")
    >>> slot.start_utc.time(), slot.end_utc.time()
    (datetime.time(5, 0), datetime.time(6, 30))
    """

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


@dataclass(frozen=True)
class CycleDays:
    """A cycle's days as a write would leave them: (day number, local date) of each session
    that counts (given or still to come)."""

    label: str
    days: tuple[tuple[int, date], ...]


CONSECUTIVE_DAYS_SOURCE = "IVIG labels: a cycle's dose divided over 2–5 consecutive days"


def consecutive_day_warnings(cycles: Iterable[CycleDays]) -> list[str]:
    """Warn where a cycle of two or more days would no longer run on consecutive days, day 1
    first (the labels divide a cycle's dose over 2–5 consecutive days).

    Example: day 2 of a 2-day cycle moved from Tue 22 Dec to Thu 24 Dec; a 1-day cycle and a
    cycle moved as a whole say nothing.

    >>> [warning] = consecutive_day_warnings(
    ...     [CycleDays("cycle 2", ((1, date(2026, 12, 21)), (2, date(2026, 12, 24))))])
    >>> warning.split("; ")[0]
    'cycle 2 would no longer run on consecutive days (day 1 Mon 2026-12-21, day 2 Thu 2026-12-24)'
    >>> consecutive_day_warnings([CycleDays("cycle 3", ((1, date(2027, 1, 20)), (2, date(2027, 1, 21)))),
    ...                           CycleDays("cycle 4", ((1, date(2027, 2, 17)),))])
    []
    """
    warnings = []
    for cycle in cycles:
        ordered = sorted(cycle.days)
        dates = [day for _, day in ordered]
        if all((later - earlier).days == 1 for earlier, later in zip(dates, dates[1:], strict=False)):
            continue
        listed = ", ".join(f"day {number} {day:%a %Y-%m-%d}" for number, day in ordered)
        warnings.append(f"{cycle.label} would no longer run on consecutive days ({listed}); {CONSECUTIVE_DAYS_SOURCE}.")
    return warnings


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
