"""The dose calculator: a GET form, so a result is a link and the page works without
JavaScript. With htmx (the form's hx-get, as the person types) the answer is the results
block alone, swapped in, and the address bar keeps the inputs (hx-replace-url)."""

from django.contrib.auth.decorators import permission_required
from django.shortcuts import render
from django.template import engines
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET

from accounts.in_place import in_place

from ..forms import DoseCalculatorForm
from ..models import Indication, SiteSettings
from ..planning import label_info, plan_for

# calculator.html extends `layout`: the site's page, or this parent that renders only the results block.
RESULTS_ONLY = engines["django"].from_string("{% block results %}{% endblock %}")
PLAN_INPUTS = ("weight_kg", "height_cm", "sex", "dose_g_per_kg", "days", "weight_basis", "at_risk")


def _plan_or_field_errors(form: DoseCalculatorForm, site: SiteSettings) -> dict | None:
    """The plan as the order pages show it (``DosePlan.to_dict()``), or the calculation's
    ValueError put next to the field it names ("days: must be between 2 and 5 ...")."""
    indication = form.cleaned_data["indication"]
    try:
        plan = plan_for(
            product=indication.product,
            indication=indication,
            site=site,
            **{name: form.cleaned_data[name] for name in PLAN_INPUTS},
        )
    except ValueError as exc:
        field = getattr(exc, "field", None)
        if field in form.fields:
            form.add_error(field, exc.sentence)
        else:
            form.add_error(None, str(exc))
        return None
    return plan.to_dict()


@require_GET
@permission_required("dosing.view_product", raise_exception=True)
def dose_calculator(request):
    indications = list(Indication.objects.select_related("product").order_by("product__name", "name"))
    # A submitted form always carries weight_kg; a link with only ?indication= just preselects it.
    submitted = "weight_kg" in request.GET
    form = DoseCalculatorForm(
        request.GET if submitted else None,
        indications=indications,
        initial={"indication": request.GET.get("indication")},
    )
    plan = label = indication = None
    if form.is_bound and form.is_valid():
        indication = form.cleaned_data["indication"]
        plan = _plan_or_field_errors(form, SiteSettings.load())
        if plan is not None:
            label = label_info(indication.product, indication)
    context = {
        "layout": RESULTS_ONLY if in_place(request) else "base.html",
        "form": form,
        "indication": indication,
        "plan": plan,
        "label": label,
    }
    response = render(request, "dosing/calculator.html", context)
    patch_vary_headers(response, ["HX-Request"])
    return response
