"""Record a stewardship review's decision (issue 15, point 2), in one transaction:

1. the treatment course changes (dosing.services.treatment_courses.treatment_course_decide:
   continue renews the window, step down sets the dose and/or interval the next orders take,
   trial off and stop change its status), saved with the reason;
2. the chairs follow: a longer interval moves the future booked cycles of the active booked
   courses on this treatment course (scheduling.services.sessions.session_move, with its
   conflict checks; a warning not accepted refuses the whole review); trial off and stop close
   those courses, cancelling the booked sessions ahead with the reason
   (scheduling.services.lifecycle.course_close);
3. the review is saved with what the review page showed (pathway.evidence) and what moved.

A lower dose never rewrites a verified order: the order shows the new dose as a request to the
prescriber (DoseOrder.course_dose_change) and the order form proposes it."""

from datetime import date, datetime, timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.audit import audited_save
from accounts.transactions import service
from dosing.models import TreatmentCourse
from dosing.services.treatment_courses import STEP_DOWN, STOP, TRIAL_OFF, treatment_course_decide
from scheduling.models import CourseStatus, InfusionSession
from scheduling.services.booking import clinic_zone, local_clock
from scheduling.services.lifecycle import course_close
from scheduling.services.sessions import MOVABLE_STATUSES, session_move

from .evidence import review_evidence, scheduling_courses
from .models import Review


@service
def review_record(
    *,
    by,
    course: TreatmentCourse,
    expected_version: int | None,
    decision: str,
    reason: str,
    reviewed_on: date | None = None,
    dose_g_per_kg: Decimal | None = None,
    interval_weeks: int | None = None,
    accept_warnings: bool = False,
    now: datetime | None = None,
) -> Review:
    """Record the decision and apply it (see the module). Returns the review.

    Example: a DM course at 2 g/kg every 4 weeks, cycles booked 2027-01-04, 02-01 and 03-01;
    on 2026-12-10 "step down to 1 g/kg every 6 weeks" -> the course's next orders take 1 g/kg,
    and the cycles of 02-01 and 03-01 move to 02-15 and 03-29 (6 and 12 weeks after 01-04)."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    reviewed_on = reviewed_on or today
    if reviewed_on > today:
        raise ValidationError(
            {"reviewed_on": f"{reviewed_on:%Y-%m-%d} is in the future; a review is recorded when held."}
        )
    evidence = review_evidence(course, today)
    before_interval = course.current_interval_weeks
    course = treatment_course_decide(
        by=by,
        course=course,
        expected_version=expected_version,
        decision=decision,
        reviewed_on=reviewed_on,
        reason=reason,
        dose_g_per_kg=dose_g_per_kg,
        interval_weeks=interval_weeks,
    )
    reason = reason.strip()
    changes = []
    if decision == STEP_DOWN and course.current_interval_weeks != before_interval:
        changes = _reschedule(course, by=by, today=today, accept_warnings=accept_warnings)
    elif decision in (TRIAL_OFF, STOP):
        changes = _close_booked(course, by=by, reason=f"stewardship review, {decision.replace('_', ' ')}: {reason}")
    review = Review(
        course=course,
        reviewed_on=reviewed_on,
        by=by,
        decision=decision,
        dose_g_per_kg=dose_g_per_kg if decision == STEP_DOWN else None,
        interval_weeks=interval_weeks if decision == STEP_DOWN else None,
        reason=reason[:300],
        evidence=evidence,
        authorised_until=course.authorised_until,
        next_review_due=None if decision == STOP else course.next_review_due,
        schedule_changes=changes,
    )
    audited_save(review, by=by, reason=f"{review.get_decision_display()}: {reason}")
    return review


def _reschedule(course: TreatmentCourse, *, by, today: date, accept_warnings: bool) -> list[str]:
    """Space the future booked cycles of each active booked course ``current_interval_weeks``
    apart, counted from the last cycle before them (or from the first future one when none was
    given yet), moving each cycle's days together and everything after with them."""
    weeks = course.current_interval_weeks
    tz = clinic_zone()
    changes = []
    for booked in scheduling_courses(course).filter(status=CourseStatus.ACTIVE).order_by("first_day"):
        cycles = list(booked.cycles.order_by("number"))
        future = [
            cycle
            for cycle in cycles
            if cycle.start_date >= today and cycle.sessions.filter(status__in=MOVABLE_STATUSES).exists()
        ]
        if not future:
            continue
        earlier = [cycle for cycle in cycles if cycle.number < future[0].number]
        anchor = earlier[-1].start_date if earlier else future[0].start_date
        # Moving a cycle takes the later ones with it: each change names the day booked before the review.
        booked_on = {cycle.pk: cycle.start_date for cycle in future}
        for offset, cycle in enumerate(future, start=1 if earlier else 0):
            cycle.refresh_from_db()
            wanted = anchor + timedelta(weeks=weeks * offset)
            if cycle.start_date != wanted:
                first = cycle.sessions.filter(status__in=MOVABLE_STATUSES).order_by("planned_start").first()
                day, clock = local_clock(first.planned_start, tz)
                session_move(
                    by=by,
                    session=first,
                    new_date=day + (wanted - cycle.start_date),
                    new_start=clock,
                    following=True,
                    expected_version=None,
                    accept_warnings=accept_warnings,
                    today=today,
                )
            if booked_on[cycle.pk] != wanted:
                changes.append(f"Cycle {cycle.number} moved from {booked_on[cycle.pk]:%Y-%m-%d} to {wanted:%Y-%m-%d}.")
        # Only once every cycle is in place: the interval checks of the moves above hold each step
        # to the old interval, which a longer gap always meets.
        booked.refresh_from_db()
        booked.interval_weeks = weeks
        audited_save(booked, by=by, reason=f"stewardship review: every {weeks} weeks")
    return changes


def _close_booked(course: TreatmentCourse, *, by, reason: str) -> list[str]:
    changes = []
    for booked in scheduling_courses(course).filter(status=CourseStatus.ACTIVE):
        ahead = InfusionSession.objects.filter(
            cycle__course=booked, status__in=MOVABLE_STATUSES, planned_start__gt=timezone.now()
        ).count()
        course_close(course=booked, by=by, reason=reason)
        changes.append(f"Course from {booked.first_day:%Y-%m-%d} closed: {ahead} booked session(s) cancelled.")
    return changes


@service
def review_void(*, by, review: Review, reason: str) -> Review:
    """Void a review recorded in error, with a reason. It stays on file, struck through, and in
    the history; what it changed on the course is corrected on the course page (or by a new review)."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the review is voided."})
    review = Review.objects.select_for_update().get(pk=review.pk)
    if review.is_voided:
        raise ValidationError("This review is already voided.")
    review.voided_at, review.voided_by, review.void_reason = timezone.now(), by, reason[:300]
    audited_save(review, by=by, reason=f"voided: {reason}")
    return review
