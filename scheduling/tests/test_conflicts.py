"""Tests for scheduling.conflicts: the unit's booking rules as pure arithmetic (chairs booked
twice, chairs the unit lacks, two sessions for a patient on a day, opening hours, the interval
between cycles). No database.

The dates are those of the booking services' tests: Monday 23 Nov 2026 in New York (EST, UTC-5);
New York fell back from EDT on Sunday 1 Nov 2026."""

import doctest
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from scheduling import conflicts as conflicts_module
from scheduling.conflicts import CycleStart, Slot, find_conflicts, interval_warnings, warnings_digest

NY = ZoneInfo("America/New_York")
MONDAY = date(2026, 11, 23)
NINE = time(9, 0)


def test_doctests():
    assert doctest.testmod(conflicts_module).failed == 0


def slot(patient_id, chair, start, minutes=318, label="MRN day 1", session_id=None):
    start = datetime.combine(start[0], start[1], tzinfo=NY)
    return Slot(patient_id, chair, start, start + timedelta(minutes=minutes), label, session_id)


def conflicts(proposed, others=(), chairs=6):
    return find_conflicts(proposed, others, chairs=chairs, opens_at=time(8), closes_at=time(18), tz=NY)


class TestFindConflicts:
    def test_overlap_in_one_chair_is_refused(self):
        found = conflicts([slot(1, 1, (MONDAY, time(13)))], [slot(2, 1, (MONDAY, NINE))])
        assert list(found.refusals) == ["chair"]

    def test_back_to_back_in_one_chair_is_fine(self):
        found = conflicts([slot(1, 1, (MONDAY, time(12)), minutes=180)], [slot(2, 1, (MONDAY, NINE), minutes=180)])
        assert found.refusals == {} and found.warnings == []

    def test_same_time_other_chair_is_fine(self):
        assert conflicts([slot(1, 2, (MONDAY, NINE))], [slot(2, 1, (MONDAY, NINE))]).refusals == {}

    def test_two_new_sessions_overlapping_in_one_chair(self):
        found = conflicts([slot(1, 1, (MONDAY, NINE)), slot(2, 1, (MONDAY, time(10)))])
        assert "booked twice" in found.refusals["chair"][0]

    def test_a_chair_the_unit_does_not_have(self):
        assert "no chair 7" in conflicts([slot(1, 7, (MONDAY, NINE))], chairs=6).refusals["chair"][0]

    def test_two_sessions_for_one_patient_on_one_day(self):
        found = conflicts([slot(1, 2, (MONDAY, time(15)), minutes=60)], [slot(1, 1, (MONDAY, NINE), minutes=60)])
        assert list(found.refusals) == ["day"]

    @pytest.mark.parametrize(
        ("start", "minutes", "expected"),
        [
            (time(8), 600, []),  # 08:00–18:00: exactly the opening hours
            (time(7, 30), 60, ["would start before opening time (08:00)"]),
            (time(14), 318, ["would end after closing time (18:00)"]),
            (time(17), 480, ["would end after closing time (18:00)"]),  # into the next day
        ],
    )
    def test_outside_opening_hours_warns(self, start, minutes, expected):
        found = conflicts([slot(1, 1, (MONDAY, start), minutes=minutes)])
        assert found.refusals == {}
        assert [w.split(") ", 1)[1].rstrip(".") for w in found.warnings] == expected

    def test_overlap_is_measured_in_real_time_across_fall_back(self):
        # 01:00 EDT + 90 min = 01:30 EST; a session from 01:45 EST (fold=1) starts after it.
        first = Slot(1, 1, datetime(2026, 11, 1, 1, 0, tzinfo=NY), datetime(2026, 11, 1, 6, 30, tzinfo=UTC), "a")
        second_start = datetime(2026, 11, 1, 1, 45, fold=1, tzinfo=NY)
        second = Slot(2, 1, second_start, second_start + timedelta(hours=1), "b")
        assert first.end_utc < second.start_utc
        assert conflicts([second], [first]).refusals == {}


class TestIntervalWarnings:
    @pytest.mark.parametrize(("gap_days", "warns"), [(27, True), (28, False), (35, False)])
    def test_boundary(self, gap_days, warns):
        starts = [
            CycleStart(MONDAY, 4, "cycle 1", False),
            CycleStart(MONDAY + timedelta(days=gap_days), 4, "cycle 2", True),
        ]
        assert bool(interval_warnings(starts)) is warns

    def test_unchanged_pairs_are_not_reported_again(self):
        starts = [CycleStart(MONDAY, 4, "cycle 1", False), CycleStart(MONDAY + timedelta(days=7), 4, "cycle 2", False)]
        assert interval_warnings(starts) == []


class TestWarningsDigest:
    def test_another_set_of_warnings_gives_another_digest(self):
        shown = ["Ends after closing."]
        assert warnings_digest(shown) != warnings_digest([*shown, "Cycle 2 is early."])
        assert len(warnings_digest(shown)) == 16
