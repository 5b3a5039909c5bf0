"""Steps of the daily workflows, shared by the journeys (which check what each step shows) and the
accessibility walks in test_workflows.py (which check every page a step opens).

Each step starts on the page that offers it and ends on the page it leads to. ``check`` is called
with a short name on every form page a step opens, before it is sent (the accessibility walks run
axe and take screenshots there); the journeys leave it out."""

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from playwright.sync_api import Page, expect

from e2e.a11y import assert_focus_visible, javascript_mode
from e2e.conftest import local_input, says

Check = Callable[[str], None]


def no_check(step: str) -> None:
    """The journeys' default: they check what matters to them themselves."""


@dataclass(frozen=True)
class Vitals:
    systolic: str
    diastolic: str
    heart_rate: str
    temperature: str
    spo2: str = ""
    respiratory_rate: str = ""


BEFORE = Vitals("124", "78", "72", "36.8")
AFTER = Vitals("118", "76", "70", "36.9")


def record_vitals(page: Page, *, phase: str, at: datetime, vitals: Vitals, check: Check = no_check) -> None:
    """From the session page: vital signs taken `phase` ("Before" or "After") the infusion."""
    page.get_by_role("link", name="Vital signs").click()
    page.get_by_role("radio", name=phase).check()
    page.get_by_label("Taken at").fill(local_input(at))
    page.get_by_label("Systolic (mmHg)").fill(vitals.systolic)
    page.get_by_label("Diastolic (mmHg)").fill(vitals.diastolic)
    page.get_by_label("Heart rate (beats/min)").fill(vitals.heart_rate)
    page.get_by_label("Temperature (°C)").fill(vitals.temperature)
    if vitals.spo2:
        page.get_by_label("SpO₂ (%)").fill(vitals.spo2)
    if vitals.respiratory_rate:
        page.get_by_label("Respiratory rate (breaths/min)").fill(vitals.respiratory_rate)
    check(f"vitals-{phase.lower()}")
    page.get_by_role("button", name="Record").click()
    says(page, "Recorded the vital signs.")


def record_a_lot(page: Page, *, lot: str, size_g: int | str, vials: int, expiry: date, check: Check = no_check) -> None:
    """From the session page: a product lot typed in (no scanner)."""
    page.get_by_role("link", name="Product lot").click()
    # The form puts focus in its scan field (autofocus, for the scanner): wait for it, or typing in
    # another field can race it (the click returns before the form arrives).
    expect(page.get_by_label("Scan (GS1 DataMatrix)")).to_be_focused()
    page.get_by_label("Lot number").fill(lot)
    page.get_by_label("Vial size").select_option(label=f"{size_g} g")
    page.get_by_label("Vials from this lot").fill(str(vials))
    page.get_by_label("Expiry date").fill(f"{expiry:%Y-%m-%d}")
    check("lot")
    page.get_by_role("button", name="Record").click()
    says(page, "Recorded the product lot.")
    # Added in place, a second lot says the same as the first: its row shows it was recorded.
    expect(page.locator("#lots + div table tbody tr").filter(has_text=lot)).to_have_count(1)


START_REASON = "Labs drawn this morning, results pending; physician informed"


def start_infusion_accepting_missing_labs(page: Page, *, at: datetime, check: Check = no_check) -> None:
    """From the session page: start, accepting the pre-infusion check's missing labs with a reason."""
    page.get_by_role("link", name="Start the infusion").click()
    expect(page.get_by_role("table").filter(has_text="Haemoglobin")).to_contain_text("missing")
    page.get_by_label("Infusion started at").fill(local_input(at))
    page.get_by_label("I accept starting with the stale or missing items").check()
    page.get_by_label("Reason", exact=True).fill(START_REASON)
    check("start")
    page.get_by_role("button", name="Start the infusion").click()
    says(page, "Infusion started.")
    expect(page.locator("[data-status]")).to_have_text("In progress")


def stop_infusion(page: Page, *, at: datetime, volume_ml, check: Check = no_check) -> None:
    """From the session page: the stop time and the volume given."""
    page.get_by_role("link", name="Stop, volume, waste, notes").click()
    page.get_by_label("Infusion stopped at").fill(local_input(at))
    page.get_by_label("Volume given (mL)").fill(str(volume_ml))
    check("stop")
    page.get_by_role("button", name="Save").click()
    says(page, "Record saved.")


def complete_infusion(page: Page, *, check: Check = no_check) -> None:
    """From the session page: check the summary and complete."""
    page.get_by_role("link", name="Check and complete the infusion").click()
    expect(page.get_by_role("heading", name="Complete the infusion")).to_be_visible()
    page.get_by_label("I have checked the summary").check()
    check("complete")
    page.get_by_role("button", name="Complete the infusion").click()
    says(page, "Infusion completed.")
    expect(page.locator("[data-status]")).to_have_text("Completed")


def calculate_order(page: Page, *, indication: str, dose_g_per_kg: str, days: str, check: Check = no_check) -> None:
    """From the patient page: a new dose order, calculated (not yet placed)."""
    page.get_by_role("link", name="New dose order").click()
    expect(page.get_by_role("heading", name="New dose order")).to_be_visible()
    check("order-form")
    page.get_by_label("Product and indication").select_option(label=indication)
    page.get_by_label("Dose per cycle (g/kg)").fill(dose_g_per_kg)
    page.get_by_label("Infusion days per cycle").fill(days)
    page.get_by_role("button", name="Calculate").click()
    expect(page.get_by_role("table").filter(has=page.get_by_role("columnheader", name="Pump rate"))).to_be_visible()


def verify_order(page: Page, *, check: Check = no_check) -> None:
    """From the order page: the pharmacist's verification."""
    page.get_by_role("link", name="Verify or reject").click()
    expect(page.get_by_role("heading", name="Verify dose order")).to_be_visible()
    page.get_by_label("I have checked the dosing weight").check()
    check("verify")
    page.get_by_role("button", name="Verify order").click()
    expect(page.get_by_role("status").filter(has_text="Order verified.")).to_be_visible()


def add_risk_factor(page: Page, *, factor: str, noted_on: date, comment: str, check: Check = no_check) -> None:
    """From the patient page: a risk factor the clinic has noted."""
    page.get_by_role("link", name="Add risk factor").click()
    page.get_by_label(re.compile(r"^\s*Risk factor\W*$")).select_option(label=factor)
    page.get_by_label(re.compile(r"^\s*Noted on\W*$")).fill(f"{noted_on:%Y-%m-%d}")
    page.get_by_label("Comment").fill(comment)
    check("risk-factor")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("Added risk factor")


def open_acknowledgement(page: Page, *, flag_title: str) -> None:
    """From the dashboard: the acknowledgement form of a flag listed under "Flags not yet acknowledged";
    with JavaScript it opens in the flag's row (htmx), without it on a page of its own."""
    unacknowledged = page.get_by_role("region", name="Flags not yet acknowledged")
    unacknowledged.get_by_role("row").filter(has_text=flag_title).get_by_role("link", name="Acknowledge").click()
    if javascript_mode(page) == "js-on":
        expect(page.get_by_role("form", name=f"Acknowledge {flag_title}")).to_be_visible()
    else:
        expect(page.get_by_role("heading", name="Acknowledge a risk flag")).to_be_visible()


def acknowledge_flag(page: Page, *, flag_title: str, what_was_done: str, check: Check = no_check) -> None:
    """From the dashboard: acknowledge a flag listed under "Flags not yet acknowledged"."""
    open_acknowledgement(page, flag_title=flag_title)
    page.get_by_label("What you checked or did").fill(what_was_done)
    check("acknowledge")
    page.get_by_role("button", name="Acknowledge").click()
    # In place, or back on the dashboard after the full post: the same message either way.
    expect(page.get_by_role("status")).to_contain_text(f"Acknowledged: {flag_title}")


def record_visit(page: Page, visit_date: date, measures: dict, *, check: Check = no_check) -> None:
    """From the patient page: a visit with the six core set measures."""
    page.get_by_role("link", name="Record a visit").click()
    expect(page.get_by_role("heading", name="Record a visit")).to_be_visible()
    page.get_by_label("Visit date").fill(f"{visit_date:%Y-%m-%d}")
    page.get_by_label("Physician global activity (VAS, cm)").fill(measures["physician"])
    page.get_by_label("Patient or parent global activity (VAS, cm)").fill(measures["patient"])
    page.get_by_label("Extramuscular global activity (VAS, cm)").fill(measures["extramuscular"])
    page.get_by_label("Muscle strength scale").select_option(label="MMT-8 unilateral (0–80)")
    page.get_by_label("Muscle strength score (points)").fill(measures["mmt"])
    page.get_by_label("Function questionnaire").select_option(label="HAQ-DI")
    page.get_by_label("HAQ-DI / CHAQ score (0–3)").fill(measures["haq"])
    page.get_by_label("CK (U/L)").fill(measures["ck"])
    page.get_by_label("CK upper limit of normal (U/L)").fill("200")
    # The keyboard reaches the form's last field and the page scrolls it into view, not under a header.
    page.get_by_label("CK (U/L)").focus()
    page.keyboard.press("Tab")
    expect(page.get_by_label("CK upper limit of normal (U/L)")).to_be_focused()
    assert_focus_visible(page)
    check("visit-form")
    page.get_by_role("button", name="Save visit").click()
    expect(page.get_by_role("status")).to_contain_text(f"Visit of {visit_date:%Y-%m-%d} recorded.")
