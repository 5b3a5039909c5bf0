"""The week view as a board (scheduling/views/courses.py, scheduling/templatetags/chair_board.py):
the orders waiting for a course, booking one from a cell, moving a session in place, today's
column on its own, and what a request costs (queries, JSON columns, model instances).

An htmx request from the board names its panel as the target (HX-Target: board-panel) and gets
a fragment; the same URL without htmx is the full page it always was.

Time is frozen at Sunday 22 Nov 2026, noon in New York: the week shown by default is 16–22 Nov."""

import re
from datetime import date, time
from zoneinfo import ZoneInfo

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import connection, models
from django.db.models.signals import post_init
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from dosing.models import DoseOrder
from patients.tests.factories import MeasurementFactory, PatientFactory
from scheduling.conflicts import warnings_digest
from scheduling.models import Course, InfusionSession
from scheduling.services.courses import course_plan

NY = ZoneInfo("America/New_York")
MONDAY = date(2026, 11, 23)
WEEK = reverse("scheduling:week")
BOARD = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "board-panel"}


@pytest.fixture
def verified(make_user, make_order, frozen_today):
    """A verified order for a new patient, no course booked from it."""
    pharmacist = make_user("pharmacist")
    from dosing.services.orders import dose_order_verify

    def make():
        patient = PatientFactory()
        MeasurementFactory(patient=patient, measured_on=date(2026, 11, 20))
        return dose_order_verify(by=pharmacist, order=make_order(patient=patient))

    return make


@pytest.fixture
def book(make_user, verified, frozen_today):
    nurse = make_user("nurse")

    def plan(chair=1, first_day=MONDAY, start_time=time(9), cycles=1):
        order = verified()
        return course_plan(
            by=nurse,
            order=order,
            first_day=first_day,
            start_time=start_time,
            chair=chair,
            cycles=cycles,
            today=frozen_today,
        )

    return plan


def sessions_of(course):
    return list(InfusionSession.objects.filter(cycle__course=course).order_by("planned_start"))


# ----------------------------------------------------------------------- the orders panel


@pytest.mark.django_db
class TestOrdersToBook:
    def test_nurses_see_the_verified_orders_waiting_longest_first(self, role_client, verified, book):
        first, second = verified(), verified()
        booked = book().order
        html = role_client("nurse").get(WEEK).content.decode()
        panel = html[html.index('id="board-orders"') : html.index("</section>")]
        assert "Verified orders to book" in panel
        assert panel.index(first.patient.mrn) < panel.index(second.patient.mrn)
        assert booked.patient.mrn not in panel
        assert f"book={first.uuid}" in panel
        assert first.patient.family_name not in panel  # MRN and initials on the board

    @pytest.mark.parametrize("role", ["physician", "pharmacist", "viewer"])
    def test_only_those_who_book_see_it(self, role_client, verified, role):
        verified()
        assert "Verified orders to book" not in role_client(role).get(WEEK).content.decode()

    def test_the_panel_shows_a_few_and_links_to_the_rest(self, role_client, verified, monkeypatch):
        monkeypatch.setattr("scheduling.services.queries.ORDERS_TO_BOOK_SHOWN", 2)
        monkeypatch.setattr(
            "scheduling.services.queries.orders_to_book.__defaults__", (2,)
        )  # the default was read at import
        orders = [verified() for _ in range(3)]
        html = role_client("nurse").get(WEEK).content.decode()
        assert orders[1].patient.mrn in html and orders[2].patient.mrn not in html
        assert "More on the order list" in html

    def test_the_query_is_bounded(self, role_client, verified):
        verified()
        client = role_client("nurse")
        client.get(WEEK)
        with CaptureQueriesContext(connection) as queries:
            client.get(WEEK)
        [listing] = [q["sql"] for q in queries.captured_queries if 'FROM "dosing_doseorder"' in q["sql"]]
        assert re.search(r"LIMIT 9\b", listing)  # the rows shown and one to know there are more


# ----------------------------------------------------------------------- booking from the board


@pytest.mark.django_db
class TestBookingFromTheBoard:
    def test_booking_mode_offers_free_cells_from_today(self, role_client, verified, book):
        order = verified()
        taken = book(chair=2, first_day=MONDAY)
        html = role_client("nurse").get(WEEK, {"start": "2026-11-23", "book": str(order.uuid)}).content.decode()
        url = reverse("scheduling:course_create", args=[order.uuid])
        assert f'href="{url}?chair=1&amp;first_day=2026-11-23"' in html
        assert "?chair=2&amp;first_day=2026-11-23" not in html  # taken by the other course
        assert taken.patient.mrn in html
        assert f"Booking <strong><bdi>{order.patient.mrn}</bdi>" in html
        # This week's Monday to Saturday have passed; only today (Sunday) can be booked.
        html = role_client("nurse").get(WEEK, {"book": str(order.uuid)}).content.decode()
        assert "first_day=2026-11-21" not in html and "first_day=2026-11-22" in html

    def test_an_order_already_booked_is_not_offered(self, role_client, book):
        order = book().order
        html = role_client("nurse").get(WEEK, {"start": "2026-11-23", "book": str(order.uuid)}).content.decode()
        assert "Book day 1 here" not in html and "no longer waits for a course" in html

    def test_a_viewer_gets_no_booking_links(self, role_client, verified):
        order = verified()
        html = role_client("viewer").get(WEEK, {"start": "2026-11-23", "book": str(order.uuid)}).content.decode()
        assert "Book day 1 here" not in html

    def test_the_cell_prefills_the_form_page_without_javascript(self, role_client, verified):
        order = verified()
        url = reverse("scheduling:course_create", args=[order.uuid])
        response = role_client("nurse").get(url, {"chair": "4", "first_day": "2026-11-25"})
        assert response.templates[0].name == "scheduling/course_form.html"
        initial = response.context["form"].initial
        assert (initial["chair"], initial["first_day"]) == (4, date(2026, 11, 25))

    @pytest.mark.parametrize("query", [{"chair": "99"}, {"chair": "x"}, {"first_day": "soon"}])
    def test_a_nonsense_cell_leaves_the_defaults(self, role_client, verified, query):
        order = verified()
        url = reverse("scheduling:course_create", args=[order.uuid])
        form = role_client("nurse").get(url, query).context["form"]
        assert form.initial["chair"] == 1 and form.initial["first_day"] == date(2026, 11, 22)

    def test_on_the_board_the_form_is_a_fragment_that_posts_in_place(self, role_client, verified):
        order = verified()
        url = reverse("scheduling:course_create", args=[order.uuid])
        response = role_client("nurse").get(url, {"chair": "3", "first_day": "2026-11-23"}, **BOARD)
        html = response.content.decode()
        assert "<html" not in html and f'hx-post="{url}"' in html and 'hx-target="#board-panel"' in html
        assert re.search(r'<option value="3" selected>', html) and 'value="2026-11-23"' in html

    def test_preview_then_book_in_place(self, role_client, verified):
        order = verified()
        client = role_client("nurse")
        url = reverse("scheduling:course_create", args=[order.uuid])
        form = {"first_day": "2026-11-23", "start_time": "09:00", "chair": "3", "cycles": "2", "interval_weeks": "4"}
        response = client.post(url, form | {"action": "preview"}, **BOARD)
        assert response.status_code == 200 and "Dates (not yet booked)" in response.content.decode()
        shown = response.context["form"].warnings
        accept = {"accept_warnings": "on", "warnings_shown": warnings_digest(shown)} if shown else {}
        response = client.post(url, form | accept | {"action": "save"}, **BOARD)
        course = Course.objects.get(order=order)
        html = response.content.decode()
        assert response.status_code == 200 and "Course booked: 2 cycles." in html and "<html" not in html
        assert response["HX-Trigger-After-Settle"] == '{"board-changed": {}}'
        assert f'data-board-done="s-{sessions_of(course)[0].uuid}" data-board-booked' in html
        assert [s.chair for s in sessions_of(course)] == [3, 3, 3, 3]
        assert not DoseOrder.objects.to_schedule().filter(pk=order.pk).exists()

    def test_a_taken_chair_is_refused_in_place(self, role_client, verified, book):
        book(chair=3, first_day=MONDAY)
        order = verified()
        url = reverse("scheduling:course_create", args=[order.uuid])
        form = {"first_day": "2026-11-23", "start_time": "10:00", "chair": "3", "cycles": "1", "interval_weeks": "4"}
        response = role_client("nurse").post(url, form | {"action": "save"}, **BOARD)
        html = response.content.decode()
        assert "is already booked" in html and "<html" not in html and "HX-Trigger-After-Settle" not in response
        assert not Course.objects.filter(order=order).exists()

    def test_warnings_are_confirmed_in_place(self, role_client, verified):
        order = verified()
        client = role_client("nurse")
        url = reverse("scheduling:course_create", args=[order.uuid])
        late = {"first_day": "2026-11-23", "start_time": "15:00", "chair": "1", "cycles": "1", "interval_weeks": "4"}
        response = client.post(url, late | {"action": "save"}, **BOARD)
        form = response.context["form"]
        assert any("closing time" in warning for warning in form.warnings)
        assert "I have read these warnings and accept them" in response.content.decode()
        assert not Course.objects.exists()
        accepted = late | {"action": "save", "accept_warnings": "on", "warnings_shown": warnings_digest(form.warnings)}
        assert "Course booked" in client.post(url, accepted, **BOARD).content.decode()
        assert Course.objects.filter(order=order).exists()

    def test_without_htmx_booking_still_redirects_to_the_course(self, role_client, verified):
        order = verified()
        url = reverse("scheduling:course_create", args=[order.uuid])
        form = {"first_day": "2026-11-23", "start_time": "09:00", "chair": "2", "cycles": "1", "interval_weeks": "4"}
        response = role_client("nurse").post(url, form | {"action": "save"}, HTTP_HX_REQUEST="true")  # not the board
        assert response.status_code == 302 and response.url == Course.objects.get().get_absolute_url()

    def test_a_viewer_cannot_book(self, role_client, verified):
        order = verified()
        url = reverse("scheduling:course_create", args=[order.uuid])
        form = {"first_day": "2026-11-23", "start_time": "09:00", "chair": "2", "cycles": "1", "interval_weeks": "4"}
        assert role_client("viewer").post(url, form | {"action": "save"}, **BOARD).status_code == 403
        assert not Course.objects.exists()


# ----------------------------------------------------------------------- moving on the board


def move_form(session, **overrides):
    return {"new_date": "2026-11-24", "new_start": "09:00", "chair": "4", "version": str(session.version)} | overrides


@pytest.mark.django_db
class TestMovingOnTheBoard:
    def test_each_movable_chip_has_its_move_control(self, role_client, book):
        first = sessions_of(book())[0]
        html = role_client("nurse").get(WEEK, {"start": "2026-11-23"}).content.decode()
        url = reverse("scheduling:session_move", args=[first.uuid])
        assert f'id="m-{first.uuid}" href="{url}" data-move="{first.uuid}">Move</a>' in html
        assert '<td id="c1-2026-11-23" data-chair="1" data-date="2026-11-23">' in html
        assert "Move</a>" not in role_client("viewer").get(WEEK, {"start": "2026-11-23"}).content.decode()

    def test_the_form_comes_as_a_fragment(self, role_client, book):
        session = sessions_of(book())[0]
        url = reverse("scheduling:session_move", args=[session.uuid])
        html = role_client("nurse").get(url, **BOARD).content.decode()
        assert "<html" not in html and f'data-move-form="{session.uuid}"' in html and f'hx-post="{url}"' in html
        assert session.patient.family_name not in html  # the board's screen: MRN and initials

    def test_a_move_answers_in_place_and_redraws_the_board(self, role_client, book):
        session = sessions_of(book())[1]  # day 2, Tuesday
        url = reverse("scheduling:session_move", args=[session.uuid])
        response = role_client("nurse").post(url, move_form(session), **BOARD)
        html = response.content.decode()
        assert response.status_code == 200 and "Moved 1 session." in html and "<html" not in html
        assert response["HX-Trigger-After-Settle"] == '{"board-changed": {}}'
        assert f'data-board-done="s-{session.uuid}">' in html  # a move leaves booking mode as it is
        session.refresh_from_db()
        assert (session.chair, session.version) == (4, 2)

    def test_a_conflict_is_shown_in_place_and_nothing_moves(self, role_client, book):
        other = sessions_of(book(chair=4))[1]
        session = sessions_of(book(chair=1))[1]
        url = reverse("scheduling:session_move", args=[session.uuid])
        response = role_client("nurse").post(url, move_form(session), **BOARD)
        html = response.content.decode()
        # 200 on the board (htmx swaps only 2xx), the refusal in the fragment; the page's post is a 400.
        assert response.status_code == 200 and "<html" not in html and "is already booked" in html
        assert f"({other.patient.mrn} cycle 1 day 2)" in html
        session.refresh_from_db()
        assert (session.chair, session.version) == (1, 1)

    def test_a_warning_is_confirmed_in_place(self, role_client, book):
        session = sessions_of(book())[1]
        client = role_client("nurse")
        url = reverse("scheduling:session_move", args=[session.uuid])
        late = move_form(session, new_start="15:00")
        response = client.post(url, late, **BOARD)
        form = response.context["form"]
        assert form.warnings and "I have read these warnings and accept them" in response.content.decode()
        session.refresh_from_db()
        assert session.version == 1
        accepted = late | {"accept_warnings": "on", "warnings_shown": warnings_digest(form.warnings)}
        assert "Moved 1 session." in client.post(url, accepted, **BOARD).content.decode()
        session.refresh_from_db()
        assert session.planned_start.astimezone(NY).time() == time(15)

    def test_a_stale_board_is_told_in_place(self, role_client, book):
        session = sessions_of(book())[1]
        url = reverse("scheduling:session_move", args=[session.uuid])
        response = role_client("nurse").post(url, move_form(session, version="0"), **BOARD)
        assert response.status_code == 200 and "This session was changed by" in response.content.decode()
        assert "<html" not in response.content.decode()

    @pytest.mark.parametrize("role", ["physician", "pharmacist", "viewer"])
    def test_others_may_not_move(self, role_client, book, role):
        session = sessions_of(book())[1]
        url = reverse("scheduling:session_move", args=[session.uuid])
        assert role_client(role).post(url, move_form(session), **BOARD).status_code == 403
        session.refresh_from_db()
        assert session.version == 1


# ----------------------------------------------------------------------- the board's parts


@pytest.mark.django_db
class TestBoardParts:
    def test_todays_column_alone(self, role_client, book, frozen_today):
        course = book(chair=2, first_day=frozen_today)
        response = role_client("nurse").get(WEEK, {"part": "today"}, HTTP_HX_REQUEST="true")
        html = response.content.decode()
        cells = re.findall(r'<td id="c(\d+)-([\d-]+)"[^>]*hx-swap-oob="true"', html)
        assert cells == [(str(chair), "2026-11-22") for chair in range(1, 7)]
        assert course.patient.mrn in html and "<table" not in html and "<html" not in html

    def test_the_page_polls_today_only_in_the_week_of_today(self, role_client):
        client = role_client("nurse")
        assert 'hx-trigger="every 60s, board-visible"' in client.get(WEEK).content.decode()
        assert "every 60s" not in client.get(WEEK, {"start": "2026-11-23"}).content.decode()
        assert "every 60s" not in client.get(WEEK, {"print": "1"}).content.decode()
        other_week = client.get(WEEK, {"start": "2026-11-23", "part": "today"}, HTTP_HX_REQUEST="true")
        assert other_week.status_code == 204

    def test_the_grid_alone_with_the_orders_out_of_band(self, role_client, book, verified):
        verified()
        course = book()
        response = role_client("nurse").get(WEEK, {"start": "2026-11-23", "part": "grid"}, HTTP_HX_REQUEST="true")
        html = response.content.decode()
        assert html.lstrip().startswith('<div id="board-grid"') and course.patient.mrn in html
        assert '<section id="board-orders"' in html and 'hx-swap-oob="true"' in html and "<html" not in html

    def test_without_htmx_a_part_is_the_whole_page(self, role_client):
        assert "<html" in role_client("nurse").get(WEEK, {"part": "today"}).content.decode()

    def test_a_bad_order_in_the_address_is_a_400_that_says_so(self, role_client):
        response = role_client("nurse").get(WEEK, {"book": "not-a-uuid"})
        assert response.status_code == 400 and "Enter a valid UUID." in response.content.decode()


# ----------------------------------------------------------------------- what the page costs (issue 17)


def _json_columns() -> set[str]:
    return {
        f'"{model._meta.db_table}"."{field.column}"'
        for model in apps.get_models()
        for field in model._meta.concrete_fields
        if isinstance(field, models.JSONField)
    }


@pytest.mark.django_db
class TestBoardCost:
    def measure(self, client, params):
        built = []

        def count(sender, **kwargs):
            built.append(sender)

        post_init.connect(count)
        try:
            with CaptureQueriesContext(connection) as queries:
                assert client.get(WEEK, params).status_code == 200
        finally:
            post_init.disconnect(count)
        return queries.captured_queries, built

    @pytest.mark.parametrize("params", [{"start": "2026-11-23"}, {"start": "2026-11-23", "print": "1"}])
    def test_queries_and_instances_do_not_grow_and_no_json_is_read(self, role_client, book, verified, params):
        client = role_client("nurse")
        book(chair=1)
        verified()
        client.get(WEEK)  # the first request after login renews the session (a write); later ones read only
        small_queries, small_built = self.measure(client, params)
        for chair in (2, 3, 4, 5, 6):
            book(chair=chair, cycles=2)
            verified()
        assert InfusionSession.objects.count() == 2 + 5 * 4
        large_queries, large_built = self.measure(client, params)
        assert len(large_queries) == len(small_queries)
        # The session, the user, the unit's settings: no instance per chip. (The print layout also
        # builds each prescriber and verifier once: one per person, not per session.)
        people = get_user_model()
        assert [m for m in large_built if m is not people] == [m for m in small_built if m is not people]
        assert len([m for m in large_built if m is not people]) <= 4
        json = _json_columns()
        read = [column for q in large_queries for column in json if column in q["sql"]]
        assert not read, read

    def test_booking_mode_costs_one_more_query(self, role_client, book, verified):
        client = role_client("nurse")
        order = verified()
        client.get(WEEK)
        plain, _ = self.measure(client, {"start": "2026-11-23"})
        booking, _ = self.measure(client, {"start": "2026-11-23", "book": str(order.uuid)})
        assert len(booking) == len(plain) + 1

    def test_prescriber_and_verifier_only_in_the_print_layout(self, role_client, book):
        course = book()
        client = role_client("nurse")
        screen = client.get(WEEK, {"start": "2026-11-23"}).content.decode()
        printed = client.get(WEEK, {"start": "2026-11-23", "print": "1"}).content.decode()
        assert "signatories" not in screen
        assert re.search(r"Rx [^<]+ \(physician\)<br>verified [^<]+ \(pharmacist\)", printed)
        assert course.patient.mrn in printed and "Move</a>" not in printed and "board-panel" not in printed
