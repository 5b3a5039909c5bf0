"""Visits and response: a physician records a baseline and a week-16 visit (the worked example of
the 2016 ACR/EULAR criteria), records the first IVIG infusion in between, and reads TIS 35,
minimal improvement, with the trend chart.

The visit-entry workflow: walked with JavaScript on and again with it off, with axe-core run on every
page it opens and each page photographed at 1280 and 768 px (e2e/a11y.py)."""

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from e2e.a11y import check_page, javascript_mode
from e2e.conftest import TIMEOUT_MS, login
from e2e.steps import record_visit
from visits.models import Visit

pytestmark = pytest.mark.e2e


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


def test_physician_records_visits_and_reads_the_tis(page_js_on_and_off, physician_user, alice_martin, today):
    page = page_js_on_and_off
    journey = f"workflow-visits-{javascript_mode(page)}"

    def check(step: str) -> None:
        check_page(page, journey, step)

    first_infusion = today - timedelta(weeks=17)
    login(page, physician_user.username)
    page.get_by_role("link", name="Patients", exact=True).click()
    page.get_by_role("link", name="Martin, Alice").click()
    check("patient")

    # Baseline: the day before the first infusion.
    record_visit(page, first_infusion - timedelta(days=1), BASELINE, check=check)
    check("baseline-recorded")

    # The first infusion was given the next day: record it on the patient's details.
    page.get_by_role("link", name="Martin, Alice").click()
    page.get_by_role("link", name="Edit details").click()
    page.get_by_label("First IVIG infusion").fill(f"{first_infusion:%Y-%m-%d}")
    check("patient-edit")
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
    # Polled from here, not with wait_for_function: with JavaScript off the page runs no timers.
    for _ in range(TIMEOUT_MS // 100):
        if chart.evaluate("img => img.complete"):
            break
        page.wait_for_timeout(100)
    assert chart.evaluate("img => img.naturalWidth") > 0, "the trend chart did not load"
    check("visits-and-trend")

    page.get_by_role("link", name=f"{week_16:%Y-%m-%d}").click()
    expect(page.get_by_role("heading", name=re.compile(f"{week_16:%Y-%m-%d}"))).to_be_visible()
    check("visit")
