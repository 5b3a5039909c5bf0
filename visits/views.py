"""Visit pages: a patient's visits scored against the baseline, recording or correcting a visit,
one visit's TIS breakdown, and choosing the baseline.

Each view authorises, binds, calls a service, then redirects or renders. The arithmetic is
visits/tis.py and visits/scoring.py; what is here is wording: turning their results into the
sentences and table cells a physician reads."""

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.form_errors import call_service
from patients.models import Diagnosis, Patient

from . import scoring, services, tis
from .forms import ENZYME_LABELS, HAQ_CATEGORY_LABELS, MMT8_GROUP_LABELS, VisitForm, plain_decimal
from .models import MmtScale, Visit

MEASURE_LABELS = {
    tis.PHYSICIAN_GLOBAL: "Physician global",
    tis.PATIENT_GLOBAL: "Patient / parent global",
    tis.MMT: "Muscle strength (MMT-8 / CMAS)",
    tis.HAQ: "HAQ-DI / CHAQ",
    tis.ENZYME: "Muscle enzyme",
    tis.EXTRAMUSCULAR_GLOBAL: "Extramuscular global",
}
MEASURE_UNITS = {
    tis.PHYSICIAN_GLOBAL: "cm",
    tis.PATIENT_GLOBAL: "cm",
    tis.MMT: "points",
    tis.HAQ: "of 3",
    tis.ENZYME: "U/L",
    tis.EXTRAMUSCULAR_GLOBAL: "cm",
}
CRITERION_LABELS = {
    tis.CRITERION_PHYSICIAN_AND_MMT: "physician global up ≥ 2 cm and MMT down ≥ 20 %",
    tis.CRITERION_EXTRAMUSCULAR: "extramuscular global up ≥ 2 cm",
    tis.CRITERION_THREE_OF_FIVE: "3 of 5 measures worse by ≥ 30 %",
}
CATEGORY_LABELS = {
    tis.CATEGORY_NONE: "no improvement",
    tis.CATEGORY_MINIMAL: "minimal improvement",
    tis.CATEGORY_MODERATE: "moderate improvement",
    tis.CATEGORY_MAJOR: "major improvement",
    tis.CATEGORY_INCOMPLETE: "incomplete",
}
POPULATION_LABELS = {tis.ADULT: "Adult DM/PM", tis.JUVENILE: "Juvenile DM"}


def _get_patient(patient_uuid) -> Patient:
    return get_object_or_404(Patient, uuid=patient_uuid)


def _get_visit(visit_uuid) -> Visit:
    return get_object_or_404(Visit.objects.select_related("patient", "assessor", "recorded_by"), uuid=visit_uuid)


# --- Views ------------------------------------------------------------------------------------


@require_GET
@permission_required("visits.view_visit", raise_exception=True)
def patient_visits(request, patient_uuid):
    patient = _get_patient(patient_uuid)
    response = scoring.patient_response(patient, list(patient.visits.select_related("assessor")))
    followed = _followed_enzyme(response)
    context = {
        "patient": patient,
        "response": response,
        "population": _population(response.population),
        "baseline_text": _baseline_text(response),
        "rows": _visit_rows(response, followed),
        "deterioration": _deterioration_text(response),
        "week16": _week16_text(response),
        "followed_enzyme": ENZYME_LABELS.get(followed, ""),
        "amyopathic": patient.diagnosis == Diagnosis.AMYOPATHIC_DM,
    }
    return render(request, "visits/patient_visits.html", context)


@require_http_methods(["GET", "POST"])
@permission_required("visits.add_visit", raise_exception=True)
def visit_create(request, patient_uuid):
    patient = _get_patient(patient_uuid)
    form = VisitForm(request.POST or None, patient=patient, user=request.user, lab_day=request.GET.get("visit_date"))
    if form.is_bound and form.is_valid():
        today = timezone.localdate()
        visit = call_service(form, services.visit_record, by=request.user, patient=patient, today=today)
        if visit is not None:
            messages.success(request, f"Visit of {visit.visit_date:%Y-%m-%d} recorded.")
            return redirect(visit)
    context = {"form": form, "patient": patient, "title": "Record a visit"}
    return render(request, "visits/visit_form.html", context)


@require_http_methods(["GET", "POST"])
@permission_required("visits.change_visit", raise_exception=True)
def visit_edit(request, visit_uuid):
    visit = _get_visit(visit_uuid)
    # Taken before the service runs: a refused correction leaves the typed values on `visit`.
    title = f"Correct the visit of {visit.visit_date:%Y-%m-%d}"
    lab_day = request.GET.get("visit_date")
    form = VisitForm(request.POST or None, patient=visit.patient, user=request.user, visit=visit, lab_day=lab_day)
    if (
        form.is_bound
        and form.is_valid()
        and call_service(form, services.visit_update, by=request.user, visit=visit, today=timezone.localdate())
    ):
        messages.success(request, f"Visit of {visit.visit_date:%Y-%m-%d} corrected.")
        return redirect(visit)
    context = {"form": form, "patient": visit.patient, "visit": visit, "title": title}
    return render(request, "visits/visit_form.html", context)


@require_GET
@permission_required("visits.view_visit", raise_exception=True)
def visit_detail(request, visit_uuid):
    visit = _get_visit(visit_uuid)
    response = scoring.patient_response(visit.patient)
    scored = next(s for s in response.visits if s.visit.pk == visit.pk)
    context = {
        "visit": visit,
        "patient": visit.patient,
        "response": response,
        "scored": scored,
        "population": _population(response.population),
        "baseline_text": _baseline_text(response),
        "position": _position(scored, response),
        "measures": _visit_measures(visit),
        "mmt_grades": _mmt_grades(visit),
        "haq_answers": _haq_answers(visit),
        "breakdown": _breakdown(scored) if scored.result is not None else None,
        "history": visit.history.select_related("history_user").order_by("-history_date"),
    }
    return render(request, "visits/visit_detail.html", context)


@require_POST
@permission_required("visits.change_visit", raise_exception=True)
def visit_set_baseline(request, visit_uuid):
    visit = _get_visit(visit_uuid)
    try:
        services.visit_set_baseline(by=request.user, visit=visit)
    except ValidationError as exc:
        messages.error(request, "Not changed: " + " ".join(exc.messages))
        return redirect(visit)
    messages.success(
        request, f"The visit of {visit.visit_date:%Y-%m-%d} is now the baseline; every TIS below is recomputed."
    )
    return redirect("visits:patient_visits", patient_uuid=visit.patient.uuid)


# --- Wording for the pages --------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """One number as shown: value, unit, and an optional note (e.g. the enzyme's name and ULN)."""

    value: str
    unit: str = ""
    note: str = ""


@dataclass(frozen=True)
class VisitRow:
    visit: Visit
    weeks: int | None
    role: str  # "baseline", "before baseline", "follow-up" or "no baseline"
    cells: list[Cell]
    tis_total: str
    category: str
    category_key: str
    missing: str
    worse: str
    confirmed_with: str


@dataclass(frozen=True)
class BreakdownRow:
    measure: str
    unit: str
    baseline: str
    followup: str
    percent_change: str
    points: str
    max_points: str
    enzyme: dict | None


def _num(value: Decimal | None) -> str:
    return "—" if value is None else plain_decimal(value)


def _population(population: str) -> dict:
    thresholds = {category: plain_decimal(t) for t, category in tis.CATEGORY_THRESHOLDS[population]}
    return {"key": population, "label": POPULATION_LABELS[population], **thresholds}


def _baseline_text(response: scoring.PatientResponse) -> str:
    start = response.first_infusion_on
    if not response.visits:
        return "No baseline yet: no visits recorded."
    if response.baseline is None:
        return (
            f"No baseline yet: no visit on or before the first infusion ({start:%Y-%m-%d}). "
            "Open a visit and make it the baseline."
        )
    day = f"{response.baseline.visit_date:%Y-%m-%d}"
    if not response.baseline_is_default:
        return f"Baseline: the visit of {day}, marked as the baseline."
    if start is None:
        return (
            f"Default baseline: the visit of {day}, the latest visit, because no first infusion date is recorded. "
            "Later visits get a TIS once the first infusion date is recorded or a baseline is marked."
        )
    return f"Default baseline: the visit of {day}, the last visit on or before the first infusion ({start:%Y-%m-%d})."


def _followed_enzyme(response: scoring.PatientResponse) -> str | None:
    return tis.most_abnormal_enzyme(response.baseline.enzymes()) if response.baseline else None


def _enzyme_cell(visit: Visit, followed: str | None) -> Cell:
    panel = visit.enzymes()
    # Before a baseline exists there is no followed enzyme: show this visit's most abnormal one.
    name = followed or tis.most_abnormal_enzyme(panel)
    if name is None or name not in panel:
        return Cell("—", note=f"{ENZYME_LABELS[name]} not measured" if name else "")
    value, uln = panel[name]
    return Cell(_num(value), "U/L", f"{ENZYME_LABELS[name]}, ULN {_num(uln)}")


def _mmt_cell(visit: Visit) -> Cell:
    if visit.mmt_score is None:
        return Cell("—")
    return Cell(_num(visit.mmt_score), f"/ {visit.mmt_max}" if visit.mmt_max else "points", _scale_name(visit))


def _scale_name(visit: Visit) -> str:
    return {MmtScale.MMT8_UNILATERAL: "MMT-8", MmtScale.MMT8_BILATERAL: "MMT-8 bilateral", MmtScale.CMAS: "CMAS"}.get(
        visit.mmt_scale, "scale not given"
    )


def _measure_cells(visit: Visit, followed: str | None) -> list[Cell]:
    return [
        Cell(_num(visit.physician_global_cm), "cm"),
        Cell(_num(visit.patient_global_cm), "cm"),
        _mmt_cell(visit),
        Cell(_num(visit.haq_score), "", visit.get_haq_instrument_display() if visit.haq_score is not None else ""),
        _enzyme_cell(visit, followed),
        Cell(_num(visit.extramuscular_global_cm), "cm"),
    ]


def _missing_text(scored: scoring.ScoredVisit) -> str:
    names = []
    for measure in scored.result.missing:
        label = MEASURE_LABELS[measure]
        if measure == tis.MMT and scored.mmt_scale_mismatch:
            label += " (on a different scale from the baseline)"
        names.append(label)
    return ", ".join(names)


def _position(scored: scoring.ScoredVisit, response: scoring.PatientResponse) -> str:
    if response.baseline is None:
        return "no baseline"
    if scored.visit.pk == response.baseline.pk:
        return "baseline"
    return "follow-up" if scored.result is not None else "before baseline"


def _visit_rows(response: scoring.PatientResponse, followed: str | None) -> list[VisitRow]:
    checks = {w.label: w for w in response.deterioration.visits} if response.deterioration else {}
    pairs = response.deterioration.confirmed_pairs if response.deterioration else ()
    rows = []
    for scored in response.visits:
        day, result = scored.visit.visit_date, scored.result
        check = checks.get(day)
        partners = [first if second == day else second for first, second in pairs if day in (first, second)]
        rows.append(
            VisitRow(
                visit=scored.visit,
                weeks=scored.weeks_since_first_infusion,
                role=_position(scored, response),
                cells=_measure_cells(scored.visit, followed),
                tis_total=_num(result.total) if result and result.total is not None else "",
                category=CATEGORY_LABELS[result.category] if result else "",
                category_key=result.category if result else "",
                missing=_missing_text(scored) if result and result.missing else "",
                worse="; ".join(CRITERION_LABELS[c] for c in check.criteria) if check and check.worse else "",
                confirmed_with=", ".join(f"{partner:%Y-%m-%d}" for partner in partners),
            )
        )
    return rows


def _deterioration_text(response: scoring.PatientResponse) -> dict:
    if response.deterioration is None:
        return {"confirmed": False, "text": "No follow-up visits after the baseline yet."}
    by_date = {w.label: w for w in response.deterioration.visits}
    if not response.confirmed_deterioration:
        worse = [f"{w.label:%Y-%m-%d}" for w in response.deterioration.visits if w.worse]
        text = "No confirmed deterioration (worse than baseline at two consecutive visits)."
        if worse:
            text += f" Worse than baseline at a single visit: {', '.join(worse)}."
        return {"confirmed": False, "text": text}
    parts = []
    for first, second in response.deterioration.confirmed_pairs:
        criteria = {c for day in (first, second) for c in by_date[day].criteria}
        labels = ", ".join(CRITERION_LABELS[c] for c in tis.WORSENING_CRITERIA if c in criteria)
        parts.append(f"{first:%Y-%m-%d} and {second:%Y-%m-%d} ({labels})")
    text = "Confirmed deterioration (ProDERM): worse than baseline at consecutive visits " + "; ".join(parts) + "."
    return {"confirmed": True, "text": text}


def _week16_text(response: scoring.PatientResponse) -> dict:
    start = response.first_infusion_on
    if start is None:
        return {
            "known": False,
            "text": "Week 16 cannot be worked out: the first IVIG infusion date is not recorded "
            "and no infusion has been given yet.",
        }
    target = start + timedelta(weeks=scoring.WEEK16)
    window = timedelta(weeks=scoring.WEEK16_WINDOW_WEEKS)
    scored = response.week16_visit
    if scored is None:
        return {
            "known": False,
            "text": f"No visit within ±2 weeks of week 16 ({target:%Y-%m-%d}; "
            f"window {target - window:%Y-%m-%d} to {target + window:%Y-%m-%d}).",
        }
    day = f"{scored.visit.visit_date:%Y-%m-%d} (week {scored.weeks_since_first_infusion})"
    if scored.result.total is None:
        return {
            "known": False,
            "text": f"Week-16 visit {day}: TIS incomplete, missing {_missing_text(scored)}; response cannot be judged.",
        }
    responder = response.week16_responder
    minimum = response.responder_min_tis
    reason = ""
    if not responder:
        reason = f" (TIS below {minimum})" if scored.result.total < minimum else " (confirmed deterioration by then)"
    return {
        "known": True,
        "responder": responder,
        "text": f"Week-16 visit {day}: TIS {_num(scored.result.total)}, "
        f"{CATEGORY_LABELS[scored.result.category]}. Responder (TIS ≥ {minimum}, no confirmed deterioration): "
        f"{'yes' if responder else 'no'}{reason}.",
    }


def _visit_measures(visit: Visit) -> list[tuple[str, Cell]]:
    measures = [
        ("Physician global activity", Cell(_num(visit.physician_global_cm), "cm")),
        ("Patient or parent global activity", Cell(_num(visit.patient_global_cm), "cm")),
        ("Muscle strength", _mmt_cell(visit)),
        (f"Function ({visit.get_haq_instrument_display()})", Cell(_num(visit.haq_score), "of 3")),
        ("Extramuscular global activity", Cell(_num(visit.extramuscular_global_cm), "cm")),
    ]
    for name, (value, uln) in visit.enzymes().items():
        multiple = value / uln
        measures.append((ENZYME_LABELS[name], Cell(_num(value), "U/L", f"ULN {_num(uln)} U/L; {multiple:.1f} × ULN")))
    if not visit.enzymes():
        measures.append(("Muscle enzymes", Cell("—", "", "none recorded")))
    return measures


def _mmt_grades(visit: Visit) -> list[tuple[str, str, str]]:
    """(muscle group, right or one side, left) from the stored per-muscle grades."""
    grades = (visit.mmt_muscles or {}).get("grades") or {}
    rows = []
    for group, label in MMT8_GROUP_LABELS.items():
        one = grades.get(group, grades.get(f"{group}_right"))
        if one is None:
            continue
        rows.append((label, str(one), str(grades.get(f"{group}_left", ""))))
    return rows


def _haq_answers(visit: Visit) -> list[tuple[str, int, bool, int]]:
    answers = (visit.haq_categories or {}).get("categories") or {}
    return [
        (HAQ_CATEGORY_LABELS.get(key, key), a["score"], a["aids"], a["category_score"]) for key, a in answers.items()
    ]


def _breakdown(scored: scoring.ScoredVisit) -> dict:
    result = scored.result
    rows = []
    for measure, score in result.measures.items():
        enzyme = None
        if measure == tis.ENZYME and score.enzyme:
            enzyme = {
                "name": ENZYME_LABELS[score.enzyme],
                "uln": _num(score.uln_u_per_l),
                "k": score.range_uln_multiple,
                "range": _num(score.range_u_per_l),
                "followup_uln": _num(score.followup_uln_u_per_l)
                if score.followup_uln_u_per_l is not None and score.followup_uln_u_per_l != score.uln_u_per_l
                else "",
            }
        unit = MEASURE_UNITS[measure]
        if measure == tis.MMT:
            unit = f"of {result.mmt_max}"
        rows.append(
            BreakdownRow(
                measure=MEASURE_LABELS[measure],
                unit=unit,
                baseline=_num(score.baseline),
                followup=_num(score.followup),
                percent_change=_num(score.percent_change),
                points=_num(score.points),
                max_points=_num(tis.POINTS_PER_BAND[measure][-1]),
                enzyme=enzyme,
            )
        )
    return {
        "rows": rows,
        "total": _num(result.total) if result.total is not None else "",
        "category": CATEGORY_LABELS[result.category],
        "category_key": result.category,
        "missing": _missing_text(scored) if result.missing else "",
        "population": _population(result.population),
        "enzyme_rule_note": tis.ENZYME_RANGE_RULE_NOTE,
        "enzyme_rule_confirmed": tis.ENZYME_RANGE_RULE_CONFIRMED,
        "mmt_scale_max": result.mmt_max,
    }
