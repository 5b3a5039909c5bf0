"""Acknowledging a risk flag (the dashboard that lists them is composed in clinic/).

In place (htmx), from a list's Acknowledge button: the form opens where the button was, and the
acknowledgement (or the form with its errors, 422) comes back in its place, with the message and,
when the page shows it, the count of flags not yet acknowledged. Without JavaScript the button
opens the acknowledge page, whose post redirects back as before."""

from urllib.parse import quote

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods

from accounts.form_errors import call_service
from accounts.in_place import done_in_place, form_status, in_place

from . import services
from .forms import AcknowledgeForm
from .models import RiskFlag


@require_http_methods(["GET", "POST"])
@permission_required("risk.acknowledge_riskflag", raise_exception=True)
def flag_acknowledge(request, flag_uuid):
    flag = get_object_or_404(RiskFlag.objects.select_related("patient"), uuid=flag_uuid)
    form = AcknowledgeForm(request.POST or None)
    back = _next_or(request, flag.patient.get_absolute_url())
    done = (
        form.is_bound and form.is_valid() and call_service(form, services.flag_acknowledge, by=request.user, flag=flag)
    )
    if done:
        messages.success(request, f"Acknowledged: {flag.title} for {flag.patient.mrn}.")
        if not in_place(request):
            return redirect(back)
        return done_in_place(
            request, page_url=back, template="risk/_acknowledged.html", context=_in_place(request, done)
        )
    context = {
        "flag": flag,
        "form": form,
        "next": request.GET.get("next", "") or request.POST.get("next", ""),
        "cancel_url": f"{flag.patient.get_absolute_url()}#flags",
    }
    if not in_place(request):
        return render(request, "risk/flag_acknowledge.html", context)
    return _form_in_place(request, flag, form, context)


def _form_in_place(request, flag: RiskFlag, form: AcknowledgeForm, context: dict):
    """The form opened in a list's row (focus in its comment), its errors (422), or, cancelled,
    the Acknowledge button again."""
    if request.GET.get("cancel"):
        button = _in_place(request, flag) | {"next": quote(context["next"])}
        return render(request, "risk/_acknowledgement.html", button)
    if not form.is_bound:
        form.fields["comment"].widget.attrs["autofocus"] = True
    context |= {"in_place": True, "counted": _counted(request)}
    status = form_status(request) if form.is_bound else 200
    return render(request, "risk/_acknowledge_form.html", context, status=status)


def _in_place(request, flag: RiskFlag) -> dict:
    counted = _counted(request)
    return {
        "flag": flag,
        "counted": counted,
        "with_mrn": counted,
        "unacknowledged_total": services.flags_unacknowledged_total() if counted else None,
    }


def _counted(request) -> bool:
    """The page the in-place form sits on shows the count of flags not yet acknowledged."""
    return bool(request.POST.get("counted") or request.GET.get("counted"))


def _next_or(request, default: str) -> str:
    """The page to go back to: a path on this site only. Anything else (another host, or text
    such as "-1" that redirect() would take for a URL name) falls back to `default`."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target.startswith("/") and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return default
