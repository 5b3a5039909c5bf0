"""An order in use against today's chart: the limits the chair follows, when each step may begin, and what changed.

Pure functions over the plan snapshots an order keeps (``DosePlan.to_dict()``: numbers as
decimal strings): no ORM, no clock, no settings.

An order is verified once, but the chart goes on changing: a renal flag opens, the weight
drops. The service re-plans every open order from today's chart (``chart_plan``) and the chair
follows ``lower_plan(verified, chart_plan)``: the verified dose and volume, with every pump rate
held to the lower of the verified step and today's. A change that would raise a rate waits for
the pharmacist; a change that lowers one applies at once.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, Decimal
from typing import Any

from accounts.errors import FieldError

from .calculations import InfusionStep, PumpStep, first_infusion_warning, pump_timeline, rate_ml_per_h

# A weight (or dosing weight) this far from the one an order was dosed on changes the dose: the
# order goes back to verification, and the pre-infusion check calls the weight stale.
REVERIFY_WEIGHT_CHANGE_PERCENT = Decimal("10")


def changed_by_at_least(before: Decimal | str, after: Decimal | str, percent: Decimal) -> bool:
    """True when ``after`` differs from ``before`` by ``percent`` % of ``before`` or more, compared
    exactly (10 % of the ordered figure is the line, not a rounded figure).

    >>> changed_by_at_least("70.0", "77.0", Decimal("10")), changed_by_at_least("70.0", "76.9", Decimal("10"))
    (True, False)
    """
    before, after = Decimal(before), Decimal(after)
    return abs(after - before) * 100 >= percent * before


def _plain(value: Decimal | str) -> str:
    return format(Decimal(value).normalize(), "f")


def lower_plan(verified: Mapping[str, Any], chart: Mapping[str, Any] | None, *, reason: str = "") -> dict:
    """The plan to infuse by: ``verified`` with each step's pump rate held to today's plan.

    Each step keeps its mg/kg/min rung and minutes; its pump rate becomes the lowest of the
    verified rate, the same rung at today's dosing weight, and today's maximum. The day's
    volume stays the verified one (the dose prepared), and the timeline is run again so the
    clock times and infusion minutes are those of the lower rates. When nothing is lower the
    verified plan comes back unchanged, with ``chart_limit`` None; otherwise ``chart_limit``
    says by how much and why (``reason``), and each step says which figure bound it.

    Example: verified 42 -> 84 -> 168 mL/h for 70 kg (288 min); a renal flag since then gives
    today's plan a 138.6 mL/h maximum -> 42 -> 84 -> 138.6 mL/h, 336 min.

    >>> verified = {"concentration_mg_per_ml": "100", "dosing_weight_kg": "70", "daily_volume_ml": "700.0",
    ...     "max_rate_ml_per_h": "168.0", "max_rate_mg_per_kg_min": "4", "at_risk": False,
    ...     "cap_reason": "indication maximum 4 mg/kg/min", "infusion_minutes": 288, "rate_steps": [
    ...     {"rate_mg_per_kg_min": "1", "rate_ml_per_h": "42.0", "start_min": 0, "minutes": 30},
    ...     {"rate_mg_per_kg_min": "2", "rate_ml_per_h": "84.0", "start_min": 30, "minutes": 30},
    ...     {"rate_mg_per_kg_min": "4", "rate_ml_per_h": "168.0", "start_min": 60, "minutes": 228}]}
    >>> today = dict(verified, max_rate_ml_per_h="138.6", max_rate_mg_per_kg_min="3.3", at_risk=True,
    ...     cap_reason="at-risk cap 3.3 mg/kg/min (label)")
    >>> plan = lower_plan(verified, today, reason="renal flag")
    >>> [step["rate_ml_per_h"] for step in plan["rate_steps"]], plan["infusion_minutes"]
    (['42.0', '84.0', '138.6'], 336)
    >>> plan["chart_limit"]["verified_max_rate_ml_per_h"], plan["max_rate_ml_per_h"]
    ('168.0', '138.6')
    """
    plan = copy.deepcopy(dict(verified))
    plan["chart_limit"] = None
    if chart is None:
        return plan
    concentration = Decimal(verified["concentration_mg_per_ml"])
    if Decimal(chart["concentration_mg_per_ml"]) != concentration:
        raise FieldError("chart", "today's plan is for another concentration than the verified plan")
    verified_weight = Decimal(verified["dosing_weight_kg"])
    chart_weight = Decimal(chart["dosing_weight_kg"])
    verified_max = Decimal(verified["max_rate_ml_per_h"])
    chart_max = Decimal(chart["max_rate_ml_per_h"])
    max_from_chart = chart_max < verified_max
    maximum = chart_max if max_from_chart else verified_max
    maximum_mg = Decimal(chart["max_rate_mg_per_kg_min"] if max_from_chart else verified["max_rate_mg_per_kg_min"])
    maximum_weight = chart_weight if max_from_chart else verified_weight

    rungs, lowered = [], max_from_chart
    for step in verified["rate_steps"]:
        mg = Decimal(step["rate_mg_per_kg_min"])
        ml = Decimal(step["rate_ml_per_h"])
        weight, bound = verified_weight, "verified plan"
        at_chart_weight = rate_ml_per_h(
            rate_mg_per_kg_min=mg, dosing_weight_kg=chart_weight, concentration_mg_per_ml=concentration
        )
        if at_chart_weight < ml:
            ml, weight, bound = at_chart_weight, chart_weight, "today's dosing weight"
        if maximum < ml:
            ml, mg, weight, bound = maximum, maximum_mg, maximum_weight, "today's maximum"
        lowered = lowered or bound != "verified plan"
        rungs.append((PumpStep(mg, ml, step["minutes"]), weight, bound))
    if not lowered:
        return plan

    timeline = pump_timeline(steps=[rung for rung, _, _ in rungs], daily_volume_ml=verified["daily_volume_ml"])
    plan["rate_steps"] = [
        {
            "rate_mg_per_kg_min": format(step.rate_mg_per_kg_min, "f"),
            "rate_ml_per_h": format(step.rate_ml_per_h, "f"),
            "start_min": step.start_min,
            "minutes": step.minutes,
            "volume_ml": format(step.volume_ml, "f"),
            "dosing_weight_kg": format(weight, "f"),
            "bound_by": bound,
        }
        for step, (_, weight, bound) in zip(timeline, rungs, strict=False)
    ]
    plan["max_rate_ml_per_h"] = format(maximum, "f")
    plan["max_rate_mg_per_kg_min"] = format(maximum_mg, "f")
    plan["max_rate_dosing_weight_kg"] = format(maximum_weight, "f")
    if max_from_chart:
        plan["cap_reason"] = f"{chart['cap_reason']} at {_plain(chart_weight)} kg (today's chart)"
    plan["at_risk"] = bool(verified.get("at_risk")) or bool(chart.get("at_risk"))
    plan["infusion_minutes"] = timeline[-1].start_min + timeline[-1].minutes
    plan["chart_limit"] = {
        "reason": reason,
        "verified_max_rate_ml_per_h": format(verified_max, "f"),
        "chart_max_rate_ml_per_h": format(chart_max, "f"),
        "verified_infusion_minutes": verified["infusion_minutes"],
    }
    return plan


def first_infusion_plan(plan: Mapping[str, Any], *, factor: int, reason: str, kind: str) -> dict:
    """The plan of a first infusion (``dosing.first_infusion``): ``plan`` (an order's plan, or its
    administration plan held to today's chart) with its first step held ``factor`` times its
    minutes, the timeline run again over the same volume, the ``first_infusion_slow_start`` warning
    added, and ``first_infusion`` saying why: {"kind", "reason", "factor", "usual_minutes",
    "held_minutes", "usual_infusion_minutes", "text"}. The same ladder as ``plan_dose(...,
    first_infusion=True)`` gives. A one-step ladder has nothing to hold longer; it is still marked.

    Example: the 70 kg plan (42 mL/h 30 min, 84 mL/h 30 min, 168 mL/h 228 min), factor 2, after
    Gamunex-C -> 42 mL/h for 60 min, 84 for 30, 168 for 220: 310 min.

    >>> usual = {"daily_volume_ml": "700.0", "infusion_minutes": 288, "warnings": [], "rate_steps": [
    ...     {"rate_mg_per_kg_min": "1", "rate_ml_per_h": "42.0", "start_min": 0, "minutes": 30, "volume_ml": "21.0"},
    ...     {"rate_mg_per_kg_min": "2", "rate_ml_per_h": "84.0", "start_min": 30, "minutes": 30, "volume_ml": "42.0"},
    ...     {"rate_mg_per_kg_min": "4", "rate_ml_per_h": "168.0", "start_min": 60, "minutes": 228,
    ...      "volume_ml": "637.0"}]}
    >>> plan = first_infusion_plan(usual, factor=2, kind="product_switch",
    ...     reason="product switch from Gamunex-C (last given 2026-08-01)")
    >>> [(step["start_min"], step["minutes"]) for step in plan["rate_steps"]], plan["infusion_minutes"]
    ([(0, 60), (60, 30), (90, 220)], 310)
    >>> plan["first_infusion"]["text"]
    'First infusion: product switch from Gamunex-C (last given 2026-08-01) — first step held 2 × 30 min, site policy'
    """
    if plan.get("first_infusion"):
        raise FieldError("plan", "this plan already is a first infusion's")
    steps = plan["rate_steps"]
    if not steps:
        raise FieldError("rate_steps", "the plan has no rate steps")
    usual_minutes = steps[0]["minutes"] if len(steps) > 1 else None
    rungs = [
        PumpStep(
            Decimal(step["rate_mg_per_kg_min"]),
            Decimal(step["rate_ml_per_h"]),
            None if number == len(steps) else step["minutes"],
        )
        for number, step in enumerate(steps, start=1)
    ]
    warning = None
    if usual_minutes is not None:
        # The factor is checked (whole, 1 to 4) by the warning, before the timeline uses it.
        probe = InfusionStep(rungs[0].rate_mg_per_kg_min, rungs[0].rate_ml_per_h, 0, usual_minutes, Decimal(0))
        warning = first_infusion_warning(first_step=probe, usual_minutes=usual_minutes, factor=factor)
        rungs[0] = rungs[0]._replace(minutes=usual_minutes * factor)
    timeline = pump_timeline(steps=rungs, daily_volume_ml=plan["daily_volume_ml"])
    if warning is None:
        warning = first_infusion_warning(first_step=timeline[0], usual_minutes=None, factor=factor)

    held = copy.deepcopy(dict(plan))
    held["rate_steps"] = [
        {
            **step,
            "start_min": run.start_min,
            "minutes": run.minutes,
            "volume_ml": format(run.volume_ml, "f"),
        }
        for step, run in zip(steps, timeline, strict=False)
    ]
    held["infusion_minutes"] = timeline[-1].start_min + timeline[-1].minutes
    held["warnings"] = [
        *plan.get("warnings", []),
        {"code": warning.code.value, "message": warning.message, "blocking": warning.blocking},
    ]
    if usual_minutes is None:
        how = "a single-step ladder, nothing to hold longer"
    elif factor == 1:
        how = f"first step {usual_minutes} min as usual (site policy: factor 1)"
    else:
        how = f"first step held {factor} × {usual_minutes} min, site policy"
    held["first_infusion"] = {
        "kind": kind,
        "reason": reason,
        "factor": factor,
        "usual_minutes": usual_minutes,
        "held_minutes": None if usual_minutes is None else usual_minutes * factor,
        "usual_infusion_minutes": plan["infusion_minutes"],
        "text": f"First infusion: {reason} — {how}",
    }
    return held


def ladder_times(plan: Mapping[str, Any], start: datetime) -> list[dict]:
    """The plan's rate steps with clock times from ``start`` (aware), numbered from 1. The
    printed sheet and the session page both read their clock times here.

    Minutes are elapsed time, added in UTC, so a ladder running across a daylight-saving change
    shows the wall-clock times the pump really changes at. Times come back in UTC; templates
    show them in the clinic's zone.

    Example: start 09:00, steps at minutes 0, 30, 60 (30, 30, 228 min) -> 09:00-09:30,
    09:30-10:00, 10:00-13:48.

    >>> from zoneinfo import ZoneInfo
    >>> plan = {"rate_steps": [{"start_min": 0, "minutes": 30}, {"start_min": 30, "minutes": 30},
    ...     {"start_min": 60, "minutes": 228}]}
    >>> steps = ladder_times(plan, datetime(2026, 11, 23, 9, 0, tzinfo=ZoneInfo("America/New_York")))
    >>> [step["clock_end"].astimezone(ZoneInfo("America/New_York")).strftime("%H:%M") for step in steps]
    ['09:30', '10:00', '13:48']
    """
    if start.tzinfo is None or start.utcoffset() is None:
        raise FieldError("start", "must be an aware datetime")
    begin = start.astimezone(UTC)
    return [
        {
            **step,
            "number": number,
            "clock_start": begin + timedelta(minutes=step["start_min"]),
            "clock_end": begin + timedelta(minutes=step["start_min"] + step["minutes"]),
        }
        for number, step in enumerate(plan["rate_steps"], start=1)
    ]


def bedside_times(bedside: Mapping[str, Any], *, start: datetime, end: datetime) -> dict:
    """The order's bedside instructions with their clock times, for a planned ``start`` and the
    ladder's ``end`` (both aware): each premedication's ``due`` (its minutes before the start),
    pre-hydration ``from`` (so that it ends at the start: volume / rate, whole minutes rounded up)
    and post-hydration ``until`` (from the end), and ``observe_until`` (the end plus the
    observation minutes). Elapsed minutes, added in UTC like ``ladder_times``; times in UTC.

    Example: start 09:00, end 13:48, paracetamol 30 min before, 500 mL saline at 250 mL/h before,
    observation 60 min -> paracetamol due 08:30, pre-hydration from 07:00, observe until 14:48.

    >>> from zoneinfo import ZoneInfo
    >>> zone = ZoneInfo("America/New_York")
    >>> times = bedside_times(
    ...     {"premedications": [{"minutes_before_start": 30}], "observation_minutes": 60,
    ...      "hydrations": [{"phase": "pre", "volume_ml": Decimal("500"), "rate_ml_per_h": Decimal("250")}]},
    ...     start=datetime(2026, 11, 23, 9, 0, tzinfo=zone), end=datetime(2026, 11, 23, 13, 48, tzinfo=zone))
    >>> [t.astimezone(zone).strftime("%H:%M") for t in (times["premedications"][0]["due"],
    ...     times["hydrations"][0]["from"], times["observe_until"])]
    ['08:30', '07:00', '14:48']
    """
    for name, moment in (("start", start), ("end", end)):
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise FieldError(name, "must be an aware datetime")
    begin, finish = start.astimezone(UTC), end.astimezone(UTC)
    if finish < begin:
        raise FieldError("end", "must not be before the start")
    hydrations = []
    for hydration in bedside.get("hydrations", []):
        volume, rate = Decimal(hydration["volume_ml"]), Decimal(hydration["rate_ml_per_h"])
        if volume <= 0 or rate <= 0:
            raise FieldError("hydrations", "volume and rate must be positive")
        minutes = int((volume * 60 / rate).to_integral_value(rounding=ROUND_CEILING))
        if hydration["phase"] == "pre":
            hydrations.append(
                {**hydration, "minutes": minutes, "from": begin - timedelta(minutes=minutes), "until": begin}
            )
        else:
            hydrations.append(
                {**hydration, "minutes": minutes, "from": finish, "until": finish + timedelta(minutes=minutes)}
            )
    observation = bedside.get("observation_minutes") or 0
    return {
        **bedside,
        "premedications": [
            {**premed, "due": begin - timedelta(minutes=premed["minutes_before_start"])}
            for premed in bedside.get("premedications", [])
        ],
        "hydrations": hydrations,
        "observe_until": finish + timedelta(minutes=observation) if observation else None,
    }


# A site may let a step begin a few minutes early (the pump is set while the nurse is at the chair).
MAX_LADDER_TOLERANCE_MINUTES = 5


def _whole(field: str, value: Any, *, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise FieldError(field, f"must be a whole number, not {type(value).__name__}")
    if value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise FieldError(field, f"must be {bounds}, not {value}")
    return value


def ladder_may_begin(
    rate_steps: Sequence[Mapping[str, Any]], *, tolerance_minutes: int, from_step: int = 1
) -> list[int]:
    """For each step (numbered from 1), the minute of the clock from which it may begin.

    The clock starts at the actual start with step 1, or at a resumption after a reaction with the
    step the infusion resumed at (``from_step``). That step and those below it may run at once; a
    later step *n* may begin when the steps from ``from_step`` to *n* - 1 have run their minutes,
    less the site's tolerance (0 to ``MAX_LADDER_TOLERANCE_MINUTES``), never before minute 0.

    Example: 30 and 30 min before a last step, 5 min tolerance -> steps 1, 2, 3 from minutes
    0, 25, 55; resumed at step 2 -> 0, 0, 25.

    >>> steps = [{"minutes": 30}, {"minutes": 30}, {"minutes": 228}]
    >>> ladder_may_begin(steps, tolerance_minutes=5)
    [0, 25, 55]
    >>> ladder_may_begin(steps, tolerance_minutes=5, from_step=2)
    [0, 0, 25]
    """
    if not rate_steps:
        raise FieldError("rate_steps", "the plan has no rate steps")
    tolerance = _whole("tolerance_minutes", tolerance_minutes, low=0, high=MAX_LADDER_TOLERANCE_MINUTES)
    first = _whole("from_step", from_step, low=1, high=len(rate_steps))
    begins, run = [], 0
    for number in range(1, len(rate_steps) + 1):
        if number > first:
            run += _whole("minutes", rate_steps[number - 2]["minutes"], low=0)
        begins.append(max(0, run - tolerance) if number > first else 0)
    return begins


def ladder_step_begun(
    rate_steps: Sequence[Mapping[str, Any]],
    *,
    elapsed_minutes: Decimal | int,
    tolerance_minutes: int,
    from_step: int = 1,
) -> int:
    """The highest step (numbered from 1) that may have begun ``elapsed_minutes`` after the clock
    started: the actual start with step 1, or a resumption at ``from_step`` (see
    ``ladder_may_begin``). A step may begin exactly at its minute.

    Example: the 70 kg plan 42 -> 84 -> 168 mL/h, steps of 30 and 30 min, 5 min tolerance: at
    minute 0 only step 1; at minute 25 step 2; at minute 55 step 3. Resumed at step 1 after a
    reaction, 10 minutes later: step 1 again.

    >>> steps = [{"rate_ml_per_h": "42.0", "start_min": 0, "minutes": 30},
    ...     {"rate_ml_per_h": "84.0", "start_min": 30, "minutes": 30},
    ...     {"rate_ml_per_h": "168.0", "start_min": 60, "minutes": 228}]
    >>> [ladder_step_begun(steps, elapsed_minutes=m, tolerance_minutes=5) for m in (0, 24, 25, 55)]
    [1, 1, 2, 3]
    >>> ladder_step_begun(steps, elapsed_minutes=Decimal("54.9"), tolerance_minutes=0)
    2
    >>> ladder_step_begun(steps, elapsed_minutes=10, tolerance_minutes=5, from_step=1)
    1
    """
    if isinstance(elapsed_minutes, bool) or not isinstance(elapsed_minutes, int | Decimal):
        raise FieldError("elapsed_minutes", f"must be a whole or decimal number, not {type(elapsed_minutes).__name__}")
    if not Decimal(elapsed_minutes).is_finite() or elapsed_minutes < 0:
        raise FieldError("elapsed_minutes", f"must be 0 or more, not {elapsed_minutes}")
    begins = ladder_may_begin(rate_steps, tolerance_minutes=tolerance_minutes, from_step=from_step)
    return max(number for number, begin in enumerate(begins, start=1) if begin <= elapsed_minutes)


def _ladder_text(plan: Mapping[str, Any]) -> str:
    return " → ".join(step["rate_ml_per_h"] for step in plan["rate_steps"]) + " mL/h"


def _vials_text(plan: Mapping[str, Any]) -> str:
    return " + ".join(f"{vial['count']} × {_plain(vial['size_g'])} g" for vial in plan["vials_per_day"])


# (label, how to read it from (inputs, plan)); every figure carries its unit.
_COMPARED = (
    ("Weight", lambda i, p: f"{_plain(i['weight_kg'])} kg ({i.get('weight_measured_on') or 'undated'})"),
    ("Dosing weight", lambda i, p: f"{_plain(p['dosing_weight_kg'])} kg ({p['weight_basis']})"),
    ("Daily dose", lambda i, p: f"{_plain(p['daily_dose_g'])} g in {_plain(p['daily_volume_ml'])} mL"),
    ("Cycle dose", lambda i, p: f"{_plain(p['total_dose_g'])} g over {p['days']} days"),
    ("Vials a day", lambda i, p: _vials_text(p)),
    ("At risk (thrombosis or renal)", lambda i, p: "yes" if p["at_risk"] else "no"),
    ("Rate cap", lambda i, p: f"{p['max_rate_ml_per_h']} mL/h ({_plain(p['max_rate_mg_per_kg_min'])} mg/kg/min)"),
    ("Ladder", lambda i, p: _ladder_text(p)),
    ("Infusion time", lambda i, p: f"{p['infusion_minutes']} min"),
)


def plan_differences(before: tuple[Mapping, Mapping], after: tuple[Mapping, Mapping]) -> list[dict]:
    """Row by row, what the pharmacist checked last time against the plan from today's chart.

    ``before`` and ``after`` are (inputs, plan) snapshots. Each row: label, before, after, changed.

    Example: a renal flag opened since the last verification -> the at-risk, rate cap, ladder
    and infusion time rows are marked changed; weight and doses are not.

    >>> inputs = {"weight_kg": "70.0", "weight_measured_on": "2026-12-01"}
    >>> plan = {"dosing_weight_kg": "70.0", "weight_basis": "actual", "daily_dose_g": "70.00",
    ...     "daily_volume_ml": "700.0", "total_dose_g": "140.00", "days": 2, "at_risk": False,
    ...     "vials_per_day": [{"size_g": "30", "count": 2}, {"size_g": "10", "count": 1}],
    ...     "max_rate_ml_per_h": "168.0", "max_rate_mg_per_kg_min": "4", "infusion_minutes": 288,
    ...     "rate_steps": [{"rate_ml_per_h": "42.0"}, {"rate_ml_per_h": "84.0"}, {"rate_ml_per_h": "168.0"}]}
    >>> at_risk = dict(plan, at_risk=True, max_rate_ml_per_h="138.6", max_rate_mg_per_kg_min="3.3",
    ...     infusion_minutes=336, rate_steps=plan["rate_steps"][:2] + [{"rate_ml_per_h": "138.6"}])
    >>> [row["label"] for row in plan_differences((inputs, plan), (inputs, at_risk)) if row["changed"]]
    ['At risk (thrombosis or renal)', 'Rate cap', 'Ladder', 'Infusion time']
    """
    rows = []
    for label, read in _COMPARED:
        was, now = read(*before), read(*after)
        rows.append({"label": label, "before": was, "after": now, "changed": was != now})
    return rows


def plan_digest(plan: Mapping[str, Any]) -> str:
    """A short fingerprint of a plan snapshot, posted back by a page that showed the plan, so a
    plan that changed in between (an input, the chart) is shown again instead of acted on.

    Example: the same plan gives the same digest; any changed figure gives another.

    >>> plan_digest({"daily_dose_g": "70.00"}) == plan_digest({"daily_dose_g": "70.00"})
    True
    >>> plan_digest({"daily_dose_g": "70.00"}) == plan_digest({"daily_dose_g": "78.00"})
    False
    """
    text = json.dumps(plan, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]
