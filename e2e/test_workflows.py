"""The daily workflows walked with JavaScript on and again with it off, with axe-core (WCAG 2.2 A/AA)
run once on every page they open and each page photographed at 1280 and 768 px
(artifacts/screenshots/e2e-workflow-<name>-<js-on|js-off>-<step>-<width>.png):

- prescribe → verify → schedule → infuse: a physician orders, a pharmacist verifies, a nurse books the
  course for today and records the infusion (start, vital signs, lot, stop, complete);
- flag review: a physician records a thrombosis, sees the flag on the dashboard and acknowledges it;
  then the login page and the 403, 404 and 500 pages.

Visit entry (the six core set measures and the TIS) is test_journey_visits.py, walked the same way.
What each step shows is checked by the journeys; these walks check that every page works without
scripts and passes axe. One test per workflow and JavaScript mode: each test costs a database flush.
"""

import re
from datetime import timedelta
from decimal import ROUND_DOWN, Decimal

import pytest
from django.test import RequestFactory
from django.views.defaults import server_error
from playwright.sync_api import expect

from dosing.models import DoseOrder
from e2e.a11y import assert_errors_named, check_page, javascript_mode
from e2e.conftest import login, logout, record_times, says
from e2e.steps import (
    AFTER,
    BEFORE,
    add_risk_factor,
    calculate_order,
    complete_infusion,
    open_acknowledgement,
    record_a_lot,
    record_vitals,
    start_infusion_accepting_missing_labs,
    stop_infusion,
    verify_order,
)
from risk.models import RiskFlag
from scheduling.models import InfusionSession, SessionStatus

pytestmark = pytest.mark.e2e

MRN = "E2E-0001"
ORDER = "Octagam 10% — Dermatomyositis"
TIMELINE = {"vitals_before": 0, "start": 10, "stop": 130, "vitals_after": 140}
FLAG_TITLE = "History of venous or arterial thrombosis"


def checker(page, workflow: str):
    journey = f"workflow-{workflow}-{javascript_mode(page)}"
    return lambda step: check_page(page, journey, step)


def open_patient(page, check) -> None:
    page.get_by_role("link", name="Patients", exact=True).click()
    check("patients")
    page.get_by_role("link", name="Martin, Alice").click()
    expect(page.get_by_role("heading", name="Martin, Alice")).to_be_visible()


def test_prescribe_verify_schedule_infuse(
    page_js_on_and_off, physician_user, pharmacist_user, nurse_user, alice_martin, today
):
    page = page_js_on_and_off
    check = checker(page, "infuse")
    at = record_times(TIMELINE)

    page.goto("/accounts/login/")
    check("login")
    login(page, physician_user.username)
    check("dashboard-physician")
    open_patient(page, check)
    check("patient")
    calculate_order(page, indication=ORDER, dose_g_per_kg="2", days="2", check=check)
    check("order-plan")
    page.get_by_role("button", name="Place order").click()
    says(page, "Order placed")
    check("order-placed")
    logout(page)

    login(page, pharmacist_user.username)
    check("dashboard-pharmacist")
    awaiting = page.get_by_role("region", name="Dose orders awaiting verification")
    awaiting.get_by_role("row").filter(has_text=MRN).get_by_role("link").first.click()
    verify_order(page, check=check)
    check("order-verified")
    page.get_by_role("link", name="Day 1 of 2").click()
    expect(page.get_by_role("heading", name="IVIG infusion sheet · day 1 of 2")).to_be_visible()
    check("sheet")
    logout(page)

    # The nurse books one cycle from today, at the record's start time, in chair 1.
    login(page, nurse_user.username)
    check("dashboard-nurse")
    open_patient(page, check)
    page.get_by_role("region", name="Dose orders").get_by_role("row").filter(has_text="Octagam 10%").get_by_role(
        "link"
    ).first.click()
    page.get_by_role("link", name="Plan infusion course").click()
    page.get_by_label("First infusion day").fill(f"{today:%Y-%m-%d}")
    page.get_by_label("Start time (local)").fill(f"{at['start']:%H:%M}")
    page.get_by_label(re.compile(r"^\s*Chair\W*$")).select_option(label="Chair 1")
    page.get_by_label("Number of cycles").fill("1")
    check("course-form")
    page.get_by_role("button", name="Preview the dates").click()
    expect(page.get_by_role("columnheader", name="Infusion days (local time)")).to_be_visible()
    accept = page.get_by_label("I have read these warnings and accept them")
    if accept.count():  # a start outside opening hours, when the test runs early or late
        accept.check()
    check("course-preview")
    page.get_by_role("button", name="Book the course").click()
    says(page, "Course booked: 1 cycles.")
    check("course")

    page.get_by_role("link", name="Infusion unit").click()
    check("week")
    page.get_by_role("row").filter(has=page.get_by_role("rowheader", name="Chair 1", exact=True)).get_by_role(
        "cell"
    ).nth(today.weekday()).get_by_role("link", name=MRN).click()
    expect(page.get_by_role("heading", name="Infusion · day 1 of 2, cycle 1")).to_be_visible()
    check("session-planned")

    start_infusion_accepting_missing_labs(page, at=at["start"], check=check)
    record_vitals(page, phase="Before", at=at["vitals_before"], vitals=BEFORE, check=check)
    order = DoseOrder.objects.get(patient__mrn=MRN)
    for index, vial in enumerate(order.plan["vials_per_day"]):
        record_a_lot(
            page,
            lot=f"B{index + 1}{today:%y%m}07",
            size_g=int(Decimal(vial["size_g"])),
            vials=vial["count"],
            expiry=today + timedelta(days=400),
            check=check,
        )
    # At most step 1's 42 mL/h before any rate is recorded: the volume that delivers.
    minutes = Decimal((at["stop"] - at["start"]) // timedelta(minutes=1))
    stop_infusion(
        page, at=at["stop"], volume_ml=(Decimal("42") * minutes / 60).quantize(Decimal("0.1"), ROUND_DOWN), check=check
    )
    record_vitals(page, phase="After", at=at["vitals_after"], vitals=AFTER)
    check("session-ready")
    complete_infusion(page, check=check)
    check("session-completed")

    session = InfusionSession.objects.get(patient__mrn=MRN, cycle__number=1, day_number=1)
    assert session.status == SessionStatus.COMPLETED
    assert session.record.completed_by.username == nurse_user.username


def test_flag_review_and_the_error_pages(page_js_on_and_off, watch, physician_user, alice_martin, today):
    page = page_js_on_and_off
    check = checker(page, "flags")

    page.goto("/accounts/login/")
    check("login")
    login(page, physician_user.username)
    open_patient(page, check)
    add_risk_factor(
        page,
        factor="History of venous thrombosis (DVT/PE)",
        noted_on=today - timedelta(days=10),
        comment="Left femoral DVT on ultrasound",
        check=check,
    )
    check("patient-flagged")

    page.get_by_role("link", name="Dashboard").click()
    expect(page.get_by_role("region", name="Flags not yet acknowledged")).to_contain_text(FLAG_TITLE)
    check("dashboard-flag")
    # Sent empty first: refused, with the error named for screen readers.
    open_acknowledgement(page, flag_title=FLAG_TITLE)
    page.get_by_role("button", name="Acknowledge").click()
    # The answer arrives after the click returns: wait for the invalid mark before naming the errors.
    expect(page.get_by_label("What you checked or did")).to_have_class(re.compile(r"\bis-invalid\b"))
    assert_errors_named(page)
    check("acknowledge-refused")
    page.get_by_label("What you checked or did").fill("Hydration ordered; at-risk rate cap.")
    page.get_by_role("button", name="Acknowledge").click()
    expect(page.get_by_role("status")).to_contain_text(f"Acknowledged: {FLAG_TITLE} for {MRN}.")
    check("dashboard-acknowledged")
    flag = RiskFlag.objects.get(patient=alice_martin, code="thrombosis_history")
    assert flag.acknowledged_by.username == physician_user.username

    # The error pages, in the app's frame.
    assert page.goto("/scheduling/unit/").status == 403  # a physician does not edit the unit's chairs
    expect(page.get_by_role("heading", name="You cannot open this page")).to_be_visible()
    check("403")
    assert page.goto("/patients/no-such-page/").status == 404
    expect(page.get_by_role("heading", name="There is nothing at this address")).to_be_visible()
    check("404")
    # No page fails on purpose: the 500 page Django's handler renders is served for one address.
    broken = "/dosing/orders/broken/"
    error = server_error(RequestFactory().get(broken))
    page.route(f"**{broken}", lambda route: route.fulfill(status=500, content_type="text/html", body=error.content))
    assert page.goto(broken).status == 500
    expect(page.get_by_role("heading", name="Something went wrong on our side")).to_be_visible()
    check("500")
    # The browser logs each error status as a failed load: those three are expected, nothing else.
    expected = {
        f"Failed to load resource: the server responded with a status of {status}"
        for status in ("403 (Forbidden)", "404 (Not Found)", "500 (Internal Server Error)")
    }
    assert expected <= set(watch.console_errors), watch.console_errors
    watch.console_errors[:] = [text for text in watch.console_errors if text not in expected]
