"""Treatment courses: the authorisation window an order is placed on (issue 15, point 1).

A first order for an indication starts the patient's course with the site's defaults
(``treatment_course_start``); a physician edits or renews it (``treatment_course_update``); a
stewardship review's decision changes it (``treatment_course_decide``, called by
pathway.services.review_record in the same transaction as the rescheduling it causes). Each
write checks the version the page showed, saves through ``audited_save`` with the reason, and
raises the version. Dates: dosing.authorisation (pure)."""

from datetime import date
from decimal import Decimal

from django.core.exceptions import ValidationError

from accounts.audit import audited_save, check_version
from accounts.transactions import service
from patients.models import Patient

from ..authorisation import authorisation_needs, first_window, renewed_window
from ..models import Indication, SiteSettings, TreatmentCourse, TreatmentCourseStatus

CONTINUE, STEP_DOWN, TRIAL_OFF, STOP = "continue", "step_down", "trial_off", "stop"
DECISIONS = (CONTINUE, STEP_DOWN, TRIAL_OFF, STOP)


def course_for(patient: Patient, indication_slug: str) -> TreatmentCourse | None:
    """The patient's course for the indication an order links to: the one in force (active or in
    trial off), else the latest stopped one; None when there has never been one."""
    courses = TreatmentCourse.objects.filter(patient=patient, indication_slug=indication_slug)
    in_force = courses.exclude(status=TreatmentCourseStatus.STOPPED).first()
    return in_force or courses.order_by("-started_on", "-pk").first()


def needs_for_order(course: TreatmentCourse, *, dose_g_per_kg: Decimal, ordered_on: date) -> list[str]:
    """Why an order on ``course`` is outside its authorisation (dosing.authorisation)."""
    return authorisation_needs(
        ordered_on=ordered_on,
        authorised_until=course.authorised_until,
        dose_g_per_kg=Decimal(dose_g_per_kg),
        max_dose_g_per_kg=course.max_dose_g_per_kg,
        status=course.status,
    )


def new_course(*, by, patient: Patient, indication: Indication, dose_g_per_kg: Decimal, today: date) -> TreatmentCourse:
    """The course a first order for the indication starts, unsaved: started today, authorised
    until today + review_first_months, maximum the dose ordered, the indication's interval (4
    weeks where it gives none), the six objective measures."""
    site = SiteSettings.load()
    until = first_window(today, site.review_first_months)
    weeks = indication.interval_weeks_min or 4
    return TreatmentCourse(
        patient=patient,
        indication_slug=indication.slug,
        indication_name=indication.name,
        started_on=today,
        authorised_until=until,
        max_dose_g_per_kg=Decimal(dose_g_per_kg),
        interval_weeks=weeks,
        current_dose_g_per_kg=Decimal(dose_g_per_kg),
        current_interval_weeks=weeks,
        next_review_due=until,
        created_by=by,
    )


def treatment_course_start(*, by, course: TreatmentCourse) -> TreatmentCourse:
    """Save a course from ``new_course`` (inside the order's service transaction)."""
    audited_save(course, by=by, reason=f"started with the first order: authorised until {course.authorised_until}")
    return course


def _locked(course: TreatmentCourse, expected_version: int | None) -> TreatmentCourse:
    locked = TreatmentCourse.objects.select_for_update().select_related("patient").get(pk=course.pk)
    check_version(locked, expected_version, what="treatment course", state=locked.get_status_display())
    return locked


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Give the reason: it is kept in the course's history."})
    return reason


@service
def treatment_course_update(
    *,
    by,
    course: TreatmentCourse,
    expected_version: int | None,
    authorised_until: date,
    max_dose_g_per_kg: Decimal,
    interval_weeks: int,
    objective_measures: list[str],
    next_review_due: date,
    reason: str,
) -> TreatmentCourse:
    """A physician edits or renews the authorisation (the window, maximum, interval, measures or
    review date), with a reason kept in the history. The dose and interval the next orders take
    follow a lower maximum or a longer interval; they are otherwise changed by a review."""
    reason = _reason(reason)
    course = _locked(course, expected_version)
    course.authorised_until = authorised_until
    course.max_dose_g_per_kg = Decimal(max_dose_g_per_kg)
    course.interval_weeks = interval_weeks
    course.objective_measures = list(objective_measures)
    course.next_review_due = next_review_due
    course.current_dose_g_per_kg = min(course.current_dose_g_per_kg, course.max_dose_g_per_kg)
    course.current_interval_weeks = max(course.current_interval_weeks, interval_weeks)
    course.version += 1
    audited_save(course, by=by, reason=f"authorisation edited: {reason}")
    return course


@service
def treatment_course_decide(
    *,
    by,
    course: TreatmentCourse,
    expected_version: int | None,
    decision: str,
    reviewed_on: date,
    reason: str,
    dose_g_per_kg: Decimal | None = None,
    interval_weeks: int | None = None,
) -> TreatmentCourse:
    """Apply a stewardship review's decision to the course and return it.

    - continue: active, authorised until (and next review on) reviewed_on + review_every_months;
    - step down: a lower dose and/or a longer interval become the authorised maximum and interval
      and what the next orders take; the window is renewed as for continue;
    - trial off: IVIG paused; a reassessment falls due review_first_months after the review;
    - stop: the course ends; nothing more falls due.

    Example: reviewed 2026-07-01, 2 g/kg every 4 weeks stepped down to 1 g/kg every 6 weeks ->
    max and next dose 1 g/kg, interval 6 weeks, authorised until 2027-07-01."""
    errors = {}
    if decision not in DECISIONS:
        errors["decision"] = "Choose continue, step down, trial off or stop."
    if not (reason or "").strip():
        errors["reason"] = "Give the reason for the decision: it is kept in the course's history."
    if decision == STEP_DOWN:
        errors |= _step_down_errors(course, dose_g_per_kg, interval_weeks)
    elif decision in DECISIONS and _changes_dose_or_interval(course, decision, dose_g_per_kg, interval_weeks):
        errors["decision"] = "A new dose or interval is a step down: choose step down, or leave them empty."
    if errors:
        raise ValidationError(errors)
    course = _locked(course, expected_version)
    site = SiteSettings.load()
    reason = reason.strip()
    if decision in (CONTINUE, STEP_DOWN):
        if decision == STEP_DOWN:
            if dose_g_per_kg is not None:
                course.current_dose_g_per_kg = course.max_dose_g_per_kg = Decimal(dose_g_per_kg)
            if interval_weeks is not None:
                course.current_interval_weeks = course.interval_weeks = interval_weeks
        course.status, course.status_reason = TreatmentCourseStatus.ACTIVE, ""
        course.authorised_until = course.next_review_due = renewed_window(reviewed_on, site.review_every_months)
    elif decision == TRIAL_OFF:
        course.status, course.status_reason = TreatmentCourseStatus.TRIAL_OFF, reason[:300]
        course.next_review_due = first_window(reviewed_on, site.review_first_months)
    else:
        course.status, course.status_reason = TreatmentCourseStatus.STOPPED, reason[:300]
    course.version += 1
    audited_save(course, by=by, reason=f"review {reviewed_on}: {decision.replace('_', ' ')}: {reason}")
    return course


def _changes_dose_or_interval(course: TreatmentCourse, decision: str, dose_g_per_kg, interval_weeks) -> bool:
    """Continue may restate the course's dose and interval; trial off and stop take neither."""
    if dose_g_per_kg is None and interval_weeks is None:
        return False
    if decision != CONTINUE:
        return True
    return (dose_g_per_kg is not None and Decimal(dose_g_per_kg) != course.current_dose_g_per_kg) or (
        interval_weeks is not None and interval_weeks != course.current_interval_weeks
    )


def _step_down_errors(course: TreatmentCourse, dose_g_per_kg, interval_weeks) -> dict:
    errors = {}
    if dose_g_per_kg is None and interval_weeks is None:
        return {"dose_g_per_kg": "A step down gives a lower dose, a longer interval, or both."}
    if dose_g_per_kg is not None:
        dose = Decimal(dose_g_per_kg)
        current = course.current_dose_g_per_kg
        if dose <= 0 or dose.as_tuple().exponent < -2:
            errors["dose_g_per_kg"] = "Give the dose in g/kg per cycle, above 0, to two decimals at most."
        elif dose > current or (dose == current and interval_weeks is None):
            errors["dose_g_per_kg"] = (
                f"A step down lowers the dose: the course is at {current.normalize():f} g/kg per cycle."
            )
    if interval_weeks is not None:
        current = course.current_interval_weeks
        if not 1 <= interval_weeks <= 52:
            errors["interval_weeks"] = "Give the interval in whole weeks, 1 to 52."
        elif interval_weeks < current or (interval_weeks == current and dose_g_per_kg is None):
            errors["interval_weeks"] = f"A step down lengthens the interval: the course is every {current} weeks."
    return errors
