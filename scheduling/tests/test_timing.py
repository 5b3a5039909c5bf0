"""Tests for scheduling.timing: pure date and time arithmetic, no database, no clock.

The 2026 US daylight-saving changes in America/New_York: clocks spring forward on Sunday
8 March at 02:00 EST (to 03:00 EDT) and fall back on Sunday 1 November at 02:00 EDT (to 01:00 EST).
"""

import dataclasses
import doctest
from datetime import UTC, date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from dosing.catalog import CATALOG_PATH
from scheduling import timing
from scheduling.timing import (
    SUBJECT_KEY_MAX_LENGTH,
    DueReminder,
    ReminderKind,
    SessionWindow,
    StewardshipReviews,
    TisRhythm,
    add_months,
    cycle_days,
    cycle_overdue,
    cycle_start_dates,
    lab_reminders,
    post_infusion_reminders,
    reminder_on,
    session_window,
    stewardship_review_dates,
    subject_key,
    tis_assessment_due_dates,
    tis_dates_without_visit,
    upcoming_infusion_reminder,
)

NY = ZoneInfo("America/New_York")
EST = timedelta(hours=-5)
EDT = timedelta(hours=-4)
D = date


def ny(year, month, day, hour=0, minute=0, fold=0):
    return datetime(year, month, day, hour, minute, tzinfo=NY, fold=fold)


def utc(year, month, day, hour=0, minute=0):
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def elapsed(start, end):
    # Same-tzinfo subtraction in Python is wall-clock; measure real time in UTC.
    return end.astimezone(UTC) - start.astimezone(UTC)


# --------------------------------------------------------------------------- cycles


@pytest.mark.parametrize(
    ("first_day", "interval_weeks", "cycles", "expected"),
    [
        # month ends: 30 Jan + 4 weeks is 27 Feb, not "30 Feb" or 2 Mar
        (D(2026, 1, 30), 4, 3, [D(2026, 1, 30), D(2026, 2, 27), D(2026, 3, 27)]),
        (D(2026, 1, 31), 4, 2, [D(2026, 1, 31), D(2026, 2, 28)]),
        # leap year: 1 Feb + 4 weeks lands on 29 Feb in 2028, on 1 Mar in 2027
        (D(2028, 2, 1), 4, 2, [D(2028, 2, 1), D(2028, 2, 29)]),
        (D(2027, 2, 1), 4, 2, [D(2027, 2, 1), D(2027, 3, 1)]),
        # 52 weeks is 364 days: across 29 Feb 2028 it lands one date earlier
        (D(2027, 3, 1), 52, 2, [D(2027, 3, 1), D(2028, 2, 28)]),
        # across the year end
        (D(2026, 12, 11), 4, 3, [D(2026, 12, 11), D(2027, 1, 8), D(2027, 2, 5)]),
        (D(2026, 3, 2), 1, 3, [D(2026, 3, 2), D(2026, 3, 9), D(2026, 3, 16)]),
        (D(2026, 3, 2), 4, 1, [D(2026, 3, 2)]),
    ],
)
def test_cycle_start_dates_by_count(first_day, interval_weeks, cycles, expected):
    assert cycle_start_dates(first_day, interval_weeks=interval_weeks, cycles=cycles) == expected


@pytest.mark.parametrize(
    ("until", "expected_last", "expected_count"),
    [
        (D(2026, 1, 30), D(2026, 1, 30), 1),  # until on the first day
        (D(2026, 2, 26), D(2026, 1, 30), 1),  # the day before the second cycle
        (D(2026, 2, 27), D(2026, 2, 27), 2),  # inclusive: a cycle on `until` is listed
        (D(2026, 12, 31), D(2026, 12, 4), 12),
        (D(2028, 12, 31), D(2028, 12, 29), 39),  # across 29 Feb 2028
    ],
)
def test_cycle_start_dates_open_ended_until(until, expected_last, expected_count):
    starts = cycle_start_dates(D(2026, 1, 30), interval_weeks=4, cycles=None, until=until)
    assert starts[-1] == expected_last
    assert len(starts) == expected_count
    assert starts[-1] <= until < starts[-1] + timedelta(weeks=4)


@settings(max_examples=200, deadline=None, database=None)
@given(
    first_day=st.dates(min_value=D(2000, 1, 1), max_value=D(2100, 12, 31)),
    interval_weeks=st.integers(min_value=1, max_value=52),
    cycles=st.integers(min_value=1, max_value=40),
)
def test_cycle_start_dates_invariants(first_day, interval_weeks, cycles):
    starts = cycle_start_dates(first_day, interval_weeks=interval_weeks, cycles=cycles)
    assert len(starts) == cycles
    assert starts[0] == first_day
    assert all(b - a == timedelta(weeks=interval_weeks) for a, b in zip(starts, starts[1:], strict=False))
    assert {day.weekday() for day in starts} == {first_day.weekday()}
    # the same course, open-ended up to its last start, is the same list
    assert cycle_start_dates(first_day, interval_weeks=interval_weeks, cycles=None, until=starts[-1]) == starts


@pytest.mark.parametrize(
    ("kwargs", "error", "field"),
    [
        ({"interval_weeks": 4, "cycles": None}, ValueError, "cycles"),
        ({"interval_weeks": 4, "cycles": None, "until": None}, ValueError, "cycles"),
        ({"interval_weeks": 4, "cycles": 3, "until": D(2026, 6, 1)}, ValueError, "until"),
        ({"interval_weeks": 4, "cycles": None, "until": D(2026, 1, 29)}, ValueError, "until"),
        ({"interval_weeks": 0, "cycles": 3}, ValueError, "interval_weeks"),
        ({"interval_weeks": 53, "cycles": 3}, ValueError, "interval_weeks"),
        ({"interval_weeks": -4, "cycles": 3}, ValueError, "interval_weeks"),
        ({"interval_weeks": True, "cycles": 3}, TypeError, "interval_weeks"),
        ({"interval_weeks": 4.0, "cycles": 3}, TypeError, "interval_weeks"),
        ({"interval_weeks": 4, "cycles": 0}, ValueError, "cycles"),
        ({"interval_weeks": 4, "cycles": 1001}, ValueError, "cycles"),
        ({"interval_weeks": 4, "cycles": -1}, ValueError, "cycles"),
        ({"interval_weeks": 4, "cycles": "3"}, TypeError, "cycles"),
        ({"interval_weeks": 4, "cycles": None, "until": datetime(2026, 6, 1, tzinfo=UTC)}, TypeError, "until"),
    ],
)
def test_cycle_start_dates_refuses(kwargs, error, field):
    with pytest.raises(error, match=f"^{field}:"):
        cycle_start_dates(D(2026, 1, 30), **kwargs)


def test_cycle_start_dates_refuses_a_datetime_first_day():
    with pytest.raises(TypeError, match="^first_day:"):
        cycle_start_dates(datetime(2026, 1, 30, 9, 0, tzinfo=UTC), interval_weeks=4, cycles=3)


def test_cycle_start_dates_past_the_calendar_is_a_value_error():
    with pytest.raises(ValueError, match="^cycles:"):
        cycle_start_dates(D(9999, 1, 1), interval_weeks=52, cycles=3)
    # open-ended up to the last date never builds a date past it
    assert cycle_start_dates(D(9999, 12, 10), interval_weeks=4, cycles=None, until=date.max) == [D(9999, 12, 10)]


@pytest.mark.parametrize(
    ("start", "days", "expected_last"),
    [
        (D(2026, 2, 27), 5, D(2026, 3, 3)),  # 28 Feb, then 1 Mar
        (D(2028, 2, 27), 5, D(2028, 3, 2)),  # 29 Feb in a leap year
        (D(2026, 12, 30), 3, D(2027, 1, 1)),
        (D(2026, 1, 30), 2, D(2026, 1, 31)),
        (D(2026, 1, 30), 1, D(2026, 1, 30)),
        (D(2026, 1, 1), 7, D(2026, 1, 7)),
    ],
)
def test_cycle_days_are_consecutive(start, days, expected_last):
    result = cycle_days(start, days)
    assert len(result) == days
    assert result[0] == start
    assert result[-1] == expected_last
    assert all(b - a == timedelta(days=1) for a, b in zip(result, result[1:], strict=False))


@pytest.mark.parametrize(("days", "error"), [(0, ValueError), (8, ValueError), (-1, ValueError), (True, TypeError)])
def test_cycle_days_refuses(days, error):
    with pytest.raises(error, match="^days:"):
        cycle_days(D(2026, 1, 1), days)


# --------------------------------------------------------------------------- sessions


@pytest.mark.parametrize(
    ("day", "offset", "utc_start"),
    [
        (D(2026, 3, 7), EST, utc(2026, 3, 7, 14)),  # Saturday before spring-forward
        (D(2026, 3, 8), EDT, utc(2026, 3, 8, 13)),  # the change day, after 03:00
        (D(2026, 3, 9), EDT, utc(2026, 3, 9, 13)),
        (D(2026, 10, 31), EDT, utc(2026, 10, 31, 13)),  # Saturday before fall-back
        (D(2026, 11, 1), EST, utc(2026, 11, 1, 14)),  # the change day, after 02:00
        (D(2026, 11, 2), EST, utc(2026, 11, 2, 14)),
    ],
)
def test_a_0900_session_stays_0900_local_across_dst(day, offset, utc_start):
    window = session_window(day, time(9, 0), 300, NY)
    assert (window.start.date(), window.start.time()) == (day, time(9, 0))
    assert (window.end.date(), window.end.time()) == (day, time(14, 0))
    assert window.start.utcoffset() == offset
    assert window.start.astimezone(UTC) == utc_start
    assert window.elapsed_minutes == 300


@pytest.mark.parametrize(
    ("day", "start", "minutes", "local_end", "end_offset"),
    [
        # fall-back: 01:30 EDT + 180 real minutes = 03:30 EST (wall clock moved only 2 h)
        (D(2026, 11, 1), time(1, 30), 180, time(3, 30), EST),
        # fall-back: 01:30 EDT + 60 real minutes = 01:30 EST, the second 01:30
        (D(2026, 11, 1), time(1, 30), 60, time(1, 30), EST),
        # spring-forward: 01:30 EST + 60 real minutes = 03:30 EDT (wall clock moved 2 h)
        (D(2026, 3, 8), time(1, 30), 60, time(3, 30), EDT),
        (D(2026, 3, 8), time(0, 0), 240, time(5, 0), EDT),
    ],
)
def test_a_session_spanning_the_change_lasts_its_real_minutes(day, start, minutes, local_end, end_offset):
    window = session_window(day, start, minutes, NY)
    assert window.start.time() == start
    assert (window.end.date(), window.end.time()) == (day, local_end)
    assert window.end.utcoffset() == end_offset
    assert elapsed(window.start, window.end) == timedelta(minutes=minutes)
    assert window.elapsed_minutes == minutes


def test_fall_back_session_0130_to_0330_is_180_minutes():
    start, end = session_window(D(2026, 11, 1), time(1, 30), 180, NY)  # unpacks as a plain pair
    assert start.isoformat() == "2026-11-01T01:30:00-04:00"
    assert end.isoformat() == "2026-11-01T03:30:00-05:00"
    assert end - start == timedelta(hours=2)  # the wall-clock trap this module avoids
    assert elapsed(start, end) == timedelta(minutes=180)


def test_an_ambiguous_start_is_the_first_occurrence():
    window = session_window(D(2026, 11, 1), time(1, 30), 30, NY)
    assert window.start.utcoffset() == EDT
    assert window.start.astimezone(UTC) == utc(2026, 11, 1, 5, 30)


@pytest.mark.parametrize("start", [time(2, 0), time(2, 30), time(2, 59, 59)])
def test_a_start_in_the_spring_forward_gap_raises(start):
    with pytest.raises(ValueError, match="^start:.*does not exist"):
        session_window(D(2026, 3, 8), start, 60, NY)


@pytest.mark.parametrize(("start", "offset"), [(time(1, 59), EST), (time(3, 0), EDT)])
def test_times_either_side_of_the_gap_exist(start, offset):
    assert session_window(D(2026, 3, 8), start, 60, NY).start.utcoffset() == offset


def test_the_gap_hour_exists_on_other_days():
    assert session_window(D(2026, 3, 9), time(2, 30), 60, NY).start.time() == time(2, 30)


def test_a_session_may_run_past_midnight():
    first_one = session_window(D(2026, 10, 31), time(22, 0), 180, NY).end
    second_one = session_window(D(2026, 10, 31), time(22, 0), 240, NY).end
    # both end at 01:00 local on 1 Nov: first in EDT, an hour later in EST
    assert first_one.replace(tzinfo=None, fold=0) == second_one.replace(tzinfo=None, fold=0) == datetime(2026, 11, 1, 1)
    assert (first_one.utcoffset(), second_one.utcoffset()) == (EDT, EST)
    assert elapsed(first_one, second_one) == timedelta(hours=1)
    assert session_window(D(2026, 1, 1), time(0, 0), 1440, NY).end == ny(2026, 1, 2)


@pytest.mark.parametrize(
    ("args", "error", "field"),
    [
        ((D(2026, 1, 1), time(9, 0), 0, NY), ValueError, "minutes"),
        ((D(2026, 1, 1), time(9, 0), 1441, NY), ValueError, "minutes"),
        ((D(2026, 1, 1), time(9, 0), 90.0, NY), TypeError, "minutes"),
        ((D(2026, 1, 1), time(9, 0, tzinfo=UTC), 90, NY), ValueError, "start"),
        ((D(2026, 11, 1), time(1, 30, fold=1), 90, NY), ValueError, "start"),
        ((D(2026, 1, 1), "09:00", 90, NY), TypeError, "start"),
        ((datetime(2026, 1, 1, 9, 0), time(9, 0), 90, NY), TypeError, "day"),
        ((D(2026, 1, 1), time(9, 0), 90, timezone(EST)), TypeError, "tz"),
        ((D(2026, 1, 1), time(9, 0), 90, "America/New_York"), TypeError, "tz"),
    ],
)
def test_session_window_refuses(args, error, field):
    with pytest.raises(error, match=f"^{field}:"):
        session_window(*args)


def test_session_window_is_a_named_pair():
    window = session_window(D(2026, 1, 5), time(9, 0), 90, NY)
    assert isinstance(window, SessionWindow)
    assert tuple(window) == (ny(2026, 1, 5, 9, 0), ny(2026, 1, 5, 10, 30))


# --------------------------------------------------------------------------- upcoming infusion


@pytest.mark.parametrize(
    ("session_day", "days_before", "due_local", "due_utc"),
    [
        # session just after spring-forward (EDT), reminder before it (EST): 09:00 local both
        (D(2026, 3, 9), 3, ny(2026, 3, 6, 9), utc(2026, 3, 6, 14)),
        (D(2026, 3, 10), 3, ny(2026, 3, 7, 9), utc(2026, 3, 7, 14)),
        (D(2026, 3, 11), 3, ny(2026, 3, 8, 9), utc(2026, 3, 8, 13)),  # the change day is already EDT at 09:00
        # session just after fall-back (EST), reminder before it (EDT)
        (D(2026, 11, 2), 3, ny(2026, 10, 30, 9), utc(2026, 10, 30, 13)),
        (D(2026, 11, 4), 3, ny(2026, 11, 1, 9), utc(2026, 11, 1, 14)),
        # no change in between
        (D(2026, 6, 15), 3, ny(2026, 6, 12, 9), utc(2026, 6, 12, 13)),
        (D(2026, 6, 15), 1, ny(2026, 6, 14, 9), utc(2026, 6, 14, 13)),
        (D(2026, 3, 1), 3, ny(2026, 2, 26, 9), utc(2026, 2, 26, 14)),  # across the end of February
    ],
)
def test_upcoming_reminder_keeps_the_local_clock_time(session_day, days_before, due_local, due_utc):
    start = session_window(session_day, time(9, 0), 300, NY).start
    reminder = upcoming_infusion_reminder(start, target="session-1", tz=NY, days_before=days_before)
    assert reminder.kind is ReminderKind.UPCOMING_INFUSION
    assert reminder.due_at == due_utc
    assert reminder.due_at.utcoffset() == timedelta(0)
    assert reminder.due_at.astimezone(NY).time() == time(9, 0)
    assert reminder.due_at == due_local
    assert reminder.window_end == start.astimezone(UTC)
    assert reminder.subject_key == f"upcoming_infusion:session-1:{due_local.date().isoformat()}"


def test_upcoming_reminder_offset_changes_with_the_session():
    start = session_window(D(2026, 3, 9), time(9, 0), 300, NY).start
    reminder = upcoming_infusion_reminder(start, target="session-1", tz=NY)
    assert start.utcoffset() == EDT
    assert reminder.due_at.astimezone(NY).utcoffset() == EST
    # three calendar days, one hour more than 72 real hours
    assert elapsed(reminder.due_at, start) == timedelta(hours=71)


def test_upcoming_reminder_reads_a_utc_session_on_the_clinic_clock():
    from_local = upcoming_infusion_reminder(ny(2026, 11, 2, 9), target="s", tz=NY)
    from_utc = upcoming_infusion_reminder(utc(2026, 11, 2, 14), target="s", tz=NY)
    assert from_local == from_utc
    assert from_utc.due_at == utc(2026, 10, 30, 13)


def test_upcoming_reminder_defaults_to_three_days():
    reminder = upcoming_infusion_reminder(ny(2026, 6, 15, 9), target="s", tz=NY)
    assert reminder.due_at == ny(2026, 6, 12, 9)
    assert "3 days before" in reminder.reason


def test_upcoming_reminder_in_the_gap_moves_forward_by_the_gap():
    # 02:30 on 8 March 2026 does not exist: PEP 495 fold=0 reads it as 03:30 EDT (documented).
    reminder = upcoming_infusion_reminder(ny(2026, 3, 11, 2, 30), target="s", tz=NY)
    assert reminder.due_at == utc(2026, 3, 8, 7, 30)
    assert reminder.due_at.astimezone(NY).time() == time(3, 30)


def test_upcoming_reminder_on_an_ambiguous_time_uses_the_first_occurrence():
    reminder = upcoming_infusion_reminder(ny(2026, 11, 4, 1, 30), target="s", tz=NY)
    assert reminder.due_at == utc(2026, 11, 1, 5, 30)  # 01:30 EDT


@pytest.mark.parametrize(("days_before", "error"), [(0, ValueError), (29, ValueError), ("3", TypeError)])
def test_upcoming_reminder_refuses_days_before(days_before, error):
    with pytest.raises(error, match="^days_before:"):
        upcoming_infusion_reminder(ny(2026, 6, 15, 9), target="s", tz=NY, days_before=days_before)


# --------------------------------------------------------------------------- labs

CYCLE = D(2026, 6, 15)


@pytest.mark.parametrize(
    ("renal_flag", "last_creatinine_on", "haemolysis_risk", "kinds"),
    [
        (False, D(2026, 6, 1), False, []),  # 14 days old, no flags
        (False, CYCLE - timedelta(days=30), False, []),  # exactly 30 days: still recent
        (False, CYCLE - timedelta(days=31), False, ["labs_creatinine_bun"]),
        (False, None, False, ["labs_creatinine_bun"]),
        (True, D(2026, 6, 10), False, ["labs_creatinine_bun"]),  # renal flag: always
        (True, None, False, ["labs_creatinine_bun"]),
        (False, CYCLE, False, []),  # drawn on the cycle's first day
        (False, D(2026, 6, 1), True, ["labs_hb_hct"]),
        (True, None, True, ["labs_creatinine_bun", "labs_hb_hct"]),
        (False, D(2025, 1, 1), True, ["labs_creatinine_bun", "labs_hb_hct"]),
    ],
)
def test_lab_reminders_which(renal_flag, last_creatinine_on, haemolysis_risk, kinds):
    reminders = lab_reminders(
        CYCLE,
        target="cycle-1",
        tz=NY,
        renal_flag=renal_flag,
        last_creatinine_on=last_creatinine_on,
        haemolysis_risk=haemolysis_risk,
    )
    assert [reminder.kind.value for reminder in reminders] == kinds


@pytest.mark.parametrize(
    ("cycle_start", "due_utc", "window_end_utc"),
    [
        (D(2026, 6, 15), utc(2026, 6, 8, 12), utc(2026, 6, 15, 4)),
        # due before spring-forward (EST), window ends after it (EDT)
        (D(2026, 3, 13), utc(2026, 3, 6, 13), utc(2026, 3, 13, 4)),
        # due before fall-back (EDT), window ends after it (EST)
        (D(2026, 11, 6), utc(2026, 10, 30, 12), utc(2026, 11, 6, 5)),
        (D(2026, 3, 3), utc(2026, 2, 24, 13), utc(2026, 3, 3, 5)),
        (D(2028, 3, 3), utc(2028, 2, 25, 13), utc(2028, 3, 3, 5)),  # leap year: 7 days back passes 29 Feb
    ],
)
def test_lab_reminders_due_seven_days_before_at_0800_local(cycle_start, due_utc, window_end_utc):
    reminders = lab_reminders(
        cycle_start, target="cycle-1", tz=NY, renal_flag=True, last_creatinine_on=None, haemolysis_risk=True
    )
    assert len(reminders) == 2
    for reminder in reminders:
        assert reminder.due_at == due_utc
        local_due = reminder.due_at.astimezone(NY)
        assert (local_due.date(), local_due.time()) == (cycle_start - timedelta(days=7), time(8, 0))
        assert reminder.window_end == window_end_utc
        assert reminder.window_end == ny(cycle_start.year, cycle_start.month, cycle_start.day)
        assert reminder.subject_key.endswith(f":cycle-1:{local_due.date().isoformat()}")


def test_lab_reminder_reason_says_why():
    (reminder,) = lab_reminders(
        CYCLE, target="c", tz=NY, renal_flag=False, last_creatinine_on=D(2026, 4, 1), haemolysis_risk=False
    )
    assert "2026-04-01" in reminder.reason
    assert "75 days" in reminder.reason


@pytest.mark.parametrize(
    ("kwargs", "error", "field"),
    [
        ({"last_creatinine_on": D(2026, 6, 16)}, ValueError, "last_creatinine_on"),
        ({"renal_flag": 1}, TypeError, "renal_flag"),
        ({"haemolysis_risk": None}, TypeError, "haemolysis_risk"),
        ({"tz": timezone(timedelta(0))}, TypeError, "tz"),
        ({"target": ""}, ValueError, "target"),
    ],
)
def test_lab_reminders_refuse(kwargs, error, field):
    arguments = {
        "target": "c",
        "tz": NY,
        "renal_flag": False,
        "last_creatinine_on": None,
        "haemolysis_risk": False,
    } | kwargs
    with pytest.raises(error, match=f"^{field}:"):
        lab_reminders(CYCLE, **arguments)


# --------------------------------------------------------------------------- after the cycle


def _by_kind(reminders):
    return {reminder.kind: reminder for reminder in reminders}


@pytest.mark.parametrize(
    ("last_infusion_end", "thrombosis_window_end_local", "venous_due_local", "haemolysis_local"),
    [
        (ny(2026, 6, 10, 15), ny(2026, 6, 13, 15), ny(2026, 6, 24, 9), (ny(2026, 6, 12, 3), ny(2026, 6, 14, 15))),
        # 72 real hours across fall-back end one wall-clock hour earlier
        (
            ny(2026, 10, 31, 15),
            ny(2026, 11, 3, 14),
            ny(2026, 11, 14, 9),
            (ny(2026, 11, 2, 2), ny(2026, 11, 4, 14)),
        ),
        # ... and across spring-forward one hour later
        (ny(2026, 3, 7, 15), ny(2026, 3, 10, 16), ny(2026, 3, 21, 9), (ny(2026, 3, 9, 4), ny(2026, 3, 11, 16))),
        # late evening local is already the next day in UTC: day 14 counts from the local date
        (
            ny(2026, 6, 10, 23, 30),
            ny(2026, 6, 13, 23, 30),
            ny(2026, 6, 24, 9),
            (ny(2026, 6, 12, 11, 30), ny(2026, 6, 14, 23, 30)),
        ),
    ],
)
def test_post_infusion_windows(last_infusion_end, thrombosis_window_end_local, venous_due_local, haemolysis_local):
    reminders = post_infusion_reminders(last_infusion_end, target="cycle-1", tz=NY, haemolysis_risk=True)
    assert [reminder.kind for reminder in reminders] == [
        ReminderKind.THROMBOSIS_CHECK,
        ReminderKind.VENOUS_CHECK,
        ReminderKind.HAEMOLYSIS_CHECK,
    ]
    by_kind = _by_kind(reminders)

    thrombosis = by_kind[ReminderKind.THROMBOSIS_CHECK]
    assert thrombosis.due_at == last_infusion_end
    assert thrombosis.window_end == thrombosis_window_end_local
    assert thrombosis.window_end - thrombosis.due_at == timedelta(hours=72)

    venous = by_kind[ReminderKind.VENOUS_CHECK]
    assert venous.due_at == venous_due_local
    assert venous.due_at.astimezone(NY).time() == time(9, 0)
    assert venous.due_at.astimezone(NY).date() - last_infusion_end.date() == timedelta(days=14)
    assert venous.window_end is None

    haemolysis = by_kind[ReminderKind.HAEMOLYSIS_CHECK]
    assert (haemolysis.due_at, haemolysis.window_end) == haemolysis_local
    assert haemolysis.due_at - last_infusion_end.astimezone(UTC) == timedelta(hours=36)
    assert haemolysis.window_end - last_infusion_end.astimezone(UTC) == timedelta(hours=96)


def test_post_infusion_without_haemolysis_risk_has_no_haemolysis_check():
    reminders = post_infusion_reminders(ny(2026, 6, 10, 15), target="c", tz=NY, haemolysis_risk=False)
    assert [reminder.kind for reminder in reminders] == [ReminderKind.THROMBOSIS_CHECK, ReminderKind.VENOUS_CHECK]


def test_post_infusion_site_settings():
    reminders = post_infusion_reminders(
        utc(2026, 6, 10, 19), target="c", tz=NY, haemolysis_risk=False, watch_hours=48, venous_days=10
    )
    by_kind = _by_kind(reminders)
    assert by_kind[ReminderKind.THROMBOSIS_CHECK].window_end == utc(2026, 6, 12, 19)
    assert by_kind[ReminderKind.VENOUS_CHECK].due_at == ny(2026, 6, 20, 9)
    assert "day 10" in by_kind[ReminderKind.VENOUS_CHECK].reason


def test_post_infusion_defaults_follow_site_defaults():
    site = yaml.safe_load(CATALOG_PATH.read_text(encoding="utf-8"))["site_defaults"]
    assert site["tee_watch_hours_high"] == timing.TEE_WATCH_HOURS
    assert site["tee_watch_days_venous"] == timing.TEE_WATCH_DAYS_VENOUS


@pytest.mark.parametrize(
    ("kwargs", "error", "field"),
    [
        ({"watch_hours": 0}, ValueError, "watch_hours"),
        ({"watch_hours": 14 * 24 + 1}, ValueError, "watch_hours"),
        ({"venous_days": 0}, ValueError, "venous_days"),
        ({"venous_days": 29}, ValueError, "venous_days"),
        ({"haemolysis_risk": "yes"}, TypeError, "haemolysis_risk"),
    ],
)
def test_post_infusion_refuses(kwargs, error, field):
    arguments = {"target": "c", "tz": NY, "haemolysis_risk": False} | kwargs
    with pytest.raises(error, match=f"^{field}:"):
        post_infusion_reminders(ny(2026, 6, 10, 15), **arguments)


# --------------------------------------------------------------------------- TIS and stewardship


@pytest.mark.parametrize(
    ("until", "weeks"),
    [
        (D(2026, 1, 2), []),  # until = first infusion: baseline only
        (D(2026, 1, 29), []),  # the day before week 4
        (D(2026, 1, 30), [4]),  # week 4, inclusive: the second cycle
        (D(2026, 4, 23), [4, 8, 12]),  # the day before week 16
        (D(2026, 4, 24), [4, 8, 12, 16]),  # week 16, inclusive
        (D(2026, 7, 17), [4, 8, 12, 16, 28]),
        (D(2026, 12, 31), [4, 8, 12, 16, 28, 40]),  # week 52 is 1 Jan 2027
        (D(2027, 1, 1), [4, 8, 12, 16, 28, 40, 52]),
        (D(2028, 12, 31), [4, 8, 12, 16, 28, 40, 52, 64, 76, 88, 100, 112, 124, 136, 148]),
    ],
)
def test_tis_assessment_due_dates(until, weeks):
    first = D(2026, 1, 2)
    schedule = tis_assessment_due_dates(first, until=until)
    assert schedule.baseline_due_before == first
    assert [(day - first).days / 7 for day in schedule.due_dates] == weeks
    assert all(day <= until for day in schedule.due_dates)


def test_tis_week_16_and_28_are_dated():
    schedule = tis_assessment_due_dates(D(2026, 1, 2), until=D(2026, 12, 31))
    assert schedule.due_dates[3:] == (D(2026, 4, 24), D(2026, 7, 17), D(2026, 10, 9))


@pytest.mark.parametrize(
    ("rhythm", "weeks"),
    [
        (TisRhythm(), [4, 8, 12, 16, 28, 40]),
        (TisRhythm(every_weeks_early=4, early_until_week=16, every_weeks_after=8), [4, 8, 12, 16, 24, 32, 40, 48]),
        (TisRhythm(every_weeks_early=6, early_until_week=16, every_weeks_after=12), [6, 12, 16, 28, 40]),
        (TisRhythm(every_weeks_early=12, early_until_week=16, every_weeks_after=12), [12, 16, 28, 40]),
    ],
)
def test_tis_rhythm_is_the_sites(rhythm, weeks):
    first = D(2026, 1, 2)
    schedule = tis_assessment_due_dates(first, until=D(2026, 12, 31), rhythm=rhythm)
    assert [(day - first).days // 7 for day in schedule.due_dates] == weeks


@pytest.mark.parametrize(
    ("visits", "open_weeks"),
    [
        ([], [12, 16]),
        ([D(2026, 4, 10)], [12]),  # week 14, halfway: answers the later one
        ([D(2026, 4, 3), D(2026, 4, 10)], []),  # weeks 13 and 14: one each
        ([D(2026, 3, 13)], [16]),  # week 10: within 2 weeks of week 12 only
        ([D(2026, 5, 8)], [12]),  # 14 days after week 16: still answers it
        ([D(2026, 5, 9)], [12, 16]),  # 15 days after: answers nothing
    ],
)
def test_one_visit_answers_one_tis_date(visits, open_weeks):
    first = D(2026, 1, 2)
    due = [first + timedelta(weeks=12), first + timedelta(weeks=16)]
    assert [(day - first).days // 7 for day in tis_dates_without_visit(due, visits)] == open_weeks


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("tis_every_weeks_early", {"every_weeks_early": 0}),
        ("tis_early_until_week", {"early_until_week": 100}),
        ("tis_every_weeks_after", {"every_weeks_after": 2}),
    ],
)
def test_tis_rhythm_refuses_impossible_settings(field, kwargs):
    with pytest.raises(ValueError, match=f"^{field}:"):
        TisRhythm(**kwargs)


def test_tis_refuses_until_before_the_first_infusion():
    with pytest.raises(ValueError, match="^until:"):
        tis_assessment_due_dates(D(2026, 1, 2), until=D(2026, 1, 1))


@pytest.mark.parametrize(
    ("first_infusion_on", "three_months", "six_months"),
    [
        (D(2026, 1, 31), D(2026, 4, 30), D(2026, 7, 31)),
        (D(2026, 1, 15), D(2026, 4, 15), D(2026, 7, 15)),
        (D(2026, 3, 31), D(2026, 6, 30), D(2026, 9, 30)),
        (D(2026, 5, 31), D(2026, 8, 31), D(2026, 11, 30)),
        (D(2026, 8, 31), D(2026, 11, 30), D(2027, 2, 28)),
        (D(2027, 8, 31), D(2027, 11, 30), D(2028, 2, 29)),  # leap year
        # six months counts from the first infusion, not 3 + 3 (which would give 28 May)
        (D(2027, 11, 30), D(2028, 2, 29), D(2028, 5, 30)),
        (D(2026, 10, 15), D(2027, 1, 15), D(2027, 4, 15)),
        (D(2028, 2, 29), D(2028, 5, 29), D(2028, 8, 29)),
    ],
)
def test_stewardship_review_dates(first_infusion_on, three_months, six_months):
    assert stewardship_review_dates(first_infusion_on) == StewardshipReviews(three_months, six_months)


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (D(2026, 1, 31), 1, D(2026, 2, 28)),
        (D(2028, 1, 31), 1, D(2028, 2, 29)),
        (D(2026, 12, 31), 2, D(2027, 2, 28)),
        (D(2026, 3, 31), -1, D(2026, 2, 28)),
        (D(2026, 3, 15), 0, D(2026, 3, 15)),
        (D(2026, 1, 31), 12, D(2027, 1, 31)),
    ],
)
def test_add_months(day, months, expected):
    assert add_months(day, months) == expected


def test_add_months_refuses_leaving_the_calendar():
    with pytest.raises(ValueError, match="^months:"):
        add_months(D(9999, 12, 1), 1)


# --------------------------------------------------------------------------- overdue cycle

LAST = D(2026, 1, 1)  # next due 29 Jan; 7 days' grace runs to 5 Feb


@pytest.mark.parametrize(
    ("today", "next_scheduled", "grace_days", "due_on"),
    [
        (D(2026, 1, 29), None, 7, None),  # due today
        (D(2026, 2, 5), None, 7, None),  # last day of grace
        (D(2026, 2, 6), None, 7, D(2026, 2, 6)),  # first overdue day
        (D(2026, 3, 20), None, 7, D(2026, 2, 6)),  # same due date whatever today is
        (D(2026, 1, 30), None, 0, D(2026, 1, 30)),
        (D(2026, 1, 29), None, 0, None),
        (D(2026, 2, 26), None, 28, None),
        (D(2026, 2, 27), None, 28, D(2026, 2, 27)),
        (D(2026, 2, 10), D(2026, 2, 12), 7, None),  # booked ahead
        (D(2026, 2, 10), D(2026, 2, 10), 7, None),  # booked today
        (D(2026, 2, 10), D(2026, 2, 9), 7, D(2026, 2, 6)),  # booked date passed, not recorded: missed
        (D(2026, 2, 10), D(2026, 1, 29), 7, D(2026, 2, 6)),
    ],
)
def test_cycle_overdue(today, next_scheduled, grace_days, due_on):
    reminder = cycle_overdue(
        LAST,
        interval_weeks=4,
        today=today,
        next_scheduled=next_scheduled,
        target="course-7",
        tz=NY,
        grace_days=grace_days,
    )
    if due_on is None:
        assert reminder is None
        return
    assert reminder.kind is ReminderKind.CYCLE_OVERDUE
    assert reminder.due_at == ny(due_on.year, due_on.month, due_on.day, 8)
    assert reminder.window_end is None
    assert reminder.subject_key == f"cycle_overdue:course-7:{due_on.isoformat()}"
    assert "2026-01-29" in reminder.reason
    if next_scheduled is not None:
        assert next_scheduled.isoformat() in reminder.reason


def test_cycle_overdue_default_grace_is_seven_days():
    assert cycle_overdue(LAST, interval_weeks=4, today=D(2026, 2, 5), next_scheduled=None, target="c", tz=NY) is None
    assert cycle_overdue(LAST, interval_weeks=4, today=D(2026, 2, 6), next_scheduled=None, target="c", tz=NY)


@pytest.mark.parametrize(
    ("kwargs", "error", "field"),
    [
        ({"today": D(2025, 12, 31)}, ValueError, "last_cycle_start"),
        ({"next_scheduled": LAST}, ValueError, "next_scheduled"),
        ({"next_scheduled": D(2025, 12, 1)}, ValueError, "next_scheduled"),
        ({"grace_days": -1}, ValueError, "grace_days"),
        ({"grace_days": 29}, ValueError, "grace_days"),
        ({"interval_weeks": 0}, ValueError, "interval_weeks"),
        ({"today": datetime(2026, 2, 6, 9, 0, tzinfo=UTC)}, TypeError, "today"),
    ],
)
def test_cycle_overdue_refuses(kwargs, error, field):
    arguments = {
        "interval_weeks": 4,
        "today": D(2026, 2, 10),
        "next_scheduled": None,
        "target": "c",
        "tz": NY,
    } | kwargs
    with pytest.raises(error, match=f"^{field}:"):
        cycle_overdue(LAST, **arguments)


# --------------------------------------------------------------------------- subject keys


def _lab(target="cycle-1", cycle_start=CYCLE):
    return lab_reminders(
        cycle_start, target=target, tz=NY, renal_flag=True, last_creatinine_on=None, haemolysis_risk=True
    )


def test_equal_inputs_give_equal_reminders_and_keys():
    assert _lab() == _lab()
    assert [r.subject_key for r in _lab()] == [
        "labs_creatinine_bun:cycle-1:2026-06-08",
        "labs_hb_hct:cycle-1:2026-06-08",
    ]
    first = post_infusion_reminders(ny(2026, 6, 10, 15), target="c", tz=NY, haemolysis_risk=True)
    again = post_infusion_reminders(utc(2026, 6, 10, 19), target="c", tz=NY, haemolysis_risk=True)
    assert first == again


@pytest.mark.parametrize(
    ("left", "right"),
    [
        (("labs_creatinine_bun", "cycle-1", D(2026, 6, 8)), ("labs_hb_hct", "cycle-1", D(2026, 6, 8))),  # kind
        (("labs_creatinine_bun", "cycle-1", D(2026, 6, 8)), ("labs_creatinine_bun", "cycle-2", D(2026, 6, 8))),
        (("labs_creatinine_bun", "cycle-1", D(2026, 6, 8)), ("labs_creatinine_bun", "cycle-1", D(2026, 6, 9))),
        (("venous_check", "a:b", D(2026, 6, 8)), ("venous_check", "a", D(2026, 6, 8))),
    ],
)
def test_subject_keys_differ_when_kind_target_or_date_differ(left, right):
    assert subject_key(*left) != subject_key(*right)
    assert subject_key(*left) == subject_key(*left)


def test_every_reminder_of_one_cycle_has_its_own_key():
    reminders = [
        *_lab(),
        *post_infusion_reminders(ny(2026, 6, 19, 15), target="cycle-1", tz=NY, haemolysis_risk=True),
        upcoming_infusion_reminder(ny(2026, 6, 15, 9), target="cycle-1", tz=NY),
    ]
    keys = [reminder.subject_key for reminder in reminders]
    assert len(set(keys)) == len(keys) == 6
    assert all(len(key) <= SUBJECT_KEY_MAX_LENGTH and " " not in key for key in keys)


def test_reminders_differ_by_target_and_due_date():
    assert {r.subject_key for r in _lab("cycle-1")}.isdisjoint(r.subject_key for r in _lab("cycle-2"))
    later = _lab(cycle_start=CYCLE + timedelta(days=1))
    assert {r.subject_key for r in _lab()}.isdisjoint(r.subject_key for r in later)


def test_subject_key_uses_the_local_due_date():
    # 22:00 EDT on 10 June is 02:00 UTC on 11 June; the key carries the clinic's date.
    (thrombosis, _venous) = post_infusion_reminders(ny(2026, 6, 10, 22), target="c", tz=NY, haemolysis_risk=False)
    assert thrombosis.due_at.date() == D(2026, 6, 11)
    assert thrombosis.subject_key == "thrombosis_check:c:2026-06-10"


@pytest.mark.parametrize(
    ("target", "error"),
    [("", ValueError), (" c", ValueError), ("c ", ValueError), ("x" * 101, ValueError), (42, TypeError)],
)
def test_target_is_checked(target, error):
    with pytest.raises(error, match="^target:"):
        subject_key(ReminderKind.VENOUS_CHECK, target, D(2026, 6, 8))
    with pytest.raises(error, match="^target:"):
        upcoming_infusion_reminder(ny(2026, 6, 15, 9), target=target, tz=NY)


def test_subject_key_refuses_an_unknown_kind():
    with pytest.raises(ValueError, match="^kind:"):
        subject_key("coffee_break", "c", D(2026, 6, 8))


def test_subject_key_fits_its_maximum_length():
    longest_kind = max(ReminderKind, key=len)
    assert len(subject_key(longest_kind, "x" * 100, D(2026, 6, 8))) == SUBJECT_KEY_MAX_LENGTH


def test_reminder_on_for_tis_and_stewardship_dates():
    schedule = tis_assessment_due_dates(D(2026, 1, 2), until=D(2026, 12, 31))
    reviews = stewardship_review_dates(D(2026, 1, 31))
    reminders = [
        reminder_on(day, kind=ReminderKind.TIS_ASSESSMENT, target="course-7", tz=NY, reason="TIS")
        for day in schedule.due_dates
    ] + [
        reminder_on(day, kind=ReminderKind.STEWARDSHIP_REVIEW, target="course-7", tz=NY, reason="review")
        for day in reviews
    ]
    assert [r.due_at.astimezone(NY).time() for r in reminders] == [time(8, 0)] * 8
    assert reminders[-1].subject_key == "stewardship_review:course-7:2026-07-31"
    with pytest.raises(ValueError, match="^reason:"):
        reminder_on(D(2026, 5, 1), kind="tis_assessment", target="c", tz=NY, reason=" ")


# --------------------------------------------------------------------------- naive datetimes and invariants

NAIVE = datetime(2026, 6, 10, 15, 0)  # noqa: DTZ001 - the point of these tests


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: upcoming_infusion_reminder(NAIVE, target="c", tz=NY), "session_start"),
        (lambda: post_infusion_reminders(NAIVE, target="c", tz=NY, haemolysis_risk=False), "last_infusion_end"),
        (
            lambda: DueReminder(ReminderKind.VENOUS_CHECK, NAIVE, None, "k", "r"),
            "due_at",
        ),
        (
            lambda: DueReminder(ReminderKind.VENOUS_CHECK, utc(2026, 6, 10), NAIVE, "k", "r"),
            "window_end",
        ),
    ],
)
def test_naive_datetimes_are_refused(call, field):
    with pytest.raises(ValueError, match=f"^{field}: naive datetime"):
        call()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"due_at": ny(2026, 6, 10, 9)}, "due_at"),  # aware but not UTC
        ({"window_end": utc(2026, 6, 9)}, "window_end"),  # before due_at
        ({"kind": "coffee_break"}, "kind"),
        ({"subject_key": ""}, "subject_key"),
        ({"reason": ""}, "reason"),
    ],
)
def test_due_reminder_checks_itself(kwargs, field):
    arguments = {
        "kind": ReminderKind.VENOUS_CHECK,
        "due_at": utc(2026, 6, 10),
        "window_end": None,
        "subject_key": "k",
        "reason": "r",
    } | kwargs
    with pytest.raises(ValueError, match=f"^{field}:"):
        DueReminder(**arguments)


def test_due_reminder_stores_a_string_kind_as_the_enum():
    reminder = DueReminder("venous_check", utc(2026, 6, 10), None, "k", "r")
    assert reminder.kind is ReminderKind.VENOUS_CHECK


def test_due_reminder_is_frozen():
    (reminder, *_rest) = _lab()
    with pytest.raises(dataclasses.FrozenInstanceError):
        reminder.due_at = utc(2026, 1, 1)


def test_every_reminder_is_utc_with_an_ordered_window():
    reminders = [
        *_lab(),
        *post_infusion_reminders(ny(2026, 10, 31, 15), target="c", tz=NY, haemolysis_risk=True),
        upcoming_infusion_reminder(ny(2026, 11, 2, 9), target="c", tz=NY),
        cycle_overdue(LAST, interval_weeks=4, today=D(2026, 3, 1), next_scheduled=None, target="c", tz=NY),
    ]
    for reminder in reminders:
        assert reminder.due_at.tzinfo is UTC
        if reminder.window_end is not None:
            assert reminder.window_end.tzinfo is UTC
            assert reminder.window_end > reminder.due_at
        assert reminder.reason


def test_another_zone_works_the_same_way():
    # Europe/London changes on 29 March 2026; a 09:00 session stays 09:00 local there too.
    london = ZoneInfo("Europe/London")
    before = session_window(D(2026, 3, 28), time(9, 0), 60, london).start
    after = session_window(D(2026, 3, 30), time(9, 0), 60, london).start
    assert (before.utcoffset(), after.utcoffset()) == (timedelta(0), timedelta(hours=1))
    assert upcoming_infusion_reminder(after, target="s", tz=london).due_at == utc(2026, 3, 27, 9)


# --------------------------------------------------------------------------- docstrings


def test_docstring_examples_run():
    failures, attempted = doctest.testmod(timing, verbose=False)
    assert attempted > 0
    assert failures == 0


def test_every_public_function_has_a_worked_example():
    functions = [
        value
        for name, value in vars(timing).items()
        if callable(value)
        and not name.startswith("_")
        and not isinstance(value, type)
        and getattr(value, "__module__", "") == timing.__name__
    ]
    assert len(functions) >= 10
    for function in functions:
        assert "Example" in (function.__doc__ or ""), function.__name__
        assert ">>>" in function.__doc__, function.__name__
