"""The risk dashboard (the home page) and flag acknowledgement."""

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods

from accounts.form_errors import call_service

from . import services
from .dashboard import dashboard
from .forms import AcknowledgeForm, DashboardFilterForm
from .models import RiskFlag


@require_GET
@permission_required("risk.view_riskflag", raise_exception=True)
def home(request):
    filters = DashboardFilterForm(request.GET or None)
    chosen = filters.cleaned_data if filters.is_bound and filters.is_valid() else {}
    board = dashboard(severity=chosen.get("severity", ""), category=chosen.get("category", ""))
    return render(request, "risk/dashboard.html", {"board": board, "filters": filters, "now": timezone.now()})


@require_http_methods(["GET", "POST"])
@permission_required("risk.acknowledge_riskflag", raise_exception=True)
def flag_acknowledge(request, flag_uuid):
    flag = get_object_or_404(RiskFlag.objects.select_related("patient"), uuid=flag_uuid)
    form = AcknowledgeForm(request.POST or None)
    if form.is_bound and form.is_valid() and call_service(form, services.flag_acknowledge, by=request.user, flag=flag):
        messages.success(request, f"Acknowledged: {flag.title} for {flag.patient.mrn}.")
        return redirect(_next_or(request, flag.patient.get_absolute_url()))
    return render(
        request, "risk/flag_acknowledge.html", {"flag": flag, "form": form, "next": request.GET.get("next", "")}
    )


def _next_or(request, default: str) -> str:
    """The page to go back to: a path on this site only. Anything else (another host, or text
    such as "-1" that redirect() would take for a URL name) falls back to `default`."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target.startswith("/") and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return default
