"""The infusion record pages: the session as the nurse runs it (plan, risk flags, what has been
recorded), the start/stop form, one form per part of the record, and completion.

Each view: authorise, fetch the session, bind the form, call a service from
scheduling/services/records.py, then redirect or render. The rules live in the services."""

from dataclasses import dataclass
from itertools import chain

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from accounts.form_errors import call_service, carry_version, conflict_status
from accounts.in_place import done_in_place, form_status, in_place
from dosing.chart_limits import bedside_times, ladder_times
from risk.models import SEVERITY_RANK

from ..models import InfusionSession
from ..record_forms import (
    CompleteForm,
    LotForm,
    RateChangeForm,
    ReactionForm,
    RecordForm,
    StartForm,
    VitalsForm,
    VoidForm,
)
from ..services import records as services

HISTORY_SHOWN = 30


@dataclass(frozen=True)
class RecordPart:
    """One kind of entry on the record, with its form, its service and its section on the session page."""

    slug: str
    form: type
    service: object
    noun: str
    title: str


RECORD_PARTS = {
    part.slug: part
    for part in [
        RecordPart("rates", RateChangeForm, services.rate_change_record, "rate change", "Record a pump rate"),
        RecordPart("vitals", VitalsForm, services.vitals_record, "vital signs", "Record vital signs"),
        RecordPart("lots", LotForm, services.lot_record, "product lot", "Record a product lot"),
        RecordPart("reactions", ReactionForm, services.reaction_record, "reaction", "Record a reaction"),
    ]
}


# Where each kind of entry is listed on the session page.
ENTRY_SECTIONS = {
    "RateChange": "rates",
    "VitalSigns": "vitals",
    "LotUsage": "lots",
    "Reaction": "reactions",
    "RecordValue": "values",
}


def _get_session(session_uuid) -> InfusionSession:
    return get_object_or_404(
        InfusionSession.objects.select_related(
            "patient", "cycle__course__order__product", "cycle__course__order__indication"
        ),
        uuid=session_uuid,
    )


def _ladder(plan: dict, session: InfusionSession, record, clock) -> list[dict]:
    steps = ladder_times(plan, session.planned_start)
    if record is not None and record.started_at:
        for step, actual in zip(steps, ladder_times(plan, record.started_at), strict=True):
            step["actual_start"], step["actual_end"] = actual["clock_start"], actual["clock_end"]
    if clock is not None:
        for step, begin in zip(steps, clock.may_begin, strict=True):
            step["may_begin"] = begin
    return steps


def _amending(session: InfusionSession, record) -> dict:
    """Whether an entry now amends a completed record, and who completed it when."""
    amending = services.amending(session, record)
    return {"amending": amending, "completed_sentence": services.completed_sentence(record) if amending else ""}


def _history(session: InfusionSession, record) -> list:
    rows = chain(session.history.select_related("history_user"), record.history.select_related("history_user"))
    return sorted(rows, key=lambda row: row.history_date, reverse=True)[:HISTORY_SHOWN]


def _detail_context(session: InfusionSession, complete_form: CompleteForm | None = None) -> dict:
    order = services.order_of(session)
    plan = services.plan_of(session)
    record = services.record_of(session)
    active_flags = list(
        session.patient.risk_flags.active()
        .select_related("acknowledged_by")
        .annotate(rank=SEVERITY_RANK)
        .order_by("rank", "code")
    )
    # Every entry, voided ones too: they stay in the record, struck through, with who voided them and why.
    lots = list(record.lots.select_related("recorded_by", "voided_by")) if record else []
    for lot in lots:
        lot.grams = lot.vial_size_g * lot.vials
    if record is not None and complete_form is None:
        complete_form = CompleteForm(initial={"expected_version": record.version})
    clock = services.ladder_now(plan, record, now=timezone.now())
    ladder = _ladder(plan, session, record, clock)
    return {
        "session": session,
        "patient": session.patient,
        "order": order,
        "plan": plan,
        "ladder": ladder,
        "bedside": bedside_times(order.bedside, start=session.planned_start, end=ladder[-1]["clock_end"]),
        # The prescriber's findings of an earlier cycle of this order, kept on the order.
        "last_cycle_note": order.last_cycle_note
        if order.last_cycle_note_on and order.last_cycle_note_on < session.cycle.start_date
        else "",
        "ladder_clock": clock,
        "limit_now": services.limit_in_force(plan, clock) if clock else "",
        "active_flags": active_flags,
        "at_risk_flags": [flag for flag in active_flags if flag.puts_at_risk],
        "other_flags": [flag for flag in active_flags if not flag.puts_at_risk],
        "record": record,
        "rates": list(record.rate_changes.select_related("recorded_by", "voided_by")) if record else [],
        "vitals": list(record.vitals.select_related("recorded_by", "voided_by")) if record else [],
        "lots": lots,
        "reactions": list(record.reactions.select_related("recorded_by", "voided_by")) if record else [],
        "values": list(record.values.select_related("recorded_by", "voided_by")) if record else [],
        "grams_opened": services.grams_opened(record),
        "volume_limit_ml": services.volume_limit_ml(plan),
        "missing": services.completion_missing(record),
        "closed": services.closed_reason(session, record),
        **_amending(session, record),
        "complete_form": complete_form,
        "history": _history(session, record) if record else list(session.history.select_related("history_user")),
    }


@require_GET
@permission_required("scheduling.view_infusionsession", raise_exception=True)
def session_detail(request, session_uuid):
    session = _get_session(session_uuid)
    return render(request, "scheduling/session_detail.html", _detail_context(session))


@require_http_methods(["GET", "POST"])
@permission_required(["scheduling.add_infusionrecord", "scheduling.change_infusionrecord"], raise_exception=True)
def record_edit(request, session_uuid):
    session = _get_session(session_uuid)
    record = services.record_of(session)
    closed = services.closed_reason(session, record)
    if closed:
        messages.warning(request, closed)
        return redirect(session)
    starting = (record is None or record.started_at is None) and not services.amending(session, record)
    if request.method == "POST":
        # The form the page showed decides, not the record as it is now: a start posted after a
        # colleague started is refused as stale, never taken as an edit of their record.
        # With no started record there is nothing to edit: whatever was posted is a start.
        starting = starting or request.POST.get("stage") == "start"
    if starting:
        form = StartForm(
            request.POST or None, initial={"started_at": timezone.now(), "expected_version": session.version}
        )
        service, done = services.record_start, "Infusion started."
    else:
        initial = {name: getattr(record, name) for name in ("started_at", "stopped_at", "volume_given_ml", "notes")}
        form = RecordForm(
            request.POST or None,
            initial=initial | {"grams_wasted": record.grams_wasted, "expected_version": record.version},
        )
        service, done = services.record_update, "Record saved."
    if form.is_bound and form.is_valid() and call_service(form, service, by=request.user, session=session):
        messages.success(request, done)
        return redirect(session)
    status = conflict_status(form)
    if status == 409:
        # The page shows the session as it is now; the form carries the version it stands on.
        session = _get_session(session_uuid)
        record = services.record_of(session)
        carry_version(form, (session if starting else record).version, "expected_version")
    order = services.order_of(session)
    context = {"session": session, "record": record, "form": form, "starting": starting}
    context |= {"amending": services.amending(session, record)}
    context |= {"order": order, "plan": services.plan_of(session)}
    if starting:
        # The check as of the planned day: a start is only accepted on that day.
        day = timezone.localdate(session.planned_start)
        context |= {
            "check": services.pre_infusion_snapshot(session, today=day),
            "active_flags": services.active_flags_of(session.patient),
            "bedside": order.bedside,
        }
    return render(request, "scheduling/record_form.html", context, status=status)


@require_http_methods(["GET", "POST"])
@permission_required("scheduling.add_infusionrecord", raise_exception=True)
def record_add_part(request, session_uuid, part):
    """One part of the record. In place (htmx), from the session page: the form opens in its
    #record-entry, and a recorded entry answers with the record area as it now is (focus on the
    new row), the message and, for rates and reactions, the plan's ladder clock; refused, the
    record area with the form and its errors in the panel (422)."""
    kind = RECORD_PARTS.get(part)
    if kind is None:
        raise Http404("No such part of the infusion record.")
    session = _get_session(session_uuid)
    if in_place(request) and request.GET.get("cancel"):
        return HttpResponse("")  # the form closes; nothing was written
    plan = services.plan_of(session)
    record = services.record_of(session)
    clock = services.ladder_now(plan, record, now=timezone.now())
    limit_now = services.limit_in_force(plan, clock) if clock else ""
    extra = {"limit_now": limit_now} if kind.slug == "rates" else {}
    amending = services.amending(session, record)
    form = kind.form(request.POST or None, plan=plan, initial={"at": timezone.now()}, amending=amending, **extra)
    entry = form.is_bound and form.is_valid() and call_service(form, kind.service, by=request.user, session=session)
    if entry:
        messages.success(request, f"Recorded the {kind.noun}.")
        page_url = f"{session.get_absolute_url()}#{kind.slug}"
        if not in_place(request):
            return redirect(page_url)
        return _entry_in_place(request, session, kind, entry, page_url)
    context = {
        "session": session,
        "part": kind,
        "form": form,
        "plan": plan,
        "order": services.order_of(session),
        "ladder": _ladder(plan, session, record, clock),
        "limit_now": limit_now,
        "record": record,
        "closed": services.closed_reason(session, record),
        "in_place": in_place(request),
        **_amending(session, record),
    }
    if not in_place(request):
        return render(request, "scheduling/record_part_form.html", context)
    if not form.is_bound:
        next(iter(form.fields.values())).widget.attrs["autofocus"] = True
        return render(request, "scheduling/_record_part_form.html", context)
    # Refused: the record area with this form and its errors in its panel, focus on the first one.
    first_error = next((name for name in form.errors if name in form.fields), None)
    if first_error:
        form.fields[first_error].widget.attrs["autofocus"] = True
    area = _detail_context(session) | {"part": kind, "form": form, "in_place": True}
    return render(request, "scheduling/_record_area.html", area, status=form_status(request))


def _entry_in_place(request, session: InfusionSession, kind: RecordPart, entry, page_url: str):
    """The record area as it now is (the form's target), with what else changed."""
    context = _detail_context(_get_session(session.uuid))
    context |= {"oob": True, "new_entry": entry.uuid, "plan_changed": kind.slug in ("rates", "reactions")}
    return done_in_place(request, page_url=page_url, template="scheduling/_record_area.html", context=context)


@require_http_methods(["GET", "POST"])
@permission_required("scheduling.change_infusionrecord", raise_exception=True)
def record_complete(request, session_uuid):
    """The completion summary (grams planned, opened, given, wasted; volume; time) and the
    nurse's confirmation of it."""
    session = _get_session(session_uuid)
    record = services.record_of(session)
    if record is None or services.amending(session, record):
        return redirect(session)
    form = CompleteForm(request.POST or None, initial={"expected_version": record.version})
    if (
        form.is_bound
        and form.is_valid()
        and call_service(form, services.record_complete, by=request.user, session=session)
    ):
        messages.success(request, "Infusion completed.")
        return redirect(session)
    status = conflict_status(form)
    if status == 409:
        session = _get_session(session_uuid)
        record = services.record_of(session)
        carry_version(form, record.version, "expected_version")
    context = {
        "session": session,
        "record": record,
        "order": services.order_of(session),
        "plan": services.plan_of(session),
        "form": form,
        "summary": services.summary_of(session, record),
        "missing": services.completion_missing(record),
        "volume_refusal": services.recorded_volume_refusal(session, record),
        "findings": services.review_findings(session, record, completed=True) if record.volume_given_ml else (),
    }
    return render(request, "scheduling/record_complete.html", context, status=status)


@require_http_methods(["GET", "POST"])
@permission_required("scheduling.change_infusionrecord", raise_exception=True)
def entry_void(request, session_uuid, entry_uuid):
    """Void one entry of the record with a reason; it stays, struck through."""
    session = _get_session(session_uuid)
    try:
        entry = services.entry_of(session, entry_uuid)
    except services.EntryNotFound as exc:
        raise Http404(str(exc)) from None
    form = VoidForm(request.POST or None)
    if (
        form.is_bound
        and form.is_valid()
        and call_service(form, services.entry_void, by=request.user, session=session, entry_id=entry.uuid)
    ):
        messages.success(request, f"Voided the {services.entry_words(entry)}. Enter the right one if there is one.")
        return redirect(f"{session.get_absolute_url()}#{ENTRY_SECTIONS[type(entry).__name__]}")
    record = services.record_of(session)
    context = {
        "session": session,
        "record": record,
        "entry": entry,
        "entry_words": services.entry_words(entry),
        "form": form,
        "amending": services.amending(session, record),
    }
    return render(request, "scheduling/entry_void.html", context)
