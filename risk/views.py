"""Acknowledging a risk flag (the dashboard that lists them is composed in clinic/)."""

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods

from accounts.form_errors import call_service

from . import services
from .forms import AcknowledgeForm
from .models import RiskFlag


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
