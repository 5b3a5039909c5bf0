"""The reminder sweep: create the reminders the data calls for, cancel those it no longer does,
and say which are due for e-mail.

When a session moves or is cancelled, its pending reminders are cancelled (`session_changed`,
called by the session and course services), and the next sweep creates the ones that fit the
new date (their subject keys differ, so nothing is lost or doubled).

The sweep (`reminders_sweep`) reads the data in a fixed number of batched queries, asks the
pure functions in scheduling/timing.py which reminders are due, and creates each one once: the
subject key is unique, so two sweeps at the same moment cannot double a reminder. It returns
the ids of the reminders due for a first delivery; the Celery task (scheduling/tasks.py) queues
their e-mail (scheduling/services/delivery.py) once the sweep's writes have committed.
"""

import logging
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import DataError, IntegrityError, transaction
from django.db.models import Count, F, Max, Min, OuterRef, Q, QuerySet, Subquery

from dosing.authorisation import review_reminder_date
from dosing.models import DoseOrder, SiteSettings, TreatmentCourse, TreatmentCourseStatus
from patients.models import LabResult, LabTest, Patient, week_zero
from risk.models import PUTS_AT_RENAL_RISK, RiskFlag
from visits.models import Visit

from .. import timing
from ..models import (
    OPEN_SESSION_STATUSES,
    Course,
    CourseStatus,
    Cycle,
    InfusionSession,
    Reminder,
    ReminderStatus,
    SessionStatus,
    UnitSettings,
)
from ..timing import DueReminder, ReminderKind
from .delivery import fit_message, reminders_flag_interrupted
from .inbox import KIND_ROLES, LAB_KINDS, LIVE_STATUSES

logger = logging.getLogger(__name__)

# Upcoming-infusion reminders exist as soon as a session is booked within this horizon (longer
# than a 4-weekly interval), so the next cycle's reminder is in the data well before it is due.
UPCOMING_HORIZON = timedelta(days=35)
# Every other kind is created once due. One the sweep did not see in time (an outage, data
# entered late, the first run) is still created this long after its due time; older ones are
# history. Overdue cycles are exempt: an overdue course is reported whenever it is found.
CATCH_UP = timedelta(days=14)
# Missed cycles are looked for among cycles that started this far back; older ones were reported
# by earlier sweeps (a missed cycle is reported from the morning after its last booked day).
MISSED_CYCLE_LOOKBACK = timedelta(weeks=10)
# A TIS assessment counts when a visit is within ±2 weeks of its due date; a baseline visit is
# one marked as baseline or one in the 2 weeks up to the first infusion.
TIS_WINDOW = timedelta(days=timing.TIS_WINDOW_DAYS)
# The baseline reminder comes a week before the first infusion, with the pre-cycle labs.
BASELINE_LEAD = timedelta(days=timing.LAB_LEAD_DAYS)
# Sessions read for cycle-level reminders: from before the venous check (day 14) plus its
# catch-up, to past the labs' 7-day lead.
CYCLE_LOOKBACK = timedelta(days=timing.TEE_WATCH_DAYS_VENOUS + 1) + CATCH_UP + timedelta(days=2)
CYCLE_LOOKAHEAD = timedelta(days=timing.LAB_LEAD_DAYS + 2)

KEY_BATCH = 500  # subject keys per existence query
# Flags that call for the Hb/Hct checks: a non-O blood group at 2 g/kg or more, and an unknown
# blood group at that dose (it may be non-O: the checks stay on until it is recorded).
HAEMOLYSIS_CHECK_CODES = ("info_haemolysis_risk", "info_blood_group_unknown")

GIVEN_STATUSES = (SessionStatus.COMPLETED, SessionStatus.IN_PROGRESS)
BOOKED_STATUSES = (SessionStatus.PLANNED, SessionStatus.CONFIRMED)

# --------------------------------------------------------------------------- session changes


@transaction.atomic
def session_changed(session: InfusionSession) -> int:
    """Cancel the pending reminders of a moved or cancelled session. Returns how many.

    Example: moving a session from Monday to Wednesday cancels its "upcoming infusion"
    reminder due on Friday; the next sweep creates one due on Sunday.
    """
    return session.reminders.filter(status=ReminderStatus.PENDING).update(status=ReminderStatus.CANCELLED)


# --------------------------------------------------------------------------- the sweep


@dataclass
class _Wanted:
    """A reminder the data calls for, before it is written."""

    due: DueReminder
    patient_id: int
    session_id: int | None = None
    cycle_id: int | None = None
    message: str = ""
    # Stewardship messages need the patient's visits and doses; built only for new ones.
    review_from: date | None = None

    @property
    def key(self) -> str:
        return self.due.subject_key

    def fields(self) -> dict:
        return {
            "kind": self.due.kind.value,
            "patient_id": self.patient_id,
            "session_id": self.session_id,
            "cycle_id": self.cycle_id,
            "due_at": self.due.due_at,
            "window_end": self.due.window_end,
            "message": fit_message(self.message or self.due.reason),
            "role": KIND_ROLES[self.due.kind],
        }


class _Collector:
    """Gathers wanted reminders; one item's bad data is logged and skipped, never the sweep's end."""

    def __init__(self, now: datetime, tz: ZoneInfo):
        self.now = now
        self.tz = tz
        self.today = now.astimezone(tz).date()
        self.wanted: dict[str, _Wanted] = {}
        # Per cycle, every key a cycle-level rule computes now, due or not: a live reminder of
        # that family for the cycle outside this set has been superseded (see _cancel_superseded).
        self.cycle_keys: dict[str, dict[int, set[str]]] = {"labs": {}, "checks": {}}
        self.errors = 0
        self.recent_cycles = Cycle.objects.none()

    def add(self, item: _Wanted) -> None:
        self.wanted.setdefault(item.key, item)

    def failed(self, what: str, error: Exception) -> None:
        self.errors += 1
        logger.error("Reminder sweep skipped %s: %s", what, error)

    def due_point(self, reminder: DueReminder) -> bool:
        """Due now, and not over: inside its window, or within the catch-up time when it has none."""
        if reminder.due_at > self.now:
            return False
        if reminder.window_end is not None:
            return reminder.window_end >= self.now
        return reminder.due_at >= self.now - CATCH_UP

    def local_date(self, moment: datetime) -> date:
        return moment.astimezone(self.tz).date()

    def local_midnight(self, day: date) -> datetime:
        return datetime.combine(day, datetime.min.time(), tzinfo=self.tz)


def reminders_sweep(*, now: datetime) -> dict:
    """Create the reminders the data calls for, cancel those it no longer does, and find those
    due for e-mail. Idempotent: run twice (even at once) it creates each reminder once.

    Returns counts: {"created", "existing", "revived", "cancelled", "flagged_interrupted",
    "errors", "created_by_kind": {kind: n}}, and "due_ids": the reminders due for their first
    delivery, which the caller queues (the `reminders_sweep` task does, after commit, and
    reports how many as "queued").

    Example: a session booked for Thu 26 Nov 2026 09:00 with reminders 3 days ahead; the sweep
    at any time from its booking creates "upcoming_infusion:session-<id>:2026-11-23", due Mon
    23 Nov 09:00 local; the sweep running after that moment returns its id in "due_ids".
    """
    if now.tzinfo is None:
        raise ValueError("now: naive datetime refused; pass an aware datetime")
    collector = _Collector(now, ZoneInfo(settings.TIME_ZONE))
    unit = UnitSettings.load()
    _collect_upcoming(collector, unit.upcoming_reminder_days)
    _collect_cycle_reminders(collector)
    _collect_overdue(collector)
    _collect_assessments(collector)
    _collect_course_reviews(collector)

    existing = _existing_rows(list(collector.wanted))
    missing = [item for key, item in collector.wanted.items() if key not in existing]
    _write_review_messages([item for item in missing if item.review_from], collector)
    counts = {"created": 0, "existing": len(existing), "revived": 0, "errors": collector.errors}
    created_by_kind: dict[str, int] = defaultdict(int)
    for start in range(0, len(missing), KEY_BATCH):
        for item, outcome in _create_batch(missing[start : start + KEY_BATCH]):
            counts[outcome] = counts.get(outcome, 0) + 1
            if outcome == "created":
                created_by_kind[item.due.kind.value] += 1
    for key, row in existing.items():
        if row["status"] == ReminderStatus.CANCELLED:
            counts["revived"] += _revive(row, collector.wanted[key])
    counts["cancelled"] = _cancel_obsolete(now) + _cancel_superseded(collector)
    counts["flagged_interrupted"] = reminders_flag_interrupted(now)
    counts["due_ids"] = _due_for_delivery(now)
    counts["created_by_kind"] = dict(created_by_kind)
    return counts


def _collect_upcoming(collector: _Collector, days_before: int) -> None:
    """Booked sessions whose reminder falls due within the horizon and whose start is ahead."""
    if days_before < 1:
        return  # 0 days: the unit has switched upcoming reminders off
    now = collector.now
    sessions = InfusionSession.objects.filter(
        status__in=BOOKED_STATUSES,
        planned_start__gt=now,
        planned_start__lte=now + UPCOMING_HORIZON + timedelta(days=days_before + 1),
    ).values("id", "patient_id", "cycle_id", "planned_start")
    for session in sessions:
        try:
            due = timing.upcoming_infusion_reminder(
                session["planned_start"], target=f"session-{session['id']}", tz=collector.tz, days_before=days_before
            )
        except (TypeError, ValueError) as error:
            collector.failed(f"session {session['id']}", error)
            continue
        if due.due_at <= now + UPCOMING_HORIZON:
            collector.add(_Wanted(due, session["patient_id"], session["id"], session["cycle_id"]))


def _collect_cycle_reminders(collector: _Collector) -> None:
    """Labs before a cycle that has not started; checks after a cycle that has ended."""
    now = collector.now
    recent_cycles = Cycle.objects.filter(
        sessions__planned_start__gte=now - CYCLE_LOOKBACK, sessions__planned_start__lt=now + CYCLE_LOOKAHEAD
    ).values("id")
    collector.recent_cycles = recent_cycles
    sessions = InfusionSession.objects.filter(cycle__in=recent_cycles).values(
        "id", "cycle_id", "patient_id", "planned_start", "expected_minutes", "status", "record__stopped_at"
    )
    by_cycle: dict[int, list[dict]] = defaultdict(list)
    for session in sessions:
        by_cycle[session["cycle_id"]].append(session)
    if not by_cycle:
        return
    patients = InfusionSession.objects.filter(cycle__in=recent_cycles).values("patient_id")
    renal, haemolysis = _flags_of(patients)
    last_creatinine = dict(
        LabResult.objects.filter(patient__in=patients, test=LabTest.CREATININE, collected_on__lte=collector.today)
        .values_list("patient_id")
        .order_by()
        .annotate(last=Max("collected_on"))
    )
    for cycle_id, cycle_sessions in by_cycle.items():
        patient_id = cycle_sessions[0]["patient_id"]
        try:
            _cycle_labs(collector, cycle_id, cycle_sessions, patient_id, renal, haemolysis, last_creatinine)
        except (TypeError, ValueError) as error:
            collector.failed(f"labs of cycle {cycle_id}", error)
        try:
            _cycle_checks(collector, cycle_id, cycle_sessions, patient_id, haemolysis)
        except (TypeError, ValueError) as error:
            collector.failed(f"checks after cycle {cycle_id}", error)


def _flags_of(patients: QuerySet) -> tuple[set[int], set[int]]:
    """Patients with an active non-informational renal flag, and with the haemolysis flag."""
    rows = (
        RiskFlag.objects.active()
        .filter(patient__in=patients)
        .filter(PUTS_AT_RENAL_RISK | Q(code__in=HAEMOLYSIS_CHECK_CODES))
        .values_list("patient_id", "code")
    )
    renal, haemolysis = set(), set()
    for patient_id, code in rows:
        (haemolysis if code in HAEMOLYSIS_CHECK_CODES else renal).add(patient_id)
    return renal, haemolysis


def _cycle_labs(collector, cycle_id, sessions, patient_id, renal, haemolysis, last_creatinine) -> None:
    if any(s["status"] in GIVEN_STATUSES for s in sessions):
        return  # the cycle has started: labs before it are moot
    booked = [s for s in sessions if s["status"] in OPEN_SESSION_STATUSES]
    if not booked:
        return  # every day cancelled or missed
    first = min(booked, key=lambda s: s["planned_start"])
    cycle_start = collector.local_date(first["planned_start"])
    if cycle_start < collector.today:
        return
    reminders = timing.lab_reminders(
        cycle_start,
        target=f"cycle-{cycle_id}",
        tz=collector.tz,
        renal_flag=patient_id in renal,
        last_creatinine_on=last_creatinine.get(patient_id),
        haemolysis_risk=patient_id in haemolysis,
    )
    collector.cycle_keys["labs"][cycle_id] = {due.subject_key for due in reminders}
    for due in reminders:
        if collector.due_point(due):
            collector.add(_Wanted(due, patient_id, first["id"], cycle_id))


def _cycle_checks(collector, cycle_id, sessions, patient_id, haemolysis) -> None:
    if any(s["status"] in OPEN_SESSION_STATUSES for s in sessions):
        return  # the cycle's last day is still ahead (or running)
    completed = [s for s in sessions if s["status"] == SessionStatus.COMPLETED]
    if not completed:
        return

    def ended_at(session):
        planned_end = session["planned_start"] + timedelta(minutes=session["expected_minutes"])
        return session["record__stopped_at"] or planned_end

    last = max(completed, key=ended_at)
    reminders = timing.post_infusion_reminders(
        ended_at(last), target=f"cycle-{cycle_id}", tz=collector.tz, haemolysis_risk=patient_id in haemolysis
    )
    collector.cycle_keys["checks"][cycle_id] = {due.subject_key for due in reminders}
    for due in reminders:
        if collector.due_point(due):
            collector.add(_Wanted(due, patient_id, last["id"], cycle_id))


def _collect_overdue(collector: _Collector) -> None:
    """Active courses: a booked cycle whose days all passed with nothing given (reported once,
    whatever is booked later), else a course whose last given cycle is more than an interval
    and a week behind with nothing booked from today."""
    missed_courses = _collect_missed_cycles(collector)
    given = InfusionSession.objects.filter(status__in=GIVEN_STATUSES)
    booked = InfusionSession.objects.open().filter(patient_id=OuterRef("patient_id"))
    # The course's last cycle with a session given: walking its cycles newest first on the
    # (course, number) index stops at the first hit, where sorting all its sessions did not.
    last_given_cycle = (
        Cycle.objects.filter(course=OuterRef("pk"), sessions__status__in=GIVEN_STATUSES)
        .order_by("-number")
        .values("id")[:1]
    )
    courses = (
        Course.objects.filter(status=CourseStatus.ACTIVE)
        .exclude(pk__in=missed_courses)
        .annotate(last_cycle_id=Subquery(last_given_cycle))
        .filter(last_cycle_id__isnull=False)
        .annotate(
            last_cycle_started_at=Subquery(
                given.filter(cycle_id=OuterRef("last_cycle_id")).order_by("planned_start").values("planned_start")[:1]
            )
        )
        .annotate(
            next_booked_at=Subquery(
                booked.filter(planned_start__gte=collector.local_midnight(collector.today))
                .order_by("planned_start")
                .values("planned_start")[:1]
            ),
        )
        .values("id", "patient_id", "interval_weeks", "last_cycle_id", "last_cycle_started_at", "next_booked_at")
    )
    for course in courses:
        try:
            last_start = collector.local_date(course["last_cycle_started_at"])
            if last_start > collector.today:
                continue
            next_on = collector.local_date(course["next_booked_at"]) if course["next_booked_at"] else None
            due = timing.cycle_overdue(
                last_start,
                interval_weeks=course["interval_weeks"],
                today=collector.today,
                next_scheduled=next_on if next_on and next_on > last_start else None,
                target=f"course-{course['id']}",
                tz=collector.tz,
            )
        except (TypeError, ValueError) as error:
            collector.failed(f"course {course['id']}", error)
            continue
        if due is not None and due.due_at <= collector.now:
            collector.add(_Wanted(due, course["patient_id"], cycle_id=course["last_cycle_id"]))


def _collect_missed_cycles(collector: _Collector) -> set[int]:
    """Cycles of active courses, after the course's last given cycle, that were booked (planned,
    confirmed or marked missed) for days that have all passed with nothing given. Returns the
    ids of the courses that have one; their missed cycle is what is reported."""
    midnight = collector.local_midnight(collector.today)
    booked_or_missed = Q(sessions__status__in=[*BOOKED_STATUSES, SessionStatus.MISSED])
    last_given_number = (
        Cycle.objects.filter(course=OuterRef("course_id"), sessions__status__in=GIVEN_STATUSES)
        .order_by("-number")
        .values("number")[:1]
    )
    cycles = (
        Cycle.objects.filter(
            course__status=CourseStatus.ACTIVE,
            start_date__gte=collector.today - MISSED_CYCLE_LOOKBACK,
            start_date__lt=collector.today,
        )
        .annotate(
            given=Count("sessions", filter=Q(sessions__status__in=GIVEN_STATUSES)),
            first_booked=Min("sessions__planned_start", filter=booked_or_missed),
            last_booked=Max("sessions__planned_start", filter=booked_or_missed),
            last_given_number=Subquery(last_given_number),
        )
        .filter(given=0, last_booked__lt=midnight)
        .filter(Q(last_given_number__isnull=True) | Q(number__gt=F("last_given_number")))
        .values("id", "course_id", "course__patient_id", "number", "first_booked", "last_booked")
    )
    courses = set()
    for cycle in cycles:
        courses.add(cycle["course_id"])
        try:
            due = timing.missed_cycle_overdue(
                collector.local_date(cycle["last_booked"]),
                cycle_number=cycle["number"],
                first_booked_day=collector.local_date(cycle["first_booked"]),
                today=collector.today,
                target=f"cycle-{cycle['id']}",
                tz=collector.tz,
            )
        except (TypeError, ValueError) as error:
            collector.failed(f"cycle {cycle['id']}", error)
            continue
        if due is not None and due.due_at <= collector.now:
            collector.add(_Wanted(due, cycle["course__patient_id"], cycle_id=cycle["id"]))
    return courses


def _collect_assessments(collector: _Collector) -> None:
    """TIS assessments (baseline, then the site's rhythm: every 4 weeks to week 16, then every 12
    weeks by default) and stewardship reviews, for
    patients with an active course. Week 0 is the patient's (`patients.models.week_zero`): the
    recorded first infusion, else the first one given."""
    on_course = Course.objects.filter(status=CourseStatus.ACTIVE).values("patient_id")
    own_sessions = InfusionSession.objects.filter(patient_id=OuterRef("pk"))
    patients = (
        Patient.objects.filter(pk__in=on_course)
        .annotate(
            first_booked_id=Subquery(
                own_sessions.filter(status__in=BOOKED_STATUSES, planned_start__gt=collector.now)
                .order_by("planned_start")
                .values("id")[:1]
            ),
            first_booked_at=Subquery(
                own_sessions.filter(status__in=BOOKED_STATUSES, planned_start__gt=collector.now)
                .order_by("planned_start")
                .values("planned_start")[:1]
            ),
        )
        .values("id", "ivig_started_on", "first_infusion_on", "first_booked_id", "first_booked_at")
    )
    visits: dict[int, list[tuple[date, bool]]] = defaultdict(list)
    for patient_id, visit_date, is_baseline in (
        Visit.objects.filter(patient__in=on_course)
        .filter(Q(visit_date__gte=collector.today - CATCH_UP - TIS_WINDOW) | Q(is_baseline=True))
        .values_list("patient_id", "visit_date", "is_baseline")
    ):
        visits[patient_id].append((visit_date, is_baseline))
    rhythm = site_tis_rhythm()
    for patient in patients:
        try:
            _assessments_of(collector, patient, visits.get(patient["id"], []), rhythm)
        except (TypeError, ValueError) as error:
            collector.failed(f"patient {patient['id']}", error)


def site_tis_rhythm() -> timing.TisRhythm:
    """The site's TIS rhythm (dosing.SiteSettings; default every 4 weeks to week 16, then every 12)."""
    site = SiteSettings.load()
    return timing.TisRhythm(site.tis_every_weeks_early, site.tis_early_until_week, site.tis_every_weeks_after)


def _assessments_of(
    collector: _Collector, patient: dict, visits: list[tuple[date, bool]], rhythm: timing.TisRhythm
) -> None:
    target = f"patient-{patient['id']}"
    week0 = week_zero(patient["ivig_started_on"], patient["first_infusion_on"])
    if week0 is None or week0.on > collector.today:
        _baseline(collector, patient, visits, target)
        return
    started_on = week0.on
    started = f"started {started_on.isoformat()}" + (f", {week0.source}" if week0.derived else "")
    due_dates = timing.tis_assessment_due_dates(started_on, until=collector.today, rhythm=rhythm).due_dates
    for day in timing.tis_dates_without_visit(due_dates, [visit_date for visit_date, _ in visits]):
        week = (day - started_on).days // 7
        due = timing.reminder_on(
            day,
            kind=ReminderKind.TIS_ASSESSMENT,
            target=target,
            tz=collector.tz,
            reason=f"TIS assessment at week {week} of IVIG ({started}): no visit within 2 weeks of "
            f"{day.isoformat()} (site rhythm: {rhythm.describe()}).",
        )
        if collector.due_point(due):
            collector.add(_Wanted(due, patient["id"]))


def _collect_course_reviews(collector: _Collector) -> None:
    """Stewardship reviews from each treatment course in force (dosing.TreatmentCourse), to the
    physician: from ``review_reminder_days`` (site settings) before the review falls due until
    that day, and likewise before the authorisation lapses when that is another day. A course in
    trial off is reminded of its reassessment; a stopped one of nothing. A review that renews the
    course moves the dates, so the next sweep makes the new reminders.

    Example: a course started 2026-01-05, site policy 6 months and 28 days -> "Stewardship review
    due 2026-07-05 ..." due from 2026-06-07 08:00 local until 2026-07-05 08:00."""
    days = SiteSettings.load().review_reminder_days
    for course in TreatmentCourse.objects.exclude(status=TreatmentCourseStatus.STOPPED).values(
        "id", "patient_id", "indication_name", "started_on", "next_review_due", "authorised_until", "status"
    ):
        try:
            _course_reviews_of(collector, course, days)
        except (TypeError, ValueError) as error:
            collector.failed(f"treatment course {course['id']}", error)


def _course_reviews_of(collector: _Collector, course: dict, days: int) -> None:
    what = (
        "Reassessment after a trial off IVIG"
        if course["status"] == TreatmentCourseStatus.TRIAL_OFF
        else "Stewardship review"
    )
    started = f"{course['indication_name']}, course started {course['started_on'].isoformat()}"
    due_dates = {course["next_review_due"]: f"{what} due {course['next_review_due'].isoformat()} ({started})."}
    if course["status"] == TreatmentCourseStatus.ACTIVE:
        lapse = course["authorised_until"]
        due_dates.setdefault(lapse, f"IVIG authorisation lapses {lapse.isoformat()} ({started}): review or renew.")
    for day, reason in due_dates.items():
        start = timing.reminder_on(
            review_reminder_date(day, days),
            kind=ReminderKind.STEWARDSHIP_REVIEW,
            target=f"treatment-course-{course['id']}",
            tz=collector.tz,
            reason=reason,
        )
        end = timing.reminder_on(
            day, kind=ReminderKind.STEWARDSHIP_REVIEW, target="end", tz=collector.tz, reason=reason
        )
        due = replace(start, window_end=end.due_at)
        if collector.due_point(due):
            collector.add(_Wanted(due, course["patient_id"], message=reason, review_from=course["started_on"]))


def _baseline(collector: _Collector, patient: dict, visits: list[tuple[date, bool]], target: str) -> None:
    """Before the first infusion: a baseline assessment unless one is recorded."""
    if patient["first_booked_at"] is None:
        return
    first_on = collector.local_date(patient["first_booked_at"])
    schedule = timing.tis_assessment_due_dates(first_on, until=first_on)
    if any(is_baseline or schedule.baseline_due_before - TIS_WINDOW <= day <= first_on for day, is_baseline in visits):
        return
    due = timing.reminder_on(
        schedule.baseline_due_before - BASELINE_LEAD,
        kind=ReminderKind.TIS_ASSESSMENT,
        target=target,
        tz=collector.tz,
        reason=f"Baseline TIS assessment before the first IVIG infusion on {first_on.isoformat()}: "
        "no baseline visit recorded.",
    )
    if due.due_at <= collector.now < patient["first_booked_at"]:
        collector.add(_Wanted(due, patient["id"], session_id=patient["first_booked_id"]))


def _write_review_messages(items: list[_Wanted], collector: _Collector) -> None:
    """Stewardship messages: the latest TIS and the grams given since week 0."""
    if not items:
        return
    from visits.scoring import patient_response

    patient_ids = {item.patient_id for item in items}
    patients = Patient.objects.in_bulk(patient_ids)
    visits: dict[int, list[Visit]] = defaultdict(list)
    for visit in Visit.objects.filter(patient_id__in=patient_ids):
        visits[visit.patient_id].append(visit)
    # Completed infusion days since the earliest review start, by patient; each order's plan once.
    since_earliest = collector.local_midnight(min(item.review_from for item in items))
    doses: dict[int, list[tuple[datetime, int]]] = defaultdict(list)
    for patient_id, started, order_id in InfusionSession.objects.filter(
        patient_id__in=patient_ids, status=SessionStatus.COMPLETED, planned_start__gte=since_earliest
    ).values_list("patient_id", "planned_start", "cycle__course__order_id"):
        doses[patient_id].append((started, order_id))
    plans = dict(
        DoseOrder.objects.filter(pk__in={order_id for days in doses.values() for _, order_id in days}).values_list(
            "pk", "plan"
        )
    )
    for item in items:
        try:
            response = patient_response(patients[item.patient_id], visits[item.patient_id])
            latest = next(
                (s for s in reversed(response.visits) if s.result is not None and s.result.total is not None), None
            )
            tis_text = (
                f"latest TIS {latest.result.total:.1f} ({latest.result.category}) on "
                f"{latest.visit.visit_date.isoformat()}"
                if latest
                else "no TIS yet"
            )
            since = collector.local_midnight(item.review_from)
            given = [order_id for started, order_id in doses[item.patient_id] if started >= since]
            grams = sum((_daily_dose_g(plans[order_id]) for order_id in given), Decimal("0"))
            item.message = (
                f"{item.due.reason} {tis_text[0].upper()}{tis_text[1:]}; "
                f"{grams.normalize():f} g given in {len(given)} infusion days."
            )
        except (KeyError, TypeError, ValueError, InvalidOperation) as error:
            collector.failed(f"stewardship message for patient {item.patient_id}", error)


def _daily_dose_g(plan) -> Decimal:
    return Decimal(str((plan or {}).get("daily_dose_g", "0")))


def _existing_rows(keys: list[str]) -> dict[str, dict]:
    rows = {}
    for start in range(0, len(keys), KEY_BATCH):
        for row in Reminder.objects.filter(subject_key__in=keys[start : start + KEY_BATCH]).values(
            "id", "subject_key", "status", "emailed_at"
        ):
            rows[row["subject_key"]] = row
    return rows


def _create_batch(items: list[_Wanted]) -> list[tuple[_Wanted, str]]:
    """Insert a batch in one statement, skipping keys another sweep inserted meanwhile; each
    row's uuid, set here, tells which rows this sweep wrote, and those get their history rows
    in one more statement. A batch the database refuses for another reason is retried one
    reminder at a time, so one bad record costs only itself."""
    rows = [Reminder(subject_key=item.key, **item.fields()) for item in items]
    try:
        with transaction.atomic():
            Reminder.objects.bulk_create(rows, ignore_conflicts=True)
            written = {
                key: (pk, uuid)
                for key, pk, uuid in Reminder.objects.filter(
                    subject_key__in=[row.subject_key for row in rows]
                ).values_list("subject_key", "id", "uuid")
            }
            mine = []
            for row in rows:
                pk, uuid = written.get(row.subject_key, (None, None))
                if uuid == row.uuid:
                    row.pk = pk
                    mine.append(row)
            Reminder.history.bulk_history_create(mine)
    except (IntegrityError, DataError):
        return [(item, _create(item)) for item in items]
    return [(item, "created" if row.pk else "existing") for item, row in zip(items, rows, strict=True)]


def _create(item: _Wanted) -> str:
    """get_or_create in a savepoint; a concurrent sweep's insert of the same key is no error."""
    try:
        with transaction.atomic():
            _, created = Reminder.objects.get_or_create(subject_key=item.key, defaults=item.fields())
    except IntegrityError as error:
        if Reminder.objects.filter(subject_key=item.key).exists():
            return "existing"
        logger.error("Reminder %s could not be created: %s", item.key, error)
        return "errors"
    return "created" if created else "existing"


def _revive(row: dict, item: _Wanted) -> int:
    """A cancelled reminder the data calls for again (a session moved away and back)."""
    return Reminder.objects.filter(pk=row["id"], status=ReminderStatus.CANCELLED).update(
        status=ReminderStatus.SENT if row["emailed_at"] else ReminderStatus.PENDING,
        **{name: value for name, value in item.fields().items() if name not in ("kind", "role", "patient_id")},
    )


def _cancel_obsolete(now: datetime) -> int:
    """Belt and braces for a sweep racing `session_changed`: a live reminder of a cancelled or
    missed session, or an upcoming-infusion reminder whose session has since moved, is cancelled.
    Only recent sessions are looked at: older ones were settled by earlier sweeps."""
    live = Reminder.objects.filter(
        status__in=LIVE_STATUSES, session__isnull=False, session__planned_start__gte=now - CYCLE_LOOKBACK
    )
    dead_session = live.filter(session__status__in=[SessionStatus.CANCELLED, SessionStatus.MISSED])
    moved = live.filter(kind=ReminderKind.UPCOMING_INFUSION).exclude(window_end=F("session__planned_start"))
    return dead_session.update(status=ReminderStatus.CANCELLED) + moved.update(status=ReminderStatus.CANCELLED)


CYCLE_FAMILIES = {
    "labs": LAB_KINDS,
    "checks": (ReminderKind.THROMBOSIS_CHECK, ReminderKind.VENOUS_CHECK, ReminderKind.HAEMOLYSIS_CHECK),
}


def _cancel_superseded(collector: _Collector) -> int:
    """A cycle's labs or post-infusion checks whose key the data no longer gives: the first day
    moved to another date, a creatinine was drawn meanwhile, a stop time was corrected. The sweep
    has created the reminder that replaces it, if any."""
    evaluated = {cycle_id for family in collector.cycle_keys.values() for cycle_id in family}
    if not evaluated:
        return 0
    kinds = {kind.value: family for family, kinds in CYCLE_FAMILIES.items() for kind in kinds}
    rows = Reminder.objects.filter(
        kind__in=list(kinds), status__in=LIVE_STATUSES, cycle__in=collector.recent_cycles
    ).values_list("id", "cycle_id", "kind", "subject_key")
    stale = [
        pk
        for pk, cycle_id, kind, key in rows
        if cycle_id in collector.cycle_keys[kinds[kind]] and key not in collector.cycle_keys[kinds[kind]][cycle_id]
    ]
    return Reminder.objects.filter(pk__in=stale).update(status=ReminderStatus.CANCELLED) if stale else 0


def _due_for_delivery(now: datetime) -> list[int]:
    """Every due, live, never-attempted reminder, for its first delivery. Failed attempts are
    the task's to retry; a duplicate queueing is harmless (only one delivery can claim)."""
    return list(
        Reminder.objects.filter(
            status=ReminderStatus.PENDING,
            due_at__lte=now,
            emailed_at__isnull=True,
            delivery_claimed_at__isnull=True,
            delivery_attempts=0,
            last_error="",
        )
        .filter(Q(window_end__isnull=True) | Q(window_end__gte=now))
        .values_list("id", flat=True)
    )
