"""Dose order pages: prescribe (physician), verify or reject (pharmacist), cancel,
and print the infusion sheet for each day of a cycle."""

from datetime import datetime, time

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from accounts.form_errors import add_service_errors, carry_version, conflict_status
from accounts.in_place import form_status, in_place
from accounts.roles import roles_of
from patients.models import Patient

from ..chart_limits import bedside_times, ladder_times, plan_digest
from ..models import DoseOrder, SiteSettings, TreatmentCourseStatus
from ..order_forms import (
    ALL,
    ORDER_LIST_FILTERS,
    ORDER_STATUS_FILTERS,
    PREMEDICATION_PREFIX,
    WORKLIST_FILTERS,
    DoseOrderForm,
    ReasonForm,
    SheetOptionsForm,
    VerifyOrderForm,
    default_order_filter,
    filter_orders,
    premedication_formset,
    premedications_of,
)
from ..planning import as_first_infusion, first_infusion_of, label_info
from ..services import orders as services
from ..services.treatment_courses import course_for

ORDERS_PER_PAGE = 25
DEFAULT_SHEET_START = time(9, 0)


def _get_order(order_uuid) -> DoseOrder:
    return get_object_or_404(
        DoseOrder.objects.select_related("patient", "product", "indication", "prescribed_by", "verified_by"),
        uuid=order_uuid,
    )


@require_GET
@permission_required("dosing.view_doseorder", raise_exception=True)
def order_list(request):
    """Opens on the worklist of the user's role (see ROLE_DEFAULT_FILTERS); ?status= changes it."""
    chosen = request.GET.get("status")
    if chosen is None:
        chosen = default_order_filter(roles_of(request.user))
    elif chosen not in ORDER_LIST_FILTERS:
        chosen = ALL  # "?status=" (the old "All") or an unknown filter
    orders = DoseOrder.objects.select_related("patient", "product", "indication", "prescribed_by")
    orders = filter_orders(orders, chosen, user=request.user)
    page = Paginator(orders, ORDERS_PER_PAGE).get_page(request.GET.get("page"))
    context = {"page": page, "status": chosen, "worklists": WORKLIST_FILTERS, "status_filters": ORDER_STATUS_FILTERS}
    return render(request, "dosing/order_list.html", context)


@require_http_methods(["GET", "POST"])
@permission_required("dosing.add_doseorder", raise_exception=True)
def order_create(request, patient_uuid):
    """Calculate shows the plan; Place order places exactly the plan shown. If anything changed
    after Calculate (an input, or the chart), Place order shows the new plan instead. Calculate
    with htmx answers with the inputs and plan alone (dosing/_order_editor.html)."""
    patient = get_object_or_404(Patient, uuid=patient_uuid)
    today = timezone.localdate()
    form = DoseOrderForm(request.POST or None, initial=_course_proposal(patient))
    premedications = premedication_formset(request.POST or None)
    preview = None
    if form.is_bound and form.is_valid():
        data = dict(form.cleaned_data)
        shown = data.pop("plan_digest")
        rows = premedications_of(premedications)
        try:
            _, plan = services.plan_order(
                patient=patient,
                indication=data["indication"],
                dose_g_per_kg=data["dose_g_per_kg"],
                days=data["days"],
                weight_basis=data["weight_basis"],
                today=today,
            )
            preview = {"plan": plan.to_dict()}
            if request.POST.get("action") == "place" and rows is not None:
                if shown == plan_digest(preview["plan"]):
                    order = services.dose_order_create(
                        by=request.user,
                        patient=patient,
                        today=today,
                        plan_digest_shown=shown,
                        premedications=rows,
                        **data,
                    )
                    messages.success(request, "Order placed. It now waits for a pharmacist to verify it.")
                    if order.treatment_course_started:
                        course = order.treatment_course
                        messages.info(
                            request,
                            f"A treatment course for {course.indication_name} was started today: authorised until "
                            f"{course.authorised_until:%Y-%m-%d} at most {course.max_dose_g_per_kg.normalize():f} g/kg "
                            f"every {course.interval_weeks} weeks (site policy); review due "
                            f"{course.next_review_due:%Y-%m-%d}.",
                        )
                    return redirect(order)
                messages.warning(
                    request,
                    "The plan changed after Calculate (an input or the chart): nothing was ordered. "
                    "Check the plan shown now, then place the order."
                    if shown
                    else "Check the plan shown, then place the order.",
                )
        except ValidationError as exc:
            _add_order_errors(form, premedications, exc)
        if preview:
            carry_version(form, plan_digest(preview["plan"]), "plan_digest")
    chosen = form.cleaned_data.get("indication") if form.is_bound and hasattr(form, "cleaned_data") else None
    context = {
        "course": _course_shown(patient, chosen),
        "site": SiteSettings.load(),
        "patient": patient,
        "form": form,
        "premedications": premedications,
        "inputs": services.order_inputs(patient, today),
        "blocking_flags": (
            services.blocking_flags(patient, chosen) if chosen else patient.verdict_flags("contraindications")
        ),
        "preview": preview,
        "label": _label(form),
    }
    if in_place(request):
        # Calculate with htmx: the inputs and the plan in place, or the inputs with their errors (422).
        status = 200 if preview or not form.is_bound else form_status(request)
        return render(request, "dosing/_order_editor.html", context | {"in_place": True}, status=status)
    return render(request, "dosing/order_form.html", context)


def _course_shown(patient, indication):
    """The treatment course the order would be placed on: the chosen indication's, else the
    patient's latest one in force."""
    if indication is not None:
        return course_for(patient, indication.slug)
    return patient.treatment_courses.exclude(status=TreatmentCourseStatus.STOPPED).first()


def _course_proposal(patient) -> dict:
    """The form's proposal from the patient's course in force: its indication (as last ordered)
    and the dose a stewardship review set; empty without a course (the form's own default)."""
    course = patient.treatment_courses.exclude(status=TreatmentCourseStatus.STOPPED).first()
    last = course and course.orders.order_by("-prescribed_at").first()
    if not last:
        return {}
    return {"indication": last.indication_id, "dose_g_per_kg": course.current_dose_g_per_kg, "days": last.days}


def _add_order_errors(form, premedications, exc: ValidationError) -> None:
    """Each refusal next to its field: a premedication's (``premedications-<index>-<field>``, as
    the service names them) in its row of the formset, the rest on the order form."""
    if not hasattr(exc, "error_dict"):
        add_service_errors(form, exc)
        return
    rest = {}
    for key, errors in exc.error_dict.items():
        prefix, _, tail = key.partition("-")
        index, _, field = tail.partition("-")
        if prefix == PREMEDICATION_PREFIX and index.isdigit() and int(index) < len(premedications.forms):
            premedications.forms[int(index)].add_error(field, errors)
        else:
            rest[key] = errors
    if rest:
        add_service_errors(form, ValidationError(rest))


def _label(form):
    indication = form.cleaned_data.get("indication") if form.is_bound and hasattr(form, "cleaned_data") else None
    return label_info(indication.product, indication) if indication else None


@require_GET
@permission_required("dosing.view_doseorder", raise_exception=True)
def order_detail(request, order_uuid):
    order = _get_order(order_uuid)
    context = {
        "order": order,
        "day_numbers": range(1, order.days + 1),
        "history": order.history.select_related("history_user"),
    }
    return render(request, "dosing/order_detail.html", context)


@require_http_methods(["GET", "POST"])
@permission_required("dosing.verify_doseorder", raise_exception=True)
def order_verify(request, order_uuid):
    order = _get_order(order_uuid)
    action = request.POST.get("action")
    initial = {"version": order.version}
    verify_form = VerifyOrderForm(request.POST if action == "verify" else None, initial=initial)
    reject_form = ReasonForm(request.POST if action == "reject" else None, prefix="reject", initial=initial)
    for form, service, done in (
        (verify_form, services.dose_order_verify, "Order verified."),
        (reject_form, services.dose_order_reject, "Order rejected; the prescriber will see your reason."),
    ):
        if form.is_bound and form.is_valid():
            data = dict(form.cleaned_data)
            data.pop("checked", None)
            expected_version = data.pop("version")
            if "plan_digest" in data:
                data["plan_digest_shown"] = data.pop("plan_digest") or None
            try:
                service(by=request.user, order=order, expected_version=expected_version, **data)
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(request, done)
                return redirect(order)
    status = conflict_status(verify_form, reject_form)
    if status == 409:
        order = _show_as_it_is_now(order_uuid, verify_form, reject_form)
    context = {"order": order, "verify_form": verify_form, "reject_form": reject_form}
    context |= _verification(order, verify_form)
    return render(request, "dosing/order_verify.html", context, status=status)


def _verification(order: DoseOrder, verify_form) -> dict:
    """The plan verifying would verify (today's chart), what changed since the order was last
    checked, and the digest the verify form posts back so a plan that moves meanwhile is shown."""
    try:
        inputs, plan = services.verification_plan(order, timezone.localdate())
    except ValidationError as exc:
        return {"new_plan": None, "plan_error": exc.messages, "changes": []}
    carry_version(verify_form, plan_digest(plan), "plan_digest")
    return {
        "new_plan": plan,
        "new_inputs": inputs,
        "plan_error": None,
        "changes": services.verification_changes(order, inputs, plan),
    }


def _show_as_it_is_now(order_uuid, *forms) -> DoseOrder:
    """After a stale refusal: the order as it is now, its forms carrying that version."""
    order = _get_order(order_uuid)
    for form in forms:
        carry_version(form, order.version)
    return order


@require_http_methods(["GET", "POST"])
@permission_required("dosing.change_doseorder", raise_exception=True)
def order_cancel(request, order_uuid):
    order = _get_order(order_uuid)
    form = ReasonForm(request.POST or None, initial={"version": order.version})
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        try:
            services.dose_order_cancel(
                by=request.user, order=order, reason=data["reason"], expected_version=data["version"]
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, "Order cancelled.")
            return redirect(order)
    status = conflict_status(form)
    if status == 409:
        order = _show_as_it_is_now(order_uuid, form)
    return render(request, "dosing/order_cancel.html", {"order": order, "form": form}, status=status)


@require_GET
@permission_required("dosing.view_doseorder", raise_exception=True)
def order_sheet(request, order_uuid, day):
    order = _get_order(order_uuid)
    if not 1 <= day <= order.days:
        raise Http404("No such infusion day in this order.")
    if not order.is_administrable:
        raise PermissionDenied("Only a verified order in use has an infusion sheet.")
    options = SheetOptionsForm(request.GET or None)
    start = DEFAULT_SHEET_START
    infusion_date = None
    if options.is_bound and options.is_valid():
        start = options.cleaned_data["start"] or DEFAULT_SHEET_START
        infusion_date = options.cleaned_data["date"]
    # The plan held to today's chart: a flag raised since verification lowers the sheet's limits;
    # a first infusion on the sheet's day (the same rule as the session's) holds its first step longer.
    site = SiteSettings.load()
    sheet_date = infusion_date or timezone.localdate()
    plan = as_first_infusion(
        order.administration_plan, first_infusion_of(order.patient, order.product, sheet_date, site), site
    )
    chart_inputs = (order.chart_replan or {}).get("inputs") or order.inputs
    # Aware clock times from the same function the session page uses: right across a DST change.
    begin = datetime.combine(sheet_date, start, tzinfo=timezone.get_current_timezone())
    steps = ladder_times(plan, begin)
    context = {
        "order": order,
        "plan": plan,
        "day": day,
        "steps": steps,
        "start": start,
        "begin": begin,
        "end": steps[-1]["clock_end"],  # elapsed minutes, so right across a DST change
        "infusion_date": infusion_date,
        "options": options,
        "bedside": bedside_times(order.bedside, start=begin, end=steps[-1]["clock_end"]),
        # Kept on the order by scheduling; not for a sheet of the same day or an earlier one.
        "last_cycle_note": order.last_cycle_note
        if order.last_cycle_note_on and (infusion_date is None or order.last_cycle_note_on < infusion_date)
        else "",
        "renal_risk": order.inputs.get("renal_risk") or chart_inputs.get("renal_risk"),
        "at_risk": plan["at_risk"] or chart_inputs.get("at_risk"),
        "at_risk_reasons": chart_inputs.get("at_risk_reasons") or order.at_risk_reasons,
        # One row per vial to prepare, for its lot number and expiry.
        "lot_rows": [vial["size_g"] for vial in plan["vials_per_day"] for _ in range(vial["count"])],
    }
    return render(request, "dosing/order_sheet.html", context)
