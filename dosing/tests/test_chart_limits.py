"""lower_plan, plan_differences, plan_digest, the ladder and the clock: the order in use against today's chart."""

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accounts.errors import FieldError
from dosing.calculations import IndicationFacts, ProductFacts, RateStep, plan_dose, rate_ml_per_h
from dosing.chart_limits import (
    bedside_times,
    ladder_may_begin,
    ladder_step_begun,
    lower_plan,
    plan_differences,
    plan_digest,
)

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


# ----------------------------------------------------------------------- the ladder and the clock

# The 70 kg plan: 42 -> 84 -> 168 mL/h, 30 and 30 min, then until done.
LADDER = [
    {"rate_ml_per_h": "42.0", "start_min": 0, "minutes": 30},
    {"rate_ml_per_h": "84.0", "start_min": 30, "minutes": 30},
    {"rate_ml_per_h": "168.0", "start_min": 60, "minutes": 228},
]


@pytest.mark.parametrize(
    ("elapsed", "tolerance", "from_step", "step"),
    [
        (0, 5, 1, 1),
        (24, 5, 1, 1),
        (Decimal("24.99"), 5, 1, 1),
        (25, 5, 1, 2),  # exactly at the minute, with the site's 5 minutes
        (29, 0, 1, 1),
        (Decimal("29.99"), 0, 1, 1),
        (30, 0, 1, 2),  # exactly at the minute, no tolerance
        (54, 5, 1, 2),
        (55, 5, 1, 3),
        (59, 0, 1, 2),
        (60, 0, 1, 3),
        (600, 5, 1, 3),  # long past the last step: still the last
        # After a resumption the clock restarts at the step resumed at.
        (0, 5, 2, 2),
        (24, 5, 2, 2),
        (25, 5, 2, 3),
        (30, 0, 2, 3),
        (0, 0, 3, 3),
        (0, 5, 1, 1),
        (29, 0, 1, 1),
    ],
)
def test_the_highest_step_that_may_have_begun(elapsed, tolerance, from_step, step):
    assert ladder_step_begun(LADDER, elapsed_minutes=elapsed, tolerance_minutes=tolerance, from_step=from_step) == step


@pytest.mark.parametrize(
    ("tolerance", "from_step", "begins"),
    [
        (0, 1, [0, 30, 60]),
        (5, 1, [0, 25, 55]),
        (5, 2, [0, 0, 25]),
        (0, 3, [0, 0, 0]),
    ],
)
def test_each_step_may_begin_when_the_steps_before_it_have_run(tolerance, from_step, begins):
    assert ladder_may_begin(LADDER, tolerance_minutes=tolerance, from_step=from_step) == begins


def test_a_step_never_begins_before_the_clock_starts():
    short = [{"minutes": 3}, {"minutes": 3}, {"minutes": 60}]
    assert ladder_may_begin(short, tolerance_minutes=5) == [0, 0, 1]


@given(
    minutes=st.lists(st.integers(min_value=0, max_value=240), min_size=1, max_size=8),
    elapsed=st.integers(min_value=0, max_value=2000),
    tolerance=st.integers(min_value=0, max_value=5),
)
@settings(max_examples=200, deadline=None)
def test_more_time_or_tolerance_never_lowers_the_step(minutes, elapsed, tolerance):
    steps = [{"minutes": m} for m in minutes]
    step = ladder_step_begun(steps, elapsed_minutes=elapsed, tolerance_minutes=tolerance)
    assert 1 <= step <= len(steps)
    assert ladder_step_begun(steps, elapsed_minutes=elapsed + 1, tolerance_minutes=tolerance) >= step
    if tolerance < 5:
        assert ladder_step_begun(steps, elapsed_minutes=elapsed, tolerance_minutes=tolerance + 1) >= step
    # Never a step whose predecessors have not run their minutes, less the tolerance.
    assert sum(minutes[: step - 1]) - tolerance <= elapsed


@pytest.mark.parametrize(
    ("steps", "kwargs", "field"),
    [
        (LADDER, {"elapsed_minutes": -1, "tolerance_minutes": 5}, "elapsed_minutes"),
        (LADDER, {"elapsed_minutes": 1.5, "tolerance_minutes": 5}, "elapsed_minutes"),
        (LADDER, {"elapsed_minutes": Decimal("NaN"), "tolerance_minutes": 5}, "elapsed_minutes"),
        (LADDER, {"elapsed_minutes": 0, "tolerance_minutes": 6}, "tolerance_minutes"),
        (LADDER, {"elapsed_minutes": 0, "tolerance_minutes": -1}, "tolerance_minutes"),
        (LADDER, {"elapsed_minutes": 0, "tolerance_minutes": 5, "from_step": 4}, "from_step"),
        (LADDER, {"elapsed_minutes": 0, "tolerance_minutes": 5, "from_step": 0}, "from_step"),
        ([], {"elapsed_minutes": 0, "tolerance_minutes": 5}, "rate_steps"),
        ([{"minutes": -30}, {"minutes": 30}], {"elapsed_minutes": 0, "tolerance_minutes": 5}, "minutes"),
    ],
)
def test_impossible_input_names_its_field(steps, kwargs, field):
    with pytest.raises(FieldError) as exc:
        ladder_step_begun(steps, **kwargs)
    assert exc.value.field == field


NY_ZONE = "America/New_York"


def _at(hour: int, minute: int = 0, day: int = 23, month: int = 11, year: int = 2026):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(NY_ZONE))


def _local(moment) -> str:
    from zoneinfo import ZoneInfo

    return moment.astimezone(ZoneInfo(NY_ZONE)).strftime("%H:%M")


@pytest.mark.parametrize(
    "volume, rate, minutes",
    [("500", "250", 120), ("250", "500", 30), ("100", "300", 20), ("1", "1000", 1)],  # whole minutes, rounded up
)
def test_hydration_runs_for_volume_over_rate(volume, rate, minutes):
    bedside = {"hydrations": [{"phase": "pre", "volume_ml": Decimal(volume), "rate_ml_per_h": Decimal(rate)}]}
    times = bedside_times(bedside, start=_at(9), end=_at(13, 48))
    hydration = times["hydrations"][0]
    assert hydration["minutes"] == minutes
    assert hydration["until"] == _at(9) and (hydration["until"] - hydration["from"]).total_seconds() == minutes * 60


def test_premedication_due_post_hydration_and_observation():
    bedside = {
        "premedications": [{"minutes_before_start": 60}, {"minutes_before_start": 0}],
        "hydrations": [{"phase": "post", "volume_ml": "250", "rate_ml_per_h": "500"}],
        "observation_minutes": 60,
    }
    times = bedside_times(bedside, start=_at(9), end=_at(13, 48))
    assert [_local(p["due"]) for p in times["premedications"]] == ["08:00", "09:00"]
    assert (_local(times["hydrations"][0]["from"]), _local(times["hydrations"][0]["until"])) == ("13:48", "14:18")
    assert _local(times["observe_until"]) == "14:48"
    assert bedside_times({}, start=_at(9), end=_at(10))["observe_until"] is None


def test_bedside_times_are_elapsed_across_the_daylight_saving_change():
    """14 Mar 2027 in New York: 60 minutes before 03:30 is 01:30 (02:00-03:00 does not exist)."""
    start = _at(3, 30, day=14, month=3, year=2027)
    times = bedside_times({"premedications": [{"minutes_before_start": 60}]}, start=start, end=start)
    assert _local(times["premedications"][0]["due"]) == "01:30"


@pytest.mark.parametrize(
    "bedside, kwargs, field",
    [
        ({}, {"start": _at(9).replace(tzinfo=None), "end": _at(10)}, "start"),
        ({}, {"start": _at(10), "end": _at(9)}, "end"),
        ({"hydrations": [{"phase": "pre", "volume_ml": "0", "rate_ml_per_h": "100"}]}, {}, "hydrations"),
    ],
)
def test_bedside_times_refuse_impossible_input(bedside, kwargs, field):
    with pytest.raises(FieldError) as refused:
        bedside_times(bedside, **({"start": _at(9), "end": _at(10)} | kwargs))
    assert refused.value.field == field
