"""What the dashboard shows, read with a fixed number of queries whatever the size of
the clinic (lists are capped; counts are aggregated in the database)."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Case, Count, IntegerField, Min, Prefetch, Value, When
from django.utils import timezone

from dosing.models import DoseOrder
from scheduling.models import InfusionSession, Reminder, ReminderStatus

from . import rules
from .models import RiskFlag

ROWS_PER_LIST = 50
UPCOMING_DAYS = 7
# Reminder kinds the dashboard lists as checks and labs to do.
CHECK_KINDS = (
    "labs_creatinine_bun",
    "labs_hb_hct",
    "thrombosis_check",
    "venous_check",
    "haemolysis_check",
)
PATIENTS_SHOWN = 100
SEVERITY_RANK = Case(
    *[When(severity=severity, then=Value(rank)) for rank, severity in enumerate(rules.SEVERITIES)],
    output_field=IntegerField(),
)


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


def dashboard(*, severity: str = "", category: str = "", now: datetime | None = None) -> Dashboard:
    now = now or timezone.now()
    active = RiskFlag.objects.active()
    by_severity = dict(active.values_list("severity").annotate(n=Count("id")).order_by())
    filtered = active
    if severity:
        filtered = filtered.filter(severity=severity)
    if category:
        filtered = filtered.filter(category=category)
    # The most severe patients first (worst flag, then number of flags), then all their flags.
    shown = list(
        filtered.values("patient")
        .annotate(worst=Min(SEVERITY_RANK), flag_count=Count("id"))
        .order_by("worst", "-flag_count", "patient__family_name", "patient")[:PATIENTS_SHOWN]
    )
    order = [row["patient"] for row in shown]
    flags = filtered.filter(patient_id__in=order).select_related("patient").annotate(rank=SEVERITY_RANK)
    by_patient = {patient_id: [] for patient_id in order}
    for flag in sorted(flags, key=lambda flag: (flag.rank, flag.code)):
        by_patient[flag.patient_id].append(flag)
    patients_total = filtered.values("patient").distinct().count()
    not_acknowledged = active.filter(acknowledged_at__isnull=True).exclude(severity=rules.INFO)
    unacknowledged = list(
        not_acknowledged.select_related("patient")
        .annotate(rank=SEVERITY_RANK)
        .order_by("rank", "-first_seen_at")[:ROWS_PER_LIST]
    )
    orders = DoseOrder.objects.awaiting_verification().select_related("patient", "product", "indication")
    deteriorated = active.filter(code="response_confirmed_deterioration")
    deteriorations = list(deteriorated.select_related("patient").order_by("-evidence_on")[:ROWS_PER_LIST])
    flags_shown = Prefetch(
        "patient__risk_flags",
        queryset=RiskFlag.objects.active()
        .exclude(severity=rules.INFO)
        .filter(category__in=[rules.THROMBOSIS, rules.RENAL, rules.CONTRAINDICATION])
        .order_by("category", "code"),
        to_attr="flags_for_chair",
    )
    next_days = InfusionSession.objects.open().between(now, now + timedelta(days=UPCOMING_DAYS))
    upcoming = list(
        next_days.select_related("patient", "cycle__course__order__product").prefetch_related(flags_shown)[
            : ROWS_PER_LIST * 2
        ]
    )
    checks = (
        Reminder.objects.filter(kind__in=CHECK_KINDS, due_at__lte=now)
        .exclude(status__in=[ReminderStatus.DONE, ReminderStatus.CANCELLED])
        .select_related("patient")
        .order_by("due_at")
    )
    counts = {
        "high": by_severity.get(rules.HIGH, 0),
        "moderate": by_severity.get(rules.MODERATE, 0),
        "info": by_severity.get(rules.INFO, 0),
        "patients_at_risk": active.putting_at_risk().values("patient").distinct().count(),
        "unacknowledged": not_acknowledged.count(),
        "orders_awaiting": orders.count(),
        "deteriorations": deteriorated.count(),
        "upcoming_sessions": next_days.count(),
        "checks_overdue": checks.filter(window_end__lt=now).count(),
        "checks_due": checks.count(),
    }
    return Dashboard(
        counts=counts,
        patients=[(rows[0].patient, rows) for rows in by_patient.values() if rows],
        patients_total=patients_total,
        unacknowledged=unacknowledged,
        orders_awaiting=list(orders.order_by("prescribed_at")[:ROWS_PER_LIST]),
        deteriorations=deteriorations,
        upcoming_sessions=[(session, session.patient.flags_for_chair) for session in upcoming],
        checks_due=list(checks[:ROWS_PER_LIST]),
    )
