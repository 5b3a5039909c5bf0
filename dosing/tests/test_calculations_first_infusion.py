"""plan_dose(first_infusion=True): the first step of the ladder as run held the site's factor
times its minutes, with the `first_infusion_slow_start` warning. Worked by hand from the
dermatomyositis 70 kg day (700 mL of Octagam 10 %: 42 -> 84 -> 168 mL/h, 30 and 30 min)."""

from decimal import Decimal as D

import pytest

from accounts.errors import FieldError
from dosing.calculations import RateStep, WarningCode, slow_first_step

from .test_calculations import FACTS, PAIRS, _codes, _plan


def _ladder(plan):
    return [(step.rate_ml_per_h, step.start_min, step.minutes, step.volume_ml) for step in plan.rate_steps]


def test_without_the_flag_the_plan_is_unchanged():
    assert _plan() == _plan(first_infusion=False) == _plan(first_infusion=False, first_step_factor=3)


@pytest.mark.parametrize(
    "factor, ladder, minutes",
    [
        # 42 mL/h for 60 min = 42 mL; 84 mL/h 30 min = 42 mL; 616 mL at 168 mL/h = 220 min.
        (2, [(D("42"), 0, 60, D("42")), (D("84"), 60, 30, D("42")), (D("168"), 90, 220, D("616"))], 310),
        # 90 min = 63 mL; 595 mL at 168 mL/h = 212.5 -> 213 min.
        (3, [(D("42"), 0, 90, D("63")), (D("84"), 90, 30, D("42")), (D("168"), 120, 213, D("595"))], 333),
        # Factor 1: the usual ladder, but still marked.
        (1, [(D("42"), 0, 30, D("21")), (D("84"), 30, 30, D("42")), (D("168"), 60, 228, D("637"))], 288),
    ],
)
def test_dermatomyositis_70_kg_first_infusion(factor, ladder, minutes):
    plan = _plan(first_infusion=True, first_step_factor=factor)
    assert _ladder(plan) == ladder
    assert plan.infusion_minutes == minutes
    assert sum(step.volume_ml for step in plan.rate_steps) == plan.daily_volume_ml == D("700")
    assert _codes(plan) == [WarningCode.FIRST_INFUSION_SLOW_START]
    assert not plan.blocked


def test_the_warning_says_why_and_that_the_factor_is_site_policy():
    (warning,) = _plan(first_infusion=True).warnings
    assert warning.code == "first_infusion_slow_start"
    assert "First infusion (IVIG-naive, a product switch or a long gap without IVIG)" in warning.message
    assert "42.0 mL/h (1 mg/kg/min), is held 2 × 30 min = 60 min instead of 30 min" in warning.message
    assert "site policy: first-infusion first-step factor 2" in warning.message
    assert warning.blocking is False


def test_factor_1_says_no_slower_start():
    (warning,) = _plan(first_infusion=True, first_step_factor=1).warnings
    assert "runs its usual 30 min (site policy: factor 1, no slower start)" in warning.message


def test_at_risk_first_infusion_holds_the_capped_ladder():
    # 42 mL/h 60 min, 84 mL/h 30 min, then 616 mL at 138.6 mL/h = 266.67 -> 267 min.
    plan = _plan(at_risk=True, first_infusion=True)
    assert _ladder(plan)[-1] == (D("138.6"), 90, 267, D("616"))
    assert plan.infusion_minutes == 357


def test_the_warning_comes_after_the_others():
    plan = _plan(first_infusion=True, renal_risk=True)
    assert _codes(plan) == [WarningCode.RENAL_RISK, WarningCode.FIRST_INFUSION_SLOW_START]


@pytest.mark.parametrize("pair", PAIRS)
def test_every_label_ladder_first_step_is_held_longer_and_volumes_add_up(pair):
    _, indication = FACTS[pair]
    labelled = {"weight_basis": "actual", "dose_g_per_kg": indication.dose_g_per_kg_max, "days": indication.days_min}
    usual = _plan(pair, **labelled)
    plan = _plan(pair, **labelled, first_infusion=True)
    assert sum(step.volume_ml for step in plan.rate_steps) == plan.daily_volume_ml
    assert [s.rate_ml_per_h for s in plan.rate_steps] == [s.rate_ml_per_h for s in usual.rate_steps][
        : len(plan.rate_steps)
    ]
    if len(usual.rate_steps) > 1:
        assert plan.rate_steps[0].minutes == 2 * usual.rate_steps[0].minutes
        assert plan.infusion_minutes >= usual.infusion_minutes


def test_slow_first_step_leaves_a_one_step_ladder_alone():
    ladder = (RateStep(D("4"), None),)
    assert slow_first_step(steps=ladder, factor=2) == ladder


@pytest.mark.parametrize("factor", [0, 5, -1])
def test_a_factor_out_of_range_names_its_field(factor):
    with pytest.raises(FieldError) as raised:
        _plan(first_infusion=True, first_step_factor=factor)
    assert raised.value.field == "first_step_factor"


@pytest.mark.parametrize("value, field", [("yes", "first_infusion"), (1, "first_infusion")])
def test_the_flag_must_be_a_bool(value, field):
    with pytest.raises(TypeError, match=field):
        _plan(first_infusion=value)


def test_the_factor_must_be_whole():
    with pytest.raises(TypeError, match="first_step_factor"):
        _plan(first_infusion=True, first_step_factor=D("2"))
