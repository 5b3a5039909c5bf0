"""Plan and run: a nurse plans a 4-weekly course from a verified order, finds it in the week view,
moves day 2 to another chair, prints the day-1 infusion sheet, then records day 1 from start to
completion, with a pump rate above the step's limit refused at the field.

The live server runs on the real clock. The record accepts a start only on the session's planned
local day and never in the future, and planning and moving accept only today or later. So the
course is planned in a future week (next Monday + 7 days, for the week view and the move of day 2),
then the whole course is moved on the move page to start today ("this and all following"), and
day 1 is recorded with every time between today's midnight and now."""

import re
from datetime import timedelta
from decimal import ROUND_DOWN, Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from e2e.conftest import field_feedback, local_input, login, record_times, says, screenshot
from scheduling.models import InfusionSession, RateChange, SessionStatus

pytestmark = pytest.mark.e2e

JOURNEY = "nurse"
MRN = "E2E-0001"
LADDER = ("42.0", "84.0", "168.0")
ACCEPT = "I have read these warnings and accept them"
# Minutes after the first entry (vital signs before) of each entry of the day-1 record; squeezed
# proportionally when the test runs less than this long after midnight.
TIMELINE = {
    "vitals_before": 0,
    "start": 10,
    "rate": 10,
    "reaction": 40,
    "refused_rate": 45,
    "stop": 300,
    "vitals_after": 310,
}


def day_month(day) -> str:
    """A day as the week view writes it, the weekday and the clinic's date: "Mon 2026-12-07"."""
    return f"{day:%a %Y-%m-%d}"


def chair_cell(page, chair: int, weekday: int):
    """The week grid's cell for a chair (row) and a day (0 = Monday)."""
    row = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name=f"Chair {chair}", exact=True))
    return row.get_by_role("cell").nth(weekday)


def accept_warnings_if_shown(page) -> None:
    accept = page.get_by_label(ACCEPT)
    if accept.count():
        accept.check()


def move(page, *, done: str, step: str) -> None:
    """Press Move; if the page answers with warnings, read (photograph) them, accept and move again."""
    page.get_by_role("button", name="Move", exact=True).click()
    moved = page.get_by_role("status").filter(has_text=done)
    expect(moved.or_(page.get_by_label(ACCEPT))).to_be_visible()
    if not moved.count():
        screenshot(page, JOURNEY, f"{step}-warnings")
        page.get_by_label(ACCEPT).check()
        page.get_by_role("button", name="Move", exact=True).click()
    expect(moved).to_be_visible()


def test_nurse_plans_moves_and_records_an_infusion(page, nurse_user, verified_order, today):
    next_monday = today + timedelta(days=7 - today.weekday())
    first_day = next_monday + timedelta(days=7)
    login(page, nurse_user.username)

    # The verified order, from the patient's chart.
    page.get_by_role("link", name="Patients", exact=True).click()
    page.get_by_role("link", name="Martin, Alice").click()
    orders = page.get_by_role("region", name="Dose orders")
    orders.get_by_role("row").filter(has_text="Octagam 10%").get_by_role("link").click()
    expect(page.get_by_role("heading", name="Octagam 10% · Dermatomyositis")).to_be_visible()
    expect(page.get_by_text("Verified", exact=True).first).to_be_visible()
    screenshot(page, JOURNEY, "01-order")

    # Plan a 4-weekly course of 3 cycles: preview, then book.
    page.get_by_role("link", name="Plan infusion course").click()
    expect(page.get_by_role("heading", name="Plan an infusion course")).to_be_visible()
    page.get_by_label("First infusion day").fill(f"{first_day:%Y-%m-%d}")
    page.get_by_label("Start time (local)").fill("09:00")
    page.get_by_label(re.compile(r"^\s*Chair\W*$")).select_option(label="Chair 1")
    page.get_by_label("Number of cycles").fill("3")
    page.get_by_label("Interval between cycle starts (weeks)").fill("4")
    book = page.get_by_role("button", name="Book the course")
    expect(book).to_be_disabled()
    page.get_by_role("button", name="Preview the dates").click()
    preview = page.get_by_role("table").filter(has=page.get_by_role("columnheader", name="Infusion days (local time)"))
    expect(preview.locator("tbody tr")).to_have_count(3)
    for number, start in enumerate(first_day + timedelta(weeks=4 * index) for index in range(3)):
        expect(preview.locator("tbody tr").nth(number)).to_contain_text(f"{start:%a %Y-%m-%d} 09:00")
    accept_warnings_if_shown(page)
    screenshot(page, JOURNEY, "02-course-preview")
    expect(book).to_be_enabled()
    book.click()

    says(page, "Course booked: 3 cycles.")
    expect(page.get_by_role("heading", name=f"Infusion course from {first_day:%a %Y-%m-%d}")).to_be_visible()
    cycle_1 = page.get_by_role("region", name=f"Cycle 1 · from {first_day:%a %Y-%m-%d}")
    sessions = cycle_1.locator("tbody tr")
    expect(sessions).to_have_count(2)
    expect(sessions.nth(0)).to_contain_text(f"{first_day:%a %Y-%m-%d} 09:00")
    expect(sessions.nth(1)).to_contain_text(f"{first_day + timedelta(days=1):%a %Y-%m-%d} 09:00")
    for session in (sessions.nth(0), sessions.nth(1)):
        expect(session.get_by_role("cell").nth(2)).to_have_text("1")
        expect(session.get_by_role("cell").nth(4)).to_have_text("Planned")
    for number in (2, 3):
        expect(page.get_by_role("heading", name=re.compile(rf"^Cycle {number} · from"))).to_be_visible()
    assert InfusionSession.objects.filter(patient__mrn=MRN).count() == 6
    screenshot(page, JOURNEY, "03-course")

    # The week view of that week: both days in chair 1.
    page.get_by_role("link", name="Week view").click()
    expect(page.get_by_role("heading", name=re.compile(rf"^Infusion unit · {day_month(first_day)}"))).to_be_visible()
    monday, tuesday = chair_cell(page, 1, 0), chair_cell(page, 1, 1)
    expect(monday).to_contain_text(MRN)
    expect(monday).to_contain_text("day 1/2")
    expect(monday).to_contain_text("09:00")
    expect(tuesday).to_contain_text(MRN)
    expect(tuesday).to_contain_text("day 2/2")
    screenshot(page, JOURNEY, "04-week")

    # Day 2 moves to chair 2 at 10:00, from its chip.
    tuesday.get_by_role("link", name="Move").click()
    expect(page.get_by_role("heading", name="Move an infusion session")).to_be_visible()
    expect(page.get_by_text("cycle 1, day 2 of 2")).to_be_visible()
    page.get_by_label("New start time (local)").fill("10:00")
    page.get_by_label(re.compile(r"^\s*Chair\W*$")).select_option(label="Chair 2")
    screenshot(page, JOURNEY, "05-move-day-2")
    move(page, done="Moved 1 session.", step="05-move-day-2")

    page.get_by_role("link", name="Week view").click()
    expect(chair_cell(page, 1, 0)).to_contain_text("day 1/2")
    expect(chair_cell(page, 1, 1)).not_to_contain_text(MRN)
    moved = chair_cell(page, 2, 1)
    expect(moved).to_contain_text(MRN)
    expect(moved).to_contain_text("day 2/2")
    expect(moved).to_contain_text("10:00")
    screenshot(page, JOURNEY, "06-week-after-move")

    # The printable infusion sheet for day 1, from the order page.
    moved.get_by_role("link", name=MRN).click()
    page.get_by_role("link", name="Dose order", exact=True).click()
    page.get_by_role("link", name="Day 1 of 2").click()
    expect(page.get_by_role("heading", name="IVIG infusion sheet · day 1 of 2")).to_be_visible()
    page.get_by_label("Infusion date").fill(f"{first_day:%Y-%m-%d}")
    page.get_by_label("Planned start").fill("09:00")
    page.get_by_role("button", name="Update times").click()
    sheet_rates = page.get_by_role("table").first.locator("tbody tr td:nth-child(3)")
    expect(sheet_rates).to_have_text([re.compile(rf"^{rate}\s*mL/h$") for rate in LADDER])
    expect(page.get_by_text(f"{first_day:%Y-%m-%d}", exact=True)).to_be_visible()
    screenshot(page, JOURNEY, "07-sheet-day-1")

    # The patient starts the course today instead: day 1 and every later session move by the same
    # shift, so the two days of each cycle stay together and the 4-week interval is kept.
    page.get_by_role("link", name="Back to the order").click()
    page.get_by_role("link", name=re.compile(rf"^From {first_day:%a %Y-%m-%d}")).click()
    cycle_1.locator("tbody tr").first.get_by_role("link", name="Move").click()
    expect(page.get_by_text("cycle 1, day 1 of 2")).to_be_visible()
    page.get_by_label("New day").fill(f"{today:%Y-%m-%d}")
    page.get_by_label("Move this and all following open sessions of the course by the same shift").check()
    move(page, done="Moved 6 sessions.", step="08-move-course-to-today")
    tomorrow = today + timedelta(days=1)
    cycle_1 = page.get_by_role("region", name=f"Cycle 1 · from {today:%a %Y-%m-%d}")
    expect(cycle_1.locator("tbody tr").nth(0)).to_contain_text(f"{today:%a %Y-%m-%d} 09:00")
    expect(cycle_1.locator("tbody tr").nth(1)).to_contain_text(f"{tomorrow:%a %Y-%m-%d} 10:00")
    expect(page.get_by_role("heading", name=re.compile(r"^Cycle 3 · from"))).to_contain_text(
        f"{today + timedelta(weeks=8):%a %Y-%m-%d}"
    )
    screenshot(page, JOURNEY, "08-course-moved-to-today")

    # On the day: the unit's week opens on this week; day 1 sits in chair 1 today.
    page.get_by_role("link", name="Infusion unit").click()
    expect(page.get_by_role("columnheader", name=re.compile(r"today"))).to_contain_text(day_month(today))
    todays_chip = chair_cell(page, 1, today.weekday())
    expect(todays_chip).to_contain_text("day 1/2")
    todays_chip.get_by_role("link", name=MRN).click()

    # Day 1's session page: start the infusion.
    expect(page.get_by_role("heading", name="Infusion · day 1 of 2, cycle 1")).to_be_visible()
    expect(page.get_by_text(f"{today:%A %Y-%m-%d} · planned 09:00")).to_be_visible()
    ladder = page.get_by_role("table").filter(has=page.get_by_role("columnheader", name="Pump rate (limit)"))
    ladder = ladder.get_by_role("cell", name=re.compile(r"^[\d.]+\s*mL\/h$"))
    expect(ladder).to_have_text([re.compile(rf"^{rate}\s*mL/h$") for rate in LADDER])
    at = record_times(TIMELINE)
    page.get_by_role("link", name="Start the infusion").click()
    page.get_by_label("Infusion started at").fill(local_input(at["start"]))
    # The pre-infusion check: this patient has no Hb, creatinine or eGFR on record, so starting
    # takes an explicit acceptance with a reason, and pressing Start without it is refused.
    check = page.get_by_role("table").filter(has_text="Haemoglobin")
    expect(check).to_contain_text("missing")
    page.get_by_role("button", name="Start the infusion").click()
    expect(page.get_by_label("I accept starting with the stale or missing items")).to_have_class(
        re.compile(r"\bis-invalid\b")
    )
    page.get_by_label("Infusion started at").fill(local_input(at["start"]))
    page.get_by_label("I accept starting with the stale or missing items").check()
    page.get_by_label("Reason", exact=True).fill("Labs drawn this morning, results pending; physician informed")
    page.get_by_role("button", name="Start the infusion").click()
    says(page, "Infusion started.")
    expect(page.locator("[data-status]")).to_have_text("In progress")
    screenshot(page, JOURNEY, "09-started")

    # Vital signs before the start.
    page.get_by_role("link", name="Vital signs").click()
    page.get_by_role("radio", name="Before").check()
    page.get_by_label("Taken at").fill(local_input(at["vitals_before"]))
    page.get_by_label("Systolic (mmHg)").fill("124")
    page.get_by_label("Diastolic (mmHg)").fill("78")
    page.get_by_label("Heart rate (beats/min)").fill("72")
    page.get_by_label("Temperature (°C)").fill("36.8")
    page.get_by_label("SpO₂ (%)").fill("98")
    page.get_by_label("Respiratory rate (breaths/min)").fill("14")
    page.get_by_role("button", name="Record").click()
    says(page, "Recorded the vital signs.")

    # The pump at step 1.
    page.get_by_role("link", name="Pump rate").click()
    page.get_by_label("Rate set at").fill(local_input(at["rate"]))
    page.get_by_label("Step of the plan").select_option(label="Step 1: up to 42.0 mL/h (1 mg/kg/min)")
    page.get_by_label("Pump rate (mL/h)").fill("42.0")
    page.get_by_label("Reason").fill("Starting rate")
    page.get_by_role("button", name="Record").click()
    says(page, "Recorded the rate change.")

    # The lots opened: one per vial size of the plan, with its count. Each is added in place with the
    # same message as the one before, so the new row in the lots table is what shows it was recorded.
    lots = page.locator("#lots + div table tbody tr")
    for index, vial in enumerate(verified_order.plan["vials_per_day"]):
        page.get_by_role("link", name="Product lot").click()
        page.get_by_label("Lot number").fill(f"B{index + 1}{today:%y%m}07")
        page.get_by_label("Vial size").select_option(label=f"{Decimal(vial['size_g']).normalize():f} g")
        page.get_by_label("Vials from this lot").fill(str(vial["count"]))
        page.get_by_label("Expiry date").fill(f"{today + timedelta(days=400):%Y-%m-%d}")
        page.get_by_role("button", name="Record").click()
        says(page, "Recorded the product lot.")
        expect(lots).to_have_count(index + 1)

    # A mild headache: rate slowed.
    page.get_by_role("link", name="Reaction").click()
    page.get_by_label("Noticed at").fill(local_input(at["reaction"]))
    page.get_by_label(re.compile(r"^\s*Reaction\W*$")).select_option(label="Headache")
    page.get_by_role("radio", name="Mild").check()
    page.get_by_label("What was done").select_option(label="Rate slowed")
    page.get_by_role("button", name="Record").click()
    says(page, "Recorded the reaction.")

    # 100 mL/h at step 1 is refused at the rate field, and nothing is saved.
    rate_changes = RateChange.objects.count()
    page.get_by_role("link", name="Pump rate").click()
    page.get_by_label("Rate set at").fill(local_input(at["refused_rate"]))
    page.get_by_label("Step of the plan").select_option(label="Step 1: up to 42.0 mL/h (1 mg/kg/min)")
    page.get_by_label("Pump rate (mL/h)").fill("100")
    page.get_by_role("button", name="Record").click()
    expect(field_feedback(page, "Pump rate (mL/h)")).to_have_text(
        "100.0 mL/h is above this step's limit of 42.0 mL/h (1 mg/kg/min for 70 kg). Do not exceed the plan."
    )
    expect(page.get_by_label("Pump rate (mL/h)")).to_have_value("100")
    screenshot(page, JOURNEY, "10-rate-refused")
    assert RateChange.objects.count() == rate_changes
    page.get_by_role("link", name="Cancel").click()
    pump_rates = page.get_by_role("table").filter(has=page.get_by_role("columnheader", name="Reason"))
    expect(pump_rates.locator("tbody tr")).to_have_count(1)

    # Stop, with the volume given, then vital signs after. The pump ran at step 1 (42 mL/h) all
    # along: the volume is what that delivers (less than planned, so the prescriber will review it).
    minutes = Decimal((at["stop"] - at["start"]) // timedelta(minutes=1))
    given = min(Decimal("700"), (Decimal("42") * minutes / 60).quantize(Decimal("0.1"), ROUND_DOWN))
    page.get_by_role("link", name="Stop, volume, waste, notes").click()
    page.get_by_label("Infusion stopped at").fill(local_input(at["stop"]))
    page.get_by_label("Volume given (mL)").fill(str(given))
    page.get_by_role("button", name="Save").click()
    says(page, "Record saved.")

    page.get_by_role("link", name="Vital signs").click()
    page.get_by_role("radio", name="After").check()
    page.get_by_label("Taken at").fill(local_input(at["vitals_after"]))
    page.get_by_label("Systolic (mmHg)").fill("118")
    page.get_by_label("Diastolic (mmHg)").fill("76")
    page.get_by_label("Heart rate (beats/min)").fill("70")
    page.get_by_label("Temperature (°C)").fill("36.9")
    page.get_by_role("button", name="Record").click()
    says(page, "Recorded the vital signs.")

    # Everything is there: complete.
    record = page.get_by_role("region", name="Infusion record")
    expect(record.get_by_role("row").filter(has_text="Headache")).to_contain_text("Rate slowed")
    expect(record.get_by_role("row").filter(has_text="Starting rate")).to_contain_text("42.0")
    expect(record.get_by_role("row").filter(has=page.get_by_role("cell", name="Before", exact=True))).to_have_count(1)
    expect(record.get_by_role("row").filter(has=page.get_by_role("cell", name="After", exact=True))).to_have_count(1)
    expect(page.get_by_text("Still needed before completing")).to_have_count(0)
    screenshot(page, JOURNEY, "11-ready-to-complete")
    page.get_by_role("link", name="Check and complete the infusion").click()
    expect(page.locator('[data-figure="volume_given_ml"]')).to_contain_text(f"{given.normalize():f} mL")
    page.get_by_role("button", name="Complete the infusion").click()
    expect(page.get_by_label("I have checked the summary")).to_be_visible()
    expect(page.get_by_text("Check the summary (grams, volume, time) and confirm it to complete.")).to_be_visible()
    page.get_by_label("I have checked the summary").check()
    page.get_by_role("button", name="Complete the infusion").click()

    says(page, "Infusion completed.")
    expect(page.locator("[data-status]")).to_have_text("Completed")
    expect(page.locator("#amending")).to_contain_text("Entries can still be voided or made late, each with a reason")
    expect(page.get_by_role("link", name="Stop, volume, waste, notes", exact=True)).to_have_count(0)
    expect(page.get_by_role("link", name="Amend stop, volume, waste, notes")).to_be_visible()
    screenshot(page, JOURNEY, "12-completed")

    session = InfusionSession.objects.get(patient__mrn=MRN, cycle__number=1, day_number=1)
    assert session.status == SessionStatus.COMPLETED
    assert timezone.localdate(session.planned_start) == today
    assert session.record.volume_given_ml == given
    assert session.record.completed_by.username == nurse_user.username
