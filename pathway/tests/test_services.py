"""Stewardship reviews and treatment courses, with worked clinical examples.

Time is frozen at Sunday 22 Nov 2026, noon in New York. The worked patient: 52-year-old woman
with dermatomyositis, 70 kg, Octagam 10 % 2 g/kg over 2 days every 4 weeks."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from dosing.authorisation import months_after
from dosing.models import ObjectiveMeasure, TreatmentCourse
from dosing.tests.factories import DoseOrderFactory
from pathway.models import Review
from pathway.services import review_record, review_void
from scheduling.models import CourseStatus, InfusionSession, SessionStatus
from scheduling.tests.factories import book_course
from scheduling.timing import add_months
from visits import tis

TODAY = date(2026, 11, 22)


@pytest.fixture(autouse=True)
def clinic_time(settings, frozen_today):
    settings.TIME_ZONE = "America/New_York"


@pytest.fixture
def order(dm_patient, physician):
    return DoseOrderFactory(patient=dm_patient, prescribed_by=physician, verified=True)


@pytest.fixture
def course(order):
    return order.treatment_course


def starts(booked) -> list[date]:
    return list(booked.cycles.order_by("number").values_list("start_date", flat=True))


def test_measures_are_the_tis_core_set_and_months_follow_scheduling():
    assert tuple(ObjectiveMeasure.values) == tis.MEASURES
    for day in (date(2026, 1, 5), date(2026, 8, 31), date(2027, 8, 31), date(2026, 1, 31)):
        for months in (1, 6, 12):
            assert months_after(day, months) == add_months(day, months)


@pytest.mark.django_db
class TestFirstOrderStartsTheCourse:
    def test_site_defaults(self, order, course):
        assert order.treatment_course_started if hasattr(order, "treatment_course_started") else True
        assert course.started_on == TODAY
        assert course.authorised_until == course.next_review_due == date(2027, 5, 22)  # + 6 months
        assert course.max_dose_g_per_kg == course.current_dose_g_per_kg == Decimal("2")
        assert course.interval_weeks == course.current_interval_weeks == 4
        assert course.objective_measures == list(tis.MEASURES)
        assert course.indication_slug == "dermatomyositis" and course.status == "active"

    def test_a_second_order_joins_the_course(self, order, course, dm_patient):
        again = DoseOrderFactory(patient=dm_patient)
        assert again.treatment_course == course and again.authorisation_reason == ""
        assert TreatmentCourse.objects.filter(patient=dm_patient).count() == 1

    def test_an_order_after_the_window_needs_a_reason(self, course, dm_patient):
        TreatmentCourse.objects.filter(pk=course.pk).update(
            started_on=date(2026, 5, 21), authorised_until=date(2026, 11, 21)
        )
        with pytest.raises(ValidationError) as refused:
            DoseOrderFactory(patient=dm_patient)
        message = refused.value.message_dict["authorisation_reason"][0]
        assert message.startswith("The course's authorisation ended on 2026-11-21 (ordered 2026-11-22).")
        assert DoseOrderFactory._meta.model.objects.filter(patient=dm_patient).count() == 1  # nothing written
        placed = DoseOrderFactory(patient=dm_patient, authorisation_reason="Review booked 1 Dec; flare meanwhile")
        assert placed.authorisation_reason == "Review booked 1 Dec; flare meanwhile"

    def test_above_the_maximum_or_in_trial_off_needs_a_reason(self, course, dm_patient):
        TreatmentCourse.objects.filter(pk=course.pk).update(max_dose_g_per_kg=Decimal("1"))
        with pytest.raises(ValidationError, match="2 g/kg is above the authorised maximum of 1 g/kg"):
            DoseOrderFactory(patient=dm_patient)
        TreatmentCourse.objects.filter(pk=course.pk).update(
            max_dose_g_per_kg=Decimal("2"), status="trial_off", status_reason="stable"
        )
        with pytest.raises(ValidationError, match="trial off"):
            DoseOrderFactory(patient=dm_patient)


@pytest.mark.django_db
class TestReview:
    def test_step_down_to_1_g_per_kg_every_6_weeks_moves_the_next_cycle(self, order, course, physician, make_user):
        nurse = make_user("nurse")
        booked = book_course(order, nurse, date(2026, 11, 2), cycles=4)  # 2 Nov given; 30 Nov, 28 Dec, 25 Jan
        first = InfusionSession.objects.filter(cycle__course=booked, cycle__number=1)
        first.update(status=SessionStatus.COMPLETED)
        review = review_record(
            by=physician,
            course=course,
            expected_version=course.version,
            decision="step_down",
            dose_g_per_kg=Decimal("1"),
            interval_weeks=6,
            reason="Stable 6 months, TIS major improvement: ProDERM extension dose",
        )
        course.refresh_from_db()
        assert course.current_dose_g_per_kg == course.max_dose_g_per_kg == Decimal("1")
        assert course.current_interval_weeks == 6
        assert course.authorised_until == course.next_review_due == date(2027, 11, 22)  # renewed 12 months
        # The next cycle moves from week 4 (30 Nov) to week 6 (14 Dec) after 2 Nov; the rest follow.
        assert starts(booked) == [date(2026, 11, 2), date(2026, 12, 14), date(2027, 1, 25), date(2027, 3, 8)]
        booked.refresh_from_db()
        assert booked.interval_weeks == 6
        # Each line names the day the cycle was booked on before the review, not the day the move
        # of an earlier cycle (which takes the later ones with it) had just put it on.
        assert review.schedule_changes == [
            "Cycle 2 moved from 2026-11-30 to 2026-12-14.",
            "Cycle 3 moved from 2026-12-28 to 2027-01-25.",
            "Cycle 4 moved from 2027-01-25 to 2027-03-08.",
        ]
        # The verified order is not rewritten: it asks the prescriber for an order at the new dose.
        order.refresh_from_db()
        assert order.dose_g_per_kg == Decimal("2") and order.status == "verified"
        assert "set this course's dose to 1 g/kg" in order.course_dose_change
        assert review.evidence["course"]["current_dose_g_per_kg"] == "2"  # what the page showed
        assert course.history.first().history_change_reason.startswith("review 2026-11-22: step down")

    def test_stop_cancels_the_booked_sessions_with_the_reason(self, order, course, physician, make_user):
        booked = book_course(order, make_user("nurse"), date(2026, 11, 30), cycles=2)
        review_record(
            by=physician, course=course, expected_version=None, decision="stop", reason="No benefit at 6 months"
        )
        course.refresh_from_db()
        booked.refresh_from_db()
        assert course.status == "stopped" and course.status_reason == "No benefit at 6 months"
        assert booked.status == CourseStatus.STOPPED
        sessions = InfusionSession.objects.filter(cycle__course=booked)
        assert {s.status for s in sessions} == {SessionStatus.CANCELLED}
        assert all("No benefit at 6 months" in s.status_reason for s in sessions)

    def test_trial_off_keeps_a_reassessment_due(self, order, course, physician, make_user):
        book_course(order, make_user("nurse"), date(2026, 11, 30), cycles=1)
        review = review_record(
            by=physician, course=course, expected_version=None, decision="trial_off", reason="Stable 12 months"
        )
        course.refresh_from_db()
        assert course.status == "trial_off" and course.next_review_due == date(2027, 5, 22)
        assert review.next_review_due == date(2027, 5, 22)
        assert not InfusionSession.objects.filter(patient=course.patient, status=SessionStatus.PLANNED).exists()

    def test_continue_renews_for_12_months(self, course, physician):
        review_record(by=physician, course=course, expected_version=1, decision="continue", reason="Improving")
        course.refresh_from_db()
        assert course.authorised_until == date(2027, 11, 22) and course.version == 2

    @pytest.mark.parametrize(
        ("fields", "field", "words"),
        [
            ({"decision": "continue", "reason": " "}, "reason", "Give the reason"),
            ({"decision": "step_down", "reason": "x"}, "dose_g_per_kg", "lower dose, a longer interval"),
            ({"decision": "step_down", "reason": "x", "dose_g_per_kg": Decimal("2.5")}, "dose_g_per_kg", "lowers"),
            ({"decision": "step_down", "reason": "x", "interval_weeks": 3}, "interval_weeks", "lengthens"),
            ({"decision": "stop", "reason": "x", "dose_g_per_kg": Decimal("1")}, "decision", "step down"),
            ({"decision": "pause", "reason": "x"}, "decision", "Choose"),
            (
                {"decision": "continue", "reason": "x", "reviewed_on": TODAY + timedelta(days=1)},
                "reviewed_on",
                "future",
            ),
        ],
    )
    def test_refusals_name_the_field_and_write_nothing(self, course, physician, fields, field, words):
        with pytest.raises(ValidationError) as refused:
            review_record(by=physician, course=course, expected_version=1, **fields)
        assert words in refused.value.message_dict[field][0]
        assert not Review.objects.exists()
        course.refresh_from_db()
        assert course.version == 1

    def test_a_stale_page_is_refused(self, course, physician):
        review_record(by=physician, course=course, expected_version=1, decision="continue", reason="ok")
        with pytest.raises(ValidationError, match="changed by"):
            review_record(by=physician, course=course, expected_version=1, decision="stop", reason="late page")

    def test_void_keeps_the_review_with_its_reason(self, course, physician):
        review = review_record(by=physician, course=course, expected_version=1, decision="continue", reason="ok")
        with pytest.raises(ValidationError):
            review_void(by=physician, review=review, reason="")
        review_void(by=physician, review=review, reason="Entered on the wrong patient")
        review.refresh_from_db()
        assert review.is_voided and review.void_reason == "Entered on the wrong patient"
        assert review.history.count() == 2


@pytest.mark.django_db
def test_grams_per_cycle_come_from_the_volumes_recorded(order, course, make_user):
    from pathway.evidence import grams_per_cycle
    from scheduling.models import InfusionRecord

    nurse = make_user("nurse")
    booked = book_course(order, nurse, date(2026, 11, 2), cycles=2)
    day1, day2 = InfusionSession.objects.filter(cycle__course=booked, cycle__number=1).order_by("day_number")
    InfusionSession.objects.filter(pk__in=[day1.pk, day2.pk]).update(status=SessionStatus.COMPLETED)
    # Day 1: 650.0 mL of Octagam 10 % (100 mg/mL) given = 65 g; day 2 completed without a volume:
    # the order's planned 70 g a day counts, and the row says so.
    InfusionRecord.objects.create(session=day1, volume_given_ml=Decimal("650.0"))
    assert grams_per_cycle(course) == [
        {"start": "2026-11-02", "number": 1, "days_given": 2, "grams": "135", "basis": "planned and recorded"}
    ]
    InfusionRecord.objects.create(session=day2, volume_given_ml=Decimal("690.0"))
    assert grams_per_cycle(course)[0]["grams"] == "134"  # 65 + 69
    assert grams_per_cycle(course)[0]["basis"] == "recorded"
