"""What the home page shows, read with a fixed number of queries whatever the size of the
clinic. The page leads with the sections a role acts on, each listed in full (capped, read off
an index, its full length counted in the same statement); every other section is a figure in one
query of counts (kept flag totals, and counts off the indexes that serve each list)."""

import uuid
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.db import connection
from django.db.models import (
    Case,
    CharField,
    Count,
    F,
    IntegerField,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
    Window,
)
from django.db.models.functions import RowNumber
from django.urls import reverse
from django.utils import timezone

from accounts.roles import NURSE, PHARMACIST, PHYSICIAN, ROLES, VIEWER
from dosing.models import DoseOrder, SiteSettings, TreatmentCourse, TreatmentCourseStatus
from risk import rules, tally
from risk.models import SEVERITY_RANK, FlagTally, PatientFlagSummary, RiskFlag
from scheduling.infusion_review import REVIEW_KINDS
from scheduling.models import CHECK_KINDS, LIVE_REMINDER_STATUSES, InfusionSession, Reminder, SessionStatus

ROWS_PER_LIST = 25  # per list; each list says how many more there are and where they are
# On a page of several sections, each lists fewer, so the last section is not screens away on a
# tablet; its own page (?section=) lists ROWS_PER_LIST.
ROWS_ON_HOME = 10
UPCOMING_DAYS = 7
# Nothing in the app records a preparation (lots are recorded at the chair), so the pharmacist's
# "to prepare" is every booked infusion of the next two days, with its order's status.
PREPARE_DAYS = 2
PATIENTS_SHOWN = 25
DUE_WITHIN = timedelta(hours=1)  # "due now": a planned or confirmed start within the hour, or already past
BOOKED = (SessionStatus.PLANNED, SessionStatus.CONFIRMED)
# Today in the unit, in the order the page shows them: (key, heading).
UNIT_GROUPS = (
    ("due", "Due now"),
    ("in_progress", "In progress"),
    ("stopped", "Stopped, not completed"),
    ("completed", "Completed today"),
)


@dataclass(frozen=True)
class Section:
    """One part of the home page: `count` names its figure in Dashboard.counts (for "today",
    the four groups' figures are unit_<group>), `counted` says what the figure counts."""

    key: str
    heading: str
    count: str
    counted: str

    @property
    def anchor(self) -> str:
        return self.key.replace("_", "-")


# Every section, in the order a page showing several shows them: what is happening now first.
SECTIONS = (
    Section("today", "Today in the unit", "today", "sessions today"),
    Section("unacknowledged", "Flags not yet acknowledged", "unacknowledged", "flags not yet acknowledged"),
    Section("needs_review", "Needs review", "needs_review", "infusions to review"),
    Section("orders", "Dose orders awaiting verification", "orders_awaiting", "orders awaiting verification"),
    Section(
        "to_prepare", f"Infusions to prepare for (next {PREPARE_DAYS} days)", "to_prepare", "infusions to prepare for"
    ),
    Section("to_schedule", "Verified orders to schedule", "to_schedule", "verified orders to schedule"),
    Section("checks", "Post-infusion checks and labs due", "checks_due", "checks and labs due"),
    Section("reviews_due", "Stewardship reviews due", "reviews_due", "stewardship reviews due"),
    Section("upcoming", f"Infusions in the next {UPCOMING_DAYS} days", "upcoming_sessions", "infusions this week"),
    Section("flags", "Patients with active flags", "patients_flagged", "patients with active flags"),
    Section("deteriorations", "Confirmed deteriorations", "deteriorations", "confirmed deteriorations"),
)
SECTION_BY_KEY = {section.key: section for section in SECTIONS}
# What each role acts on (issue 19): the sections its home leads with. The nurse's post-infusion
# checks and labs are the unit's work too; the viewer's home is the overview.
LEADS = {
    PHYSICIAN: ("unacknowledged", "needs_review", "reviews_due"),
    PHARMACIST: ("orders", "to_prepare"),
    NURSE: ("today", "to_schedule", "checks"),
    VIEWER: ("upcoming", "flags", "deteriorations"),
}
VIEW_LABELS = {"": "All my work", PHYSICIAN: "Physician", PHARMACIST: "Pharmacist", NURSE: "Nurse", VIEWER: "Overview"}


@dataclass(frozen=True)
class Layout:
    """Which sections a home page shows in full, and the views the person can switch between
    (plain links: `?view=<role>`, or `?section=<key>` for one section)."""

    shown: tuple[Section, ...]
    others: tuple[Section, ...]
    view: str  # the view chosen ("" for all the person's roles), or "" when one section is shown
    section: str  # the one section asked for, or ""
    views: tuple[tuple[str, str], ...]  # (view, label) of the switcher, in order


def home_layout(roles: Iterable[str], *, view: str = "", section: str = "") -> Layout:
    """The person's home: the sections of every role they hold, in SECTIONS' order, unless they
    pick one role's view or one section. A person with no clinical role sees the overview. An
    unknown view or section is ignored (the person's own home), as a bad filter is.

    Example: a pharmacist who is also a nurse leads with today in the unit, orders to verify,
    infusions to prepare for, orders to schedule, and checks due; `?view=nurse` shows the nurse's three.
    """
    held = [role for role in ROLES if role in set(roles)]
    own = held or [VIEWER]
    views = ([("", VIEW_LABELS[""])] if len(own) > 1 else []) + [(role, VIEW_LABELS[role]) for role in own]
    if VIEWER not in own:
        views.append((VIEWER, VIEW_LABELS[VIEWER]))
    if section in SECTION_BY_KEY:
        keys, view = {section}, ""
    else:
        section = ""
        view = view if view in LEADS else ""
        keys = set(LEADS[view]) if view else {key for role in own for key in LEADS[role]}
        if not view and len(own) == 1:
            view = own[0]
    shown = tuple(s for s in SECTIONS if s.key in keys)
    return Layout(shown, tuple(s for s in SECTIONS if s.key not in keys), view, section, tuple(views))


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


def figures(counted: dict[str, tuple[QuerySet, str]], kept: dict[str, tuple[QuerySet, str]]) -> dict[str, int]:
    """Many figures in one query: SELECT (SELECT COUNT(*) FROM (<queryset>)), ..., (<one value>), ...
    `counted`: name -> (queryset, column it counts off); `kept`: name -> (queryset of at most one
    row, the column read), 0 when there is no row (a kept total never written yet)."""
    parts, params = [], []
    for queryset, column in counted.values():
        sql, values = queryset.order_by().values(column).query.sql_with_params()
        parts.append(f"(SELECT COUNT(*) FROM ({sql}) AS counted)")
        params.extend(values)
    for queryset, column in kept.values():
        sql, values = queryset.order_by().values(column)[:1].query.sql_with_params()
        parts.append(f"({sql})")
        params.extend(values)
    if not parts:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(parts)}", params)
        row = cursor.fetchone()
    return {name: value or 0 for name, value in zip([*counted, *kept], row, strict=True)}


# Only the columns the page shows: a full order row alone carries four JSON documents.
PATIENT_SHOWN = ("patient", "patient__uuid", "patient__mrn", "patient__family_name", "patient__given_name")
FLAG_SHOWN = ("uuid", "code", "category", "severity", "title", "evidence", "acknowledged_at", *PATIENT_SHOWN)
ORDER_SHOWN = (
    *("uuid", "status", "at_risk", "dose_g_per_kg", "days", *PATIENT_SHOWN),
    *("product", "product__name", "indication", "indication__name"),
)


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
    sessions: list  # capped, by planned start then chair; empty when not shown
    total: int


@dataclass(frozen=True)
class Dashboard:
    counts: dict  # every section's figure (Section.count), and the flag figures
    unit_today: list  # [UnitGroup] for each of UNIT_GROUPS, today in the clinic's time zone
    review_notice_days: int  # the site's notice before a stewardship review (reviews due)
    today: date  # the clinic's day the figures are for
    # The lists, of the sections shown only (empty otherwise):
    patients: list = field(default_factory=list)  # [(patient, [flags most severe first])]
    patients_total: int = 0
    unacknowledged: list = field(default_factory=list)
    orders_awaiting: list = field(default_factory=list)
    deteriorations: list = field(default_factory=list)
    upcoming_sessions: list = field(default_factory=list)  # [(session, [at-risk and contraindication flags])]
    to_prepare: list = field(default_factory=list)  # booked sessions of the next PREPARE_DAYS days
    checks_due: list = field(default_factory=list)  # reminders due now or earlier, not done
    needs_review: list = field(default_factory=list)  # live reminders of an incomplete infusion or a reaction
    to_schedule: list = field(default_factory=list)  # verified orders no course was ever booked from
    reviews_due: list = field(default_factory=list)  # treatment courses whose review falls due


def _day(now: datetime) -> tuple[datetime, datetime]:
    """The clinic's day around `now` as [start, end) aware datetimes."""
    today = timezone.localdate(now)
    start = timezone.make_aware(datetime.combine(today, time.min))
    return start, timezone.make_aware(datetime.combine(today + timedelta(days=1), time.min))


def _unit_groups(now: datetime) -> dict[str, Q]:
    """Which of today's sessions are in each list of UNIT_GROUPS (disjoint: each its own statuses)."""
    in_progress = Q(status=SessionStatus.IN_PROGRESS)
    return {
        "due": Q(status__in=BOOKED, planned_start__lt=now + DUE_WITHIN),
        "in_progress": in_progress & Q(record__stopped_at__isnull=True),
        "stopped": in_progress & Q(record__stopped_at__isnull=False, record__completed_at__isnull=True),
        "completed": Q(status=SessionStatus.COMPLETED),
    }


def _reviews_due(today: date, notice_days: int) -> QuerySet:
    """Courses in force whose stewardship review, or (active ones) whose authorisation's end,
    falls within the site's notice or has passed: the physician's to record a review."""
    horizon = today + timedelta(days=notice_days)
    in_force = Q(status__in=(TreatmentCourseStatus.ACTIVE, TreatmentCourseStatus.TRIAL_OFF))
    lapsing = Q(status=TreatmentCourseStatus.ACTIVE, authorised_until__lte=horizon)
    return TreatmentCourse.objects.filter(in_force & (Q(next_review_due__lte=horizon) | lapsing))


def dashboard(
    *, shown: Collection[str] = (), severity: str = "", category: str = "", now: datetime | None = None
) -> Dashboard:
    """The home page's figures and the lists of the sections `shown` (Section keys). Two queries,
    the site's review notice, then every figure of the sections not shown and the kept flag totals
    in one (figures); then one per section shown (today in the unit: its four lists in one; the
    next 7 days: two, with their flags), each list's capped rows carrying its full length (CountOf). None reads
    every active flag or every order: flag counts and the patients' ranking are kept per patient
    as flags change (risk.tally); the other figures count off the index that serves their list."""
    now = now or timezone.now()
    shown = set(shown)
    rows = ROWS_PER_LIST if len(shown) == 1 else min(ROWS_ON_HOME, ROWS_PER_LIST)
    notice_days = SiteSettings.objects.filter(pk=1).values_list("review_reminder_days", flat=True).first()
    notice_days = SiteSettings._meta.get_field("review_reminder_days").default if notice_days is None else notice_days
    upcoming = InfusionSession.objects.open().between(now, now + timedelta(days=UPCOMING_DAYS))
    to_prepare = InfusionSession.objects.filter(status__in=BOOKED).between(now, now + timedelta(days=PREPARE_DAYS))
    # The same condition as the reminder_live_check_due index, so it serves list and counts.
    checks = Reminder.objects.filter(kind__in=CHECK_KINDS, status__in=LIVE_REMINDER_STATUSES, due_at__lte=now)
    # For the prescriber (and every physician): infusions stopped short or with a reaction, not yet done.
    review = Reminder.objects.filter(kind__in=REVIEW_KINDS, status__in=LIVE_REMINDER_STATUSES)
    reviews_due = _reviews_due(timezone.localdate(now), notice_days)
    today = InfusionSession.objects.between(*_day(now))
    counted = {
        "orders_awaiting": (DoseOrder.objects.awaiting_verification(), "pk"),
        # dosing's own filter (no course ever booked), so this list and the order list agree.
        "to_schedule": (DoseOrder.objects.to_schedule(), "pk"),
        # A week of a large clinic is thousands of sessions: counted off the (planned_start, status) index.
        "upcoming_sessions": (upcoming, "planned_start"),
        "to_prepare": (to_prepare, "planned_start"),
        "checks_due": (checks, "pk"),
        "checks_overdue": (checks.filter(window_end__lt=now), "pk"),
        "needs_review": (review, "pk"),
        "reviews_due": (reviews_due, "pk"),
        **{f"unit_{key}": (today.filter(condition), "planned_start") for key, condition in _unit_groups(now).items()},
    }
    listed = {
        "orders": ("orders_awaiting",),
        "to_schedule": ("to_schedule",),
        "upcoming": ("upcoming_sessions",),
        "to_prepare": ("to_prepare",),
        "checks": ("checks_due", "checks_overdue"),
        "needs_review": ("needs_review",),
        "reviews_due": ("reviews_due",),
        "today": tuple(f"unit_{key}" for key, _ in UNIT_GROUPS),
    }
    for key in shown:
        for name in listed.get(key, ()):
            del counted[name]  # counted with its list instead, in the same statement
    chosen_key = tally.filter_key(severity, category)
    tallies = FlagTally.objects.all()
    kept = {
        **{level: (tallies.filter(key=tally.filter_key(level)), "flags") for level in rules.SEVERITIES},
        "patients_at_risk": (tallies.filter(key=tally.AT_RISK), "patients"),
        "unacknowledged": (tallies.filter(key=tally.UNACKNOWLEDGED), "flags"),
        "deteriorations": (tallies.filter(key=tally.DETERIORATION), "flags"),
        "patients_flagged": (tallies.filter(key=chosen_key), "patients"),
    }
    counts = figures(counted, kept)
    lists: dict = {}
    if "flags" in shown:
        lists["patients"] = _flagged_patients(chosen_key, severity, category)
    active = RiskFlag.objects.active()
    if "unacknowledged" in shown:
        not_acknowledged = Q(acknowledged_at__isnull=True) & ~Q(severity=rules.INFO)
        lists["unacknowledged"] = list(
            active.filter(not_acknowledged)
            .select_related("patient")
            .only(*FLAG_SHOWN, "first_seen_at", "mitigation")
            # Most severe first: with info excluded, "high" < "moderate" sorts as SEVERITY_RANK does
            # (a test holds that), and the plain column lets the risk_flag_unacknowledged index serve.
            .order_by("severity", "-first_seen_at")[:rows]
        )
    if "deteriorations" in shown:
        lists["deteriorations"] = list(
            active.filter(code=rules.CONFIRMED_DETERIORATION)
            .select_related("patient")
            .only(*FLAG_SHOWN, "evidence_on")
            .order_by("-evidence_on")[:rows]
        )
    if "orders" in shown:
        lists["orders_awaiting"] = counts["orders_awaiting"] = _order_list(
            DoseOrder.objects.awaiting_verification(), rows, "prescribed_at"
        )
    if "to_schedule" in shown:
        lists["to_schedule"] = counts["to_schedule"] = _order_list(
            DoseOrder.objects.to_schedule(), rows, "verified_at", "pk"
        )
    if "upcoming" in shown:
        flags_shown = Prefetch(
            "patient__risk_flags",
            queryset=RiskFlag.objects.active()
            .exclude(severity=rules.INFO)
            .filter(category__in=[rules.THROMBOSIS, rules.RENAL, rules.CONTRAINDICATION])
            .only("patient", "code", "category", "severity", "title")
            .order_by("category", "code"),
            to_attr="flags_for_chair",
        )
        lists["upcoming_sessions"] = counts["upcoming_sessions"] = _capped(
            _sessions_with_course(upcoming)
            .prefetch_related(flags_shown)
            .annotate(total=CountOf(upcoming, column="planned_start")),
            rows,
        )
    if "to_prepare" in shown:
        lists["to_prepare"] = counts["to_prepare"] = _capped(
            _sessions_with_course(
                to_prepare, *(f"cycle__course__order__{name}" for name in ("uuid", "status", "at_risk"))
            ).annotate(total=CountOf(to_prepare, column="planned_start")),
            rows,
        )
    if "checks" in shown:
        lists["checks_due"] = _capped(
            checks.select_related("patient")
            .only("uuid", "due_at", "window_end", "message", *PATIENT_SHOWN)
            .annotate(total=CountOf(checks), overdue=CountOf(checks.filter(window_end__lt=now)))
            .order_by("due_at"),
            rows,
        )
        counts["checks_due"] = lists["checks_due"]
        counts["checks_overdue"] = lists["checks_due"].rows[0].overdue if lists["checks_due"] else 0
    if "needs_review" in shown:
        lists["needs_review"] = counts["needs_review"] = _capped(
            review.select_related("patient", "session")
            .only("uuid", "kind", "due_at", "message", "session", "session__uuid", *PATIENT_SHOWN)
            .annotate(total=CountOf(review))
            .order_by("-due_at", "-pk"),
            rows,
        )
    if "reviews_due" in shown:
        lists["reviews_due"] = counts["reviews_due"] = _capped(
            reviews_due.select_related("patient")
            .only(
                *("uuid", "indication_name", "started_on", "status", "next_review_due", "authorised_until"),
                *PATIENT_SHOWN,
            )
            .annotate(total=CountOf(reviews_due))
            .order_by("next_review_due", "pk"),
            rows,
        )
    if "today" in shown:
        groups = unit_today(now, rows)
        counts.update({f"unit_{group.key}": group.total for group in groups})
    else:
        groups = [UnitGroup(key, heading, [], counts[f"unit_{key}"]) for key, heading in UNIT_GROUPS]
    counts = {name: value.total if isinstance(value, Capped) else value for name, value in counts.items()}
    counts["today"] = sum(counts[f"unit_{key}"] for key, _ in UNIT_GROUPS)
    lists = {name: value.rows if isinstance(value, Capped) else value for name, value in lists.items()}
    patients = lists.pop("patients", [])
    _link(
        patients=[patient for patient, _ in patients],
        flags=[*lists.get("unacknowledged", ()), *lists.get("deteriorations", ())],
        orders=[*lists.get("orders_awaiting", ()), *lists.get("to_schedule", ())],
        sessions=[
            *lists.get("upcoming_sessions", ()),
            *lists.get("to_prepare", ()),
            *(session for group in groups for session in group.sessions),
        ],
        prepared=lists.get("to_prepare", []),
        reminders=lists.get("checks_due", []),
        reviews=lists.get("needs_review", []),
        courses=lists.get("reviews_due", []),
    )
    if "upcoming_sessions" in lists:
        lists["upcoming_sessions"] = [
            (session, session.patient.flags_for_chair) for session in lists["upcoming_sessions"]
        ]
    return Dashboard(
        counts=counts,
        unit_today=groups,
        review_notice_days=notice_days,
        today=timezone.localdate(now),
        patients=patients,
        patients_total=counts["patients_flagged"],
        **lists,
    )


@dataclass(frozen=True)
class Capped:
    """A list cut at its cap, and its full length (from its CountOf column)."""

    rows: list
    total: int

    def __bool__(self) -> bool:
        return bool(self.rows)


def _order_list(orders: QuerySet, cap: int, when: str, *tiebreak: str) -> "Capped":
    """A queue of dose orders as a list shows it: the first `cap` by `when`, each row carrying the
    queue's total."""
    return _capped(
        orders.select_related("patient", "product", "indication")
        .only(*ORDER_SHOWN, when)
        .annotate(total=CountOf(orders))
        .order_by(when, *tiebreak),
        cap,
    )


def _capped(queryset: QuerySet, cap: int) -> Capped:
    rows = list(queryset[:cap])
    return Capped(rows, rows[0].total if rows else 0)


def _sessions_with_course(sessions: QuerySet, *order_fields: str) -> QuerySet:
    """Sessions with their patient, product and day of the cycle (and `order_fields` of the
    order), soonest first."""
    return (
        sessions.select_related("patient", "cycle__course__order__product")
        .only(
            *("uuid", "planned_start", "chair", "status", "day_number", *PATIENT_SHOWN, *order_fields),
            *("cycle", "cycle__course", "cycle__course__days_per_cycle", "cycle__course__order"),
            *("cycle__course__order__product", "cycle__course__order__product__name"),
        )
        .order_by("planned_start", "chair")
    )


def _flagged_patients(chosen_key: str, severity: str, category: str) -> list:
    """The most severe patients first (worst flag, then number of flags, family name): the first
    rows of the kept per-patient summaries' ranking index for this filter, then their flags."""
    chosen = Q()  # the severity/category filter the user picked
    if severity:
        chosen &= Q(severity=severity)
    if category:
        chosen &= Q(category=category)
    top = (
        PatientFlagSummary.objects.filter(key=chosen_key)
        .order_by("worst_rank", "-flag_count", "family_name", "patient")
        .values("patient")[:PATIENTS_SHOWN]
    )
    by_patient: dict[int, list[RiskFlag]] = {}
    # The patient's verdict carries the prophylaxis consideration shown beside thrombosis flags.
    shown = (
        RiskFlag.objects.active()
        .filter(chosen, patient_id__in=top)
        .select_related("patient")
        .only(*FLAG_SHOWN, "patient__risk_verdict")
    )
    for flag in shown.annotate(rank=SEVERITY_RANK):
        by_patient.setdefault(flag.patient_id, []).append(flag)
    return sorted(
        ((rows[0].patient, sorted(rows, key=lambda flag: (flag.rank, flag.code))) for rows in by_patient.values()),
        key=lambda item: (item[1][0].rank, -len(item[1]), item[0].family_name, item[0].pk),
    )


def _link(
    *,
    patients: list,
    flags: list,
    orders: list,
    sessions: list,
    prepared: list,
    reminders: list,
    reviews: list,
    courses: list,
) -> None:
    """Give every row the URLs the page links it to (`url`, and the acknowledge, plan, visits and
    review links), each list's built from one reversed prefix (url_for_each)."""
    patient_url = url_for_each("patients:detail", "patient_uuid")
    visits_url = url_for_each("visits:patient_visits", "patient_uuid")
    acknowledge_url = url_for_each("risk:acknowledge", "flag_uuid")
    order_url = url_for_each("dosing:order_detail", "order_uuid")
    plan_url = url_for_each("scheduling:course_create", "order_uuid")
    session_url = url_for_each("scheduling:session_detail", "session_uuid")
    course_url = url_for_each("pathway:course_detail", "course_uuid")
    review_url = url_for_each("pathway:review", "course_uuid")
    for flag in flags:
        flag.acknowledge_url = acknowledge_url(flag.uuid)
        flag.patient.visits_url = visits_url(flag.patient.uuid)
    for order in orders:
        order.url, order.plan_url = order_url(order.uuid), plan_url(order.uuid)
    for course in courses:
        course.url, course.review_url = course_url(course.uuid), review_url(course.uuid)
    # Only the review reminders carry a session (the checks' rows leave the column unread).
    for session in [*sessions, *(reminder.session for reminder in reviews if reminder.session_id)]:
        session.url = session_url(session.uuid)
    for session in prepared:
        order = session.cycle.course.order
        order.url = order_url(order.uuid)
    everyone = [*patients, *(row.patient for row in [*flags, *orders, *sessions, *reminders, *reviews, *courses])]
    for patient in everyone:
        patient.url = patient_url(patient.uuid)


def unit_today(now: datetime, cap: int = ROWS_PER_LIST) -> list[UnitGroup]:
    """Today's sessions (the clinic's day) in the four lists of UNIT_GROUPS, in one query: each
    row is put in its list by a CASE, numbered and counted within it by window functions, and
    rows past the cap are cut in the database. A COUNT(*) OVER () is cheap here, unlike on the
    other lists: one day of one unit is a few dozen sessions at most, whatever the clinic's size.

    Example: at 10:30, a confirmed 11:00 start and an unstarted 09:00 one are due now; a 14:00
    start is not yet listed; a session whose record has a stop time but no completion is stopped.
    """
    group = Case(
        *(When(condition, then=Value(key)) for key, condition in _unit_groups(now).items()),
        default=None,
        output_field=CharField(),
    )
    rows = (
        InfusionSession.objects.between(*_day(now))
        .annotate(group=group)
        .filter(group__isnull=False)
        .annotate(
            place=Window(RowNumber(), partition_by=F("group"), order_by=[F("planned_start").asc(), F("chair").asc()]),
            group_total=Window(Count("pk"), partition_by=F("group")),
        )
        .filter(place__lte=cap)
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
