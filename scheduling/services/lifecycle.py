"""A course follows its order: its booked sessions take the order's plan as it is now, it is
completed when its last cycle is given, and it is closed when its order is cancelled or a new
course replaces it. A course that ends takes its forward-looking reminders (upcoming infusions,
pre-cycle labs, overdue cycles) with it; the checks after cycles already given stay, since the
thrombosis window runs on after the last infusion.

Each write runs in the caller's transaction and leaves who and why in the history."""

from datetime import date, datetime, time

from django.db.models import Q
from django.utils import timezone

from accounts.audit import audited_save
from accounts.transactions import service
from dosing.first_infusion import FirstInfusion
from dosing.models import DoseOrder, SiteSettings
from dosing.planning import as_first_infusion, first_infusion_of

from .. import timing
from ..models import Course, CourseStatus, Cycle, InfusionSession, Reminder, ReminderStatus, SessionStatus, UnitSettings
from .sweep import session_changed

BOOKED = (SessionStatus.PLANNED, SessionStatus.CONFIRMED)
# What a course that has ended no longer needs reminding of.
FORWARD_KINDS = (
    timing.ReminderKind.UPCOMING_INFUSION,
    timing.ReminderKind.LABS_CREATININE_BUN,
    timing.ReminderKind.LABS_HB_HCT,
    timing.ReminderKind.CYCLE_OVERDUE,
)
LIVE = (ReminderStatus.PENDING, ReminderStatus.SENT)


def session_minutes(
    order: DoseOrder, unit: UnitSettings, *, first_infusion: FirstInfusion | None = None, site=None
) -> int:
    """A session's booked length: the infusion time of the plan the chair follows (the verified
    plan, held to today's chart; run as a first infusion, its first step held longer, when
    ``first_infusion`` says the session is one) plus the unit's set-up time.

    Example: 288 min (42 -> 84 -> 168 mL/h) + 30 set-up = 318; at the at-risk cap 336 + 30 = 366;
    as a first infusion (first step 2 x 30 min) 310 + 30 = 340.
    """
    plan = order.administration_plan
    if first_infusion is not None:
        plan = as_first_infusion(plan, first_infusion, site or SiteSettings.load())
    return int(plan["infusion_minutes"]) + unit.setup_minutes


def booked_session_minutes(session: InfusionSession, order: DoseOrder, unit: UnitSettings, site) -> int:
    """``session_minutes`` for one booked session, judged as a first infusion for its own day
    (``dosing.planning.first_infusion_of``), as the chair will run it."""
    day = timezone.localtime(session.planned_start).date()
    mark = first_infusion_of(session.patient, order.product, day, site)
    return session_minutes(order, unit, first_infusion=mark, site=site)


def sessions_follow_order(*, order: DoseOrder, by=None, now: datetime | None = None) -> int:
    """Booked sessions (planned or confirmed, not yet started) of the order's courses take the
    length of the order's plan as it is now; a verification or a lower cap reaches them without
    re-booking. Returns how many changed."""
    now = now or timezone.now()
    unit, site = UnitSettings.load(), SiteSettings.load()
    changed = 0
    sessions = InfusionSession.objects.select_for_update().filter(
        cycle__course__order=order, status__in=BOOKED, planned_start__gt=now
    )
    for session in sessions.select_related("patient"):
        minutes = booked_session_minutes(session, order, unit, site)
        if session.expected_minutes == minutes:
            continue
        before = session.expected_minutes
        session.expected_minutes = minutes
        session.version += 1
        # A session's length is nothing the risk rules read: no recompute for it.
        session._skip_flags_recompute = True
        audited_save(session, by=by, reason=f"length follows the order's plan: {before} → {minutes} min")
        changed += 1
    return changed


def _cancel_forward_reminders(course: Course) -> int:
    in_course = Q(cycle__course=course) | Q(session__cycle__course=course)
    return (
        Reminder.objects.filter(in_course, status__in=LIVE, kind__in=[kind.value for kind in FORWARD_KINDS])
        .exclude(status=ReminderStatus.DONE)
        .update(status=ReminderStatus.CANCELLED)
    )


@service
def course_close(*, course: Course, by, reason: str, now: datetime | None = None) -> Course:
    """Stop an active course: its booked sessions still ahead are cancelled with ``reason``, and
    its forward-looking reminders with them. Sessions under way or given are kept as they are.

    Example: the order is cancelled on 10 Feb → the course is stopped ("order cancelled: ...")
    and its cycles from 17 Feb on are cancelled.
    """
    now = now or timezone.now()
    course = Course.objects.select_for_update().get(pk=course.pk)
    if course.status != CourseStatus.ACTIVE:
        return course
    for session in InfusionSession.objects.select_for_update().filter(
        cycle__course=course, status__in=BOOKED, planned_start__gt=now
    ):
        session.status = SessionStatus.CANCELLED
        session.status_reason = reason[:300]
        session.version += 1
        audited_save(session, by=by, reason=f"cancelled: {reason}")
        session_changed(session)
    course.status = CourseStatus.STOPPED
    course.status_reason = reason[:300]
    audited_save(course, by=by, reason=f"closed: {reason}")
    _cancel_forward_reminders(course)
    return course


def course_settle(*, course: Course, by) -> Course:
    """Complete a course with a planned number of cycles once none of its days is still open and
    its last cycle was given (at least one day completed). Open-ended courses end by closing.

    Example: 3 cycles of 2 days; the last day of cycle 3 is completed → the course is completed,
    and the overdue check stops looking for a cycle 4.
    """
    course = Course.objects.select_for_update().get(pk=course.pk)
    if course.status != CourseStatus.ACTIVE or course.planned_cycles is None:
        return course
    sessions = InfusionSession.objects.filter(cycle__course=course)
    if sessions.filter(status__in=[*BOOKED, SessionStatus.IN_PROGRESS]).exists():
        return course
    last_given = sessions.filter(status=SessionStatus.COMPLETED).order_by("-cycle__number").first()
    if last_given is None or last_given.cycle.number < course.planned_cycles:
        return course
    course.status = CourseStatus.COMPLETED
    course.status_reason = f"all {course.planned_cycles} cycles given"
    audited_save(course, by=by, reason="completed: its last cycle was given")
    _cancel_forward_reminders(course)
    return course


def next_cycle_on(patient, today: date) -> date | None:
    """The first day of the cycle being given or next to be given: a cycle counts while any of
    its days is still open today or later, so day 2 of a cycle is judged by the cycle's first
    day, as day 1 was. The risk rules read it (registered in scheduling.signals).

    Example: cycle 14-15 Dec; on 15 Dec (day 2 planned) -> 14 Dec; on 16 Dec -> the next cycle's day.
    """
    start_of_today = timezone.make_aware(datetime.combine(today, time.min))
    return (
        Cycle.objects.filter(
            course__patient=patient,
            sessions__status__in=[*BOOKED, SessionStatus.IN_PROGRESS],
            sessions__planned_start__gte=start_of_today,
        )
        .order_by("start_date")
        .values_list("start_date", flat=True)
        .first()
    )


def courses_replaced_by(order: DoseOrder) -> list[Course]:
    """The patient's active courses that a course booked from ``order`` replaces: every active
    course of another order (one regimen at a time)."""
    return list(
        Course.objects.filter(patient_id=order.patient_id, status=CourseStatus.ACTIVE)
        .exclude(order=order)
        .select_related("order")
        .order_by("first_day")
    )
