"""Page quality on the demo clinic: at a desktop (1280 px) and a tablet (768 px) width, no main page
scrolls sideways, every form control has a label, and the keyboard reaches the page's content.
The printed infusion sheet carries no navigation."""

from dataclasses import dataclass
from decimal import Decimal
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import reverse
from playwright.sync_api import expect

from dosing.models import Indication
from dosing.services.orders import dose_order_create, dose_order_verify
from e2e.conftest import login, screenshot
from patients.models import Patient

pytestmark = pytest.mark.e2e

JOURNEY = "pages"
WIDTHS = {"desktop": 1280, "tablet": 768}
# Pages whose screenshots are kept at both widths, to look at.
PHOTOGRAPHED = {"dashboard", "patient-detail", "order-detail", "infusion-sheet", "visits"}

UNLABELLED_CONTROLS = """() => [...document.querySelectorAll("input, select, textarea")]
  .filter(el => !["hidden", "submit", "button", "reset", "image"].includes(el.type))
  .filter(el => {
    const byLabel = [...(el.labels || [])].some(label => label.textContent.trim());
    const byAria = (el.getAttribute("aria-label") || "").trim() || el.getAttribute("aria-labelledby");
    return !byLabel && !byAria;
  })
  .map(el => el.outerHTML.slice(0, 140))"""
CLIPPED_TABLES = """() => [...document.querySelectorAll(".table-responsive")]
  .filter(box => box.scrollWidth > box.clientWidth + 1)
  .map(box => (box.querySelector("thead") || box).textContent.replace(/\\s+/g, " ").trim().slice(0, 80))"""
FOCUS_IN_MAIN = "() => Boolean(document.activeElement && document.activeElement.closest('main'))"
FOCUSED = "() => document.activeElement && (document.activeElement.textContent || '').trim()"


@dataclass(frozen=True)
class Clinic:
    pages: dict[str, str]
    sheet_url: str


def _verified_order(patient: Patient, physician, pharmacist):
    indication = Indication.objects.get(product__slug="octagam-10", slug="dermatomyositis")
    order = dose_order_create(
        by=physician, patient=patient, indication=indication, dose_g_per_kg=Decimal("2"), days=2, weight_basis="auto"
    )
    return dose_order_verify(by=pharmacist, order=order)


@pytest.fixture
def clinic(physician_user, pharmacist_user) -> Clinic:
    """The demo clinic (eight patients, visits, risk flags) and a verified order for DEMO-0001."""
    call_command("seed_demo", force=True, stdout=StringIO())
    users = get_user_model().objects
    patient = Patient.objects.get(mrn="DEMO-0001")
    order = _verified_order(
        patient, users.get(username=physician_user.username), users.get(username=pharmacist_user.username)
    )
    sheet = reverse("dosing:order_sheet", args=[order.uuid, 1])
    calculator = reverse("dosing:calculator") + (
        "?indication=octagam-10/dermatomyositis&weight_kg=70&height_cm=170&sex=female&dose_g_per_kg=2&days=2"
    )
    pages = {
        "dashboard": reverse("home"),
        "patient-list": reverse("patients:list"),
        "patient-detail": patient.get_absolute_url(),
        "new-patient": reverse("patients:create"),
        "calculator": calculator,
        "catalog": reverse("dosing:catalog"),
        "order-detail": order.get_absolute_url(),
        "infusion-sheet": sheet,
        "visits": reverse("visits:patient_visits", args=[patient.uuid]),
        "cohort": reverse("visits:cohort"),
        "api-tokens": reverse("accounts:tokens"),
        "treatment-course": order.treatment_course.get_absolute_url(),
        "stewardship-review": reverse("pathway:review", args=[order.treatment_course.uuid]),
    }
    return Clinic(pages=pages, sheet_url=sheet)


def _keyboard_reaches_main(page) -> bool:
    """Tab from the top of the page: the skip link comes first and leads into the content."""
    if page.evaluate(FOCUS_IN_MAIN):  # a search box with autofocus is already there
        return True
    page.keyboard.press("Tab")
    if page.evaluate(FOCUSED) == "Skip to content":
        page.keyboard.press("Enter")
        page.keyboard.press("Tab")
        return page.evaluate(FOCUS_IN_MAIN)
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate(FOCUS_IN_MAIN):
            return True
    return False


@pytest.mark.parametrize("device", WIDTHS)
def test_main_pages_fit_are_labelled_and_keyboard_reachable(page, physician_user, clinic, device):
    width = WIDTHS[device]
    page.set_viewport_size({"width": width, "height": 900})
    login(page, physician_user.username)
    problems = []
    for name, url in clinic.pages.items():
        response = page.goto(url)
        assert response.ok, f"{name}: HTTP {response.status}"
        expect(page.get_by_role("main")).to_be_visible()

        scroll_width = page.evaluate("() => document.documentElement.scrollWidth")
        if scroll_width > width + 1:
            wide = page.evaluate(
                """width => [...document.querySelectorAll("body *")]
                  .filter(el => el.getBoundingClientRect().right > width + 1)
                  .filter(el => !el.closest(".table-responsive"))
                  .slice(0, 3).map(el => el.outerHTML.slice(0, 100))""",
                width,
            )
            problems.append(f"{name}: the page scrolls sideways ({scroll_width} px at {width} px): {wide}")
        if width >= WIDTHS["desktop"]:
            # On a desktop screen no column of a table may hide behind its own scroll bar.
            clipped = page.evaluate(CLIPPED_TABLES)
            if clipped:
                problems.append(f"{name}: tables wider than their box at {width} px: {clipped}")
        unlabelled = page.evaluate(UNLABELLED_CONTROLS)
        if unlabelled:
            problems.append(f"{name}: form controls without a label: {unlabelled}")
        if not _keyboard_reaches_main(page):
            problems.append(f"{name}: Tab never moves focus into the main content")
        if name in PHOTOGRAPHED:
            screenshot(page, JOURNEY, f"{name}-{width}")
    assert not problems, "\n".join(problems)


def test_printed_infusion_sheet_has_no_navigation(page, physician_user, pharmacist_user, alice_martin):
    users = get_user_model().objects
    order = _verified_order(
        alice_martin, users.get(username=physician_user.username), users.get(username=pharmacist_user.username)
    )
    login(page, physician_user.username)
    page.goto(reverse("dosing:order_sheet", args=[order.uuid, 1]))
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()

    page.emulate_media(media="print")
    expect(page.get_by_role("heading", name="IVIG infusion sheet · day 1 of 2")).to_be_visible()
    expect(page.get_by_role("navigation", name="Main")).to_be_hidden()
    expect(page.get_by_role("button", name="Update times")).to_be_hidden()
    expect(page.get_by_role("link", name="Skip to content")).to_be_hidden()
    expect(page.get_by_role("cell", name="168.0 mL/h")).to_be_visible()
    screenshot(page, JOURNEY, "infusion-sheet-print")
