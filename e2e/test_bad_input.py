"""Impossible numbers typed by a person: the message appears next to the field that holds them,
and nothing reaches the database."""

import re

import pytest
from playwright.sync_api import expect

from dosing.models import DoseOrder
from e2e.conftest import field_feedback, login, screenshot
from patients.models import BodyMeasurement, LabResult
from visits.models import Visit

pytestmark = pytest.mark.e2e

JOURNEY = "bad-input"


@pytest.fixture
def chart(page, physician_user, alice_martin):
    """The physician on the patient's page."""
    login(page, physician_user.username)
    page.get_by_role("link", name="Patients", exact=True).click()
    page.get_by_role("link", name="Martin, Alice").click()
    return alice_martin


def test_weight_of_zero_in_the_quick_add_form(page, chart):
    measurements = BodyMeasurement.objects.count()
    quick_add = page.get_by_role("region", name="Current weight and height")
    quick_add.get_by_label("Weight (kg)").fill("0")
    quick_add.get_by_role("button", name="Add").click()

    expect(page.get_by_role("heading", name="Add weight / height")).to_be_visible()
    expect(field_feedback(page, "Weight (kg)")).to_have_text("Weight must be above 0 kg and at most 350 kg.")
    screenshot(page, JOURNEY, "weight-0")
    assert BodyMeasurement.objects.count() == measurements


def test_vas_of_12_in_the_visit_form(page, chart):
    page.get_by_role("link", name="Record a visit").click()
    page.get_by_label("Physician global activity (VAS, cm)").fill("12")
    page.get_by_label("Patient or parent global activity (VAS, cm)").fill("7")
    page.get_by_role("button", name="Save visit").click()

    expect(page.get_by_role("alert")).to_contain_text("Nothing was saved.")
    expect(field_feedback(page, "Physician global activity (VAS, cm)")).to_have_text(
        "Enter a value between 0 and 10 cm."
    )
    # What was typed stays for correction.
    expect(page.get_by_label("Patient or parent global activity (VAS, cm)")).to_have_value("7")
    screenshot(page, JOURNEY, "vas-12")
    assert not Visit.objects.exists()


def test_negative_lab_value(page, chart):
    results = LabResult.objects.count()
    add_lab = page.get_by_role("form", name="Add a lab result")
    add_lab.get_by_label(re.compile(r"^\s*Test\W*$")).select_option(label="CK (U/L, site ULN 200)")
    add_lab.get_by_label(re.compile(r"^\s*Value \(in the test.s unit\)\W*$")).fill("-1")
    add_lab.get_by_role("button", name="Add result").click()

    expect(page.get_by_role("heading", name="Add lab result")).to_be_visible()
    expect(field_feedback(page, re.compile(r"^\s*Value \(in the test.s unit\)\W*$"))).to_contain_text(
        "cannot be below 0"
    )
    screenshot(page, JOURNEY, "lab-minus-1")
    assert LabResult.objects.count() == results


def test_six_days_in_the_dose_calculator(page, physician_user):
    login(page, physician_user.username)
    page.get_by_role("link", name="Dose calculator").click()
    page.get_by_label("Product and indication").select_option(label="Octagam 10% — Dermatomyositis")
    page.get_by_label("Actual body weight (kg)").fill("70")
    page.get_by_label("Height (cm)").fill("170")
    page.get_by_label("Sex at birth").select_option(label="Female")
    page.get_by_label("Dose per cycle (g/kg)").fill("2")
    page.get_by_label("Infusion days per cycle").fill("6")
    # The script recalculates as the person types and marks the field it refuses.
    expect(field_feedback(page, "Infusion days per cycle")).to_contain_text("between 2 and 5")
    expect(page.get_by_role("columnheader", name="Pump rate")).to_have_count(0)

    # Pressing Calculate (the page without the script) says the same, next to the same field.
    page.get_by_role("button", name="Calculate").click()
    expect(page).to_have_url(re.compile(r"days=6"))
    expect(field_feedback(page, "Infusion days per cycle")).to_contain_text("between 2 and 5")
    expect(page.get_by_role("status")).to_contain_text("No plan yet")
    screenshot(page, JOURNEY, "calculator-days-6")
    assert not DoseOrder.objects.exists()


def test_six_days_in_a_dose_order(page, chart):
    page.get_by_role("link", name="New dose order").click()
    page.get_by_label("Product and indication").select_option(label="Octagam 10% — Dermatomyositis")
    page.get_by_label("Dose per cycle (g/kg)").fill("2")
    page.get_by_label("Infusion days per cycle").fill("6")
    page.get_by_role("button", name="Calculate").click()

    expect(field_feedback(page, "Infusion days per cycle")).to_contain_text("between 2 and 5")
    expect(page.get_by_role("button", name="Place order")).to_be_disabled()
    screenshot(page, JOURNEY, "order-days-6")
    assert not DoseOrder.objects.exists()
