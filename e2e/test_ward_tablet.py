"""The pages on a ward tablet (768 px) and a desktop (1280 px): the menu collapses and opens (and is
reachable without JavaScript), the session, order and visit pages have no table hiding columns behind
its own scroll bar, links and buttons in tables and forms are at least 24 x 24 px, the infusion sheet
and the week view print with the prescriber and the verifying pharmacist, and dates are typed in the
clinic's one format. Screenshots of the main pages at both widths are saved under
artifacts/screenshots/ (e2e-tablet-<page>-<width>.png)."""

import re
from dataclasses import dataclass
from datetime import timedelta
from io import StringIO
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from e2e.conftest import LOCAL_HOSTS, TIMEOUT_MS, login, screenshot
from e2e.test_page_quality import CLIPPED_TABLES, _verified_order
from patients.models import Patient
from scheduling.models import InfusionSession
from visits.models import Visit

pytestmark = pytest.mark.e2e

JOURNEY = "tablet"
TABLET, DESKTOP = 768, 1280
# Links, buttons and checkable inputs in tables and forms narrower or lower than 24 px (WCAG 2.5.8),
# counting only those shown. A link inside running text is exempt by the criterion (the "inline"
# exception), so only links that are the whole content of a cell or stand alone in a form count.
SMALL_TARGETS = """() => [...document.querySelectorAll(
    "main table a, main table button, main form a, main form button, main [type=checkbox], main [type=radio]")]
  .filter(el => el.getClientRects().length)
  .filter(el => el.tagName !== "A" || el.parentElement.textContent.trim() === el.textContent.trim())
  .map(el => [el, el.getBoundingClientRect()])
  .filter(([el, box]) => box.width < 24 || box.height < 24)
  .map(([el, box]) => `${el.outerHTML.slice(0, 90)} (${Math.round(box.width)} x ${Math.round(box.height)})`)"""
CARDS_ON_A_TABLET = {"dashboard", "patient", "order", "session", "infusion-sheet", "visits", "visit"}
STACKED_ROWS = """() => [...document.querySelectorAll(".table-stack > tbody > tr")]
  .filter(row => row.getClientRects().length).map(row => getComputedStyle(row).display)"""


@dataclass(frozen=True)
class Ward:
    pages: dict[str, str]  # the pages checked and photographed, by name
    order_uuid: str
    sheet_url: str


@pytest.fixture
def ward(physician_user, pharmacist_user) -> Ward:
    """The demo clinic (sessions this week, visits) and a verified order by Maya Okafor, verified by
    Daniel Reyes, for DEMO-0001."""
    call_command("seed_demo", force=True, stdout=StringIO())
    users = get_user_model().objects
    patient = Patient.objects.get(mrn="DEMO-0001")
    order = _verified_order(
        patient, users.get(username=physician_user.username), users.get(username=pharmacist_user.username)
    )
    session = InfusionSession.objects.order_by("planned_start").first()
    visit = Visit.objects.order_by("visit_date").last()
    sheet = reverse("dosing:order_sheet", args=[order.uuid, 1])
    pages = {
        "dashboard": reverse("home"),
        "patient": patient.get_absolute_url(),
        "order": order.get_absolute_url(),
        "session": session.get_absolute_url(),
        "infusion-sheet": sheet,
        "week-view": reverse("scheduling:week") + f"?start={session.planned_start.date():%Y-%m-%d}",
        "visits": reverse("visits:patient_visits", args=[visit.patient.uuid]),
        "visit": visit.get_absolute_url(),
    }
    return Ward(pages=pages, order_uuid=str(order.uuid), sheet_url=sheet)


def test_the_menu_collapses_on_a_tablet_and_opens(page, physician_user):
    page.set_viewport_size({"width": TABLET, "height": 900})
    login(page, physician_user.username)
    menu = page.get_by_role("navigation", name="Main")
    toggler = menu.get_by_role("button", name="Show menu")
    expect(toggler).to_be_visible()
    expect(menu.get_by_role("link", name="Patients")).to_be_hidden()

    toggler.click()
    expect(toggler).to_have_attribute("aria-expanded", "true")
    expect(menu.get_by_role("link", name="Patients")).to_be_visible()
    menu.get_by_text("Maya Okafor").click()  # the person's own menu
    expect(menu.get_by_role("link", name="API tokens")).to_be_visible()
    menu.get_by_role("link", name="Patients").click()
    expect(page.get_by_role("heading", name="Patients", exact=True)).to_be_visible()


def test_on_a_desktop_the_header_is_one_row(page, physician_user):
    login(page, physician_user.username)  # 1280 px
    menu = page.get_by_role("navigation", name="Main")
    expect(menu.get_by_role("button", name="Show menu")).to_be_hidden()
    brand = menu.get_by_role("link", name="IVIG Clinic").bounding_box()
    for name in ("Dashboard", "Products"):
        link = menu.get_by_role("link", name=name).bounding_box()
        assert abs(link["y"] - brand["y"]) < 12, f"{name} is not on the brand's row: {link} vs {brand}"
    assert menu.bounding_box()["height"] < 70
    assert page.evaluate("() => document.documentElement.scrollWidth") <= DESKTOP


def test_without_javascript_the_menu_is_shown_and_print_falls_back(browser, live_server, physician_user, ward):
    context = browser.new_context(
        viewport={"width": TABLET, "height": 900}, base_url=live_server.url, java_script_enabled=False
    )
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.route("**/*", lambda route: _local_only(route))
    try:
        login(page, physician_user.username)
        menu = page.get_by_role("navigation", name="Main")
        expect(menu.get_by_role("button", name="Show menu")).to_be_hidden()
        expect(menu.get_by_role("link", name="Patients")).to_be_visible()
        menu.get_by_text("Maya Okafor").click()  # <details> opens without a script
        expect(menu.get_by_role("button", name="Log out")).to_be_visible()

        page.goto(ward.pages["week-view"])
        expect(page.get_by_role("button", name="Print")).to_be_hidden()
        expect(page.get_by_role("link", name="Print layout (landscape)")).to_be_visible()
        page.goto(ward.sheet_url)
        expect(page.get_by_role("button", name="Print")).to_be_hidden()
        expect(page.get_by_text("Print this page with the browser's own Print command.")).to_be_visible()
    finally:
        context.close()


def _local_only(route):
    if urlsplit(route.request.url).hostname not in LOCAL_HOSTS:
        route.abort()
    else:
        route.continue_()


@pytest.mark.parametrize("width", [TABLET, DESKTOP])
def test_session_order_and_visit_pages_fit_without_inner_scrolling(page, physician_user, ward, width):
    page.set_viewport_size({"width": width, "height": 900})
    login(page, physician_user.username)
    problems = []
    for name, url in ward.pages.items():
        assert page.goto(url).ok, name
        expect(page.get_by_role("main")).to_be_visible()
        # Every page but the week view, whose grid of chairs x days keeps its table.
        if name in CARDS_ON_A_TABLET:
            clipped = page.evaluate(CLIPPED_TABLES)
            if clipped:
                problems.append(f"{name}: a table scrolls inside its box at {width} px: {clipped}")
        if page.evaluate("() => document.documentElement.scrollWidth") > width:
            problems.append(f"{name}: the page scrolls sideways at {width} px")
        small = page.evaluate(SMALL_TARGETS)
        if small:
            problems.append(f"{name}: touch targets under 24 px: {small[:4]}")
        rows = set(page.evaluate(STACKED_ROWS))
        expected = {"block"} if width == TABLET else {"table-row"}
        if rows and rows != expected:
            problems.append(f"{name}: stacked tables' rows are {rows} at {width} px, not {expected}")
        screenshot(page, JOURNEY, f"{name}-{width}")
    assert not problems, "\n".join(problems)


def test_a_stacked_row_labels_each_value_with_its_column(page, physician_user, ward):
    page.set_viewport_size({"width": TABLET, "height": 900})
    login(page, physician_user.username)
    page.goto(ward.pages["order"])
    first_step = page.locator(".dose-plan table tbody tr").first
    expect(first_step.locator("td").nth(3)).to_have_attribute("data-label", "Pump rate")
    label = first_step.locator("td").nth(3).evaluate("cell => getComputedStyle(cell, '::before').content")
    assert label == '"Pump rate"'

    page.emulate_media(media="print")  # paper keeps the table
    assert first_step.evaluate("row => getComputedStyle(row).display") == "table-row"


def test_the_infusion_sheet_prints_with_prescriber_and_verifier(page, physician_user, ward):
    login(page, physician_user.username)
    page.goto(ward.sheet_url)
    page.evaluate("() => { window.printed = 0; window.print = () => { window.printed += 1; }; }")
    page.get_by_role("button", name="Print").click()
    assert page.evaluate("() => window.printed") == 1

    page.emulate_media(media="print")
    expect(page.get_by_role("button", name="Print")).to_be_hidden()
    signatories = page.locator("#signatories")
    expect(signatories).to_be_visible()
    moment = r"\d{4}-\d\d-\d\d \d\d:\d\d"  # the clinic's date and a 24-hour time
    expect(signatories).to_contain_text(re.compile(rf"Prescribed by\s*Maya Okafor \(physician\), {moment}"))
    expect(signatories).to_contain_text(re.compile(rf"Verified by\s*Daniel Reyes \(pharmacist\), {moment}"))
    screenshot(page, JOURNEY, "infusion-sheet-print")


def test_the_week_view_prints_each_sessions_prescriber_and_verifier(page, nurse_user, ward):
    login(page, nurse_user.username)
    page.goto(ward.pages["week-view"])
    chip = page.locator(".week-print td .signatories").first
    expect(chip).to_have_count(0)  # on screen the chips stay short: the names are drawn for paper only
    # Print opens the print layout, which prints itself once loaded (the stub counts in every page).
    page.add_init_script("window.printed = 0; window.print = () => { window.printed += 1; };")
    page.get_by_role("button", name="Print").click()
    expect(page).to_have_url(re.compile(r"print=1"))
    page.wait_for_function("() => window.printed === 1")

    page.emulate_media(media="print")
    expect(chip).to_be_visible()
    expect(chip).to_contain_text(re.compile(r"Rx .+ \(physician\)"))
    expect(chip).to_contain_text(re.compile(r"verified .+ \(pharmacist\)"))
    expect(page.get_by_role("navigation", name="Main")).to_be_hidden()
    screenshot(page, JOURNEY, "week-view-print")


def test_dates_are_typed_in_the_clinic_format(page, physician_user, ward):
    login(page, physician_user.username)
    page.goto(ward.sheet_url)
    day = page.get_by_label("Infusion date")
    start = page.get_by_label("Planned start")
    # Text inputs, not the browser's locale pickers: the same format whatever the browser's language.
    expect(day).to_have_attribute("type", "text")
    expect(day).to_have_attribute("placeholder", "YYYY-MM-DD")
    expect(start).to_have_attribute("placeholder", "HH:MM")

    day.fill("07/12/2026")  # month first or day first? Refused before it is sent.
    assert day.evaluate("input => input.validity.patternMismatch")
    when = timezone.localdate() + timedelta(days=3)
    day.fill(f"{when:%Y-%m-%d}")
    start.fill("13:30")
    page.get_by_role("button", name="Update times").click()
    expect(page.locator(".infusion-sheet")).to_contain_text(f"{when:%Y-%m-%d}")
    expect(page.get_by_role("cell", name=re.compile(r"^13:30–"))).to_be_visible()

    # Sent anyway (a script, an old bookmark): the server names the format.
    page.goto(ward.sheet_url + "?date=07/12/2026")
    expect(page.get_by_text("Enter the date as YYYY-MM-DD, for example 2026-12-04.")).to_be_visible()
