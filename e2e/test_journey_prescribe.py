"""Prescribe, verify, print: a physician registers a patient and orders IVIG, a pharmacist
verifies the order, and the day-1 infusion sheet opens."""

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from dosing.models import DoseOrder
from e2e.conftest import login, logout, screenshot
from e2e.steps import verify_order

pytestmark = pytest.mark.e2e

JOURNEY = "prescribe"


def test_physician_prescribes_and_pharmacist_verifies(page, physician_user, pharmacist_user, today):
    login(page, physician_user.username)

    # Register the patient, with the first weight and height.
    page.get_by_role("link", name="Patients", exact=True).click()
    page.get_by_role("link", name="Register a patient").click()
    page.get_by_label("MRN").fill("E2E-0100")
    page.get_by_label("Given name").fill("Alice")
    page.get_by_label("Family name").fill("Martin")
    page.get_by_label("Date of birth").fill(f"{today.replace(year=today.year - 52) - timedelta(days=40):%Y-%m-%d}")
    page.get_by_label("Sex at birth").select_option(label="Female")
    page.get_by_label("Weight (kg)").fill("70")
    page.get_by_label("Height (cm)").fill("170")
    page.get_by_label(re.compile(r"^\s*Diagnosis\W*$")).select_option(label="Dermatomyositis (adult)")
    screenshot(page, JOURNEY, "01-register")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", name="Martin, Alice")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("Registered Alice Martin (MRN E2E-0100)")

    # Order: Octagam 10% for dermatomyositis, 2 g/kg over 2 days; calculate before placing.
    page.get_by_role("link", name="New dose order").click()
    expect(page.get_by_role("heading", name="New dose order")).to_be_visible()
    place = page.get_by_role("button", name="Place order")
    expect(place).to_be_disabled()
    page.get_by_label("Product and indication").select_option(label="Octagam 10% — Dermatomyositis")
    page.get_by_label("Dose per cycle (g/kg)").fill("2")
    page.get_by_label("Infusion days per cycle").fill("2")
    page.get_by_role("button", name="Calculate").click()

    ladder = page.get_by_role("table").filter(has=page.get_by_role("columnheader", name="Pump rate"))
    expect(ladder).to_be_visible()
    pump_rates = ladder.locator("tbody tr td:nth-child(4)")
    expect(pump_rates).to_have_text([re.compile(rf"^{rate}\s*mL/h$") for rate in ("42.0", "84.0", "168.0")])
    expect(page.get_by_text("Plan (not yet ordered)")).to_be_visible()
    screenshot(page, JOURNEY, "02-plan")
    expect(place).to_be_enabled()
    place.click()

    expect(page.get_by_role("status").filter(has_text="Order placed")).to_be_visible()
    expect(page.get_by_text("Awaiting pharmacist verification", exact=True).first).to_be_visible()
    order = DoseOrder.objects.get(patient__mrn="E2E-0100")
    assert order.status == "awaiting_verification"
    assert (order.dose_g_per_kg, order.days) == (2, 2)
    logout(page)

    # The pharmacist finds the order on the dashboard and verifies it.
    login(page, pharmacist_user.username)
    awaiting = page.get_by_role("region", name="Dose orders awaiting verification")
    row = awaiting.get_by_role("row").filter(has_text="E2E-0100")
    expect(row).to_contain_text("Octagam 10% · Dermatomyositis · 2 g/kg over 2 days")
    screenshot(page, JOURNEY, "03-dashboard")
    row.get_by_role("link").first.click()
    verify_order(page, check=lambda step: screenshot(page, JOURNEY, f"04-{step}"))
    expect(page.get_by_text("Verified", exact=True).first).to_be_visible()
    order.refresh_from_db()
    assert order.status == "verified"
    assert order.verified_by.username == pharmacist_user.username

    page.get_by_role("link", name="Day 1 of 2").click()
    expect(page.get_by_role("heading", name="IVIG infusion sheet · day 1 of 2")).to_be_visible()
    sheet_rates = page.get_by_role("table").first.locator("tbody tr td:nth-child(3)")
    expect(sheet_rates).to_have_text([re.compile(rf"^{rate}\s*mL/h$") for rate in ("42.0", "84.0", "168.0")])
    screenshot(page, JOURNEY, "05-sheet")
