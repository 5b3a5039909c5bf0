"""Pages that compose several apps: the dashboard (home page), the patient's chart page and the
trend chart with the infusions given. Each view authorises, reads, renders."""

from django.contrib.auth.decorators import permission_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from accounts.roles import roles_of
from patients.forms import LabResultForm, MeasurementForm
from patients.labs import LAB_CATALOG
from patients.medicines import GLUCOCORTICOID_EQUIVALENCE_SOURCE
from patients.models import MedicationCategory, Patient
from patients.services import glucocorticoid_courses_for
from risk.models import SEVERITY_RANK
from scheduling.models import Cycle, SessionStatus
from visits import charts
from visits.scoring import patient_response, weeks_between

from .dashboard import dashboard, home_layout
from .forms import DashboardFilterForm

# What the chart's IVIG markers stand for until infusions themselves are recorded.
INFUSION_LABEL = "IVIG: first infusion, then the first day of each cycle given"


@require_GET
@permission_required("risk.view_riskflag", raise_exception=True)
def home(request):
    """The home page shaped by the person's roles (clinic.dashboard.LEADS); `?view=<role>` or
    `?section=<key>` picks another view or one section, as plain links that work without JavaScript."""
    layout = home_layout(
        roles_of(request.user), view=request.GET.get("view", ""), section=request.GET.get("section", "")
    )
    filters = DashboardFilterForm(request.GET or None)
    chosen = filters.cleaned_data if filters.is_bound and filters.is_valid() else {}
    board = dashboard(
        shown=[section.key for section in layout.shown],
        severity=chosen.get("severity", ""),
        category=chosen.get("category", ""),
    )
    others = [(section, board.counts[section.count]) for section in layout.others]
    context = {"board": board, "layout": layout, "others": others, "filters": filters, "now": timezone.now()}
    return render(request, "clinic/dashboard.html", context)


def _get_patient(patient_uuid) -> Patient:
    return get_object_or_404(Patient, uuid=patient_uuid)


@require_GET
@permission_required("patients.view_patient", raise_exception=True)
def patient_detail(request, patient_uuid):
    patient = _get_patient(patient_uuid)
    today = timezone.localdate()
    measurements = list(patient.measurements.select_related("recorded_by"))
    active_flags = list(
        patient.risk_flags.active()
        .select_related("acknowledged_by")
        .annotate(rank=SEVERITY_RANK)
        .order_by("rank", "code")
    )
    labs = list(patient.lab_results.select_related("recorded_by"))
    latest_labs = {}
    for result in labs:  # newest first, so the first seen per test is the latest
        latest_labs.setdefault(result.test, result)
    medications = list(patient.medications.all())
    response = patient_response(patient)  # week 0 as visits counts it: recorded, else derived
    context = {
        "patient": patient,
        "age_years": patient.age_on(today),
        "current_weight": next((m for m in measurements if m.weight_kg is not None), None),
        "current_height": next((m for m in measurements if m.height_cm is not None), None),
        "measurements": measurements,
        "labs": labs,
        "latest_labs": [latest_labs[code] for code in LAB_CATALOG if code in latest_labs],
        "medications": medications,
        "has_glucocorticoid": any(m.category == MedicationCategory.GLUCOCORTICOID for m in medications),
        "glucocorticoid_source": GLUCOCORTICOID_EQUIVALENCE_SOURCE,
        "risk_factors": list(patient.risk_factors.all()),
        "dose_orders": list(patient.dose_orders.select_related("product", "indication")[:20]),
        "treatment_courses": list(patient.treatment_courses.all()),
        "response": response,
        "active_flags": active_flags,
        "at_risk_flags": [flag for flag in active_flags if flag.puts_at_risk],
        "resolved_flags": list(patient.risk_flags.exclude(resolved_at=None).order_by("-resolved_at")[:20]),
        "weeks_on_ivig": weeks_between(response.first_infusion_on, today),
        "today": today,
        "measurement_form": MeasurementForm(initial={"measured_on": today}),
        "lab_form": LabResultForm(initial={"collected_on": today}),
    }
    return render(request, "clinic/patient_detail.html", context)


@require_GET
@never_cache
@permission_required("visits.view_visit", raise_exception=True)
def trend_chart(request, patient_uuid):
    patient = _get_patient(patient_uuid)
    svg = charts.trend_chart_svg(
        patient_response(patient),
        patient_label=f"{patient.full_name} (MRN {patient.mrn})",
        infusion_dates=_infusion_dates(patient),
        infusion_label=INFUSION_LABEL,
        glucocorticoids=glucocorticoid_courses_for(patient),
    )
    return HttpResponse(svg, content_type="image/svg+xml; charset=utf-8")


def _infusion_dates(patient: Patient) -> list:
    # The first day of every cycle with a completed infusion (local dates); the chart adds the
    # first infusion itself.
    starts = Cycle.objects.filter(course__patient=patient, sessions__status=SessionStatus.COMPLETED)
    return sorted(set(starts.values_list("start_date", flat=True)))
