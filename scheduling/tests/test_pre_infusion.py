"""The pre-infusion check (pure): each item ok, stale or missing at the site policy's boundaries."""

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pytest

from risk.rules import CREATININE_BEFORE_CYCLE_DAYS
from scheduling.pre_infusion import SITE_POLICY, CheckStatus, Fact, needs_acceptance, pre_infusion_check

TODAY = date(2026, 11, 22)
# Day 2 of a cycle that began yesterday: the renal window counts from the first day, not today.
FIRST_DAY = TODAY - timedelta(days=1)
OK, STALE, MISSING = CheckStatus.OK, CheckStatus.STALE, CheckStatus.MISSING


def fresh() -> dict:
    """Every fact recent enough."""
    return {
        "weight": Fact(Decimal("70.0"), TODAY, "kg"),
        "creatinine": Fact(Decimal("0.9"), FIRST_DAY, "mg/dL"),
        "egfr": Fact(Decimal("85"), FIRST_DAY, "mL/min/1.73 m²"),
        "haemoglobin": Fact(Decimal("13.1"), TODAY, "g/dL"),
        "blood_group": Fact("O"),
        "iga_status": Fact("Normal"),
    }


def check(**facts):
    return pre_infusion_check(
        today=TODAY, cycle_first_day=FIRST_DAY, order_weight_kg=Decimal("70.0"), **(fresh() | facts)
    )


def item(items, code):
    return next(found for found in items if found.code == code)


def days_ago(days: int) -> date:
    return TODAY - timedelta(days=days)


RENAL_EDGE = FIRST_DAY - timedelta(days=CREATININE_BEFORE_CYCLE_DAYS)


@pytest.mark.parametrize(
    ("code", "fact", "status"),
    [
        ("weight", Fact(Decimal("70.0"), days_ago(30), "kg"), OK),
        ("weight", Fact(Decimal("70.0"), days_ago(31), "kg"), STALE),
        ("weight", Fact(Decimal("76.9"), TODAY, "kg"), OK),
        ("weight", Fact(Decimal("77.0"), TODAY, "kg"), STALE),  # +10 %: as much as re-verifies the order
        ("weight", Fact(Decimal("63.1"), TODAY, "kg"), OK),
        ("weight", Fact(Decimal("63.0"), TODAY, "kg"), STALE),  # -10 %
        ("weight", None, MISSING),
        ("creatinine", Fact(Decimal("0.9"), RENAL_EDGE, "mg/dL"), OK),
        ("creatinine", Fact(Decimal("0.9"), RENAL_EDGE - timedelta(days=1), "mg/dL"), STALE),
        ("creatinine", None, MISSING),
        ("egfr", Fact(Decimal("85"), RENAL_EDGE, "mL/min/1.73 m²"), OK),
        ("egfr", Fact(Decimal("85"), RENAL_EDGE - timedelta(days=1), "mL/min/1.73 m²"), STALE),
        ("egfr", None, MISSING),
        ("haemoglobin", Fact(Decimal("13.1"), days_ago(30), "g/dL"), OK),
        ("haemoglobin", Fact(Decimal("13.1"), days_ago(31), "g/dL"), STALE),
        ("haemoglobin", None, MISSING),
        ("blood_group", Fact("AB"), OK),
        ("blood_group", None, MISSING),
        ("iga_status", Fact("IgA deficient"), OK),
        ("iga_status", None, MISSING),
    ],
)
def test_each_item_at_its_boundaries(code, fact, status):
    items = check(**{code: fact})
    assert item(items, code).status == status
    # The others stay ok: one stale fact is named alone.
    assert all(other.status == OK for other in items if other.code != code)
    assert needs_acceptance(items) is (status != OK)


def test_all_fresh_needs_no_acceptance():
    items = check()
    assert [found.code for found in items] == [
        "weight",
        "creatinine",
        "egfr",
        "haemoglobin",
        "blood_group",
        "iga_status",
    ]
    assert not needs_acceptance(items)


def test_an_item_carries_value_unit_date_and_age():
    found = item(check(haemoglobin=Fact(Decimal("12.40"), days_ago(40), "g/dL")), "haemoglobin")
    assert (found.value, found.unit, found.on, found.age_days) == ("12.4", "g/dL", days_ago(40), 40)
    assert found.why == "40 days old, more than 30."
    assert found.to_dict()["on"] == "2026-10-13"
    assert found.to_dict()["status"] == "stale"


def test_a_weight_both_old_and_changed_says_both():
    found = item(check(weight=Fact(Decimal("80.5"), days_ago(45), "kg")), "weight")
    assert found.status == STALE
    assert "45 days ago" in found.why
    assert "15 % above the order's 70 kg" in found.why


def test_the_weight_change_is_the_order_re_verification_threshold():
    from dosing.services.orders import REVERIFY_WEIGHT_CHANGE_PERCENT

    assert SITE_POLICY.weight_change_max_percent == REVERIFY_WEIGHT_CHANGE_PERCENT


def test_the_renal_window_is_the_risk_rules():
    assert SITE_POLICY.renal_before_cycle_days == CREATININE_BEFORE_CYCLE_DAYS
    assert "30 days before the cycle's first day" in SITE_POLICY.sentence


def test_a_stricter_policy_is_applied():
    strict = replace(SITE_POLICY, haemoglobin_max_age_days=7)
    items = pre_infusion_check(
        today=TODAY,
        cycle_first_day=FIRST_DAY,
        order_weight_kg=Decimal("70"),
        policy=strict,
        **fresh() | {"haemoglobin": Fact(Decimal("13"), days_ago(8), "g/dL")},
    )
    assert item(items, "haemoglobin").status == STALE


@pytest.mark.parametrize("code", ["weight", "creatinine", "haemoglobin"])
def test_a_fact_dated_after_today_is_refused_naming_it(code):
    with pytest.raises(ValueError, match=f"^{code}:"):
        check(**{code: Fact(Decimal("1"), TODAY + timedelta(days=1), "u")})


def test_an_order_weight_of_zero_is_refused():
    with pytest.raises(ValueError, match="^order_weight_kg:"):
        pre_infusion_check(today=TODAY, cycle_first_day=FIRST_DAY, order_weight_kg=Decimal("0"), **fresh())
