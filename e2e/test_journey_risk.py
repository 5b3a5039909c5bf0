"""Risk: a physician records a deep-vein thrombosis; the dashboard flags the patient, a new order
is capped at the at-risk rate and says why, and a nurse acknowledges the flag."""

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from dosing.models import DoseOrder
from e2e.conftest import login, logout, screenshot
from e2e.steps import acknowledge_flag, add_risk_factor
from risk.models import RiskFlag

pytestmark = pytest.mark.e2e

JOURNEY = "risk"
FLAG_TITLE = "History of venous or arterial thrombosis"


def test_new_dvt_caps_the_rate_and_a_nurse_acknowledges_the_flag(page, physician_user, nurse_user, alice_martin, today):
    login(page, physician_user.username)
    page.get_by_role("link", name="Patients", exact=True).click()
    page.get_by_role("link", name="Martin, Alice").click()

    add_risk_factor(
        page,
        factor="History of venous thrombosis (DVT/PE)",
        noted_on=today - timedelta(days=10),
        comment="Left femoral DVT on ultrasound",
        check=lambda step: screenshot(page, JOURNEY, f"01-{step}"),
    )
    flags = page.get_by_role("region", name=re.compile("^Risk flags"))
    expect(flags).to_contain_text(FLAG_TITLE)
    expect(flags).to_contain_text("at-risk rate cap")

    # The physician's home leads with the new flag to acknowledge; the flagged patients are one
    # click away, in the row of the other sections.
    page.get_by_role("link", name="Dashboard").click()
    expect(page.get_by_role("region", name="Flags not yet acknowledged")).to_contain_text(FLAG_TITLE)
    page.get_by_role("navigation", name="Other sections").get_by_role("link", name="patients with active flags").click()
    flagged = (
        page.get_by_role("region", name="Patients with active flags").get_by_role("row").filter(has_text="E2E-0001")
    )
    expect(flagged).to_contain_text(FLAG_TITLE)
    expect(flagged).to_contain_text("high")
    expect(flagged).to_contain_text("new")
    screenshot(page, JOURNEY, "02-dashboard-flag")

    # A new order uses the at-risk cap and names the reason.
    flagged.get_by_role("link", name="E2E-0001").click()
    page.get_by_role("link", name="New dose order").click()
    chart = page.locator("section.card").filter(has_text="From the chart today")
    expect(chart).to_contain_text("At risk: the lower at-risk rate cap applies.")
    expect(chart).to_contain_text(f"{FLAG_TITLE}: History of venous thrombosis (DVT/PE)")
    page.get_by_label("Product and indication").select_option(label="Octagam 10% — Dermatomyositis")
    page.get_by_label("Dose per cycle (g/kg)").fill("2")
    page.get_by_label("Infusion days per cycle").fill("2")
    page.get_by_role("button", name="Calculate").click()
    rate_limit = page.get_by_role("region", name="Rate limit")
    expect(rate_limit).to_contain_text(re.compile(r"=\s*138\.6\s*mL/h"))
    expect(rate_limit).to_contain_text("at risk: thrombosis or renal dysfunction")
    ladder = page.get_by_role("table").filter(has=page.get_by_role("columnheader", name="Pump rate"))
    top_rate = ladder.locator("tbody tr").last.locator("td").nth(3)
    expect(top_rate).to_have_text(re.compile(r"^138\.6\s*mL/h$"))
    screenshot(page, JOURNEY, "03-order-at-risk")
    page.get_by_role("button", name="Place order").click()
    expect(page.get_by_role("status").filter(has_text="Order placed")).to_be_visible()
    expect(page.get_by_text("at-risk cap", exact=True).first).to_be_visible()
    order = DoseOrder.objects.get(patient=alice_martin)
    assert order.at_risk
    assert order.plan["max_rate_ml_per_h"] == "138.6"
    assert any(FLAG_TITLE in reason["text"] for reason in order.at_risk_reasons)
    logout(page)

    # The nurse acknowledges it from the dashboard, saying what was done: the form opens in the flag's
    # row and the acknowledgement takes its place (e2e/test_in_place.py has the same without JavaScript).
    login(page, nurse_user.username)
    # A nurse's home leads with the unit: the flags not yet acknowledged are one click away.
    page.get_by_role("navigation", name="Other sections").get_by_role("link", name="flags not yet acknowledged").click()
    row = page.get_by_role("region", name="Flags not yet acknowledged").get_by_role("row").filter(has_text=FLAG_TITLE)
    acknowledge_flag(
        page,
        flag_title=FLAG_TITLE,
        what_was_done="Hydration ordered; pump capped at 138.6 mL/h.",
        check=lambda step: screenshot(page, JOURNEY, f"04-{step}"),
    )
    expect(page.get_by_role("status")).to_contain_text(f"Acknowledged: {FLAG_TITLE} for E2E-0001.")
    expect(row).to_contain_text(f"{nurse_user.full_name} (nurse)")
    page.reload()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(page.get_by_role("region", name="Flags not yet acknowledged")).not_to_contain_text(FLAG_TITLE)
    flag = RiskFlag.objects.get(patient=alice_martin, code="thrombosis_history")
    assert flag.acknowledged_by.username == nurse_user.username

    page.get_by_role("link", name="Patients", exact=True).click()
    page.get_by_role("link", name="Martin, Alice").click()
    flag_row = page.get_by_role("region", name=re.compile("^Risk flags")).get_by_role("row").filter(has_text=FLAG_TITLE)
    acknowledged = flag_row.get_by_role("cell").last
    expect(acknowledged).to_contain_text(f"{nurse_user.full_name} (nurse), {today:%Y-%m-%d}")
    expect(acknowledged).to_contain_text("Hydration ordered; pump capped at 138.6 mL/h.")
    screenshot(page, JOURNEY, "05-patient-acknowledged")
