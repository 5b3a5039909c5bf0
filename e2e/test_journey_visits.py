"""Visits and response: a physician records a baseline and a week-16 visit (the worked example of
the 2016 ACR/EULAR criteria), records the first IVIG infusion in between, and reads TIS 35,
minimal improvement, with the trend chart."""

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from e2e.conftest import login, screenshot
from visits.models import Visit

pytestmark = pytest.mark.e2e

JOURNEY = "visits"

BASELINE = {
    "physician": "6",
    "patient": "7",
    "mmt": "60",
    "haq": "1.5",
    "ck": "3000",
    "extramuscular": "4",
}
WEEK_16 = {
    "physician": "4.5",
    "patient": "5.5",
    "mmt": "68",
    "haq": "1.05",
    "ck": "2550",
    "extramuscular": "2.5",
}


def record_visit(page, visit_date, measures: dict) -> None:
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
    page.get_by_role("button", name="Save visit").click()
    expect(page.get_by_role("status")).to_contain_text(f"Visit of {visit_date:%Y-%m-%d} recorded.")


def test_physician_records_visits_and_reads_the_tis(page, physician_user, alice_martin, today):
    first_infusion = today - timedelta(weeks=17)
    login(page, physician_user.username)
    page.get_by_role("link", name="Patients", exact=True).click()
    page.get_by_role("link", name="Martin, Alice").click()

    # Baseline: the day before the first infusion.
    record_visit(page, first_infusion - timedelta(days=1), BASELINE)
    screenshot(page, JOURNEY, "01-baseline-recorded")

    # The first infusion was given the next day: record it on the patient's details.
    page.get_by_role("link", name="Martin, Alice").click()
    page.get_by_role("link", name="Edit details").click()
    page.get_by_label("First IVIG infusion").fill(f"{first_infusion:%Y-%m-%d}")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("Patient details saved.")

    # Week 16.
    week_16 = first_infusion + timedelta(weeks=16)
    record_visit(page, week_16, WEEK_16)
    assert Visit.objects.filter(patient=alice_martin).count() == 2

    page.get_by_role("link", name="all visits").click()
    expect(page.get_by_role("heading", name="Visits and response to IVIG")).to_be_visible()
    follow_up = page.get_by_role("row").filter(has=page.get_by_role("link", name=f"{week_16:%Y-%m-%d}"))
    tis_cell = follow_up.get_by_role("cell").nth(9)
    expect(tis_cell).to_contain_text("35")
    expect(tis_cell).to_contain_text(re.compile("minimal", re.IGNORECASE))
    baseline_row = page.get_by_role("row").filter(
        has=page.get_by_role("link", name=f"{first_infusion - timedelta(days=1):%Y-%m-%d}")
    )
    expect(baseline_row).to_contain_text("default baseline")
    summary = page.get_by_role("region", name="Response (2016 ACR/EULAR Total Improvement Score)")
    expect(summary).to_contain_text("TIS 35")
    expect(summary).to_contain_text("responder")

    chart = page.get_by_role("img", name=re.compile("Chart of the Total Improvement Score"))
    expect(chart).to_be_visible()
    chart.scroll_into_view_if_needed()
    page.wait_for_function("img => img.complete", arg=chart.element_handle())
    assert chart.evaluate("img => img.naturalWidth") > 0, "the trend chart did not load"
    screenshot(page, JOURNEY, "02-visits-and-trend")
