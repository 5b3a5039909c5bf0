"""What a stewardship review puts together for one treatment course, as plain data kept with the
review (``Review.evidence``) and shown on the review page: every figure with its unit, date and
source. It reads visits (TIS trend, confirmed deterioration), scheduling (grams given per cycle,
reactions), risk (flags, active and resolved) and patients (prednisone-equivalent dose)."""

from collections import defaultdict
from datetime import date
from decimal import Decimal

from django.utils import timezone

from dosing.calculations import MG_PER_G
from dosing.models import TreatmentCourse
from patients.services import prednisone_timeline_for
from risk.models import RiskFlag
from scheduling.models import Course, InfusionSession, Reaction, SessionStatus
from visits.scoring import patient_response


def _g(value: Decimal) -> str:
    return format(value.normalize(), "f")


def scheduling_courses(course: TreatmentCourse):
    """The booked courses (scheduling.Course) of the orders placed on this treatment course."""
    return Course.objects.filter(order__treatment_course=course)


def tis_trend(course: TreatmentCourse) -> dict:
    """Each scored visit's TIS (0-100, ACR/EULAR myositis response) with its category and week,
    and whether a deterioration was confirmed (ProDERM: two consecutive visits worse)."""
    response = patient_response(course.patient)
    points = [
        {
            "on": scored.visit.visit_date.isoformat(),
            "week": scored.weeks_since_first_infusion,
            "tis": None if scored.result.total is None else _g(Decimal(scored.result.total)),
            "category": scored.result.category,
        }
        for scored in response.visits
        if scored.result is not None
    ]
    pairs = response.deterioration.confirmed_pairs if response.deterioration else ()
    return {
        "baseline_on": response.baseline.visit_date.isoformat() if response.baseline else None,
        "points": points,
        "confirmed_deterioration": response.confirmed_deterioration,
        "deterioration_pairs": [[str(first), str(second)] for first, second in pairs],
    }


def grams_per_cycle(course: TreatmentCourse) -> list[dict]:
    """Grams given per cycle, from what the nurse recorded: each completed infusion day's volume
    given times the product's concentration (1 mL of a 10 % product = 0.1 g). A day completed
    without a recorded volume counts its order's planned daily dose and the row says so.

    Example: two days of 700.0 mL of Octagam 10 % (100 mg/mL) -> 140 g, "recorded"; one of them
    without a volume -> 70 g recorded + 70 g planned, "recorded and planned"."""
    given = (
        InfusionSession.objects.filter(cycle__course__in=scheduling_courses(course), status=SessionStatus.COMPLETED)
        .select_related("cycle__course__order__product", "record")
        .order_by("cycle__start_date", "day_number")
    )
    cycles: dict[int, dict] = {}
    for session in given:
        cycle = session.cycle
        order = cycle.course.order
        row = cycles.setdefault(
            cycle.pk,
            {
                "start": cycle.start_date.isoformat(),
                "number": cycle.number,
                "days_given": 0,
                "grams": Decimal(0),
                "bases": set(),
            },
        )
        row["days_given"] += 1
        record = getattr(session, "record", None)
        if record is not None and record.volume_given_ml is not None:
            row["grams"] += record.volume_given_ml * order.product.concentration_mg_per_ml / MG_PER_G
            row["bases"].add("recorded")
        else:
            row["grams"] += Decimal(str(order.plan.get("daily_dose_g", "0")))
            row["bases"].add("planned")
    return [
        {**{k: v for k, v in row.items() if k != "bases"}, "grams": _g(row["grams"]), "basis": _basis(row["bases"])}
        for row in cycles.values()
    ]


def _basis(bases: set[str]) -> str:
    return " and ".join(sorted(bases)) or "recorded"


def reactions(course: TreatmentCourse) -> list[dict]:
    """Infusion reactions recorded (live entries) on this course's sessions."""
    rows = Reaction.objects.live().filter(record__session__cycle__course__in=scheduling_courses(course)).order_by("at")
    return [
        {
            "on": timezone.localtime(row.at).date().isoformat(),
            "type": row.get_type_display(),
            "severity": row.get_severity_display(),
            "action": row.get_action_display(),
        }
        for row in rows
    ]


def risk_flags(course: TreatmentCourse) -> dict:
    flags = RiskFlag.objects.filter(patient=course.patient)
    rows = defaultdict(list)
    for flag in flags:
        rows["resolved" if flag.resolved_at else "active"].append(
            {
                "title": flag.title,
                "category": flag.category,
                "severity": flag.severity,
                "evidence": flag.evidence,
                "since": timezone.localtime(flag.first_seen_at).date().isoformat(),
                "resolved_on": flag.resolved_at and timezone.localtime(flag.resolved_at).date().isoformat(),
            }
        )
    return {"active": rows["active"], "resolved": rows["resolved"]}


def prednisone(course: TreatmentCourse, today: date) -> list[dict]:
    """The daily glucocorticoid dose as prednisone (mg/day, BNF equivalences) from the course's start."""
    start = min(course.started_on, today)
    return [
        {
            "on": point.on.isoformat(),
            "prednisone_mg_per_day": _g(point.prednisone_mg),
            "unconverted": list(point.unconverted),
        }
        for point in prednisone_timeline_for(course.patient, start=start, end=today)
    ]


def review_evidence(course: TreatmentCourse, today: date) -> dict:
    """Everything the review page shows, as of ``today``."""
    return {
        "as_of": today.isoformat(),
        "course": {
            "indication": course.indication_name,
            "started_on": course.started_on.isoformat(),
            "authorised_until": course.authorised_until.isoformat(),
            "max_dose_g_per_kg": _g(course.max_dose_g_per_kg),
            "current_dose_g_per_kg": _g(course.current_dose_g_per_kg),
            "interval_weeks": course.current_interval_weeks,
            "objective_measures": list(course.objective_measures),
        },
        "tis": tis_trend(course),
        "grams_per_cycle": grams_per_cycle(course),
        "reactions": reactions(course),
        "risk_flags": risk_flags(course),
        "prednisone": prednisone(course, today),
    }
