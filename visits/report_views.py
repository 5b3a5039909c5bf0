"""Read-only reports on response to IVIG: the clinic's week-16 cohort, as a page and as CSV.
Every clinic role may read them (visits.view_visit). One patient's trend chart, which also
shows the infusions given, is composed in clinic/.

The CSV carries patient data into a file a browser may keep, so no response here is cached."""

from django.contrib.auth.decorators import permission_required
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from . import cohort, tis


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
        "prednisone_source": cohort.GLUCOCORTICOID_EQUIVALENCE_SOURCE,
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
