"""When infusion sessions happen and when their reminders fall due.

Pure functions over ``date``, ``time``, aware ``datetime`` and small frozen dataclasses: no ORM,
no clock, no settings. Callers pass ``today``, the clinic's ``ZoneInfo`` and site settings in.
Wrong types raise ``TypeError`` and impossible values raise ``ValueError``; either message starts
with the field name. Nothing is clamped silently.

Time rules (the clinic keeps wall-clock appointments; the database stores UTC):

- Naive datetimes are refused. Reminder times (``DueReminder.due_at``, ``window_end``) are UTC.
  Session windows are in the clinic's zone, so they show local times.
- Anything a person books or expects at a clock time is computed on the local wall clock and
  then converted. A 09:00 session stays 09:00 local on both sides of a daylight-saving change,
  and a reminder "3 days before" keeps the session's local clock time.
- Durations are elapsed time. Infusion minutes and the 72 h and 36-96 h watch windows are
  real hours, so a window that spans a change ends one wall-clock hour earlier or later.
- Python subtracts two datetimes that share a ``tzinfo`` by wall clock. Convert both to UTC
  before measuring elapsed time; ``SessionWindow.elapsed_minutes`` does this.
- A booked start time that does not exist (the spring-forward gap) raises ``ValueError``.
  A booked start time that occurs twice (fall-back) means the first occurrence (daylight
  time). Times the module picks itself (labs 08:00, venous check 09:00, reminders copied to an
  earlier day) follow PEP 495 ``fold=0``: an ambiguous time is the first occurrence, and a
  time inside a gap moves forward by the gap's length (02:30 becomes 03:30). Neither happens
  at 08:00 or 09:00 in any zone the clinic is likely to use.

Subject keys: every reminder carries ``subject_key = "<kind>:<target>:<local due date>"``.
The kind never contains ``:`` and the date is fixed-width at the end, so the key reads back
unambiguously even if the target contains ``:``. The same inputs always give the same key, so
a unique constraint on it makes creating reminders idempotent.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta

from accounts.errors import FieldError

DEFAULT_INTERVAL_WEEKS = 4
INTERVAL_WEEKS_MIN, INTERVAL_WEEKS_MAX = 1, 52
# At most 7 days keeps a cycle inside its shortest possible interval (1 week).
CYCLE_DAYS_MIN, CYCLE_DAYS_MAX = 1, 7
SESSION_MINUTES_MIN, SESSION_MINUTES_MAX = 1, 24 * 60
CYCLES_MAX = 1000  # a typo guard: 1000 cycles is over 19 years even weekly, 76 years 4-weekly

DEFAULT_UPCOMING_DAYS_BEFORE = 3  # site setting
UPCOMING_DAYS_BEFORE_MAX = 28

LAB_LEAD_DAYS = 7  # creatinine/BUN and Hb/Hct within the 7 days before a cycle
CREATININE_MAX_AGE_DAYS = 30
LAB_DUE_TIME = time(8, 0)

TEE_WATCH_HOURS = 72  # site_defaults.tee_watch_hours_high: the DM label counts AEs within 72 h of a cycle
TEE_WATCH_HOURS_MAX = 14 * 24
TEE_WATCH_DAYS_VENOUS = 14  # site_defaults.tee_watch_days_venous: venous events reported up to day 14
TEE_WATCH_DAYS_VENOUS_MAX = 28
VENOUS_CHECK_TIME = time(9, 0)
HAEMOLYSIS_CHECK_FROM_HOURS = 36  # label: Hb/Hct about 36-96 h after the infusion in high-risk patients
HAEMOLYSIS_CHECK_UNTIL_HOURS = 96

# TIS rhythm (site settings: dosing.SiteSettings.tis_*): at every 4-weekly cycle up to the
# primary end point at week 16, as in ProDERM, so that "worse at two consecutive visits" can be
# judged before week 16; then every 12 weeks.
TIS_EVERY_WEEKS_EARLY = 4
TIS_EARLY_UNTIL_WEEK = 16
TIS_EVERY_WEEKS_AFTER = 12
TIS_WINDOW_DAYS = 14  # a visit within ±2 weeks of a due date counts for it
STEWARDSHIP_REVIEW_MONTHS = (3, 6)

DEFAULT_OVERDUE_GRACE_DAYS = 7
OVERDUE_DUE_TIME = time(8, 0)
REMINDER_DUE_TIME = time(8, 0)  # for reminders built from a date (TIS, stewardship)

TARGET_MAX_LENGTH = 100


class ReminderKind(StrEnum):
    UPCOMING_INFUSION = "upcoming_infusion"
    LABS_CREATININE_BUN = "labs_creatinine_bun"
    LABS_HB_HCT = "labs_hb_hct"
    THROMBOSIS_CHECK = "thrombosis_check"
    VENOUS_CHECK = "venous_check"
    HAEMOLYSIS_CHECK = "haemolysis_check"
    TIS_ASSESSMENT = "tis_assessment"
    STEWARDSHIP_REVIEW = "stewardship_review"
    CYCLE_OVERDUE = "cycle_overdue"
    # Created by the infusion record services, not the sweep, for the prescriber to review.
    INFUSION_INCOMPLETE = "infusion_incomplete"
    INFUSION_REACTION = "infusion_reaction"


# "<kind>:" + target + ":YYYY-MM-DD"; size a CharField holding subject keys with this.
SUBJECT_KEY_MAX_LENGTH = max(len(kind) for kind in ReminderKind) + 1 + TARGET_MAX_LENGTH + 1 + len("YYYY-MM-DD")


# --------------------------------------------------------------------------- input checks


def _date(value: Any, field_name: str) -> date:
    # datetime is a date subclass; taking one here would drop its time and zone unseen.
    if isinstance(value, datetime) or not isinstance(value, date):
        raise TypeError(f"{field_name}: must be a date, not {type(value).__name__}")
    return value


def _optional_date(value: Any, field_name: str) -> date | None:
    return None if value is None else _date(value, field_name)


def _aware(value: Any, field_name: str) -> datetime:
    if not isinstance(value, datetime):
        raise TypeError(f"{field_name}: must be a datetime, not {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise FieldError(field_name, f"naive datetime {value.isoformat()} refused; pass an aware datetime")
    return value


def _whole(value: Any, field_name: str, low: int, high: int, unit: str) -> int:
    # bool is an int subclass; True weeks is never meant.
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{field_name}: must be a whole number (int), not {type(value).__name__}")
    if not low <= value <= high:
        raise FieldError(field_name, f"must be between {low} and {high} {unit}, not {value}")
    return value


def _flag(value: Any, field_name: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{field_name}: must be True or False, not {value!r}")
    return value


def _zone(value: Any) -> ZoneInfo:
    if not isinstance(value, ZoneInfo):
        raise TypeError(
            f"tz: must be a zoneinfo.ZoneInfo such as ZoneInfo('America/New_York'), not {type(value).__name__} "
            "(a fixed offset cannot follow daylight-saving changes)"
        )
    return value


def _target(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"target: must be a str (a cycle or session id), not {type(value).__name__}")
    if not value or value != value.strip():
        raise FieldError("target", f"must be non-empty with no surrounding spaces, not {value!r}")
    if len(value) > TARGET_MAX_LENGTH:
        raise FieldError("target", f"must be at most {TARGET_MAX_LENGTH} characters, not {len(value)}")
    return value


def _kind(value: Any) -> ReminderKind:
    if isinstance(value, ReminderKind):
        return value  # the common case, without the enum lookup (a reconciliation makes ~100,000)
    try:
        return ReminderKind(value)
    except ValueError:
        raise FieldError("kind", f"{value!r} is not a reminder kind") from None


# ----------------------------------------------------------------------- clock helpers


def _at_local(day: date, clock: time, tz: ZoneInfo) -> datetime:
    """A wall-clock time on a day in the zone, PEP 495 fold=0 (see the module docstring)."""
    return datetime.combine(day, clock.replace(fold=0), tzinfo=tz)


def _exists(local: datetime) -> bool:
    round_trip = local.astimezone(UTC).astimezone(local.tzinfo)
    return round_trip.replace(tzinfo=None, fold=0) == local.replace(tzinfo=None, fold=0)


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _clock(value: datetime) -> str:
    """'2026-03-09 09:00 EDT' for reason texts."""
    return value.strftime("%Y-%m-%d %H:%M %Z")


def _hours(value: timedelta) -> str:
    return f"{value / timedelta(hours=1):g} h"


# ----------------------------------------------------------------------- cycles and sessions


def cycle_start_dates(
    first_day: date, *, interval_weeks: int, cycles: int | None, until: date | None = None
) -> list[date]:
    """First infusion day of each cycle, every ``interval_weeks`` weeks from ``first_day``.

    Give exactly one bound: ``cycles`` (a count, at least 1) or, for an open-ended course
    (``cycles=None``), ``until`` (inclusive: a cycle starting on ``until`` is listed). Giving
    both is refused rather than letting one silently cut the other short.

    Whole weeks keep every cycle on the same weekday; month ends need no special handling.

    Example: from Friday 30 Jan 2026, every 4 weeks, 3 cycles → 30 Jan, 27 Feb, 27 Mar.

    >>> cycle_start_dates(date(2026, 1, 30), interval_weeks=4, cycles=3)
    [datetime.date(2026, 1, 30), datetime.date(2026, 2, 27), datetime.date(2026, 3, 27)]
    """
    first = _date(first_day, "first_day")
    weeks = _whole(interval_weeks, "interval_weeks", INTERVAL_WEEKS_MIN, INTERVAL_WEEKS_MAX, "weeks")
    last = _optional_date(until, "until")
    step = timedelta(weeks=weeks)
    if cycles is None and last is None:
        raise FieldError("cycles", "give a number of cycles, or cycles=None with until for an open-ended course")
    if cycles is not None and last is not None:
        raise FieldError("until", "give cycles or until, not both")
    if cycles is not None:
        count = _whole(cycles, "cycles", 1, CYCLES_MAX, "cycles")
        try:
            first + step * (count - 1)
        except OverflowError:
            raise FieldError(
                "cycles", f"{count} cycles every {weeks} weeks run past the last representable date"
            ) from None
        return [first + step * index for index in range(count)]
    if last < first:
        raise FieldError("until", f"{last.isoformat()} is before first_day {first.isoformat()}")
    # Count rather than add step by step so no date past `until` is ever built (date.max).
    count = (last - first) // step + 1
    return [first + step * index for index in range(count)]


def cycle_days(start: date, days: int) -> list[date]:
    """The consecutive infusion days of one cycle, from its first day.

    Example: a 5-day cycle starting Friday 27 Feb 2026 runs into March (2026 is not a leap year).

    >>> [day.isoformat() for day in cycle_days(date(2026, 2, 27), 5)]
    ['2026-02-27', '2026-02-28', '2026-03-01', '2026-03-02', '2026-03-03']
    """
    first = _date(start, "start")
    count = _whole(days, "days", CYCLE_DAYS_MIN, CYCLE_DAYS_MAX, "days")
    try:
        first + timedelta(days=count - 1)
    except OverflowError:
        raise FieldError(
            "days", f"{count} days from {first.isoformat()} run past the last representable date"
        ) from None
    return [first + timedelta(days=offset) for offset in range(count)]


class SessionWindow(NamedTuple):
    """When a session starts and ends, both aware in the clinic's zone (a plain 2-tuple too)."""

    start: datetime
    end: datetime

    @property
    def elapsed_minutes(self) -> int:
        """Real minutes between start and end, measured in UTC (not on the wall clock).

        Example: 01:30 EDT to 03:30 EST on 1 Nov 2026 is 180 minutes, not 120.

        >>> ny = ZoneInfo("America/New_York")
        >>> session_window(date(2026, 11, 1), time(1, 30), 180, ny).elapsed_minutes
        180
        """
        return int((_utc(self.end) - _utc(self.start)) // timedelta(minutes=1))


def session_window(day: date, start: time, minutes: int, tz: ZoneInfo) -> SessionWindow:
    """Start and end of an infusion session booked at a local wall-clock time.

    ``minutes`` is the expected duration (infusion minutes plus set-up) in real elapsed time,
    so a session that spans a daylight-saving change ends at a wall-clock time an hour earlier
    or later than plain addition would say. ``start`` must be a naive ``time`` (the zone is
    ``tz``). A start inside the spring-forward gap does not exist and raises ``ValueError``; a
    start that occurs twice at fall-back means the first occurrence (still daylight time).
    A ``start`` carrying ``fold=1`` is refused rather than ignored.

    Example: on 1 Nov 2026 New York falls back at 02:00 EDT to 01:00 EST. A 180-minute session
    from 01:30 (the first 01:30, EDT) ends at 03:30 EST: the wall clock moves 2 hours, the
    patient sits 3.

    >>> ny = ZoneInfo("America/New_York")
    >>> window = session_window(date(2026, 11, 1), time(1, 30), 180, ny)
    >>> window.start.isoformat(), window.end.isoformat()
    ('2026-11-01T01:30:00-04:00', '2026-11-01T03:30:00-05:00')
    """
    session_day = _date(day, "day")
    if not isinstance(start, time):
        raise TypeError(f"start: must be a time, not {type(start).__name__}")
    if start.tzinfo is not None:
        raise FieldError("start", f"must be a local wall-clock time with no tzinfo (the zone is tz), not {start}")
    if start.fold:
        raise FieldError("start", f"fold=1 is not supported; an ambiguous time means its first occurrence ({start})")
    duration = _whole(minutes, "minutes", SESSION_MINUTES_MIN, SESSION_MINUTES_MAX, "minutes")
    zone = _zone(tz)
    local_start = _at_local(session_day, start, zone)
    if not _exists(local_start):
        raise FieldError(
            "start",
            f"{start.isoformat()} does not exist on {session_day.isoformat()} in {zone.key} "
            "(clocks spring forward); book a time outside the gap",
        )
    local_end = (_utc(local_start) + timedelta(minutes=duration)).astimezone(zone)
    return SessionWindow(local_start, local_end)


# ----------------------------------------------------------------------- reminders


def subject_key(kind: ReminderKind | str, target: str, due_on: date) -> str:
    """The stable key for one reminder: kind, target and local due date.

    Put a unique constraint on it: a reminder exists once per kind, target and due date.

    Example: the creatinine/BUN reminder for cycle 42 due on 6 Mar 2026.

    >>> subject_key(ReminderKind.LABS_CREATININE_BUN, "cycle-42", date(2026, 3, 6))
    'labs_creatinine_bun:cycle-42:2026-03-06'
    """
    return f"{_kind(kind)}:{_target(target)}:{_date(due_on, 'due_on').isoformat()}"


@dataclass(frozen=True)
class DueReminder:
    """One reminder: what, when it falls due (UTC), until when it applies (UTC or None), its key
    and a sentence saying why, with local times."""

    kind: ReminderKind
    due_at: datetime
    window_end: datetime | None
    subject_key: str
    reason: str

    def __post_init__(self):
        # A plain string kind is accepted and stored as the enum member, so `kind is ReminderKind.X` holds.
        object.__setattr__(self, "kind", _kind(self.kind))
        for field_name in ("due_at", "window_end"):
            value = getattr(self, field_name)
            if value is None and field_name == "window_end":
                continue
            _aware(value, field_name)
            if value.utcoffset() != timedelta(0):
                raise FieldError(field_name, f"must be in UTC, not {value.isoformat()}")
        if self.window_end is not None and self.window_end < self.due_at:
            raise FieldError("window_end", f"{self.window_end.isoformat()} is before due_at {self.due_at.isoformat()}")
        if not self.subject_key:
            raise FieldError("subject_key", "must be non-empty")
        if not self.reason:
            raise FieldError("reason", "must be non-empty")


def _reminder(
    kind: ReminderKind,
    *,
    target: str,
    due_local: datetime,
    window_end: datetime | None,
    reason: str,
) -> DueReminder:
    return DueReminder(
        kind=kind,
        due_at=_utc(due_local),
        window_end=None if window_end is None else _utc(window_end),
        subject_key=subject_key(kind, target, due_local.date()),
        reason=reason,
    )


def reminder_on(day: date, *, kind: ReminderKind | str, target: str, tz: ZoneInfo, reason: str) -> DueReminder:
    """A reminder for a date-only due item (TIS assessment, stewardship review): due at local
    08:00 that day, no window end.

    Example: the week-16 TIS assessment of course 7, due 1 May 2026, falls due 12:00 UTC (08:00 EDT).

    >>> reminder = reminder_on(date(2026, 5, 1), kind="tis_assessment", target="course-7",
    ...                        tz=ZoneInfo("America/New_York"), reason="TIS week 16")
    >>> reminder.due_at.isoformat(), reminder.subject_key
    ('2026-05-01T12:00:00+00:00', 'tis_assessment:course-7:2026-05-01')
    """
    if not isinstance(reason, str) or not reason.strip():
        raise FieldError("reason", f"must be a non-empty sentence, not {reason!r}")
    return _reminder(
        _kind(kind),
        target=_target(target),
        due_local=_at_local(_date(day, "day"), REMINDER_DUE_TIME, _zone(tz)),
        window_end=None,
        reason=reason,
    )


def upcoming_infusion_reminder(
    session_start: datetime, *, target: str, tz: ZoneInfo, days_before: int = DEFAULT_UPCOMING_DAYS_BEFORE
) -> DueReminder:
    """Reminder ``days_before`` days before a session, at the session's local clock time.

    ``session_start`` may be in any zone (a UTC value from the database is fine); it is read
    on the clinic's wall clock in ``tz``, moved back whole calendar days there, then converted
    to UTC, so the reminder keeps the local clock time across a daylight-saving change. The
    window ends when the session starts.

    Example: a 09:00 EDT session on Mon 9 Mar 2026 (the day after spring-forward) is 13:00 UTC;
    its reminder is Fri 6 Mar at 09:00 EST, which is 14:00 UTC.

    >>> ny = ZoneInfo("America/New_York")
    >>> start = session_window(date(2026, 3, 9), time(9, 0), 300, ny).start
    >>> upcoming_infusion_reminder(start, target="session-1", tz=ny).due_at.isoformat()
    '2026-03-06T14:00:00+00:00'
    """
    starts_at = _aware(session_start, "session_start")
    zone = _zone(tz)
    days = _whole(days_before, "days_before", 1, UPCOMING_DAYS_BEFORE_MAX, "days")
    local_start = starts_at.astimezone(zone)
    local_due = _at_local(local_start.date() - timedelta(days=days), local_start.time(), zone)
    return _reminder(
        ReminderKind.UPCOMING_INFUSION,
        target=_target(target),
        due_local=local_due,
        window_end=starts_at,
        reason=f"Infusion session on {_clock(local_start)}; reminder {days} day{'s' if days != 1 else ''} before.",
    )


def lab_reminders(
    cycle_start: date,
    *,
    target: str,
    tz: ZoneInfo,
    renal_flag: bool,
    last_creatinine_on: date | None,
    haemolysis_risk: bool,
) -> tuple[DueReminder, ...]:
    """Labs to draw in the 7 days before a cycle: due at local 08:00 seven days before the
    cycle's first day, window ending at the start (local midnight) of that first day.

    - creatinine/BUN when ``renal_flag`` is set, or there is no creatinine, or the last one was
      drawn more than 30 days before the cycle's first day (exactly 30 days is still recent);
    - Hb/Hct when ``haemolysis_risk`` is set.

    The rule is applied as written: with a renal flag the reminder is made even if a recent
    creatinine exists, because the caller usually plans reminders when a cycle is booked.
    A ``last_creatinine_on`` after ``cycle_start`` is not a result before the cycle and is refused.

    Example: cycle starting 13 Mar 2026, no renal flag, last creatinine 1 Feb (40 days before),
    no haemolysis risk → one creatinine/BUN reminder due 6 Mar 08:00 EST (13:00 UTC).

    >>> reminders = lab_reminders(date(2026, 3, 13), target="cycle-3", tz=ZoneInfo("America/New_York"),
    ...                           renal_flag=False, last_creatinine_on=date(2026, 2, 1), haemolysis_risk=False)
    >>> [(r.kind.value, r.due_at.isoformat(), r.window_end.isoformat()) for r in reminders]
    [('labs_creatinine_bun', '2026-03-06T13:00:00+00:00', '2026-03-13T04:00:00+00:00')]
    """
    first_day = _date(cycle_start, "cycle_start")
    zone = _zone(tz)
    key_target = _target(target)
    renal = _flag(renal_flag, "renal_flag")
    haemolysis = _flag(haemolysis_risk, "haemolysis_risk")
    last_creatinine = _optional_date(last_creatinine_on, "last_creatinine_on")
    if last_creatinine is not None and last_creatinine > first_day:
        raise FieldError(
            "last_creatinine_on",
            f"{last_creatinine.isoformat()} is after cycle_start {first_day.isoformat()}; "
            "pass the last result drawn before the cycle",
        )
    due_local = _at_local(first_day - timedelta(days=LAB_LEAD_DAYS), LAB_DUE_TIME, zone)
    window_end = _at_local(first_day, time(0, 0), zone)

    renal_reasons = []
    if renal:
        renal_reasons.append("renal risk flag")
    if last_creatinine is None:
        renal_reasons.append("no creatinine on record")
    elif (first_day - last_creatinine).days > CREATININE_MAX_AGE_DAYS:
        renal_reasons.append(
            f"last creatinine {last_creatinine.isoformat()} is {(first_day - last_creatinine).days} days before "
            f"the cycle (more than {CREATININE_MAX_AGE_DAYS})"
        )

    reminders = []
    if renal_reasons:
        reminders.append(
            _reminder(
                ReminderKind.LABS_CREATININE_BUN,
                target=key_target,
                due_local=due_local,
                window_end=window_end,
                reason=(
                    f"Creatinine and BUN within the {LAB_LEAD_DAYS} days before the cycle starting "
                    f"{first_day.isoformat()}: {'; '.join(renal_reasons)}."
                ),
            )
        )
    if haemolysis:
        reminders.append(
            _reminder(
                ReminderKind.LABS_HB_HCT,
                target=key_target,
                due_local=due_local,
                window_end=window_end,
                reason=(
                    f"Baseline Hb/Hct within the {LAB_LEAD_DAYS} days before the cycle starting "
                    f"{first_day.isoformat()}: haemolysis risk."
                ),
            )
        )
    return tuple(reminders)


def post_infusion_reminders(
    last_infusion_end: datetime,
    *,
    target: str,
    tz: ZoneInfo,
    haemolysis_risk: bool,
    watch_hours: int = TEE_WATCH_HOURS,
    venous_days: int = TEE_WATCH_DAYS_VENOUS,
) -> tuple[DueReminder, ...]:
    """Checks after the last infusion of a cycle, in this order:

    - thrombosis check: due when the infusion ends, window ``watch_hours`` (72) elapsed hours;
    - venous symptom check: local 09:00 on the local date of the end plus ``venous_days`` (14),
      a point check with no window end;
    - haemolysis check (only with ``haemolysis_risk``): window 36 to 96 elapsed hours after the end.

    Example: a cycle whose last infusion ends 31 Oct 2026 at 15:00 EDT (19:00 UTC). The 72 h
    window crosses fall-back, so it ends 3 Nov at 14:00 EST (19:00 UTC); the venous check is
    14 Nov 09:00 EST.

    >>> reminders = post_infusion_reminders(datetime(2026, 10, 31, 19, 0, tzinfo=UTC), target="cycle-9",
    ...                                     tz=ZoneInfo("America/New_York"), haemolysis_risk=False)
    >>> for r in reminders:
    ...     print(r.kind.value, r.due_at.isoformat(), r.window_end and r.window_end.isoformat())
    thrombosis_check 2026-10-31T19:00:00+00:00 2026-11-03T19:00:00+00:00
    venous_check 2026-11-14T14:00:00+00:00 None
    """
    ended_at = _aware(last_infusion_end, "last_infusion_end")
    zone = _zone(tz)
    key_target = _target(target)
    haemolysis = _flag(haemolysis_risk, "haemolysis_risk")
    hours = _whole(watch_hours, "watch_hours", 1, TEE_WATCH_HOURS_MAX, "hours")
    days = _whole(venous_days, "venous_days", 1, TEE_WATCH_DAYS_VENOUS_MAX, "days")
    local_end = ended_at.astimezone(zone)
    watch = timedelta(hours=hours)

    reminders = [
        _reminder(
            ReminderKind.THROMBOSIS_CHECK,
            target=key_target,
            due_local=local_end,
            window_end=_utc(local_end) + watch,
            reason=(
                f"Arterial and early venous thrombosis symptoms within {_hours(watch)} of the cycle's last "
                f"infusion (ended {_clock(local_end)})."
            ),
        ),
        _reminder(
            ReminderKind.VENOUS_CHECK,
            target=key_target,
            due_local=_at_local(local_end.date() + timedelta(days=days), VENOUS_CHECK_TIME, zone),
            window_end=None,
            reason=(
                f"Venous thrombosis symptom check on day {days} after the cycle's last infusion "
                f"(ended {_clock(local_end)})."
            ),
        ),
    ]
    if haemolysis:
        reminders.append(
            _reminder(
                ReminderKind.HAEMOLYSIS_CHECK,
                target=key_target,
                due_local=(_utc(local_end) + timedelta(hours=HAEMOLYSIS_CHECK_FROM_HOURS)).astimezone(zone),
                window_end=_utc(local_end) + timedelta(hours=HAEMOLYSIS_CHECK_UNTIL_HOURS),
                reason=(
                    f"Hb/Hct {HAEMOLYSIS_CHECK_FROM_HOURS}-{HAEMOLYSIS_CHECK_UNTIL_HOURS} h after the cycle's last "
                    f"infusion (ended {_clock(local_end)}): haemolysis risk."
                ),
            )
        )
    return tuple(reminders)


@dataclass(frozen=True)
class TisRhythm:
    """How often the TIS is due: every ``every_weeks_early`` weeks up to ``early_until_week``
    (always itself an assessment: ProDERM's primary end point), then every ``every_weeks_after``."""

    every_weeks_early: int = TIS_EVERY_WEEKS_EARLY
    early_until_week: int = TIS_EARLY_UNTIL_WEEK
    every_weeks_after: int = TIS_EVERY_WEEKS_AFTER

    def __post_init__(self) -> None:
        _whole(self.every_weeks_early, "tis_every_weeks_early", 1, 12, "weeks")
        _whole(self.early_until_week, "tis_early_until_week", 4, 52, "weeks")
        _whole(self.every_weeks_after, "tis_every_weeks_after", 4, 52, "weeks")

    def weeks(self, *, up_to_week: int) -> list[int]:
        """Weeks after the first infusion at which the TIS is due, up to ``up_to_week``.

        >>> TisRhythm().weeks(up_to_week=52)
        [4, 8, 12, 16, 28, 40, 52]
        >>> TisRhythm(every_weeks_early=6, early_until_week=16, every_weeks_after=12).weeks(up_to_week=30)
        [6, 12, 16, 28]
        """
        weeks = list(range(self.every_weeks_early, self.early_until_week, self.every_weeks_early))
        week = self.early_until_week
        while week <= up_to_week:
            weeks.append(week)
            week += self.every_weeks_after
        return [w for w in weeks if w <= up_to_week]

    def describe(self) -> str:
        """The rhythm in words.

        >>> TisRhythm().describe()
        'every 4 weeks to week 16, then every 12 weeks'
        """
        return (
            f"every {self.every_weeks_early} weeks to week {self.early_until_week}, "
            f"then every {self.every_weeks_after} weeks"
        )


@dataclass(frozen=True)
class TisSchedule:
    """When the Total Improvement Score is due: a baseline before the first infusion, then at
    the weeks of the site's rhythm (``TisRhythm``)."""

    baseline_due_before: date
    due_dates: tuple[date, ...]


def tis_assessment_due_dates(first_infusion_on: date, *, until: date, rhythm: TisRhythm | None = None) -> TisSchedule:
    """TIS assessment dates: baseline before ``first_infusion_on``, then weeks 4, 8, 12 and 16
    and every 12 weeks after (the default rhythm) counted from the first infusion, up to and
    including ``until``.

    Example: first infusion Fri 2 Jan 2026, until 31 Dec 2026 → weeks 4, 8, 12, 16, 28 and 40;
    week 52 would be 1 Jan 2027, after ``until``.

    >>> schedule = tis_assessment_due_dates(date(2026, 1, 2), until=date(2026, 12, 31))
    >>> schedule.baseline_due_before.isoformat(), [day.isoformat() for day in schedule.due_dates]
    ('2026-01-02', ['2026-01-30', '2026-02-27', '2026-03-27', '2026-04-24', '2026-07-17', '2026-10-09'])
    """
    first = _date(first_infusion_on, "first_infusion_on")
    last = _date(until, "until")
    if last < first:
        raise FieldError("until", f"{last.isoformat()} is before first_infusion_on {first.isoformat()}")
    weeks = (rhythm or TisRhythm()).weeks(up_to_week=(last - first).days // 7)
    return TisSchedule(baseline_due_before=first, due_dates=tuple(first + timedelta(weeks=week) for week in weeks))


def tis_dates_without_visit(due_dates: Sequence[date], visit_dates: Iterable[date]) -> list[date]:
    """The due dates no visit answers. A visit answers the due date nearest to it (the later one
    on a tie) if it lies within ±2 weeks of it, so with 4-weekly assessments one visit never
    answers two of them.

    Example: due at weeks 12 and 16 (27 Mar, 24 Apr 2026); one visit at week 14 answers week 16
    only; week 12 is still open.

    >>> tis_dates_without_visit([date(2026, 3, 27), date(2026, 4, 24)], [date(2026, 4, 10)])
    [datetime.date(2026, 3, 27)]
    """
    due = sorted(_date(day, "due_dates") for day in due_dates)
    answered: set[date] = set()
    window = timedelta(days=TIS_WINDOW_DAYS)
    for visit in visit_dates:
        visit_on = _date(visit, "visit_dates")
        near = [day for day in due if abs(visit_on - day) <= window]
        if near:
            answered.add(min(near, key=lambda day: (abs(visit_on - day), -day.toordinal())))
    return [day for day in due if day not in answered]


def add_months(day: date, months: int) -> date:
    """Same day of the month ``months`` calendar months later; a day the target month lacks
    becomes its last day (31 Jan + 1 month = 28 Feb, or 29 Feb in a leap year).

    Example: 31 Aug 2027 + 6 months → 29 Feb 2028 (a leap year).

    >>> add_months(date(2027, 8, 31), 6)
    datetime.date(2028, 2, 29)
    """
    start = _date(day, "day")
    if isinstance(months, bool) or not isinstance(months, int):
        raise TypeError(f"months: must be a whole number (int), not {type(months).__name__}")
    try:
        return start + relativedelta(months=months)
    except (OverflowError, ValueError):
        raise FieldError("months", f"{months} months from {start.isoformat()} leave the representable years") from None


class StewardshipReviews(NamedTuple):
    three_months: date
    six_months: date


def stewardship_review_dates(first_infusion_on: date) -> StewardshipReviews:
    """Stewardship reviews 3 and 6 calendar months after the first infusion, both counted from
    the first infusion (not 3 + 3), with end-of-month days clamped as in ``add_months``.

    Example: first infusion 31 Jan 2026 → 30 Apr 2026 and 31 Jul 2026.

    >>> stewardship_review_dates(date(2026, 1, 31))
    StewardshipReviews(three_months=datetime.date(2026, 4, 30), six_months=datetime.date(2026, 7, 31))
    """
    first = _date(first_infusion_on, "first_infusion_on")
    three, six = STEWARDSHIP_REVIEW_MONTHS
    return StewardshipReviews(add_months(first, three), add_months(first, six))


def cycle_overdue(
    last_cycle_start: date,
    *,
    interval_weeks: int,
    today: date,
    next_scheduled: date | None,
    target: str,
    tz: ZoneInfo,
    grace_days: int = DEFAULT_OVERDUE_GRACE_DAYS,
) -> DueReminder | None:
    """An overdue-cycle reminder, or None.

    The next cycle was due ``interval_weeks`` after ``last_cycle_start``; up to ``grace_days``
    late is tolerated. From the day after that (``today`` strictly past due + grace) with no
    cycle scheduled, the cycle is overdue. The reminder's due date is that first overdue day
    (local 08:00), whatever ``today`` is, so a daily job makes the same key every day.

    ``next_scheduled`` on or after ``today`` counts as scheduled. One before ``today`` does not:
    a booked cycle whose date passed without being recorded as given is a missed cycle, and
    the reason says so. ``next_scheduled`` must be after ``last_cycle_start``, and
    ``last_cycle_start`` must not be after ``today``. ``grace_days`` is 0 to one interval (a
    longer grace would hide a whole missed cycle).

    Example: last cycle 1 Jan 2026, every 4 weeks → due 29 Jan; 7 days' grace ends 5 Feb;
    on 6 Feb with nothing scheduled the cycle is overdue.

    >>> reminder = cycle_overdue(date(2026, 1, 1), interval_weeks=4, today=date(2026, 2, 6), next_scheduled=None,
    ...                          target="course-7", tz=ZoneInfo("America/New_York"))
    >>> reminder.subject_key
    'cycle_overdue:course-7:2026-02-06'
    """
    last = _date(last_cycle_start, "last_cycle_start")
    weeks = _whole(interval_weeks, "interval_weeks", INTERVAL_WEEKS_MIN, INTERVAL_WEEKS_MAX, "weeks")
    current = _date(today, "today")
    scheduled = _optional_date(next_scheduled, "next_scheduled")
    key_target = _target(target)
    zone = _zone(tz)
    grace = _whole(grace_days, "grace_days", 0, weeks * 7, "days")
    if last > current:
        raise FieldError("last_cycle_start", f"{last.isoformat()} is after today {current.isoformat()}")
    if scheduled is not None and scheduled <= last:
        raise FieldError("next_scheduled", f"{scheduled.isoformat()} is not after last_cycle_start {last.isoformat()}")
    next_due = last + timedelta(weeks=weeks)
    first_overdue_day = next_due + timedelta(days=grace + 1)
    if current < first_overdue_day:
        return None
    if scheduled is not None and scheduled >= current:
        return None
    missed = (
        ""
        if scheduled is None
        else f" The cycle booked for {scheduled.isoformat()} has not been recorded and nothing later is booked."
    )
    return _reminder(
        ReminderKind.CYCLE_OVERDUE,
        target=key_target,
        due_local=_at_local(first_overdue_day, OVERDUE_DUE_TIME, zone),
        window_end=None,
        reason=(
            f"Last cycle started {last.isoformat()}; the next was due {next_due.isoformat()} (every {weeks} weeks) "
            f"and is more than {grace} days late with nothing scheduled.{missed}"
        ),
    )


def missed_cycle_overdue(
    last_booked_day: date,
    *,
    cycle_number: int,
    first_booked_day: date,
    today: date,
    target: str,
    tz: ZoneInfo,
) -> DueReminder | None:
    """An overdue-cycle reminder for a booked cycle whose days all passed with nothing given, or
    None while one of its days is still today or ahead. Whatever is booked later, the missed
    cycle is reported: due the morning after its last booked day (local 08:00), the same key
    every day, so it exists once.

    Example: cycle 3 booked 14-15 Jan 2027 and not given → overdue from 16 Jan 08:00.

    >>> reminder = missed_cycle_overdue(date(2027, 1, 15), cycle_number=3, first_booked_day=date(2027, 1, 14),
    ...     today=date(2027, 1, 20), target="cycle-12", tz=ZoneInfo("America/New_York"))
    >>> reminder.subject_key
    'cycle_overdue:cycle-12:2027-01-16'
    """
    last = _date(last_booked_day, "last_booked_day")
    first = _date(first_booked_day, "first_booked_day")
    current = _date(today, "today")
    number = _whole(cycle_number, "cycle_number", 1, 10_000, "cycles")
    key_target = _target(target)
    zone = _zone(tz)
    if first > last:
        raise FieldError("first_booked_day", f"{first.isoformat()} is after last_booked_day {last.isoformat()}")
    if current <= last:
        return None
    booked = first.isoformat() if first == last else f"{first.isoformat()} to {last.isoformat()}"
    return _reminder(
        ReminderKind.CYCLE_OVERDUE,
        target=key_target,
        due_local=_at_local(last + timedelta(days=1), OVERDUE_DUE_TIME, zone),
        window_end=None,
        reason=(
            f"Cycle {number}, booked for {booked}, passed with no infusion recorded: "
            "record it if it was given, otherwise book the missed cycle."
        ),
    )
