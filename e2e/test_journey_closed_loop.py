"""The closed loop (issue 14): a nurse scans a vial, corrects a wrong lot, is refused a too-early
step, completes a partial infusion, and the physician sees it under "Needs review".

The course is booked with the service (planning through the page is the nurse journey's), today at
the record's start time, so the session is due now on the dashboard. The record's times are all
today and none in the future (``record_times``), as in the nurse journey."""

import re
from datetime import timedelta
from decimal import ROUND_DOWN, Decimal

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from dosing.chart_limits import ladder_may_begin
from dosing.models import Product
from dosing.services.catalog import presentation_gtin_add
from e2e.conftest import field_feedback, local_input, login, logout, record_times, says, screenshot
from e2e.steps import AFTER, BEFORE, record_a_lot, record_vitals, start_infusion_accepting_missing_labs
from scheduling.models import (
    LIVE_REMINDER_STATUSES,
    InfusionSession,
    LotUsage,
    RateChange,
    Reminder,
    SessionStatus,
    UnitSettings,
)
from scheduling.services import records
from scheduling.services.courses import course_plan

pytestmark = pytest.mark.e2e

JOURNEY = "closed-loop"
MRN = "E2E-0001"
# GS1 prefix 952 is kept for demonstrations: no real product's GTIN.
OCTAGAM_30 = "09520000000301"
STEP_1 = "Step 1: up to 42.0 mL/h (1 mg/kg/min)"
STEP_2 = "Step 2: up to 84.0 mL/h (2 mg/kg/min)"
# Minutes after the first entry (vital signs before). Step 2 may begin 55 min after the start
# (a first infusion: 2 × 30 min of step 1, less the unit's 5 min), so 84 mL/h 10 min after it is
# too early, and stays too early when the timeline is squeezed early in the day.
TIMELINE = {
    "vitals_before": 0,
    "start": 10,
    "rate": 10,
    "too_early": 20,
    "stop": 150,
    "vitals_after": 160,
}


def gs1_scan(gtin: str, *, lot: str, expiry) -> str:
    """What a handheld scanner types for a vial's DataMatrix: symbology prefix, GTIN (01), expiry
    (17, YYMMDD) and the lot (10) last, so it needs no separator."""
    return f"]d201{gtin}17{expiry:%y%m%d}10{lot}"


@pytest.fixture
def at():
    """The record's local times, read once: the session is booked at the start."""
    return record_times(TIMELINE)


@pytest.fixture
def todays_session(verified_order, nurse_user, pharmacist_user, today, at):
    """Day 1 of a one-cycle course booked today, and Octagam 10% 30 g's carton GTIN on file."""
    users = get_user_model().objects
    course_plan(
        by=users.get(username=nurse_user.username),
        order=verified_order,
        first_day=today,
        start_time=at["start"].time(),
        chair=1,
        cycles=1,
        today=today,
        accept_warnings=True,  # a start outside opening hours, when the test runs at night
    )
    presentation_gtin_add(
        by=users.get(username=pharmacist_user.username),
        product=Product.objects.get(slug="octagam-10"),
        vial_size_g="30",
        gtin=OCTAGAM_30,
        source="test carton",
    )
    return InfusionSession.objects.get(patient__mrn=MRN, cycle__number=1, day_number=1)


def grams_opened(page):
    return (
        page.get_by_role("region", name="Infusion record")
        .get_by_role("definition")
        .filter(has_text="planned · not given")
    )


def test_scan_correct_refuse_complete_partial_and_review(
    page, nurse_user, physician_user, verified_order, todays_session, today, at
):
    expiry = today + timedelta(days=400)
    login(page, nurse_user.username)

    # The session is due now on the dashboard.
    page.get_by_role("link", name="Dashboard").click()
    page.get_by_role("link", name=f"Open session {at['start']:%H:%M} chair 1").click()
    expect(page.get_by_role("heading", name="Infusion · day 1 of 2, cycle 1")).to_be_visible()

    # Start: the patient has no labs on record, so the pre-infusion check is accepted with a reason.
    start_infusion_accepting_missing_labs(page, at=at["start"])
    record_vitals(page, phase="Before", at=at["vitals_before"], vitals=BEFORE)

    # Scan the two 30 g vials' carton: the scanner types into the focused scan field and presses
    # Enter; lot, expiry and vial size come from the barcode and the catalog.
    scanned_lot = f"A{today:%y%m}01"
    page.get_by_role("link", name="Product lot").click()
    # The form puts focus in its scan field (autofocus, for the scanner): wait for it, or typing in
    # another field can race it (the click returns before the form arrives).
    expect(page.get_by_label("Scan (GS1 DataMatrix)")).to_be_focused()
    page.get_by_label("Vials from this lot").fill("2")
    page.get_by_label("Scan (GS1 DataMatrix)").click()
    page.keyboard.type(gs1_scan(OCTAGAM_30, lot=scanned_lot, expiry=expiry))
    page.keyboard.press("Enter")
    says(page, "Recorded the product lot.")
    lots = page.get_by_role("table").filter(has=page.get_by_role("columnheader", name="GTIN"))
    scanned = lots.get_by_role("row").filter(has_text=scanned_lot)
    expect(scanned).to_contain_text(OCTAGAM_30)
    expect(scanned.get_by_text("scanned", exact=True)).to_be_visible()
    expect(scanned).to_contain_text(re.compile(r"2 × 30\s*g"))
    expect(scanned).to_contain_text(f"{expiry:%Y-%m-%d}")
    expect(grams_opened(page)).to_contain_text(re.compile(r"^60\s*g of 70\s*g planned"))
    screenshot(page, JOURNEY, "01-scanned")

    # The 10 g vial typed with a wrong lot number, voided with a reason, then the right one.
    record_a_lot(page, lot="WRONG1", size_g=10, vials=1, expiry=expiry)
    expect(grams_opened(page)).to_contain_text(re.compile(r"^70\s*g of 70\s*g planned"))
    wrong = lots.get_by_role("row").filter(has_text="WRONG1")
    expect(wrong.get_by_text("typed", exact=True)).to_be_visible()
    wrong.get_by_role("link", name="Void…").click()
    expect(page.get_by_role("heading", name="Void the lot WRONG1 (1 x 10 g)")).to_be_visible()
    page.get_by_role("button", name="Void this entry").click()
    expect(field_feedback(page, "Why is this entry voided?")).to_have_text("Say why this entry is voided.")
    page.get_by_label("Why is this entry voided?").fill("Lot number mistyped; the vial reads another")
    screenshot(page, JOURNEY, "02-void-lot")
    page.get_by_role("button", name="Void this entry").click()
    says(page, "Voided the lot WRONG1 (1 x 10 g). Enter the right one if there is one.")
    expect(wrong.locator("del")).to_have_text(["WRONG1", re.compile(r"^1 × 10\s*g$"), re.compile(r"^10\s*g$")])
    expect(wrong.get_by_text("voided", exact=True)).to_be_visible()
    expect(wrong).to_contain_text(f"Voided by {nurse_user.full_name}")
    expect(wrong).to_contain_text("Lot number mistyped; the vial reads another")
    expect(wrong.get_by_role("link", name="Void…")).to_have_count(0)
    expect(grams_opened(page)).to_contain_text(re.compile(r"^60\s*g of 70\s*g planned"))
    right_lot = f"B{today:%y%m}07"
    record_a_lot(page, lot=right_lot, size_g=10, vials=1, expiry=expiry)
    expect(grams_opened(page)).to_contain_text(re.compile(r"^70\s*g of 70\s*g planned"))
    screenshot(page, JOURNEY, "03-lot-corrected")

    # Step 1 at the start; step 2's rate 10 min later is too early, refused at both fields.
    page.get_by_role("link", name="Pump rate").click()
    page.get_by_label("Rate set at").fill(local_input(at["rate"]))
    page.get_by_label("Step of the plan").select_option(label=STEP_1)
    page.get_by_label("Pump rate (mL/h)").fill("42.0")
    page.get_by_label("Reason").fill("Starting rate")
    page.get_by_role("button", name="Record").click()
    says(page, "Recorded the rate change.")

    rate_changes = RateChange.objects.count()
    tolerance = UnitSettings.load().ladder_tolerance_minutes
    step_2_from = at["start"] + timedelta(
        # The session's ladder: Alice Martin is IVIG-naive, so a first infusion's slower first step.
        minutes=ladder_may_begin(records.plan_of(todays_session)["rate_steps"], tolerance_minutes=tolerance)[1]
    )
    basis = f"counted from the start at {at['start']:%H:%M}, up to {tolerance} min early"
    page.get_by_role("link", name="Pump rate").click()
    page.get_by_label("Rate set at").fill(local_input(at["too_early"]))
    page.get_by_label("Step of the plan").select_option(label=STEP_2)
    page.get_by_label("Pump rate (mL/h)").fill("84")
    page.get_by_role("button", name="Record").click()
    expect(field_feedback(page, "Step of the plan")).to_have_text(
        f"Too early for step 2: at {at['too_early']:%H:%M} the infusion may be at step 1 at most ({basis}). "
        f"Step 2 may begin from {step_2_from:%H:%M} (local time)."
    )
    expect(field_feedback(page, "Pump rate (mL/h)")).to_have_text(
        f"84.0 mL/h is above 42.0 mL/h, the limit of step 1, the highest step that may have begun by "
        f"{at['too_early']:%H:%M} ({basis}). Step 2 may begin from {step_2_from:%H:%M} (local time)."
    )
    expect(page.get_by_label("Pump rate (mL/h)")).to_have_value("84")
    screenshot(page, JOURNEY, "04-step-2-too-early")
    assert RateChange.objects.count() == rate_changes
    page.get_by_role("link", name="Cancel").click()
    rates = page.get_by_role("table").filter(has=page.get_by_role("columnheader", name="Reason"))
    expect(rates.locator("tbody tr")).to_have_count(1)

    # Stopped early: the volume the pump delivered at 42 mL/h, well short of the 700 mL planned;
    # the rest of the opened grams are recorded as not given, so the record adds up.
    minutes = Decimal((at["stop"] - at["start"]) // timedelta(minutes=1))
    given = (Decimal("42") * minutes / 60).quantize(Decimal("0.1"), ROUND_DOWN)
    grams_given = (given * 100 / 1000).quantize(Decimal("0.01"), ROUND_DOWN)
    not_given = Decimal("70") - grams_given
    page.get_by_role("link", name="Stop, volume, waste, notes").click()
    page.get_by_label("Infusion stopped at").fill(local_input(at["stop"]))
    page.get_by_label("Volume given (mL)").fill(str(given))
    page.get_by_label("Grams opened but not given (g)").fill(str(not_given))
    page.get_by_label("Notes").fill("Stopped early at the patient's request (transport home); vials discarded.")
    page.get_by_role("button", name="Save").click()
    says(page, "Record saved.")

    record_vitals(page, phase="After", at=at["vitals_after"], vitals=AFTER)

    # The summary, and what completing sends to the prescriber.
    expect(page.get_by_text("Still needed before completing")).to_have_count(0)
    page.get_by_role("link", name="Check and complete the infusion").click()
    expect(page.get_by_role("heading", name="Complete the infusion")).to_be_visible()
    figures = {
        "grams_opened": r"^70\s*g",
        "grams_given": rf"^{grams_given.normalize():f}\s*g$",
        "grams_wasted": rf"^{not_given.normalize():f}\s*g$",
        "grams_unaccounted": r"^0\s*g$",
        "volume_given_ml": rf"^{given.normalize():f}\s*mL\s*less than planned$",
        "minutes": rf"^{at['start']:%H:%M}–{at['stop']:%H:%M}, {minutes}\s*min$",
    }
    for figure, text in figures.items():
        expect(page.locator(f'[data-figure="{figure}"]')).to_have_text(re.compile(text))
    review_message = f"Infusion of {today:%Y-%m-%d} stopped at {given.normalize():f} of 700 mL"
    findings = page.get_by_role("status").filter(has_text="Completing will send this to the prescriber for review")
    expect(findings).to_contain_text(review_message)
    screenshot(page, JOURNEY, "05-summary")
    page.get_by_label("I have checked the summary").check()
    page.get_by_role("button", name="Complete the infusion").click()
    says(page, "Infusion completed.")
    expect(page.locator("[data-status]")).to_have_text("Completed")
    screenshot(page, JOURNEY, "06-completed")
    logout(page)

    # The prescriber finds it under "Needs review", and the patient from there.
    login(page, physician_user.username)
    page.get_by_role("link", name="Dashboard").click()
    review = page.get_by_role("region", name=re.compile(r"^Needs review"))
    row = review.get_by_role("row").filter(has_text=MRN)
    expect(row).to_contain_text(review_message)
    expect(row).to_contain_text("Review the plan before the next cycle.")
    screenshot(page, JOURNEY, "07-needs-review")
    row.get_by_role("link", name=re.compile(r"Martin, Alice")).click()
    expect(page.get_by_role("heading", name="Martin, Alice")).to_be_visible()

    session = InfusionSession.objects.get(pk=todays_session.pk)
    record = session.record
    assert session.status == SessionStatus.COMPLETED
    assert record.completed_by.username == nurse_user.username
    assert record.volume_given_ml == given
    assert record.grams_wasted == not_given
    voided = LotUsage.objects.get(lot_number="WRONG1")
    assert voided.voided_by.username == nurse_user.username
    assert voided.void_reason == "Lot number mistyped; the vial reads another"
    assert sorted(record.lots.live().values_list("lot_number", "gtin", "vials")) == [
        (scanned_lot, OCTAGAM_30, 2),
        (right_lot, "", 1),
    ]
    reminder = Reminder.objects.get(session=session, kind="infusion_incomplete")
    assert reminder.user.username == physician_user.username
    assert reminder.status in LIVE_REMINDER_STATUSES
    assert reminder.message.startswith(review_message)
