"""Tests for the booking services: planning courses (scheduling.services.courses) checked
against the unit (services.booking), moving sessions and their status (services.sessions) and
the unit's settings (services.unit). They share the planned course they start from; the pure
conflict arithmetic is tested in test_conflicts.py.

Time is frozen at Sunday 22 Nov 2026, noon in New York (EST, UTC-5); New York fell back
from EDT on Sunday 1 Nov 2026."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError

from dosing.models import DoseOrder
from dosing.tests.factories import DoseOrderFactory
from patients.tests.factories import MeasurementFactory, PatientFactory
from scheduling.models import (
    Course,
    CourseStatus,
    Cycle,
    InfusionSession,
    Reminder,
    ReminderStatus,
    SessionStatus,
    UnitSettings,
)
from scheduling.services import courses as services
from scheduling.services.booking import WarningsNotAccepted
from scheduling.services.courses import course_extend, course_plan
from scheduling.services.sessions import session_move, session_set_status
from scheduling.services.unit import unit_settings_update
from scheduling.tests.factories import CourseFactory

NY = ZoneInfo("America/New_York")
TODAY = date(2026, 11, 22)
MONDAY = date(2026, 11, 23)
NINE = time(9, 0)
PLAN_MINUTES = 288  # 2 g/kg over 2 days at 70 kg (the dosing tests' worked check)
SETUP_MINUTES = 30  # UnitSettings default


@pytest.fixture
def nurse(make_user):
    return make_user("nurse")


@pytest.fixture
def verify(make_user):
    from dosing.services.orders import dose_order_verify

    pharmacist = make_user("pharmacist")

    def do(order):
        return dose_order_verify(by=pharmacist, order=order)

    return do


@pytest.fixture
def verified_order(make_order, verify):
    return verify(make_order())


@pytest.fixture
def other_order(make_order, verify):
    """A verified order for a second patient."""
    patient = PatientFactory()
    MeasurementFactory(patient=patient, measured_on=date(2026, 11, 20))
    return verify(make_order(patient=patient))


@pytest.fixture
def plan(nurse, verified_order):
    def book(order=None, **overrides):
        fields = {"first_day": MONDAY, "start_time": NINE, "chair": 1, "cycles": 3, "today": TODAY} | overrides
        return course_plan(by=nurse, order=order or verified_order, **fields)

    return book


def local(session: InfusionSession) -> datetime:
    return session.planned_start.astimezone(NY)


def sessions_of(course: Course) -> list[InfusionSession]:
    return list(InfusionSession.objects.filter(cycle__course=course).order_by("planned_start"))


# ----------------------------------------------------------------------- planning


@pytest.mark.django_db
class TestCoursePlan:
    def test_cycles_every_four_weeks_across_a_month_and_year_end(self, plan):
        course = plan(first_day=date(2026, 11, 30))
        starts = list(course.cycles.values_list("start_date", flat=True))
        assert starts == [date(2026, 11, 30), date(2026, 12, 28), date(2027, 1, 25)]
        assert course.interval_weeks == 4 and course.planned_cycles == 3 and course.days_per_cycle == 2

    def test_one_session_per_day_in_the_chair_at_the_local_time(self, plan, verified_order):
        course = plan(chair=2)
        sessions = sessions_of(course)
        assert len(sessions) == 3 * verified_order.days
        first_cycle = sessions[:2]
        assert [(local(s).date(), local(s).time(), s.day_number) for s in first_cycle] == [
            (date(2026, 11, 23), NINE, 1),
            (date(2026, 11, 24), NINE, 2),
        ]
        assert {s.chair for s in sessions} == {2}
        assert {s.status for s in sessions} == {SessionStatus.PLANNED}
        assert all(s.patient_id == verified_order.patient_id for s in sessions)

    def test_expected_minutes_are_plan_plus_setup(self, plan, verified_order):
        assert verified_order.plan["infusion_minutes"] == PLAN_MINUTES
        course = plan()
        first, *rest = sorted(sessions_of(course), key=lambda s: s.planned_start)
        # The patient is IVIG-naive: the first session runs the first step 2 x 30 min (site policy),
        # 42 mL/h for 60 min then 84 and 168 mL/h: 310 min, booked 340 with the set-up.
        assert first.expected_minutes == 310 + SETUP_MINUTES
        assert {s.expected_minutes for s in rest} == {PLAN_MINUTES + SETUP_MINUTES}

    def test_a_patient_given_ivig_before_has_no_longer_first_session(self, plan, verified_order):
        patient = verified_order.patient
        patient.infusions_given = [{"on": "2026-10-26", "product_slug": "octagam-10", "product_name": "Octagam 10%"}]
        patient.save()
        assert {s.expected_minutes for s in sessions_of(plan())} == {PLAN_MINUTES + SETUP_MINUTES}

    def test_setup_minutes_come_from_the_unit(self, plan, nurse):
        unit_settings_update(by=nurse, setup_minutes=45)
        minutes = sorted(s.expected_minutes for s in sessions_of(plan()))
        assert minutes == [PLAN_MINUTES + 45] * 5 + [310 + 45]  # the first: an IVIG-naive first infusion

    def test_interval_defaults_to_the_indication(self, plan, dm_indication):
        assert dm_indication.interval_weeks_min == 4
        assert plan(interval_weeks=None).interval_weeks == 4

    def test_open_ended_course_is_booked_26_weeks_ahead(self, plan):
        course = plan(cycles=None)
        starts = list(course.cycles.values_list("start_date", flat=True))
        horizon = TODAY + timedelta(weeks=services.OPEN_ENDED_HORIZON_WEEKS)
        assert course.planned_cycles is None
        assert starts[0] == MONDAY and starts[-1] <= horizon < starts[-1] + timedelta(weeks=4)
        assert len(starts) == 7  # 23 Nov to 10 May; 7 Jun is past 23 May 2027

    def test_open_ended_course_is_extended_later(self, plan, nurse):
        course = plan(cycles=None)
        assert course_extend(by=nurse, course=course, today=TODAY) == []  # already booked that far
        added = course_extend(by=nurse, course=course, today=TODAY + timedelta(weeks=8))
        assert [cycle.number for cycle in added] == [8, 9]
        assert [cycle.start_date for cycle in added] == [date(2027, 6, 7), date(2027, 7, 5)]
        assert {local(s).time() for s in InfusionSession.objects.filter(cycle__in=added)} == {NINE}

    def test_no_extension_once_the_order_needs_verifying_again(self, plan, nurse, verified_order):
        course = plan(cycles=None)
        verified_order.status = "reverify"
        verified_order.save()
        with pytest.raises(ValidationError, match="needs verification again"):
            course_extend(by=nurse, course=course, today=TODAY + timedelta(weeks=8))
        assert course.cycles.count() == 7

    def test_a_course_with_a_set_number_is_not_extended(self, plan, nurse):
        with pytest.raises(ValidationError, match="open-ended"):
            course_extend(by=nurse, course=plan(), today=TODAY)

    @pytest.mark.parametrize("status", ["awaiting_verification", "rejected", "cancelled", "reverify"])
    def test_refused_unless_the_order_is_verified(self, nurse, make_order, status):
        order = make_order()
        order.status = status
        order.save()
        with pytest.raises(ValidationError, match="verified order"):
            course_plan(by=nurse, order=order, first_day=MONDAY, start_time=NINE, chair=1, cycles=3, today=TODAY)
        assert not Course.objects.exists() and not InfusionSession.objects.exists()

    def test_dst_course_keeps_nine_local_on_both_sides_of_fall_back(self, plan):
        # Cycle 1 on 19 Oct (EDT, UTC-4), cycle 2 on 16 Nov (EST, UTC-5): both 09:00 local.
        course = plan(first_day=date(2026, 10, 19), cycles=2, today=date(2026, 10, 1))
        sessions = sessions_of(course)
        assert {local(s).time() for s in sessions} == {NINE}
        utc_hours = [s.planned_start.astimezone(UTC).hour for s in sessions]
        assert utc_hours == [13, 13, 14, 14]

    def test_a_start_in_the_spring_forward_gap_is_refused_at_the_field(self, plan):
        with pytest.raises(ValidationError) as caught:
            plan(first_day=date(2027, 3, 14), start_time=time(2, 30), cycles=1, today=date(2027, 3, 1))
        assert "start_time" in caught.value.message_dict

    def test_first_day_in_the_past_is_refused(self, plan):
        with pytest.raises(ValidationError) as caught:
            plan(first_day=TODAY - timedelta(days=1))
        assert "first_day" in caught.value.message_dict

    def test_history_names_the_nurse(self, plan, nurse):
        course = plan()
        assert course.history.get().history_user == nurse
        assert all(s.history.get().history_user == nurse for s in sessions_of(course))


# ----------------------------------------------------------------------- conflicts in the unit


@pytest.mark.django_db
class TestCourseConflicts:
    def test_double_booked_chair_is_refused(self, plan, other_order):
        plan()
        with pytest.raises(ValidationError) as caught:
            plan(order=other_order, start_time=time(10))
        assert "chair" in caught.value.message_dict
        assert Course.objects.count() == 1

    def test_past_closing_warns_and_books_once_accepted(self, plan, verified_order):
        with pytest.raises(WarningsNotAccepted) as caught:
            plan(start_time=time(14))
        mrn = verified_order.patient.mrn
        assert caught.value.warnings == (
            f"6 sessions would end after closing time (18:00): the first {mrn} cycle 1 day 1 "
            f"(Mon 2026-11-23 14:00–19:40), the last {mrn} cycle 3 day 2 (Tue 2027-01-19 14:00–19:18).",
        )
        assert not Course.objects.exists()
        course = plan(start_time=time(14), accept_warnings=True)
        assert "accepted: " in course.history.get().history_change_reason

    def test_two_sessions_one_day_refused(self, plan):
        plan(cycles=1)
        with pytest.raises(ValidationError) as caught:
            plan(cycles=1, chair=2)
        assert "first_day" in caught.value.message_dict
        assert Course.objects.count() == 1

    def test_early_cycle_warns(self, plan):
        plan(cycles=1)
        three_weeks_later = MONDAY + timedelta(weeks=3)
        with pytest.raises(WarningsNotAccepted) as caught:
            plan(cycles=1, first_day=three_weeks_later)
        assert caught.value.warnings == (
            "cycle 1 of this course would start Mon 2026-12-14, 21 days after cycle 1 of the course from "
            "2026-11-23 (Mon 2026-11-23); the interval is 4 weeks (28 days).",
        )

    def test_a_cancelled_cycle_does_not_count_for_the_interval(self, plan):
        first = plan(cycles=1)
        InfusionSession.objects.filter(cycle__course=first).update(status=SessionStatus.CANCELLED)
        plan(cycles=1, first_day=MONDAY + timedelta(weeks=3))  # no warning raised

    def test_shorter_interval_than_the_label_warns(self, plan):
        with pytest.raises(WarningsNotAccepted, match="shorter than the 4 weeks"):
            plan(interval_weeks=3)

    def test_more_chairs_than_the_unit_has_is_refused(self, plan):
        with pytest.raises(ValidationError) as caught:
            plan(chair=7)
        assert "no chair 7" in caught.value.message_dict["chair"][0]


# ----------------------------------------------------------------------- moving


@pytest.mark.django_db
class TestSessionMove:
    def test_move_one_session(self, plan, nurse):
        course = plan()
        day2 = sessions_of(course)[1]
        moved = session_move(
            by=nurse,
            session=day2,
            new_date=day2.planned_start.date(),
            new_start=time(11),
            chair=3,
            expected_version=1,
            today=TODAY,
        )
        day2.refresh_from_db()
        assert moved == [day2]
        assert (local(day2).date(), local(day2).time(), day2.chair, day2.version) == (
            date(2026, 11, 24),
            time(11),
            3,
            2,
        )
        assert "moved from 2026-11-24 09:00 chair 1" in day2.history.first().history_change_reason
        assert [s.version for s in sessions_of(course)].count(1) == 5  # nothing else touched

    def test_move_this_and_following(self, plan, nurse):
        course = plan()
        before = sessions_of(course)
        cycle2_day1 = before[2]
        session_move(
            by=nurse,
            session=cycle2_day1,
            new_date=date(2026, 12, 23),
            new_start=time(10),
            following=True,
            expected_version=1,
            today=TODAY,
        )
        after = sessions_of(course)
        assert [(local(s).date(), local(s).time()) for s in after] == [
            (date(2026, 11, 23), NINE),
            (date(2026, 11, 24), NINE),
            (date(2026, 12, 23), time(10)),
            (date(2026, 12, 24), time(10)),
            (date(2027, 1, 20), time(10)),
            (date(2027, 1, 21), time(10)),
        ]
        assert [s.version for s in after] == [1, 1, 2, 2, 2, 2]
        assert {s.chair for s in after} == {1}
        assert list(course.cycles.values_list("start_date", flat=True)) == [
            date(2026, 11, 23),
            date(2026, 12, 23),
            date(2027, 1, 20),
        ]

    def test_moving_the_first_cycle_moves_the_course_start(self, plan, nurse):
        course = plan()
        first = sessions_of(course)[0]
        session_move(
            by=nurse,
            session=first,
            new_date=date(2026, 11, 25),
            new_start=NINE,
            following=True,
            expected_version=1,
            today=TODAY,
        )
        course.refresh_from_db()
        assert course.first_day == date(2026, 11, 25)  # the course is named by its first day
        assert course.history.first().history_change_reason == "first day moved to 2026-11-25"

    def test_following_with_a_chair_moves_them_all_to_it(self, plan, nurse):
        course = plan()
        first = sessions_of(course)[0]
        session_move(
            by=nurse,
            session=first,
            new_date=MONDAY,
            new_start=NINE,
            chair=4,
            following=True,
            expected_version=1,
            today=TODAY,
        )
        assert {s.chair for s in sessions_of(course)} == {4}

    def test_following_skips_sessions_that_are_not_open(self, plan, nurse):
        course = plan()
        sessions = sessions_of(course)
        sessions[3].status = SessionStatus.CANCELLED
        sessions[3].save()
        session_move(
            by=nurse,
            session=sessions[2],
            new_date=date(2026, 12, 22),
            new_start=NINE,
            following=True,
            expected_version=1,
            today=TODAY,
        )
        sessions[3].refresh_from_db()
        assert local(sessions[3]).date() == date(2026, 12, 22) and sessions[3].version == 1

    def test_stale_version_writes_nothing(self, plan, nurse):
        course = plan()
        first = sessions_of(course)[0]
        with pytest.raises(ValidationError) as caught:
            session_move(
                by=nurse,
                session=first,
                new_date=MONDAY,
                new_start=time(10),
                following=True,
                expected_version=0,
                today=TODAY,
            )
        (message,) = caught.value.messages
        name = nurse.get_full_name()
        assert message.startswith(f"This session was changed by {name} at ") and "(now: Planned)" in message
        assert message.endswith("Nothing was saved — review the session as it is now and try again.")
        assert {(local(s).time(), s.version) for s in sessions_of(course)} == {(NINE, 1)}

    def test_pending_reminders_of_a_moved_session_are_cancelled(self, plan, nurse):
        course = plan()
        first, second = sessions_of(course)[:2]
        reminders = [
            Reminder.objects.create(
                subject_key=f"upcoming_infusion:{session.uuid}:2026-11-20",
                kind="upcoming_infusion",
                patient=session.patient,
                session=session,
                due_at=datetime(2026, 11, 20, 13, tzinfo=UTC),
                message="Infusion on Monday",
                role="nurse",
            )
            for session in (first, second)
        ]
        session_move(by=nurse, session=first, new_date=MONDAY, new_start=time(10), expected_version=1, today=TODAY)
        statuses = [Reminder.objects.get(pk=r.pk).status for r in reminders]
        assert statuses == [ReminderStatus.CANCELLED, ReminderStatus.PENDING]

    def test_a_new_time_clears_the_confirmation_a_new_chair_does_not(self, plan, nurse):
        first = sessions_of(plan())[0]
        session_set_status(by=nurse, session=first, status="confirmed", expected_version=1)
        session_move(by=nurse, session=first, new_date=MONDAY, new_start=NINE, chair=2, expected_version=2, today=TODAY)
        first.refresh_from_db()
        assert (first.status, first.version) == (SessionStatus.CONFIRMED, 3)
        session_move(by=nurse, session=first, new_date=MONDAY, new_start=time(10), expected_version=3, today=TODAY)
        first.refresh_from_db()
        assert first.status == SessionStatus.PLANNED
        assert first.history.first().history_change_reason.endswith("confirmation cleared")

    def test_chair_only_change_keeps_reminders(self, plan, nurse):
        first = sessions_of(plan())[0]
        reminder = Reminder.objects.create(
            subject_key="upcoming_infusion:x:2026-11-20",
            kind="upcoming_infusion",
            patient=first.patient,
            session=first,
            due_at=datetime(2026, 11, 20, 13, tzinfo=UTC),
            message="Infusion on Monday",
            role="nurse",
        )
        session_move(by=nurse, session=first, new_date=MONDAY, new_start=NINE, chair=2, expected_version=1, today=TODAY)
        reminder.refresh_from_db()
        assert reminder.status == ReminderStatus.PENDING

    def test_into_an_occupied_chair_is_refused(self, plan, other_order, nurse):
        plan()
        other = sessions_of(plan(order=other_order, chair=2))[0]
        with pytest.raises(ValidationError) as caught:
            session_move(
                by=nurse, session=other, new_date=MONDAY, new_start=NINE, chair=1, expected_version=1, today=TODAY
            )
        assert "chair" in caught.value.message_dict
        other.refresh_from_db()
        assert (other.chair, other.version) == (2, 1)

    def test_onto_the_patients_other_day_is_refused(self, plan, nurse):
        first = sessions_of(plan())[0]
        with pytest.raises(ValidationError) as caught:
            session_move(
                by=nurse,
                session=first,
                new_date=date(2026, 11, 24),
                new_start=time(14),
                chair=2,
                expected_version=1,
                today=TODAY,
            )
        assert "new_date" in caught.value.message_dict

    def test_earlier_cycle_warns(self, plan, nurse):
        course = plan()
        cycle2_day1 = sessions_of(course)[2]
        with pytest.raises(WarningsNotAccepted, match="25 days after cycle 1"):
            session_move(
                by=nurse,
                session=cycle2_day1,
                new_date=date(2026, 12, 18),
                new_start=NINE,
                following=True,
                expected_version=1,
                today=TODAY,
            )
        assert Cycle.objects.get(course=course, number=2).start_date == date(2026, 12, 21)
        session_move(
            by=nurse,
            session=cycle2_day1,
            new_date=date(2026, 12, 18),
            new_start=NINE,
            following=True,
            expected_version=1,
            today=TODAY,
            accept_warnings=True,
        )
        assert Cycle.objects.get(course=course, number=2).start_date == date(2026, 12, 18)

    def test_a_day_moved_apart_from_its_cycle_warns_until_accepted(self, plan, nurse):
        # 2 g/kg over 2 days: cycle 1 is Mon 23 and Tue 24 Nov. Day 2 moved to Thu 26 Nov.
        course = plan()
        day2 = sessions_of(course)[1]
        with pytest.raises(WarningsNotAccepted) as caught:
            session_move(
                by=nurse, session=day2, new_date=date(2026, 11, 26), new_start=NINE, expected_version=1, today=TODAY
            )
        assert caught.value.warnings == (
            f"{course.patient.mrn} cycle 1 would no longer run on consecutive days (day 1 Mon 2026-11-23, "
            "day 2 Thu 2026-11-26); IVIG labels: a cycle's dose divided over 2–5 consecutive days.",
        )
        day2.refresh_from_db()
        assert (local(day2).date(), day2.version) == (date(2026, 11, 24), 1)  # nothing written
        session_move(
            by=nurse,
            session=day2,
            new_date=date(2026, 11, 26),
            new_start=NINE,
            expected_version=1,
            today=TODAY,
            accept_warnings=True,
        )
        day2.refresh_from_db()
        assert local(day2).date() == date(2026, 11, 26)
        # The history column is short: the accepted warning is kept as far as it fits.
        assert f"; accepted: {course.patient.mrn} cycle 1 would" in day2.history.first().history_change_reason

    def test_day_1_moved_before_day_2_warns_and_a_day_moved_back_next_to_it_does_not(self, plan, nurse):
        course = plan()
        day1, day2 = sessions_of(course)[:2]
        with pytest.raises(WarningsNotAccepted, match="day 1 Wed 2026-11-25, day 2 Tue 2026-11-24"):
            session_move(
                by=nurse, session=day1, new_date=date(2026, 11, 25), new_start=NINE, expected_version=1, today=TODAY
            )
        # Day 2 moved to another hour of the day after day 1 is still consecutive: no warning.
        session_move(by=nurse, session=day2, new_date=date(2026, 11, 24), new_start=time(11), expected_version=1,
                     today=TODAY)  # fmt: skip
        day2.refresh_from_db()
        assert local(day2).time() == time(11)

    def test_into_the_past_is_refused(self, plan, nurse):
        first = sessions_of(plan())[0]
        with pytest.raises(ValidationError) as caught:
            session_move(
                by=nurse,
                session=first,
                new_date=TODAY - timedelta(days=1),
                new_start=NINE,
                expected_version=1,
                today=TODAY,
            )
        assert "new_date" in caught.value.message_dict

    def test_nothing_to_change_is_refused(self, plan, nurse):
        first = sessions_of(plan())[0]
        with pytest.raises(ValidationError, match="already"):
            session_move(by=nurse, session=first, new_date=MONDAY, new_start=NINE, expected_version=1, today=TODAY)

    def test_a_completed_session_is_not_moved(self, plan, nurse):
        first = sessions_of(plan())[0]
        first.status = SessionStatus.COMPLETED
        first.save()
        with pytest.raises(ValidationError, match="cannot be moved"):
            session_move(by=nurse, session=first, new_date=MONDAY, new_start=time(10), expected_version=1, today=TODAY)

    def test_moving_across_fall_back_keeps_the_local_time(self, plan, nurse):
        course = plan(first_day=date(2026, 10, 26), cycles=1, today=date(2026, 10, 1))
        first = sessions_of(course)[0]
        session_move(
            by=nurse,
            session=first,
            new_date=date(2026, 11, 2),
            new_start=NINE,
            following=True,
            expected_version=1,
            today=date(2026, 10, 1),
        )
        assert [(local(s).date(), local(s).time()) for s in sessions_of(course)] == [
            (date(2026, 11, 2), NINE),
            (date(2026, 11, 3), NINE),
        ]


# ----------------------------------------------------------------------- status


@pytest.mark.django_db
class TestSessionSetStatus:
    def test_confirm(self, plan, nurse):
        first = sessions_of(plan())[0]
        session = session_set_status(by=nurse, session=first, status="confirmed", expected_version=1)
        assert (session.status, session.version) == (SessionStatus.CONFIRMED, 2)

    def test_cancel_needs_a_reason_and_cancels_reminders(self, plan, nurse):
        first = sessions_of(plan())[0]
        reminder = Reminder.objects.create(
            subject_key="upcoming_infusion:y:2026-11-20",
            kind="upcoming_infusion",
            patient=first.patient,
            session=first,
            due_at=datetime(2026, 11, 20, 13, tzinfo=UTC),
            message="m",
            role="nurse",
        )
        with pytest.raises(ValidationError) as caught:
            session_set_status(by=nurse, session=first, status="cancelled", reason="  ", expected_version=1)
        assert "reason" in caught.value.message_dict
        session_set_status(by=nurse, session=first, status="cancelled", reason="Flu", expected_version=1)
        first.refresh_from_db()
        reminder.refresh_from_db()
        assert (first.status, first.status_reason, first.version) == (SessionStatus.CANCELLED, "Flu", 2)
        assert reminder.status == ReminderStatus.CANCELLED
        assert first.history.first().history_change_reason == "cancelled: Flu"

    def test_missed_only_after_the_start(self, plan, nurse):
        first = sessions_of(plan())[0]
        with pytest.raises(ValidationError, match="not started yet"):
            session_set_status(
                by=nurse,
                session=first,
                status="missed",
                reason="DNA",
                expected_version=1,
                now=first.planned_start - timedelta(minutes=1),
            )
        session = session_set_status(
            by=nurse,
            session=first,
            status="missed",
            reason="Did not attend",
            expected_version=1,
            now=first.planned_start + timedelta(hours=2),
        )
        assert session.status == SessionStatus.MISSED

    @pytest.mark.parametrize("status", ["in_progress", "completed", "planned", "bogus"])
    def test_other_statuses_are_refused(self, plan, nurse, status):
        first = sessions_of(plan())[0]
        with pytest.raises(ValidationError):
            session_set_status(by=nurse, session=first, status=status, expected_version=1)
        first.refresh_from_db()
        assert (first.status, first.version) == (SessionStatus.PLANNED, 1)

    def test_stale_version(self, plan, nurse):
        first = sessions_of(plan())[0]
        with pytest.raises(ValidationError, match=r"This session was changed by .* \(now: Planned\)"):
            session_set_status(by=nurse, session=first, status="confirmed", expected_version=3)

    def test_a_cancelled_session_stays_cancelled(self, plan, nurse):
        first = sessions_of(plan())[0]
        session_set_status(by=nurse, session=first, status="cancelled", reason="r", expected_version=1)
        with pytest.raises(ValidationError, match="only a planned or confirmed"):
            session_set_status(by=nurse, session=first, status="confirmed", expected_version=2)


# ----------------------------------------------------------------------- the unit


@pytest.mark.django_db
class TestUnitSettingsUpdate:
    def test_update(self, nurse):
        unit = unit_settings_update(by=nurse, chairs=8, opens_at=time(7, 30), closes_at=time(19))
        assert (unit.chairs, unit.opens_at, unit.closes_at) == (8, time(7, 30), time(19))
        assert UnitSettings.load().history.first().history_user == nurse

    def test_closing_before_opening_is_refused(self, nurse):
        with pytest.raises(ValidationError) as caught:
            unit_settings_update(by=nurse, opens_at=time(18), closes_at=time(8))
        assert "closes_at" in caught.value.message_dict
        assert UnitSettings.load().opens_at == time(8)

    def test_the_ladder_tolerance_is_at_most_five_minutes(self, nurse):
        assert UnitSettings.load().ladder_tolerance_minutes == 5
        assert unit_settings_update(by=nurse, ladder_tolerance_minutes=0).ladder_tolerance_minutes == 0
        with pytest.raises(ValidationError) as caught:
            unit_settings_update(by=nurse, ladder_tolerance_minutes=6)
        assert "ladder_tolerance_minutes" in caught.value.message_dict
        assert UnitSettings.load().ladder_tolerance_minutes == 0

    def test_fewer_chairs_refused_while_sessions_sit_in_them(self, plan, nurse, frozen_today):
        plan(chair=5)
        with pytest.raises(ValidationError) as caught:
            unit_settings_update(by=nurse, chairs=4)
        assert "chairs" in caught.value.message_dict
        assert unit_settings_update(by=nurse, chairs=5).chairs == 5

    def test_unknown_field_is_a_programming_error(self, nurse):
        with pytest.raises(TypeError):
            unit_settings_update(by=nurse, colour="blue")


@pytest.mark.django_db
@pytest.mark.parametrize(("course_status", "still_to_schedule"), [
    (None, True),
    (CourseStatus.ACTIVE, False),
    (CourseStatus.STOPPED, False),
    (CourseStatus.COMPLETED, False),
])  # fmt: skip
def test_an_order_is_to_schedule_until_a_course_is_booked_from_it(course_status, still_to_schedule):
    """dosing reads a mark scheduling sets when a course is saved (it may not import scheduling):
    this holds the mark to the courses themselves. An order whose course ended has had its course."""
    order = DoseOrderFactory(verified=True)
    DoseOrderFactory()  # awaiting verification: never to schedule
    if course_status:
        course = CourseFactory(order=order, status=course_status)
        order.refresh_from_db()
        assert order.course_booked_at == course.created_at
        CourseFactory(order=order, status=CourseStatus.ACTIVE)  # a later booking keeps the first time
        order.refresh_from_db()
        assert order.course_booked_at == course.created_at
    assert list(DoseOrder.objects.to_schedule()) == ([order] if still_to_schedule else [])
    anti_join = DoseOrder.objects.administrable().filter(courses__isnull=True)
    assert set(DoseOrder.objects.to_schedule()) == set(anti_join)
