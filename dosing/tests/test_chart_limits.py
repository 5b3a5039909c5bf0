"""lower_plan, plan_differences, plan_digest: the order in use against today's chart."""

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dosing.calculations import IndicationFacts, ProductFacts, RateStep, plan_dose, rate_ml_per_h
from dosing.chart_limits import lower_plan, plan_differences, plan_digest

OCTAGAM = ProductFacts(
    slug="octagam-10",
    name="Octagam 10%",
    concentration_mg_per_ml=Decimal("100"),
    vial_sizes_g=(Decimal("2"), Decimal("5"), Decimal("10"), Decimal("20"), Decimal("30")),
    at_risk_cap_mg_per_kg_min=Decimal("3.3"),
    contains_maltose=True,
)
DM = IndicationFacts(
    slug="dermatomyositis",
    label_status="label",
    population="adults",
    dose_g_per_kg_min=Decimal("2"),
    dose_g_per_kg_max=Decimal("2"),
    days_min=2,
    days_max=5,
    steps=(RateStep(Decimal("1"), 30), RateStep(Decimal("2"), 30), RateStep(Decimal("4"), None)),
    max_rate_mg_per_kg_min=Decimal("4"),
    site_protocol=False,
)


def plan(weight="70", *, at_risk=False, days=2, height="170"):
    return plan_dose(
        product=OCTAGAM,
        indication=DM,
        weight_kg=weight,
        height_cm=height,
        sex="female",
        dose_g_per_kg="2",
        days=days,
        weight_basis="actual",
        at_risk=at_risk,
    ).to_dict()


@pytest.mark.parametrize(
    ("chart", "rates", "minutes"),
    [
        # Worked check: a renal flag since verification -> the at-risk cap at the same weight.
        (plan(at_risk=True), ["42.0", "84.0", "138.6"], 336),
        # Weight down to 63 kg (10 %): every rung at today's weight.
        (plan("63"), ["37.8", "75.6", "151.2"], 316),
        # Both: the lower figure wins at each step.
        (plan("63", at_risk=True), ["37.8", "75.6", "124.7"], 370),
    ],
    ids=["at-risk-cap", "lower-weight", "both"],
)
def test_each_step_is_the_lower_of_the_verified_and_todays_plan(chart, rates, minutes):
    verified = plan()
    lowered = lower_plan(verified, chart, reason="why")
    assert [step["rate_ml_per_h"] for step in lowered["rate_steps"]] == rates
    assert lowered["infusion_minutes"] == minutes
    assert lowered["daily_volume_ml"] == verified["daily_volume_ml"]  # the dose prepared stays
    assert lowered["chart_limit"]["reason"] == "why"


@pytest.mark.parametrize("chart", [None, plan(), plan("80"), plan("77", at_risk=False)])
def test_a_chart_that_allows_as_much_or_more_changes_nothing(chart):
    verified = plan()
    assert lower_plan(verified, chart) == verified | {"chart_limit": None}


def test_the_step_names_the_weight_its_mg_per_kg_min_is_for():
    lowered = lower_plan(plan(), plan("63", at_risk=True))
    top = lowered["rate_steps"][-1]
    assert (top["rate_mg_per_kg_min"], top["dosing_weight_kg"], top["bound_by"]) == ("3.3", "63", "today's maximum")
    assert lowered["cap_reason"] == "at-risk cap 3.3 mg/kg/min (label) at 63 kg (today's chart)"


def test_another_concentration_is_refused():
    other = plan() | {"concentration_mg_per_ml": "50"}
    with pytest.raises(ValueError, match="^chart: "):
        lower_plan(plan(), other)


WEIGHTS = st.decimals(min_value=Decimal("30"), max_value=Decimal("150"), places=1)


@settings(max_examples=300, deadline=None)
@given(WEIGHTS, st.booleans(), WEIGHTS, st.booleans(), st.integers(min_value=2, max_value=5))
def test_no_step_is_ever_above_either_plan(verified_kg, verified_risk, chart_kg, chart_risk, days):
    """The invariant the chair relies on: whatever the two plans, every step's pump rate is at or
    below the verified step and at or below today's rate for the same rung and today's maximum,
    and the volumes still add up to the day's volume."""
    verified = plan(str(verified_kg), at_risk=verified_risk, days=days)
    chart = plan(str(chart_kg), at_risk=chart_risk, days=days)
    lowered = lower_plan(verified, chart)
    chart_max = Decimal(chart["max_rate_ml_per_h"])
    for mine, original in zip(lowered["rate_steps"], verified["rate_steps"], strict=True):
        rate = Decimal(mine["rate_ml_per_h"])
        assert rate <= Decimal(original["rate_ml_per_h"])
        assert rate <= chart_max
        rung_today = rate_ml_per_h(
            rate_mg_per_kg_min=original["rate_mg_per_kg_min"],
            dosing_weight_kg=chart["dosing_weight_kg"],
            concentration_mg_per_ml="100",
        )
        assert rate <= rung_today
    assert sum(Decimal(step["volume_ml"]) for step in lowered["rate_steps"]) == Decimal(verified["daily_volume_ml"])
    assert lowered["infusion_minutes"] >= verified["infusion_minutes"]
    assert Decimal(lowered["max_rate_ml_per_h"]) == min(Decimal(verified["max_rate_ml_per_h"]), chart_max)


def test_differences_mark_what_changed():
    before = ({"weight_kg": "70.0", "weight_measured_on": "2026-12-01"}, plan())
    after = ({"weight_kg": "78.4", "weight_measured_on": "2027-01-04"}, plan("78.4"))
    rows = {row["label"]: row for row in plan_differences(before, after)}
    assert rows["Weight"] == {
        "label": "Weight",
        "before": "70 kg (2026-12-01)",
        "after": "78.4 kg (2027-01-04)",
        "changed": True,
    }
    assert rows["Daily dose"]["before"] == "70 g in 700 mL"
    assert not rows["At risk (thrombosis or renal)"]["changed"]
    assert rows["Rate cap"]["after"] == "188.1 mL/h (4 mg/kg/min)"


def test_digest_follows_every_figure():
    assert plan_digest(plan()) == plan_digest(plan())
    assert plan_digest(plan()) != plan_digest(plan(days=3))
