"""Reminders computed from what changed, a periodic sweep for what the clock makes due, and a
nightly reconciliation.

Three entry points share one computation (the collectors below ask the pure functions in
scheduling/timing.py which reminders a set of patients' data calls for):

- `reminders_recompute(patient_ids=..., now=...)`: when something a reminder depends on is
  written (a session booked, moved, started, completed or cancelled; a course, lab, visit, risk
  flag, treatment course or order), scheduling/signals.py marks the patient and, once the
  transaction commits, recomputes each marked patient once (`reminders_recompute_later`). It
  creates every reminder the data calls for that falls due within `HORIZON` (so it exists before
  the clock reaches it) and cancels the live ones the data no longer calls for. A fixed number
  of queries whatever the number of patients marked.
- `reminders_sweep(now=...)`, every 5 minutes: nothing is computed. Reminders already exist;
  the sweep flags interrupted deliveries and returns the pending, never-tried ones whose due
  time has come, read through a partial index on due_at. Two queries, whatever the clinic's size.
- `reminders_reconcile(now=...)`, nightly: the same computation for every patient, in chunks,
  which slides the horizon forward a day (TIS dates, review windows and overdue days that time
  has brought within it) and repairs drift (a write that bypassed the signals, a failed
  recompute). What it had to repair is counted by kind, returned and logged; a non-zero repair
  is a warning: some trigger was missed. It is also the first run of a clinic never computed
  (bulk-loaded data), so it writes in bulk: on PostgreSQL a chunk's new reminders go in by one
  COPY and one INSERT ... SELECT that also writes their history rows; on SQLite in multi-row
  INSERTs.

Creating is idempotent: the subject key is unique, inserts skip keys already present, so two
computations at once (a recompute and the nightly run) still create each reminder once.
"""

import logging
import threading
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import DataError, IntegrityError, connection, transaction
from django.db.models import BigIntegerField, Case, Count, DateTimeField, F, Max, Min, OuterRef, Q, Subquery, When
from django.db.models.functions import Coalesce
from django.utils import timezone

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

# Reminders are created this far ahead of their due time, so the periodic sweep finds them
# already there when the clock reaches them (and the upcoming-infusion reminder exists as soon
# as a session is booked, longer ahead than a 4-weekly interval). The nightly reconciliation
# moves this window a day forward each night.
HORIZON = timedelta(days=35)
UPCOMING_HORIZON = HORIZON
# Stewardship messages quote the latest TIS and the grams given, as of their creation: they are
# made at most this far ahead (the nightly run reaches each before its 08:00 due time, with a
# night to spare), not five weeks stale.
REVIEW_HORIZON = timedelta(days=2)
# A reminder the nightly run creates whose due time is within this of its horizon's end came
# into the horizon since the last night: time brought it, not drift.
NIGHT = timedelta(days=1, hours=1)
# Every other kind is created once due. One the sweep did not see in time (an outage, data
# entered late, the first run) is still created this long after its due time; older ones are
# history. Overdue cycles are exempt: an overdue course is reported whenever it is found.
CATCH_UP = timedelta(days=14)
# Missed cycles are looked for among cycles that started this far back; older ones were reported
# by earlier runs (a missed cycle is reported from the morning after its last booked day).
MISSED_CYCLE_LOOKBACK = timedelta(weeks=10)
# A TIS assessment counts when a visit is within ±2 weeks of its due date; a baseline visit is
# one marked as baseline or one in the 2 weeks up to the first infusion.
TIS_WINDOW = timedelta(days=timing.TIS_WINDOW_DAYS)
# The baseline reminder comes a week before the first infusion, with the pre-cycle labs.
BASELINE_LEAD = timedelta(days=timing.LAB_LEAD_DAYS)
# Sessions read for cycle-level reminders: from before the venous check (day 14) plus its
# catch-up, to past the labs' 7-day lead beyond the horizon.
CYCLE_LOOKBACK = timedelta(days=timing.TEE_WATCH_DAYS_VENOUS + 1) + CATCH_UP + timedelta(days=2)
CYCLE_LOOKAHEAD = timedelta(days=timing.LAB_LEAD_DAYS + 2)

# Patients per chunk of the nightly reconciliation: bounds its memory (each chunk's wanted and
# existing reminders) while keeping the query count at a few per thousand patients.
CHUNK_PATIENTS = 1000
# SQLite: rows per INSERT (and subject keys per lookup): large enough that a first run of 100,000
# reminders is fifty statements, small enough to stay under PostgreSQL's 65,535 parameters.
INSERT_BATCH = 2000
KEY_BATCH = 5000
# Flags that call for the Hb/Hct checks: a non-O blood group at 2 g/kg or more, and an unknown
# blood group at that dose (it may be non-O: the checks stay on until it is recorded).
HAEMOLYSIS_CHECK_CODES = ("info_haemolysis_risk", "info_blood_group_unknown")

GIVEN_STATUSES = (SessionStatus.COMPLETED, SessionStatus.IN_PROGRESS)
BOOKED_STATUSES = (SessionStatus.PLANNED, SessionStatus.CONFIRMED)
# The kinds computed here; the infusion record services create the review kinds themselves.
COMPUTED_KINDS = tuple(
    kind.value
    for kind in ReminderKind
    if kind not in (ReminderKind.INFUSION_INCOMPLETE, ReminderKind.INFUSION_REACTION)
)

# --------------------------------------------------------------------------- triggers


@transaction.atomic
def session_changed(session: InfusionSession) -> int:
    """Cancel the pending reminders of a moved or cancelled session and recompute its patient's
    once the transaction commits. Returns how many were cancelled.

    Example: moving a session from Monday to Wednesday cancels its "upcoming infusion"
    reminder due on Friday; the recompute after commit creates one due on Sunday.
    """
    reminders_recompute_later(session.patient_id)
    return session.reminders.filter(status=ReminderStatus.PENDING).update(status=ReminderStatus.CANCELLED)


_pending = threading.local()


def reminders_recompute_later(patient_id: int | None) -> None:
    """Mark a patient whose reminders' inputs were just written; every patient marked in one
    transaction is recomputed once, together, after it commits (at once outside a transaction).

    A recompute that fails is logged and left to the nightly reconciliation: it never makes the
    clinician's write fail, and it runs after the write has committed, so it never holds the
    write's locks either."""
    if patient_id is None:
        return
    if not connection.in_atomic_block:
        _recompute_safely({patient_id})
        return
    marked = getattr(_pending, "patient_ids", None)
    if marked is None:
        marked = _pending.patient_ids = set()
    marked.add(patient_id)
    # A callback per mark, all sharing the set: the first to run after the commit recomputes
    # every patient marked and empties it; the rest find it empty. So a callback survives
    # whatever savepoint the write was in, and a rolled-back mark costs at most one extra
    # (idempotent) recompute later.
    transaction.on_commit(_flush_marked, robust=True)


def _flush_marked() -> None:
    marked = getattr(_pending, "patient_ids", None) or set()
    _pending.patient_ids = None
    _recompute_safely(marked)


def _recompute_safely(patient_ids: set[int]) -> None:
    if not patient_ids:
        return
    try:
        reminders_recompute(patient_ids=sorted(patient_ids), now=timezone.now())
    except Exception:
        logger.exception("Reminders of patients %s not recomputed; the nightly reconciliation will", patient_ids)


# --------------------------------------------------------------------------- the computation


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
    """Gathers the reminders a set of patients' data calls for; one item's bad data is logged
    and skipped, never the run's end."""

    def __init__(self, now: datetime, tz: ZoneInfo, scope: list[int], *, contiguous: bool = False):
        self.now = now
        self.tz = tz
        self.scope = scope
        self.contiguous = contiguous
        self.today = now.astimezone(tz).date()
        self.until = now + HORIZON
        self.horizon_day = self.until.astimezone(tz).date()
        self.wanted: dict[str, _Wanted] = {}
        # Per cycle, every key a cycle-level rule computes now, due or not: a live reminder of
        # that family for the cycle outside this set has been superseded (see _cancel_superseded).
        self.cycle_keys: dict[str, dict[int, set[str]]] = {"labs": {}, "checks": {}}
        self.errors = 0
        # The patients with a cycle in the window _collect_cycle_reminders reads.
        self.cycle_patients: set[int] = set()

    def in_scope(self, field: str = "patient_id") -> dict:
        """The filter on `field` (a patient id) that selects the scope's patients: a range when the
        scope is every patient between its first and last id (the nightly run's chunks), which
        the database reads as two bounds, where a list of a thousand ids is a thousand
        placeholders for Django to build and psycopg to parse, in each of a chunk's queries."""
        if self.contiguous:
            return {f"{field}__gte": self.scope[0], f"{field}__lte": self.scope[-1]}
        return {f"{field}__in": self.scope}

    def add(self, item: _Wanted) -> None:
        self.wanted.setdefault(item.key, item)

    def failed(self, what: str, error: Exception) -> None:
        self.errors += 1
        logger.error("Reminders skipped %s: %s", what, error)

    def due_point(self, reminder: DueReminder, horizon: timedelta = HORIZON) -> bool:
        """Due within the horizon, and not over: inside its window, or within the catch-up time
        when it has none."""
        if reminder.due_at > self.now + horizon:
            return False
        if reminder.window_end is not None:
            return reminder.window_end >= self.now
        return reminder.due_at >= self.now - CATCH_UP

    def local_date(self, moment: datetime) -> date:
        return moment.astimezone(self.tz).date()

    def local_midnight(self, day: date) -> datetime:
        return datetime.combine(day, datetime.min.time(), tzinfo=self.tz)


@dataclass
class _Outcome:
    """What one computation wrote, by kind."""

    created: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    revived: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    cancelled: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    # Created reminders that time brought within the horizon since the last night (not drift).
    scheduled: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    existing: int = 0
    errors: int = 0

    def add(self, other: "_Outcome") -> None:
        for name in ("created", "revived", "cancelled", "scheduled"):
            for kind, count in getattr(other, name).items():
                getattr(self, name)[kind] += count
        self.existing += other.existing
        self.errors += other.errors

    def counts(self) -> dict:
        return {
            "created": sum(self.created.values()),
            "existing": self.existing,
            "revived": sum(self.revived.values()),
            "cancelled": sum(self.cancelled.values()),
            "errors": self.errors,
            "created_by_kind": dict(self.created),
        }


@dataclass(frozen=True)
class _Settings:
    tz: ZoneInfo
    upcoming_days: int

    @classmethod
    def load(cls) -> "_Settings":
        return cls(ZoneInfo(settings.TIME_ZONE), UnitSettings.load().upcoming_reminder_days)


def _compute(scope: list[int], *, now: datetime, site: _Settings, contiguous: bool = False) -> _Outcome:
    """Create the reminders `scope`'s patients' data calls for within the horizon, revive
    cancelled ones it calls for again, and cancel live ones it no longer does."""
    collector = _Collector(now, site.tz, scope, contiguous=contiguous)
    _collect_upcoming(collector, site.upcoming_days)
    _collect_cycle_reminders(collector)
    _collect_overdue(collector)
    _collect_assessments(collector)
    _collect_course_reviews(collector)

    outcome = _Outcome(errors=collector.errors)
    existing = _existing_rows(list(collector.wanted))
    outcome.existing = len(existing)
    missing = [item for key, item in collector.wanted.items() if key not in existing]
    _write_review_messages([item for item in missing if item.review_from], collector)
    # PostgreSQL inserts a chunk's reminders in one COPY and one statement; SQLite in multi-row
    # INSERTs under its limit on parameters.
    batch = (len(missing) or 1) if connection.vendor == "postgresql" else INSERT_BATCH
    for start in range(0, len(missing), batch):
        for item, result in _create_batch(missing[start : start + batch]):
            kind = item.due.kind.value
            if result == "created":
                outcome.created[kind] += 1
                if item.due.due_at > now + _horizon_of(kind) - NIGHT:
                    outcome.scheduled[kind] += 1
            elif result == "existing":  # another run inserted it meanwhile
                outcome.existing += 1
            else:
                outcome.errors += 1
    for key, row in existing.items():
        if row["status"] == ReminderStatus.CANCELLED and _revive(row, collector.wanted[key]):
            outcome.revived[row["kind"]] += 1
    stale = {**_obsolete(now, collector), **_superseded(collector), **_unwanted_ahead(collector)}
    if stale:
        Reminder.objects.filter(pk__in=list(stale), status__in=LIVE_STATUSES).update(status=ReminderStatus.CANCELLED)
        for kind in stale.values():
            outcome.cancelled[kind] += 1
    return outcome


def reminders_recompute(*, patient_ids: Iterable[int], now: datetime) -> dict:
    """Bring these patients' reminders in line with their data now, in one transaction.

    Returns counts: {"created", "existing", "revived", "cancelled", "errors", "created_by_kind"}.

    Example: a session booked for Thu 26 Nov 2026 09:00 with reminders 3 days ahead; the
    recompute after its booking creates "upcoming_infusion:session-<id>:2026-11-23", due Mon
    23 Nov 09:00 local, which the periodic sweep returns for e-mail once that moment passes.
    """
    if now.tzinfo is None:
        raise ValueError("now: naive datetime refused; pass an aware datetime")
    scope = sorted(set(patient_ids))
    if not scope:
        return _Outcome().counts()
    with transaction.atomic():
        return _compute(scope, now=now, site=_Settings.load()).counts()


def reminders_reconcile(*, now: datetime, chunk: int = CHUNK_PATIENTS) -> dict:
    """The nightly full reconciliation: every patient's reminders computed again, in chunks of
    `chunk` patients (each its own transaction), creating what time brought within the horizon
    and repairing drift.

    Returns the counts of `reminders_recompute` summed, plus "repaired" (reminders created,
    revived or cancelled that no time passing explains: a missed trigger), "repaired_by_kind"
    ({"created": {kind: n}, "revived": {...}, "cancelled": {...}}) and "scheduled" (created
    because time brought them within the horizon). A non-zero repair is logged as a warning.

    Example: a session moved with a queryset update (no signal): its old upcoming reminder is
    cancelled and the new one created, "repaired" 2 and a warning names the kind.
    """
    if now.tzinfo is None:
        raise ValueError("now: naive datetime refused; pass an aware datetime")
    site = _Settings.load()
    ids = list(Patient.objects.order_by("pk").values_list("pk", flat=True))
    total = _Outcome()
    for start in range(0, len(ids), chunk):
        with transaction.atomic():
            _without_jit()
            # Every patient from the chunk's first id to its last: ids are listed in order.
            total.add(_compute(ids[start : start + chunk], now=now, site=site, contiguous=True))
    repaired_created = {
        kind: count - total.scheduled.get(kind, 0)
        for kind, count in total.created.items()
        if count - total.scheduled.get(kind, 0)
    }
    repaired = {
        "created": repaired_created,
        "revived": dict(total.revived),
        "cancelled": dict(total.cancelled),
    }
    counts = total.counts() | {
        "patients": len(ids),
        "scheduled": sum(total.scheduled.values()),
        "repaired": sum(sum(kinds.values()) for kinds in repaired.values()),
        "repaired_by_kind": repaired,
    }
    if counts["repaired"]:
        logger.warning(
            "Reminder reconciliation repaired %d reminders a trigger missed (%s)",
            counts["repaired"],
            "; ".join(f"{what} {dict(sorted(kinds.items()))}" for what, kinds in repaired.items() if kinds),
        )
    else:
        logger.info("Reminder reconciliation: %d patients, nothing to repair", len(ids))
    return counts


def _without_jit() -> None:
    """PostgreSQL: no JIT compilation for the rest of this transaction. A chunk's queries are
    index lookups over a thousand patients whose cost estimates still pass jit_above_cost, so each
    paid ~80 ms compiling code that saved nothing, several times a chunk."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off")


def reminders_sweep(*, now: datetime) -> dict:
    """The periodic run: flag interrupted deliveries and find the reminders the clock has made
    due. Computes nothing: the reminders exist already (recompute and the nightly run make
    them ahead). Two queries, whatever the size of the clinic.

    Returns {"flagged_interrupted": n, "due_ids": [...]}: the reminders due for their first
    delivery, which the caller queues (the `reminders_sweep` task does, after commit).

    Example: the upcoming-infusion reminder due Mon 23 Nov 2026 09:00 local is not in "due_ids"
    at 08:59 and is at 09:00.
    """
    if now.tzinfo is None:
        raise ValueError("now: naive datetime refused; pass an aware datetime")
    return {"flagged_interrupted": reminders_flag_interrupted(now), "due_ids": _due_for_delivery(now)}


def _horizon_of(kind: str) -> timedelta:
    return REVIEW_HORIZON if kind == ReminderKind.STEWARDSHIP_REVIEW else HORIZON


def _collect_upcoming(collector: _Collector, days_before: int) -> None:
    """Booked sessions whose reminder falls due within the horizon and whose start is ahead."""
    if days_before < 1:
        return  # 0 days: the unit has switched upcoming reminders off
    now = collector.now
    sessions = InfusionSession.objects.filter(
        **collector.in_scope(),
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
    # The cycles with a day in the window, found on the (patient, planned_start) index of the
    # scope's sessions, then every day of those cycles. The patients and cycles found are passed
    # on as values: as a subquery repeated in each query below, the planner re-derived them with
    # scans of every session in the clinic, each chunk.
    in_window = InfusionSession.objects.filter(
        **collector.in_scope(),
        planned_start__gte=now - CYCLE_LOOKBACK,
        planned_start__lt=now + HORIZON + CYCLE_LOOKAHEAD,
    ).values("cycle_id")
    sessions = InfusionSession.objects.filter(**collector.in_scope(), cycle_id__in=in_window).values(
        "id", "cycle_id", "patient_id", "planned_start", "expected_minutes", "status", "record__stopped_at"
    )
    by_cycle: dict[int, list[dict]] = defaultdict(list)
    for session in sessions:
        by_cycle[session["cycle_id"]].append(session)
    if not by_cycle:
        return
    patients = sorted({session["patient_id"] for sessions in by_cycle.values() for session in sessions})
    collector.cycle_patients = set(patients)
    renal, haemolysis = _flags_of(patients)
    last_creatinine = dict(
        LabResult.objects.filter(patient_id__in=patients, test=LabTest.CREATININE, collected_on__lte=collector.today)
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


def _flags_of(patients: list[int]) -> tuple[set[int], set[int]]:
    """Patients with an active non-informational renal flag, and with the haemolysis flag."""
    rows = (
        RiskFlag.objects.active()
        .filter(patient_id__in=patients)
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
        Course.objects.filter(status=CourseStatus.ACTIVE, **collector.in_scope())
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
            if next_on is not None and next_on > last_start:
                continue  # a cycle is booked from today on; if it passes ungiven, it is a missed cycle
            # Asked as of the horizon's last day: the reminder exists ahead, due on the first
            # overdue day, and booking a cycle before then cancels it.
            due = timing.cycle_overdue(
                last_start,
                interval_weeks=course["interval_weeks"],
                today=collector.horizon_day,
                next_scheduled=None,
                target=f"course-{course['id']}",
                tz=collector.tz,
            )
        except (TypeError, ValueError) as error:
            collector.failed(f"course {course['id']}", error)
            continue
        if due is not None and due.due_at <= collector.until:
            collector.add(_Wanted(due, course["patient_id"], cycle_id=course["last_cycle_id"]))


def _collect_missed_cycles(collector: _Collector) -> set[int]:
    """Cycles of active courses, after the course's last given cycle, that were booked (planned,
    confirmed or marked missed) for days that have all passed with nothing given. Returns the
    ids of the courses that have one; their missed cycle is what is reported."""
    # As of the horizon's last day: a booked cycle not yet given gets its "missed" reminder ahead,
    # due the morning after its last day; giving it before then cancels the reminder.
    midnight = collector.local_midnight(collector.horizon_day)
    booked_or_missed = Q(sessions__status__in=[*BOOKED_STATUSES, SessionStatus.MISSED])
    last_given_number = (
        Cycle.objects.filter(course=OuterRef("course_id"), sessions__status__in=GIVEN_STATUSES)
        .order_by("-number")
        .values("number")[:1]
    )
    cycles = (
        Cycle.objects.filter(
            course__status=CourseStatus.ACTIVE,
            **collector.in_scope("course__patient_id"),
            start_date__gte=collector.today - MISSED_CYCLE_LOOKBACK,
            start_date__lt=collector.horizon_day,
        )
        .annotate(
            given=Count("sessions", filter=Q(sessions__status__in=GIVEN_STATUSES)),
            first_booked=Min("sessions__planned_start", filter=booked_or_missed),
            last_booked=Max("sessions__planned_start", filter=booked_or_missed),
            last_given_number=Subquery(last_given_number),
        )
        .filter(given=0, last_booked__lt=midnight)
        .values("id", "course_id", "course__patient_id", "number", "first_booked", "last_booked", "last_given_number")
    )
    courses = set()
    for cycle in cycles:
        # After the course's last given cycle. Compared here, not in SQL, where the filter
        # evaluated the subquery twice for every cycle of the window rather than once a row.
        if cycle["last_given_number"] is not None and cycle["number"] <= cycle["last_given_number"]:
            continue
        courses.add(cycle["course_id"])
        try:
            due = timing.missed_cycle_overdue(
                collector.local_date(cycle["last_booked"]),
                cycle_number=cycle["number"],
                first_booked_day=collector.local_date(cycle["first_booked"]),
                today=collector.horizon_day,
                target=f"cycle-{cycle['id']}",
                tz=collector.tz,
            )
        except (TypeError, ValueError) as error:
            collector.failed(f"cycle {cycle['id']}", error)
            continue
        if due is not None and due.due_at <= collector.until:
            collector.add(_Wanted(due, cycle["course__patient_id"], cycle_id=cycle["id"]))
    return courses


def _collect_assessments(collector: _Collector) -> None:
    """TIS assessments (baseline, then the site's rhythm: every 4 weeks to week 16, then every 12
    weeks by default) and stewardship reviews, for
    patients with an active course. Week 0 is the patient's (`patients.models.week_zero`): the
    recorded first infusion, else the first one given."""
    on_course = Course.objects.filter(status=CourseStatus.ACTIVE, **collector.in_scope()).values("patient_id")
    # The first infusion is the earliest session still booked, even once its time has passed: until it
    # is started or marked missed it is still the first infusion, only late. Asked "booked after now",
    # the day after a day 1 left unrecorded named day 2 the first infusion, and a second baseline
    # reminder was made for the same patient (16 at 50,000 patients in the bench's nightly run). Asked
    # only before week 0 (the baseline's patients): for the others the earliest booked session would be
    # found behind every session they were given (read off the (patient, planned_start) index).
    first_booked = InfusionSession.objects.filter(patient_id=OuterRef("pk"), status__in=BOOKED_STATUSES).order_by(
        "planned_start"
    )
    before_week0 = Q(week0_on__isnull=True) | Q(week0_on__gt=collector.today)
    patients = (
        Patient.objects.filter(pk__in=on_course)
        .alias(week0_on=Coalesce("ivig_started_on", "first_infusion_on"))
        .annotate(
            first_booked_id=Case(
                When(before_week0, then=Subquery(first_booked.values("id")[:1])),
                output_field=BigIntegerField(),
            ),
            first_booked_at=Case(
                When(before_week0, then=Subquery(first_booked.values("planned_start")[:1])),
                output_field=DateTimeField(),
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
    due_dates = timing.tis_assessment_due_dates(started_on, until=collector.horizon_day, rhythm=rhythm).due_dates
    # Only dates a reminder can still be made for (within the catch-up), and the dates the visits
    # read could answer instead (a visit answers its nearest date): older ones were history
    # before, and walking every date since the patient started cost most of this step.
    oldest = collector.today - CATCH_UP - 2 * TIS_WINDOW
    due_dates = [day for day in due_dates if day >= oldest]
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
    course moves the dates; saving the course recomputes its patient's reminders.

    Example: a course started 2026-01-05, site policy 6 months and 28 days -> "Stewardship review
    due 2026-07-05 ..." due from 2026-06-07 08:00 local until 2026-07-05 08:00."""
    days = SiteSettings.load().review_reminder_days
    courses = TreatmentCourse.objects.filter(**collector.in_scope())
    for course in courses.exclude(status=TreatmentCourseStatus.STOPPED).values(
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
        if collector.due_point(due, horizon=REVIEW_HORIZON):
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
    if due.due_at <= collector.until and collector.now < patient["first_booked_at"]:
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
    """The reminders already made for these subject keys, by key."""
    if connection.vendor == "postgresql" and not any(KEY_SEPARATOR in key for key in keys):
        return _existing_rows_postgresql(keys)
    rows = {}
    for start in range(0, len(keys), KEY_BATCH):
        for row in Reminder.objects.filter(subject_key__in=keys[start : start + KEY_BATCH]).values(
            "id", "subject_key", "kind", "status", "emailed_at"
        ):
            rows[row["subject_key"]] = row
    return rows


# Subject keys are "kind:target:date" (timing.subject_key): never a line break, so on PostgreSQL a
# chunk's keys travel as one text split server-side (string_to_array), not as an array that psycopg
# quotes element by element in Python under Django's client-side binding (a second per 86,000 keys).
KEY_SEPARATOR = "\n"


def _existing_rows_postgresql(keys: list[str]) -> dict[str, dict]:
    if not keys:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, subject_key, kind, status, emailed_at "
            f"FROM {connection.ops.quote_name(Reminder._meta.db_table)} "
            "WHERE subject_key = ANY(string_to_array(%s, E'\\n'))",
            [KEY_SEPARATOR.join(keys)],
        )
        columns = ("id", "subject_key", "kind", "status", "emailed_at")
        return {row[1]: dict(zip(columns, row, strict=True)) for row in cursor.fetchall()}


def _create_batch(items: list[_Wanted]) -> list[tuple[_Wanted, str]]:
    """Insert a batch, skipping keys another run inserted meanwhile (ON CONFLICT DO NOTHING; what
    it returns are the rows this run wrote), and give those rows their history rows: on
    PostgreSQL by COPY and one statement (_copy_rows_with_history), elsewhere by multi-row
    INSERTs and one INSERT ... SELECT. A batch the database refuses for another reason is
    retried one reminder at a time, so one bad record costs only itself.

    The statement is built from plain tuples, not through bulk_create: Django's generic
    preparation of every value of every model instance cost more than the database's work at a
    first run's 100,000 reminders.

    History: one "+" row per reminder, as a save would make, not one per batch. A reminder is
    what a clinician later reads, marks done or sees cancelled, and its history is where those
    changes are compared against; a batch-level entry would leave the first change with nothing
    to compare to. Written server-side from the rows just inserted, it costs no Python per row."""
    try:
        with transaction.atomic():
            if connection.vendor == "postgresql":
                created = _copy_rows_with_history(items)
            else:
                mine = _insert_rows(items)
                _history_for(mine)
                created = set(mine.values())
    except (IntegrityError, DataError):
        return [(item, _create(item)) for item in items]
    return [(item, "created" if item.key in created else "existing") for item in items]


# The columns a computed reminder sets; every other column takes its model default.
STAGED_FIELDS = (
    "subject_key",
    "kind",
    "patient_id",
    "session_id",
    "cycle_id",
    "due_at",
    "window_end",
    "message",
    "role",
)


def _copy_rows_with_history(items: list[_Wanted]) -> set[str]:
    """PostgreSQL: COPY the new reminders into a temporary table, then one statement inserts them
    (ON CONFLICT DO NOTHING: a key another run inserted meanwhile is skipped) and, from the rows it
    inserted, their creation history rows. Returns the subject keys inserted.

    COPY sends the rows in psycopg's C row format: no statement with a placeholder or an array
    element per value for psycopg to parse and quote in Python, which was most of a first run's
    insert time. The uuids are drawn in the temporary table (gen_random_uuid), so the history rows
    are those of the reminders carrying them: this batch's, not a concurrent run's."""
    if not items:
        return set()
    quote = connection.ops.quote_name
    meta = Reminder._meta
    staged = [meta.get_field(name.removesuffix("_id")) for name in STAGED_FIELDS]
    historical = Reminder.history.model
    created_at = timezone.now()
    select, params = [], []
    columns = []
    for model_field in meta.concrete_fields:
        if model_field.primary_key:
            continue
        columns.append(quote(model_field.column))
        if model_field in staged:
            select.append(f"w.{quote(model_field.column)}")
        elif model_field.name == "uuid":
            select.append("w.uuid")
        elif model_field.name == "created_at":
            select.append("%s")
            params.append(created_at)
        else:
            select.append("%s")
            params.append(model_field.get_db_prep_value(model_field.get_default(), connection))
    source = {f.column for f in meta.concrete_fields}
    history_columns, history_values, history_params = [], [], []
    for model_field in historical._meta.concrete_fields:
        if model_field.primary_key:
            continue
        history_columns.append(quote(model_field.column))
        if model_field.column in source:
            history_values.append(f"r.{quote(model_field.column)}")
        elif model_field.name == "history_date":
            history_values.append("%s")
            history_params.append(created_at)
        elif model_field.name == "history_type":
            history_values.append("'+'")
        else:  # history_change_reason, history_user: none for a computed reminder
            history_values.append("NULL")
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMPORARY TABLE reminder_new ("
            + ", ".join(f"{quote(f.column)} {f.db_type(connection)}" for f in staged)
            + ", uuid uuid NOT NULL DEFAULT gen_random_uuid()) ON COMMIT DROP"
        )
        with cursor.cursor.copy(f"COPY reminder_new ({', '.join(quote(f.column) for f in staged)}) FROM STDIN") as copy:
            for item in items:
                values = item.fields() | {"subject_key": item.key}
                copy.write_row([values[f.attname] for f in staged])
        # Two INSERTs (each counted as such by the bench's rows-written tally): the reminders, then
        # the history rows of exactly those the first inserted, found by the uuids staged here (a
        # key another run inserted meanwhile has that run's uuid, not ours).
        cursor.execute(
            f"INSERT INTO {quote(meta.db_table)} ({', '.join(columns)}) "
            f"SELECT {', '.join(select)} FROM reminder_new w "
            f"ON CONFLICT DO NOTHING RETURNING {quote('subject_key')}",
            params,
        )
        created = {key for (key,) in cursor.fetchall()}
        cursor.execute(
            f"INSERT INTO {quote(historical._meta.db_table)} ({', '.join(history_columns)}) "
            f"SELECT {', '.join(history_values)} FROM {quote(meta.db_table)} r "
            "JOIN reminder_new w ON r.uuid = w.uuid",
            history_params,
        )
        cursor.execute("DROP TABLE reminder_new")
    return created


def _insert_rows(items: list[_Wanted]) -> dict[UUID, str]:
    """Multi-row INSERT of new reminders; returns {uuid: subject key} of the rows inserted."""
    fields = [f for f in Reminder._meta.concrete_fields if not f.primary_key]
    # SQLite needs datetimes and uuids in its text forms; psycopg takes the Python values as they are.
    adapt = (
        {}
        if connection.vendor == "postgresql"
        else {f.attname: f for f in fields if f.get_internal_type() in ("DateTimeField", "UUIDField")}
    )
    created_at = timezone.now()
    defaults = {f.attname: f.get_default() for f in fields}
    inserted: dict[UUID, str] = {}
    per_statement = min(INSERT_BATCH, connection.ops.bulk_batch_size(fields, items) or INSERT_BATCH)
    table = connection.ops.quote_name(Reminder._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    marks = "(" + ", ".join(["%s"] * len(fields)) + ")"
    keys = {}
    for start in range(0, len(items), per_statement):
        params = []
        for item in items[start : start + per_statement]:
            key = uuid4()
            keys[key] = item.key
            values = defaults | item.fields() | {"uuid": key, "subject_key": item.key, "created_at": created_at}
            for f in fields:
                value = values[f.attname]
                params.append(adapt[f.attname].get_db_prep_value(value, connection) if f.attname in adapt else value)
        count = len(params) // len(fields)
        if connection.vendor == "postgresql":
            # One array per column, not a placeholder per value: psycopg parses a statement's
            # placeholders in Python, which cost more than the insert at 40,000 a statement.
            arrays = [params[index :: len(fields)] for index in range(len(fields))]
            source = "SELECT * FROM unnest(" + ", ".join(f"%s::{f.db_type(connection)}[]" for f in fields) + ")"
            params = arrays
        else:
            source = f"VALUES {', '.join([marks] * count)}"
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} ({columns}) {source} "
                f"ON CONFLICT DO NOTHING RETURNING {connection.ops.quote_name('uuid')}",
                params,
            )
            for (value,) in cursor.fetchall():
                uuid = value if isinstance(value, UUID) else UUID(value)
                inserted[uuid] = keys[uuid]
    return inserted


def _history_for(uuids: Iterable[UUID]) -> None:
    """Write the creation history rows of the reminders with these uuids, from their rows."""
    uuids = list(uuids)
    if not uuids:
        return
    historical = Reminder.history.model
    source = {f.column for f in Reminder._meta.concrete_fields}
    columns, values, params = [], [], []
    for model_field in historical._meta.concrete_fields:
        if model_field.primary_key:
            continue
        columns.append(connection.ops.quote_name(model_field.column))
        if model_field.column in source:
            values.append(f"r.{connection.ops.quote_name(model_field.column)}")
        elif model_field.name == "history_date":
            values.append("%s")
            params.append(timezone.now())
        elif model_field.name == "history_type":
            values.append("'+'")
        else:  # history_change_reason, history_user: none for a computed reminder
            values.append("NULL")
    uuid_field = Reminder._meta.get_field("uuid")
    prepared = [uuid_field.get_db_prep_value(uuid, connection) for uuid in uuids]
    per_statement = (connection.features.max_query_params or len(prepared) + 1) - len(params)
    for start in range(0, len(prepared), per_statement):
        batch = prepared[start : start + per_statement]
        if connection.vendor == "postgresql":
            which, batch = "= ANY(%s::uuid[])", [batch]  # one array, not a placeholder per row
        else:
            which = f"IN ({', '.join(['%s'] * len(batch))})"
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {connection.ops.quote_name(historical._meta.db_table)} ({', '.join(columns)}) "
                f"SELECT {', '.join(values)} FROM {connection.ops.quote_name(Reminder._meta.db_table)} r "
                f"WHERE r.uuid {which}",
                [*params, *batch],
            )


def _create(item: _Wanted) -> str:
    """get_or_create in a savepoint; a concurrent run's insert of the same key is no error."""
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


def _obsolete(now: datetime, collector: _Collector) -> dict[int, str]:
    """Belt and braces for a computation racing `session_changed`: a live reminder of a cancelled
    or missed session, or an upcoming-infusion reminder whose session has since moved. Only
    recent sessions are looked at: older ones were settled by earlier runs."""
    live = Reminder.objects.filter(
        **collector.in_scope(),
        status__in=LIVE_STATUSES,
        session__isnull=False,
        session__planned_start__gte=now - CYCLE_LOOKBACK,
    )
    dead_session = Q(session__status__in=[SessionStatus.CANCELLED, SessionStatus.MISSED])
    moved = Q(kind=ReminderKind.UPCOMING_INFUSION) & ~Q(window_end=F("session__planned_start"))
    return dict(live.filter(dead_session | moved).values_list("id", "kind"))


CYCLE_FAMILIES = {
    "labs": LAB_KINDS,
    "checks": (ReminderKind.THROMBOSIS_CHECK, ReminderKind.VENOUS_CHECK, ReminderKind.HAEMOLYSIS_CHECK),
}


def _superseded(collector: _Collector) -> dict[int, str]:
    """A cycle's labs or post-infusion checks whose key the data no longer gives: the first day
    moved to another date, a creatinine was drawn meanwhile, a stop time was corrected. The
    computation has created the reminder that replaces it, if any."""
    evaluated = {cycle_id for family in collector.cycle_keys.values() for cycle_id in family}
    if not evaluated:
        return {}
    kinds = {kind.value: family for family, kinds in CYCLE_FAMILIES.items() for kind in kinds}
    rows = Reminder.objects.filter(
        kind__in=list(kinds), status__in=LIVE_STATUSES, patient_id__in=sorted(collector.cycle_patients)
    ).values_list("id", "cycle_id", "kind", "subject_key")
    return {
        pk: kind
        for pk, cycle_id, kind, key in rows
        if cycle_id in collector.cycle_keys[kinds[kind]] and key not in collector.cycle_keys[kinds[kind]][cycle_id]
    }


def _unwanted_ahead(collector: _Collector) -> dict[int, str]:
    """Live reminders not yet due that the data no longer calls for: made ahead, they must go
    when what made them changes (a visit answers the TIS date, a cycle is booked or given in
    time). One already due stays, as it was true when it fell due. Skipped when some item could
    not be computed, so bad data never cancels what it would have kept."""
    if collector.errors:
        return {}
    rows = Reminder.objects.filter(
        **collector.in_scope(), status__in=LIVE_STATUSES, kind__in=COMPUTED_KINDS, due_at__gt=collector.now
    ).values_list("id", "kind", "subject_key")
    return {pk: kind for pk, kind, key in rows if key not in collector.wanted}


def _due_for_delivery(now: datetime) -> list[int]:
    """Every due, live, never-attempted reminder, for its first delivery (the partial index
    reminder_undelivered_due holds exactly these, so this reads only them). Failed attempts are
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
