"""The infusion unit's scheduling pages: plan a course from a verified order, the course,
the week's chairs, move a session, set its status, the unit's settings, and the calendar
feed that calendar apps subscribe to with a calendar feed link (never an API token)."""

from datetime import date, timedelta

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required, permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Prefetch
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_safe
from django_htmx.http import trigger_client_event

from accounts.auth import calendar_feed_for_secret
from accounts.form_errors import add_service_errors, carry_version, conflict_status
from accounts.submissions import submission_result
from dosing.models import DoseOrder

from .. import ical
from ..forms import AcceptWarningsForm, CourseForm, MoveForm, StatusForm, UnitSettingsForm, WeekForm
from ..models import Course, InfusionSession, SessionStatus, UnitSettings
from ..services import sessions
from ..services.booking import WarningsNotAccepted, clinic_zone
from ..services.courses import course_extend, course_plan, course_preview, expected_session_minutes
from ..services.queries import chair_pages, feed_sessions, order_to_book, orders_to_book, week_grid
from ..services.sessions import MOVABLE_STATUSES
from ..services.unit import UNIT_FIELDS, unit_settings_update
from ..templatetags.chair_board import Board

ACCEPT_FIELDS = ("accept_warnings", "warnings_shown")
FEED_DOMAIN_FALLBACK = "ivig-clinic"


def _get_session(session_uuid) -> InfusionSession:
    return get_object_or_404(
        InfusionSession.objects.select_related("patient", "cycle__course__order__product"), uuid=session_uuid
    )


def _run_accepting(form, service, **kwargs):
    """Call a scheduling write. Warnings it meets must have been shown on this form and ticked
    for exactly those warnings; otherwise they are shown and nothing is written."""
    for accept in (False, True):
        try:
            return service(**kwargs, accept_warnings=accept)
        except WarningsNotAccepted as exc:
            if not form.warnings_accepted(exc.warnings):
                form.present_warnings(exc.warnings)
                return None
        except ValidationError as exc:
            add_service_errors(form, exc)
            return None
    return None


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


BOARD_PANEL = "board-panel"  # the week view's panel where the board's forms answer in place
BOARD_PARTS = ("grid", "today")


def _on_board(request) -> bool:
    """An htmx request from the week's board (its panel is the target): answer with a fragment."""
    return bool(request.htmx) and request.htmx.target == BOARD_PANEL


@require_GET
@permission_required("scheduling.view_infusionsession", raise_exception=True)
def week_view(request):
    form = WeekForm(request.GET)
    today = timezone.localdate()
    valid = form.is_valid()
    data = form.cleaned_data if valid else {}
    monday = _monday(data.get("start") or today)
    first_chair = data.get("chairs_from") or 1
    printing = request.GET.get("print") == "1"
    part = request.GET.get("part") if request.htmx else None
    can_book = request.user.has_perm("scheduling.add_course") and not printing
    booking = order_to_book(data["book"]) if can_book and data.get("book") else None
    shows_today = monday <= today < monday + timedelta(days=7)
    if part == "today" and not shows_today:
        return HttpResponse(status=204)  # that week has no today (htmx swaps nothing)
    unit = UnitSettings.load()
    only_day = today if part == "today" else None
    grid = week_grid(
        monday, unit=unit, tz=clinic_zone(), first_chair=first_chair, signatories=printing, only_day=only_day
    )
    board = Board.build(
        today=today,
        printing=printing,
        can_move=request.user.has_perm("scheduling.change_infusionsession"),
        booking=booking,
    )
    here = f"?start={monday:%Y-%m-%d}&chairs_from={grid.first_chair}"
    context = {
        "grid": grid,
        "board": board,
        "chair_pages": chair_pages(grid.chairs),
        "monday": monday,
        "sunday": monday + timedelta(days=6),
        "previous": monday - timedelta(weeks=1),
        "next": monday + timedelta(weeks=1),
        "this_monday": _monday(today),
        "today": today,
        "unit": unit,
        "bad_start": not valid,
        "week_errors": [error for errors in form.errors.values() for error in errors],
        "printing": printing,
        "here": here + (f"&book={booking.uuid}" if booking else ""),
        "shows_today": shows_today,
        "booking_asked": bool(data.get("book")) and booking is None and can_book,
        "can_book": can_book,
    }
    if can_book and part != "today":
        context["orders"], context["more_orders"] = orders_to_book()
    if part == "today":
        return render(request, "scheduling/_board_today.html", context)
    if part == "grid":
        return render(request, "scheduling/_board_grid.html", context | {"refresh": True})
    # A week that cannot be shown is a bad request: the page says why and shows this week instead.
    return render(request, "scheduling/week.html", context, status=200 if valid else 400)


@require_http_methods(["GET", "POST"])
@permission_required("scheduling.change_unitsettings", raise_exception=True)
def unit_settings_edit(request):
    unit = UnitSettings.load()
    initial = {name: getattr(unit, name) for name in UNIT_FIELDS}
    form = UnitSettingsForm(request.POST or None, initial=initial)
    if form.is_bound and form.is_valid():
        try:
            unit_settings_update(by=request.user, **form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, "Unit settings saved.")
            return redirect("scheduling:week")
    return render(request, "scheduling/unit_settings_form.html", {"form": form, "unit": unit})


@require_http_methods(["GET", "POST"])
@permission_required("scheduling.add_course", raise_exception=True)
def course_create(request, order_uuid):
    order = get_object_or_404(DoseOrder.objects.select_related("patient", "product", "indication"), uuid=order_uuid)
    today, unit = timezone.localdate(), UnitSettings.load()
    initial = _cell_initial(request.GET, unit)  # a cell chosen on the week's board
    form = CourseForm(request.POST or None, order=order, unit=unit, today=today, initial=initial)
    preview = None
    if form.is_bound and form.is_valid():
        plan = {name: value for name, value in form.cleaned_data.items() if name not in ACCEPT_FIELDS}
        if request.POST.get("action") == "save":
            course = _run_accepting(form, course_plan, by=request.user, order=order, today=today, **plan)
            if course is not None:
                done = f"Course booked: {course.cycles.count()} cycles."
                if _on_board(request):
                    first = course.cycles.get(number=1).sessions.order_by("day_number").first()
                    return _board_done(request, course, done, focus_id=f"s-{first.uuid}", booked=True)
                messages.success(request, done)
                return redirect(course)
        if not form.errors:
            try:
                preview = course_preview(order=order, today=today, unit=unit, **plan)
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                if preview.warnings:
                    form.present_warnings(preview.warnings)
    context = {"order": order, "form": form, "preview": preview, "unit": unit, "verified": order.is_administrable}
    context["expected_minutes"] = expected_session_minutes(order, unit) if order.is_administrable else None
    if _on_board(request):
        return render(request, "scheduling/_board_course.html", context | {"on_board": True})
    return render(request, "scheduling/course_form.html", context)


def _cell_initial(query, unit: UnitSettings) -> dict:
    """The chair and first day a board cell links with (?chair=3&first_day=2026-12-07), when
    they make sense; anything else is left to the form's defaults (the form checks what is sent)."""
    initial = {}
    chair = query.get("chair", "")
    if chair.isdigit() and 1 <= int(chair) <= unit.chairs:
        initial["chair"] = int(chair)
    try:
        first_day = forms.DateField().clean(query.get("first_day", ""))
    except ValidationError:
        first_day = None
    if first_day is not None:
        initial["first_day"] = first_day
    return initial


def _board_done(request, course: Course, message: str, *, focus_id: str, booked: bool = False) -> HttpResponse:
    """The board's answer to a booking or a move that was done: the panel says so, and the
    board redraws its grid (week_view.js, on the board-changed event)."""
    submission_result(request, course.get_absolute_url())  # sent twice, the second gets the course
    context = {"course": course, "message": message, "focus_id": focus_id, "booked": booked}
    response = render(request, "scheduling/_board_done.html", context)
    return trigger_client_event(response, "board-changed", after="settle")


@require_http_methods(["GET", "POST"])
@permission_required("scheduling.view_course", raise_exception=True)
def course_detail(request, course_uuid):
    course = get_object_or_404(
        Course.objects.select_related("order__product", "order__indication", "patient", "created_by"), uuid=course_uuid
    )
    # Bound on any POST, even an empty one: the extension has no required field; but only the
    # page's own button (action=extend) books, so an empty or foreign POST is 400 and books nothing.
    extend_form = AcceptWarningsForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        if not request.user.has_perm("scheduling.add_infusionsession"):
            raise PermissionDenied
        if request.POST.get("action") != "extend":
            messages.error(request, "Nothing was booked: this page books cycles only from its “Book cycles” button.")
            return _course_page(request, course, AcceptWarningsForm(), status=400)
        extend_form.is_valid()  # two optional fields: always valid
        added = _run_accepting(extend_form, course_extend, by=request.user, course=course, today=timezone.localdate())
        if added is not None:
            messages.success(
                request, f"{len(added)} more cycles booked." if added else "Already booked 26 weeks ahead."
            )
            return redirect(course)
    return _course_page(request, course, extend_form)


def _course_page(request, course, extend_form, status: int = 200):
    cycles = course.cycles.prefetch_related(
        Prefetch("sessions", queryset=InfusionSession.objects.select_related("patient").order_by("day_number"))
    )
    context = {"course": course, "cycles": cycles, "extend_form": extend_form, "movable": MOVABLE_STATUSES}
    return render(request, "scheduling/course_detail.html", context, status=status)


@require_http_methods(["GET", "POST"])
@permission_required("scheduling.change_infusionsession", raise_exception=True)
def session_move(request, session_uuid):
    session = _get_session(session_uuid)
    unit = UnitSettings.load()
    local = timezone.localtime(session.planned_start)
    initial = {"new_date": local.date(), "new_start": local.time(), "version": session.version}
    form = MoveForm(request.POST or None, unit=unit, initial=initial)
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        moved = _run_accepting(
            form,
            sessions.session_move,
            by=request.user,
            session=session,
            **{name: data[name] for name in ("new_date", "new_start", "chair", "following")},
            expected_version=data["version"],
            today=timezone.localdate(),
        )
        if moved is not None:
            done = f"Moved {len(moved)} session{'s' if len(moved) != 1 else ''}."
            if _on_board(request):
                return _board_done(request, session.cycle.course, done, focus_id=f"s-{session.uuid}")
            messages.success(request, done)
            return redirect(session.cycle.course)
    status = conflict_status(form)
    if status == 409:
        session = _show_as_it_is_now(session_uuid, form)
    elif form.is_bound and form.errors:
        status = 400  # the move was refused: its reasons are at the fields, nothing was moved
    movable = session.status in MOVABLE_STATUSES
    context = {"session": session, "form": form, "movable": movable}
    if _on_board(request):
        # 200 with the refusal in the fragment: htmx swaps only a 2xx answer (and a browser reports
        # every 4xx one as an error), while the page's own post keeps its 400 or 409.
        return render(request, "scheduling/_board_move.html", context | {"on_board": True})
    return render(request, "scheduling/session_move.html", context, status=status)


def _show_as_it_is_now(session_uuid, form) -> InfusionSession:
    """After a stale refusal: the session as it is now, the form carrying that version."""
    session = _get_session(session_uuid)
    carry_version(form, session.version)
    return session


@require_http_methods(["GET", "POST"])
@permission_required("scheduling.change_infusionsession", raise_exception=True)
def session_status(request, session_uuid):
    session = _get_session(session_uuid)
    form = StatusForm(request.POST or None, initial={"version": session.version})
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        try:
            sessions.session_set_status(
                by=request.user,
                session=session,
                status=data["status"],
                reason=data["reason"],
                expected_version=data["version"],
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"Session {SessionStatus(data['status']).label.lower()}.")
            return redirect(session.cycle.course)
    status = conflict_status(form)
    if status == 409:
        session = _show_as_it_is_now(session_uuid, form)
    changeable = session.status in MOVABLE_STATUSES
    context = {"session": session, "form": form, "changeable": changeable}
    return render(request, "scheduling/session_status.html", context, status=status)


# ----------------------------------------------------------------------- calendar feed


def _feed_domain() -> str:
    host = (settings.ALLOWED_HOSTS or [""])[0].lstrip(".")
    return host if host and host != "*" else FEED_DOMAIN_FALLBACK


def _feed_event(request, session: InfusionSession, domain: str) -> ical.Event:
    course = session.cycle.course
    # Only the chair and the MRN: the calendar leaves the app, names stay in it.
    return ical.Event(
        uid=f"{session.uuid}@{domain}",
        start=session.planned_start,
        end=session.planned_end,
        summary=f"Chair {session.chair}: IVIG {session.patient.mrn}",
        description=(
            f"{course.order.product.name}, day {session.day_number} of {course.days_per_cycle}, "
            f"cycle {session.cycle.number}. {session.get_status_display()}."
        ),
        status="TENTATIVE" if session.status == SessionStatus.PLANNED else "CONFIRMED",
        sequence=session.version - 1,
        url=request.build_absolute_uri(session.get_absolute_url()),
    )


def _text(body: str, status: int) -> HttpResponse:
    return HttpResponse(body, status=status, content_type="text/plain; charset=utf-8")


def _feed_response(request, user) -> HttpResponse:
    if not user.has_perm("scheduling.view_infusionsession"):
        return _text("Your account may not see the infusion schedule.\n", 403)
    now = timezone.now()
    domain = _feed_domain()
    events = [_feed_event(request, session, domain) for session in feed_sessions(now=now)]
    body = ical.calendar(events, name=f"{settings.CLINIC_NAME} infusion unit", stamp=now)
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = 'inline; filename="infusion-unit.ics"'
    response["Cache-Control"] = "private, no-store"
    return response


@login_not_required  # answers 401 itself: a calendar app cannot follow a login redirect
@require_safe
def calendar_feed(request):
    """The feed for a logged-in browser (a one-off download). Calendar apps use a feed link."""
    if "token" in request.GET:
        # The old form put an API token (a key to every chart) in a logged URL: refused for good.
        return _text(
            "Calendar links with ?token= no longer work: an API token does not open the calendar. "
            f"Make a calendar feed link on the API tokens page ({reverse('accounts:tokens')}) and subscribe to it.\n",
            410,
        )
    if not request.user.is_authenticated:
        response = _text("Log in, or subscribe with a calendar feed link (see the API tokens page).\n", 401)
        response["WWW-Authenticate"] = 'Bearer realm="IVIG Clinic calendar"'
        return response
    return _feed_response(request, request.user)


@login_not_required  # the secret in the path is the credential: calendar apps send nothing else
@require_safe
def calendar_feed_link(request, secret: str):
    """The feed for a calendar app, through a feed link: opens this feed and nothing else."""
    feed = calendar_feed_for_secret(secret)
    if feed is None:
        return _text(
            "No such calendar feed link (it may have been revoked). Make a new one on the API tokens page.\n", 404
        )
    return _feed_response(request, feed.user)
