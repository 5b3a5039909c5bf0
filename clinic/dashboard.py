"""What the dashboard shows, read with a fixed number of queries whatever the size of
the clinic (lists are capped and read off indexes; flag counts are kept as flags change, the
other counts are aggregated in the database)."""

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from django.db.models import Case, CharField, Count, F, IntegerField, Prefetch, Q, Subquery, Value, When, Window
from django.db.models.functions import RowNumber
from django.urls import reverse
from django.utils import timezone

from dosing.models import DoseOrder
from risk import rules, tally
from risk.models import SEVERITY_RANK, FlagTally, PatientFlagSummary, RiskFlag
from scheduling.infusion_review import REVIEW_KINDS
from scheduling.models import CHECK_KINDS, LIVE_REMINDER_STATUSES, InfusionSession, Reminder, SessionStatus

ROWS_PER_LIST = 25  # per list; each list says how many more there are and where they are
UPCOMING_DAYS = 7
PATIENTS_SHOWN = 25
DUE_WITHIN = timedelta(hours=1)  # "due now": a planned or confirmed start within the hour, or already past
# Today in the unit, in the order the page shows them: (key, heading).
UNIT_GROUPS = (
    ("due", "Due now"),
    ("in_progress", "In progress"),
    ("stopped", "Stopped, not completed"),
    ("completed", "Completed today"),
)


class CountOf(Subquery):
    """A queryset's row count as a column: (SELECT COUNT(*) FROM (<queryset>) AS counted).
    Uncorrelated, so the database evaluates it once per query. Unlike COUNT(*) OVER (), it
    does not make the database join every row of a long list before cutting it at its cap.
    `column`: what the inner query selects; a column of the index that serves the filter lets the
    database count from the index alone, without visiting a table row per counted row."""

    template = "(SELECT COUNT(*) FROM (%(subquery)s) AS counted)"
    output_field = IntegerField()

    def __init__(self, queryset, column: str = "pk", **extra):
        super().__init__(queryset.order_by().values(column), **extra)


# Only the columns the page shows: a full order row alone carries four JSON documents.
PATIENT_SHOWN = ("patient", "patient__uuid", "patient__mrn", "patient__family_name", "patient__given_name")
FLAG_SHOWN = ("uuid", "code", "category", "severity", "title", "evidence", "acknowledged_at", *PATIENT_SHOWN)


PLACEHOLDER_UUID = uuid.UUID(int=0)


def url_for_each(name: str, kwarg: str) -> Callable[[uuid.UUID], str]:
    """One reverse() for a whole list: the URL named `name` with a placeholder for its uuid
    argument, split around it, so each row's URL is two strings joined around its uuid.
    A reverse() per row was a fifth of the dashboard's rendering time.

    Example: url_for_each("patients:detail", "patient_uuid")(some_uuid) == f"/patients/{some_uuid}/"
    """
    head, tail = reverse(name, kwargs={kwarg: PLACEHOLDER_UUID}).split(str(PLACEHOLDER_UUID))
    return lambda value: f"{head}{value}{tail}"


@dataclass(frozen=True)
class UnitGroup:
    key: str
    heading: str
    sessions: list  # capped at ROWS_PER_LIST, by planned start then chair
    total: int


@dataclass(frozen=True)
class Dashboard:
    counts: dict
    patients: list  # [(patient, [flags most severe first])], most severe patient first
    patients_total: int
    unacknowledged: list
    orders_awaiting: list
    deteriorations: list
    upcoming_sessions: list  # [(session, [at-risk and contraindication flags])]
    checks_due: list  # reminders due now or earlier, not done
    needs_review: list  # live reminders of an incomplete infusion or a reaction, newest first
    to_schedule: list  # verified orders no course was ever booked from, waiting longest first
    unit_today: list  # [UnitGroup] for each of UNIT_GROUPS, today in the clinic's time zone


def dashboard(*, severity: str = "", category: str = "", now: datetime | None = None) -> Dashboard:
    """Eleven queries whatever the clinic's size: the kept flag totals (risk.FlagTally), then
    one per list, each capped list carrying its full length in a CountOf column, and one for
    the four lists of today in the unit. None reads every active flag or every order: the flag
    counts and the patients' ranking are kept per patient as flags change (risk.tally)."""
    now = now or timezone.now()
    active = RiskFlag.objects.active()
    chosen = Q()  # the severity/category filter the user picked
    if severity:
        chosen &= Q(severity=severity)
    if category:
        chosen &= Q(category=category)
    not_acknowledged = Q(acknowledged_at__isnull=True) & ~Q(severity=rules.INFO)
    deterioration = Q(code=rules.CONFIRMED_DETERIORATION)
    # Every flag count from the totals kept per key (risk.FlagTally), one row per figure: reading
    # them costs the same whatever the number of active flags.
    chosen_key = tally.filter_key(severity, category)
    keys = (*(tally.filter_key(s) for s in rules.SEVERITIES), tally.AT_RISK, tally.UNACKNOWLEDGED, tally.DETERIORATION)
    totals = {
        key: (patients, flags)
        for key, patients, flags in FlagTally.objects.filter(key__in={*keys, chosen_key}).values_list(
            "key", "patients", "flags"
        )
    }
    filtered = active.filter(chosen)
    # The most severe patients first (worst flag, then number of flags, family name): the first
    # rows of the kept per-patient summaries' ranking index for this filter, then their flags.
    top = (
        PatientFlagSummary.objects.filter(key=chosen_key)
        .order_by("worst_rank", "-flag_count", "family_name", "patient")
        .values("patient")[:PATIENTS_SHOWN]
    )
    by_patient: dict[int, list[RiskFlag]] = {}
    # The patient's verdict carries the prophylaxis consideration shown beside thrombosis flags.
    shown = filtered.filter(patient_id__in=top).select_related("patient").only(*FLAG_SHOWN, "patient__risk_verdict")
    for flag in shown.annotate(rank=SEVERITY_RANK):
        by_patient.setdefault(flag.patient_id, []).append(flag)
    patients = sorted(
        ((rows[0].patient, sorted(rows, key=lambda flag: (flag.rank, flag.code))) for rows in by_patient.values()),
        key=lambda item: (item[1][0].rank, -len(item[1]), item[0].family_name, item[0].pk),
    )
    unacknowledged = list(
        active.filter(not_acknowledged)
        .select_related("patient")
        .only(*FLAG_SHOWN, "first_seen_at", "mitigation")
        # Most severe first: with info excluded, "high" < "moderate" sorts as SEVERITY_RANK does
        # (a test holds that), and the plain column lets the risk_flag_unacknowledged index serve.
        .order_by("severity", "-first_seen_at")[:ROWS_PER_LIST]
    )
    deteriorations = list(
        active.filter(deterioration)
        .select_related("patient")
        .only(*FLAG_SHOWN, "evidence_on")
        .order_by("-evidence_on")[:ROWS_PER_LIST]
    )
    awaiting = DoseOrder.objects.awaiting_verification()
    orders = list(
        awaiting.select_related("patient", "product", "indication")
        .only(
            *("uuid", "prescribed_at", "status", "at_risk", "dose_g_per_kg", "days", *PATIENT_SHOWN),
            *("product", "product__name", "indication", "indication__name"),
        )
        .annotate(total=CountOf(awaiting))
        .order_by("prescribed_at")[:ROWS_PER_LIST]
    )
    flags_shown = Prefetch(
        "patient__risk_flags",
        queryset=RiskFlag.objects.active()
        .exclude(severity=rules.INFO)
        .filter(category__in=[rules.THROMBOSIS, rules.RENAL, rules.CONTRAINDICATION])
        .only("patient", "code", "category", "severity", "title")
        .order_by("category", "code"),
        to_attr="flags_for_chair",
    )
    next_days = InfusionSession.objects.open().between(now, now + timedelta(days=UPCOMING_DAYS))
    upcoming = list(
        next_days.select_related("patient", "cycle__course__order__product")
        .only(
            *("uuid", "planned_start", "chair", "status", "day_number", *PATIENT_SHOWN),
            *("cycle", "cycle__course", "cycle__course__days_per_cycle", "cycle__course__order"),
            *("cycle__course__order__product", "cycle__course__order__product__name"),
        )
        .prefetch_related(flags_shown)
        # A week of a large clinic is thousands of sessions: counted off the (planned_start, status) index.
        .annotate(total=CountOf(next_days, column="planned_start"))
        .order_by("planned_start", "chair")[:ROWS_PER_LIST]
    )
    # The same condition as the reminder_live_check_due index, so it serves list and counts.
    due = Reminder.objects.filter(kind__in=CHECK_KINDS, status__in=LIVE_REMINDER_STATUSES, due_at__lte=now)
    checks = list(
        due.select_related("patient")
        .only("uuid", "due_at", "window_end", "message", *PATIENT_SHOWN)
        .annotate(total=CountOf(due), overdue=CountOf(due.filter(window_end__lt=now)))
        .order_by("due_at")[:ROWS_PER_LIST]
    )
    # For the prescriber (and every physician): infusions stopped short or with a reaction, not yet done.
    review = Reminder.objects.filter(kind__in=REVIEW_KINDS, status__in=LIVE_REMINDER_STATUSES)
    needs_review = list(
        review.select_related("patient", "session")
        .only("uuid", "kind", "due_at", "message", "session", "session__uuid", *PATIENT_SHOWN)
        .annotate(total=CountOf(review))
        .order_by("-due_at", "-pk")[:ROWS_PER_LIST]
    )
    # dosing's own filter (no course ever booked), so this list and the order list's "to schedule" agree.
    waiting = DoseOrder.objects.to_schedule()
    to_schedule = list(
        waiting.select_related("patient", "product", "indication")
        .only(
            *("uuid", "verified_at", "status", "at_risk", "dose_g_per_kg", "days", *PATIENT_SHOWN),
            *("product", "product__name", "indication", "indication__name"),
        )
        .annotate(total=CountOf(waiting))
        .order_by("verified_at", "pk")[:ROWS_PER_LIST]
    )
    flags_under = {key: flags for key, (_, flags) in totals.items()}
    counts = {
        "high": flags_under.get(tally.filter_key(rules.HIGH), 0),
        "moderate": flags_under.get(tally.filter_key(rules.MODERATE), 0),
        "info": flags_under.get(tally.filter_key(rules.INFO), 0),
        "patients_at_risk": totals.get(tally.AT_RISK, (0, 0))[0],
        "unacknowledged": flags_under.get(tally.UNACKNOWLEDGED, 0),
        "orders_awaiting": _total(orders),
        "deteriorations": flags_under.get(tally.DETERIORATION, 0),
        "upcoming_sessions": _total(upcoming),
        "checks_overdue": checks[0].overdue if checks else 0,
        "checks_due": _total(checks),
        "needs_review": _total(needs_review),
        "to_schedule": _total(to_schedule),
    }
    groups = unit_today(now)
    _link(
        patients=[patient for patient, _ in patients],
        flags=[*unacknowledged, *deteriorations],
        orders=[*orders, *to_schedule],
        sessions=[*upcoming, *(session for group in groups for session in group.sessions)],
        reminders=checks,
        reviews=needs_review,
    )
    return Dashboard(
        counts=counts,
        patients=patients,
        patients_total=totals.get(chosen_key, (0, 0))[0],
        unacknowledged=unacknowledged,
        orders_awaiting=orders,
        deteriorations=deteriorations,
        upcoming_sessions=[(session, session.patient.flags_for_chair) for session in upcoming],
        checks_due=checks,
        needs_review=needs_review,
        to_schedule=to_schedule,
        unit_today=groups,
    )


def _link(*, patients: list, flags: list, orders: list, sessions: list, reminders: list, reviews: list) -> None:
    """Give every row the URLs the page links it to (`url`, and the acknowledge, plan and visits
    links), each list's built from one reversed prefix (url_for_each)."""
    patient_url = url_for_each("patients:detail", "patient_uuid")
    visits_url = url_for_each("visits:patient_visits", "patient_uuid")
    acknowledge_url = url_for_each("risk:acknowledge", "flag_uuid")
    order_url = url_for_each("dosing:order_detail", "order_uuid")
    plan_url = url_for_each("scheduling:course_create", "order_uuid")
    session_url = url_for_each("scheduling:session_detail", "session_uuid")
    for flag in flags:
        flag.acknowledge_url = acknowledge_url(flag.uuid)
        flag.patient.visits_url = visits_url(flag.patient.uuid)
    for order in orders:
        order.url, order.plan_url = order_url(order.uuid), plan_url(order.uuid)
    # Only the review reminders carry a session (the checks' rows leave the column unread).
    for session in [*sessions, *(reminder.session for reminder in reviews if reminder.session_id)]:
        session.url = session_url(session.uuid)
    everyone = [*patients, *(row.patient for row in [*flags, *orders, *sessions, *reminders, *reviews])]
    for patient in everyone:
        patient.url = patient_url(patient.uuid)


def unit_today(now: datetime) -> list[UnitGroup]:
    """Today's sessions (the clinic's day) in the four lists of UNIT_GROUPS, in one query: each
    row is put in its list by a CASE, numbered and counted within it by window functions, and
    rows past the cap are cut in the database. A COUNT(*) OVER () is cheap here, unlike on the
    other lists: one day of one unit is a few dozen sessions at most, whatever the clinic's size.

    Example: at 10:30, a confirmed 11:00 start and an unstarted 09:00 one are due now; a 14:00
    start is not yet listed; a session whose record has a stop time but no completion is stopped.
    """
    start = timezone.make_aware(datetime.combine(timezone.localdate(now), time.min))
    end = timezone.make_aware(datetime.combine(timezone.localdate(now) + timedelta(days=1), time.min))
    booked = (SessionStatus.PLANNED, SessionStatus.CONFIRMED)
    in_progress = Q(status=SessionStatus.IN_PROGRESS)
    group = Case(
        When(Q(status__in=booked, planned_start__lt=now + DUE_WITHIN), then=Value("due")),
        When(in_progress & Q(record__stopped_at__isnull=True), then=Value("in_progress")),
        When(in_progress & Q(record__completed_at__isnull=True), then=Value("stopped")),
        When(status=SessionStatus.COMPLETED, then=Value("completed")),
        default=None,
        output_field=CharField(),
    )
    rows = (
        InfusionSession.objects.between(start, end)
        .annotate(group=group)
        .filter(group__isnull=False)
        .annotate(
            place=Window(RowNumber(), partition_by=F("group"), order_by=[F("planned_start").asc(), F("chair").asc()]),
            group_total=Window(Count("pk"), partition_by=F("group")),
        )
        .filter(place__lte=ROWS_PER_LIST)
        .select_related("patient", "record")
        .only(
            *("uuid", "planned_start", "chair", "status", *PATIENT_SHOWN),
            *("record__started_at", "record__stopped_at", "record__completed_at"),
        )
        .order_by("planned_start", "chair")
    )
    by_group: dict[str, list] = {key: [] for key, _ in UNIT_GROUPS}
    for session in rows:
        by_group[session.group].append(session)
    return [
        UnitGroup(key, heading, by_group[key], by_group[key][0].group_total if by_group[key] else 0)
        for key, heading in UNIT_GROUPS
    ]


def _total(rows: list) -> int:
    """The list's full length before it was capped, from its CountOf column."""
    return rows[0].total if rows else 0
