"""Read-only reports on response to IVIG: one patient's trend chart (SVG) and the clinic's
week-16 cohort, as a page and as CSV. Every clinic role may read them (visits.view_visit).

The chart and the CSV carry patient data into files a browser may keep, so none of these
responses may be cached."""

from django.contrib.auth.decorators import permission_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from patients.models import Patient
from scheduling.models import Cycle, SessionStatus

from . import charts, cohort, tis
from .scoring import patient_response

# What the chart's IVIG markers stand for until infusions themselves are recorded.
INFUSION_LABEL = "IVIG: first infusion, then the first day of each cycle given"


@require_GET
@never_cache
@permission_required("visits.view_visit", raise_exception=True)
def trend_chart(request, patient_uuid):
    patient = get_object_or_404(Patient, uuid=patient_uuid)
    svg = charts.trend_chart_svg(
        patient_response(patient),
        patient_label=f"{patient.full_name} (MRN {patient.mrn})",
        infusion_dates=_infusion_dates(patient),
        infusion_label=INFUSION_LABEL,
    )
    return HttpResponse(svg, content_type="image/svg+xml; charset=utf-8")


def _infusion_dates(patient: Patient) -> list:
    # The first day of every cycle with a completed infusion (local dates); the chart adds the
    # first infusion itself.
    starts = Cycle.objects.filter(course__patient=patient, sessions__status=SessionStatus.COMPLETED)
    return sorted(set(starts.values_list("start_date", flat=True)))


@require_GET
@never_cache
@permission_required("visits.view_visit", raise_exception=True)
def cohort_report(request):
    report = cohort.load_cohort(today=timezone.localdate())
    context = {
        "report": report,
        "populations": cohort.shown_populations(report),
        "proderm_results": cohort.PRODERM_RESULTS,
        "proderm_source": cohort.PRODERM_SOURCE,
        "known_limits": cohort.KNOWN_LIMITS,
        "enzyme_rule_note": tis.ENZYME_RANGE_RULE_NOTE,
    }
    return render(request, "visits/cohort.html", context)


@require_GET
@never_cache
@permission_required("visits.view_visit", raise_exception=True)
def cohort_csv(request):
    today = timezone.localdate()
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="tis-cohort-{today.isoformat()}.csv"'
    cohort.write_csv(cohort.load_cohort(today=today), response)
    return response
