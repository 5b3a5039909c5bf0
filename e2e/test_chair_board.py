"""The chair board (the week view): a nurse books a verified order's sessions and moves a session
from the grid with the keyboard alone (no drag, WCAG 2.5.7), sees a refusal and a warning in
place and accepts the warning there, and does the same move with JavaScript off (the move page).
Today's column refreshes without closing a move in progress or taking the focus away.

Courses are booked in next week (the board offers cells from today on)."""

import re
from datetime import time, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from playwright.sync_api import expect

from e2e.conftest import login, screenshot
from scheduling.models import Course, InfusionSession
from scheduling.services.courses import course_plan

pytestmark = pytest.mark.e2e

JOURNEY = "board"
MRN = "E2E-0001"
ACCEPT = "I have read these warnings and accept them"


def next_monday(today):
    return today + timedelta(days=7 - today.weekday())


def week_url(day) -> str:
    return reverse("scheduling:week") + f"?start={day:%Y-%m-%d}"


def cell(page, chair: int, day):
    return page.locator(f"#c{chair}-{day:%Y-%m-%d}")


def focused_id(page) -> str:
    return page.evaluate("() => document.activeElement && document.activeElement.id")


@pytest.fixture
def booked(nurse_user, verified_order, today):
    """Alice Martin's 2-day order booked for one cycle from next Monday at 09:00 in chair 1."""
    course = course_plan(
        by=get_user_model().objects.get(username=nurse_user.username),
        order=verified_order,
        first_day=next_monday(today),
        start_time=time(9),
        chair=1,
        cycles=1,
        today=today,
    )
    return list(InfusionSession.objects.filter(cycle__course=course).order_by("planned_start"))


@pytest.fixture
def make_other_course(physician_user, pharmacist_user, nurse_user, today):
    """Another patient's 2-day course, one cycle at 09:00 in ``chair`` from ``first_day``: its MRN."""
    from e2e.test_page_quality import _verified_order
    from patients.tests.factories import MeasurementFactory, PatientFactory

    users = get_user_model().objects

    def make(*, chair: int, first_day) -> str:
        patient = PatientFactory()
        MeasurementFactory(patient=patient, measured_on=today - timedelta(days=1))
        order = _verified_order(
            patient, users.get(username=physician_user.username), users.get(username=pharmacist_user.username)
        )
        course_plan(
            by=users.get(username=nurse_user.username),
            order=order,
            first_day=first_day,
            start_time=time(9),
            chair=chair,
            cycles=1,
            today=today,
        )
        return patient.mrn

    return make


def test_book_an_orders_sessions_from_the_board_by_keyboard(page, nurse_user, verified_order, today):
    monday = next_monday(today)
    login(page, nurse_user.username)
    page.goto(week_url(monday))
    orders = page.get_by_role("region", name="Verified orders to book")
    order = orders.get_by_role("link", name=re.compile(rf"^{MRN}"))
    order.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("status").filter(has_text=f"Booking {MRN}")).to_be_visible()
    # The order's link loaded the page again: its board scripts run before a cell is chosen.
    expect(page.locator("#chair-board[data-board-ready]")).to_be_attached()

    free = cell(page, 2, monday).get_by_role("link", name=re.compile(r"^Book day 1 here"))
    free.focus()
    page.keyboard.press("Enter")
    panel = page.locator("#board-panel")
    expect(panel.get_by_role("heading", name=re.compile(rf"^Book a course: {MRN}"))).to_be_focused()
    expect(panel.get_by_label(re.compile(r"^\s*Chair\W*$"))).to_have_value("2")
    expect(panel.get_by_label("First infusion day")).to_have_value(f"{monday:%Y-%m-%d}")
    assert "/course/new/" not in page.url  # in place, no page of its own

    panel.get_by_label("Number of cycles").focus()
    page.keyboard.type("1")
    panel.get_by_role("button", name="Preview the dates").focus()
    page.keyboard.press("Enter")
    expect(panel.get_by_role("heading", name="Dates (not yet booked)")).to_be_visible()
    if panel.get_by_label(ACCEPT).count():
        panel.get_by_label(ACCEPT).focus()
        page.keyboard.press("Space")
    screenshot(page, JOURNEY, "01-booking-preview")
    panel.get_by_role("button", name="Book the course").focus()
    page.keyboard.press("Enter")

    expect(panel.get_by_role("status")).to_contain_text("Course booked: 1 cycles.")
    expect(cell(page, 2, monday)).to_contain_text("day 1/2")
    expect(cell(page, 2, monday + timedelta(days=1))).to_contain_text("day 2/2")
    expect(orders).to_contain_text("None: every verified order has its course.")
    expect(page.locator(".board-booking")).to_have_count(0)  # booking mode ends with the booking
    expect(page.get_by_text("no longer waits for a course")).to_have_count(0)
    expect(page).not_to_have_url(re.compile(r"book="))
    first = InfusionSession.objects.get(patient__mrn=MRN, day_number=1)
    expect(page.locator(f"#s-{first.uuid}")).to_be_focused()
    assert Course.objects.get().order == verified_order and first.chair == 2
    screenshot(page, JOURNEY, "02-booked")


def test_move_a_session_by_keyboard_and_cancel_with_escape(page, nurse_user, booked, today):
    monday = next_monday(today)
    tuesday = monday + timedelta(days=1)
    day_2 = booked[1]
    login(page, nurse_user.username)
    page.goto(week_url(monday))

    # Tab from the chip's MRN to its Move control; Enter opens move mode; Escape cancels it.
    page.locator(f"#s-{day_2.uuid}").focus()
    page.keyboard.press("Tab")
    expect(page.locator(f"#m-{day_2.uuid}")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator(".board-target:focus")).to_have_count(1)
    page.keyboard.press("Escape")
    expect(page.locator(".board-target")).to_have_count(0)
    expect(page.locator(f"#m-{day_2.uuid}")).to_be_focused()

    page.keyboard.press("Enter")
    # The first cell offered is the next one in the chip's row; arrows go from cell to cell.
    expect(page.locator(f"#t-c1-{tuesday + timedelta(days=1):%Y-%m-%d}")).to_be_focused()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowLeft")
    expect(page.locator(f"#t-c3-{tuesday:%Y-%m-%d}")).to_be_focused()
    screenshot(page, JOURNEY, "03-move-mode")
    page.keyboard.press("Enter")

    expect(page.locator("#board-panel").get_by_role("status")).to_contain_text("Moved 1 session.")
    expect(cell(page, 3, tuesday)).to_contain_text("day 2/2")
    expect(cell(page, 1, tuesday)).not_to_contain_text(MRN)
    expect(page.locator(f"#s-{day_2.uuid}")).to_be_focused()
    day_2.refresh_from_db()
    assert (day_2.chair, day_2.version) == (3, 2)
    assert page.url.endswith(week_url(monday))


def test_a_conflict_and_a_warning_are_answered_in_place(page, nurse_user, booked, today, make_other_course):
    monday = next_monday(today)
    tuesday = monday + timedelta(days=1)
    other = make_other_course(chair=2, first_day=monday)
    day_2 = booked[1]
    login(page, nurse_user.username)
    page.goto(week_url(monday))
    page.locator(f"#m-{day_2.uuid}").focus()
    page.keyboard.press("Enter")
    target = page.locator(f"#t-c2-{tuesday:%Y-%m-%d}")
    target.focus()
    page.keyboard.press("Enter")

    panel = page.locator("#board-panel")
    refusal = panel.locator(".alert-danger, .invalid-feedback").filter(has_text="is already booked")
    expect(refusal.first).to_be_visible()
    expect(panel).to_contain_text(f"({other} cycle 1 day 2)")
    screenshot(page, JOURNEY, "04-conflict-in-place")
    day_2.refresh_from_db()
    assert (day_2.chair, day_2.version) == (1, 1)
    assert page.url.endswith(week_url(monday))

    # A later start in a free chair only warns: the warning is read and accepted in the panel.
    panel.get_by_label("New start time (local)").fill("15:30")
    page.locator(f"#t-c4-{tuesday:%Y-%m-%d}").focus()
    page.keyboard.press("Enter")
    expect(panel.get_by_role("alert").filter(has_text="after closing time")).to_be_focused()
    panel.get_by_label(ACCEPT).focus()
    page.keyboard.press("Space")
    panel.get_by_role("button", name="Move", exact=True).focus()
    page.keyboard.press("Enter")
    expect(panel.get_by_role("status")).to_contain_text("Moved 1 session.")
    expect(cell(page, 4, tuesday)).to_contain_text("15:30")
    day_2.refresh_from_db()
    assert day_2.chair == 4


def test_the_same_move_without_javascript(page_without_js, nurse_user, booked, today):
    page = page_without_js
    monday = next_monday(today)
    tuesday = monday + timedelta(days=1)
    day_2 = booked[1]
    login(page, nurse_user.username)
    page.goto(week_url(monday))
    cell(page, 1, tuesday).get_by_role("link", name="Move").click()
    expect(page.get_by_role("heading", name="Move an infusion session")).to_be_visible()
    page.get_by_label(re.compile(r"^\s*Chair\W*$")).select_option(label="Chair 3")
    page.get_by_role("button", name="Move", exact=True).click()
    expect(page.get_by_role("status").filter(has_text="Moved 1 session.")).to_be_visible()
    day_2.refresh_from_db()
    assert day_2.chair == 3
    page.goto(week_url(monday))
    expect(cell(page, 3, tuesday)).to_contain_text("day 2/2")


def test_todays_column_refreshes_without_closing_a_move(page, nurse_user, verified_order, today):
    course = course_plan(
        by=get_user_model().objects.get(username=nurse_user.username),
        order=verified_order,
        first_day=today,
        start_time=time(9),
        chair=1,
        cycles=1,
        today=today,
    )
    day_1 = InfusionSession.objects.get(cycle__course=course, day_number=1)
    login(page, nurse_user.username)
    page.goto(reverse("scheduling:week"))
    page.locator(f"#m-{day_1.uuid}").focus()
    page.keyboard.press("Enter")
    expect(page.locator(".board-target:focus")).to_have_count(1)
    before = focused_id(page)
    targets = page.locator(".board-target").count()

    # A session booked elsewhere meanwhile shows up in today's column at the next refresh.
    InfusionSession.objects.filter(pk=day_1.pk).update(status="confirmed")
    with page.expect_response(lambda response: "part=today" in response.url):
        page.evaluate("() => htmx.trigger('#board-today', 'board-visible')")
    expect(cell(page, 1, today)).to_contain_text("Confirmed")
    expect(page.locator(".board-target")).to_have_count(targets)
    assert focused_id(page) == before
    expect(page.locator("[data-move-form]")).to_be_visible()  # the move is still open
