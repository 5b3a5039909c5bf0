"""chart_limits.first_infusion_plan: a stored plan run as a first infusion gives the very ladder
plan_dose(first_infusion=True) gives, also when held to today's chart."""

import pytest

from accounts.errors import FieldError
from dosing.chart_limits import first_infusion_plan, lower_plan

from .test_calculations import FACTS, PAIRS, _plan

SWITCH = {"kind": "product_switch", "reason": "product switch from Gamunex-C (last given 2026-08-01)"}


@pytest.mark.parametrize("pair", PAIRS)
@pytest.mark.parametrize("factor", [1, 2, 3])
def test_the_stored_plan_gives_the_engines_ladder(pair, factor):
    _, indication = FACTS[pair]
    inputs = {"weight_basis": "actual", "dose_g_per_kg": indication.dose_g_per_kg_max, "days": indication.days_min}
    usual = _plan(pair, **inputs).to_dict()
    engine = _plan(pair, **inputs, first_infusion=True, first_step_factor=factor).to_dict()
    held = first_infusion_plan(usual, factor=factor, **SWITCH)
    assert held["rate_steps"] == engine["rate_steps"]
    assert held["infusion_minutes"] == engine["infusion_minutes"]
    assert held["warnings"][-1]["code"] == "first_infusion_slow_start"
    assert held["first_infusion"]["usual_infusion_minutes"] == usual["infusion_minutes"]
    assert usual == _plan(pair, **inputs).to_dict()  # the order's plan is not touched


def test_the_worked_mark():
    held = first_infusion_plan(_plan().to_dict(), factor=2, **SWITCH)
    assert held["first_infusion"] == {
        **SWITCH,
        "factor": 2,
        "usual_minutes": 30,
        "held_minutes": 60,
        "usual_infusion_minutes": 288,
        "text": "First infusion: product switch from Gamunex-C (last given 2026-08-01) — first step held 2 × 30 min, "
        "site policy",
    }
    assert [(s["rate_ml_per_h"], s["start_min"], s["minutes"], s["volume_ml"]) for s in held["rate_steps"]] == [
        ("42.0", 0, 60, "42.0"),
        ("84.0", 60, 30, "42.0"),
        ("168.0", 90, 220, "616.0"),
    ]


def test_a_plan_held_to_todays_chart_keeps_its_bounds():
    # A renal flag since verification: 42 -> 84 -> 138.6 mL/h; as a first infusion 616 mL at 138.6 = 267 min.
    verified = _plan().to_dict()
    lowered = lower_plan(verified, _plan(at_risk=True).to_dict(), reason="renal flag")
    held = first_infusion_plan(lowered, factor=2, **SWITCH)
    assert [(s["rate_ml_per_h"], s["minutes"], s["bound_by"]) for s in held["rate_steps"]] == [
        ("42.0", 60, "verified plan"),
        ("84.0", 30, "verified plan"),
        ("138.6", 267, "today's maximum"),
    ]
    assert held["chart_limit"] == lowered["chart_limit"]
    assert held["infusion_minutes"] == 357


def test_a_one_step_ladder_is_marked_but_not_changed():
    plan = _plan().to_dict()
    one = {**plan, "rate_steps": [{**plan["rate_steps"][-1], "start_min": 0, "minutes": 250, "volume_ml": "700.0"}]}
    one["infusion_minutes"] = 250
    held = first_infusion_plan(one, factor=2, kind="ivig_naive", reason="IVIG-naive: no infusion given before")
    assert held["rate_steps"] == one["rate_steps"]
    assert held["first_infusion"]["text"].endswith("a single-step ladder, nothing to hold longer")


def test_refuses_twice_and_a_bad_factor():
    held = first_infusion_plan(_plan().to_dict(), factor=2, **SWITCH)
    with pytest.raises(FieldError, match="plan"):
        first_infusion_plan(held, factor=2, **SWITCH)
    with pytest.raises(FieldError, match="first_step_factor"):
        first_infusion_plan(_plan().to_dict(), factor=5, **SWITCH)
