"""IVIG dose, vial and infusion-rate arithmetic.

Pure functions over ``Decimal`` and small frozen dataclasses: no ORM, no clock, no settings.
Floats are refused (``TypeError``) because a binary float cannot hold 0.1 kg or 3.3 mg/kg/min
exactly; pass ``Decimal``, ``int`` or ``str``. Impossible input raises ``ValueError`` whose
message starts with the field name; nothing is clamped silently.

Rounding rules (each one chosen so a pharmacist can redo the sum by hand from what is shown):

- ideal and adjusted body weight, BMI: 0.1, half up. The adjusted weight is computed from the
  *shown* (rounded) ideal weight, and the BMI threshold is compared with the *shown* BMI, so
  the reason sentence never contradicts the figures next to it.
- actual body weight: used as entered (it is a measurement; rounding it up could put the
  dosing weight above the patient's weight).
- prescribed daily dose: 0.01 g, half up (10 mg, far below any vial size).
- volumes: 0.1 mL, half up for the day's volume. Within the ladder, a step that runs its full
  time is credited with its volume rounded *down* to 0.1 mL and the step that finishes the bag
  takes the remainder, so step volumes add up to the day's volume exactly and no step implies a
  rate above its pump rate.
- pump rates: 0.1 mL/h, rounded down, so no step ever exceeds its mg/kg/min cap.
- the last step's minutes: rounded up to a whole minute, so the infusion time is never
  understated (``infusion_minutes`` = last step start + last step minutes).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields, is_dataclass
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_UP, ROUND_UP, Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, NamedTuple

from accounts.errors import FieldError

CM_PER_INCH = Decimal("2.54")
DEVINE_BASE_INCHES = Decimal("60")
DEVINE_KG_PER_INCH = Decimal("2.3")
DEVINE_BASE_KG = {"female": Decimal("45.5"), "male": Decimal("50")}
# Devine's line starts at 60 in; below it the formula is extrapolated (short stature).
DEVINE_MIN_HEIGHT_CM = DEVINE_BASE_INCHES * CM_PER_INCH

SEXES = ("female", "male")
WEIGHT_BASES = ("actual", "ideal", "adjusted", "auto")
POPULATIONS = ("adults", None)

WEIGHT_MAX_KG = Decimal("350")
HEIGHT_MIN_CM = Decimal("40")
HEIGHT_MAX_CM = Decimal("250")
DOSE_MAX_G_PER_KG = Decimal("3")
# The heaviest patient at the highest dose on one day; also bounds the vial search.
DAILY_DOSE_MAX_G = WEIGHT_MAX_KG * DOSE_MAX_G_PER_KG
AGE_MAX_YEARS = 130
ADULT_AGE_YEARS = 18

DEFAULT_ADJUSTED_WEIGHT_FACTOR = Decimal("0.4")
DEFAULT_BMI_THRESHOLD = Decimal("30")
DEFAULT_TOLERANCE_PERCENT = Decimal("10")
DEFAULT_SITE_AT_RISK_CAP_MG_PER_KG_MIN = Decimal("3.3")
# Pharmacy limits: site policy (no label gives them), the defaults of dosing.SiteSettings.
DEFAULT_DAILY_DOSE_CEILING_G = Decimal("140")
DEFAULT_PUMP_RATE_CEILING_ML_PER_H = Decimal("999")
DEFAULT_PUMP_RATE_MINIMUM_ML_PER_H = Decimal("1")
VIAL_PROPOSALS = ("nearest", "fewest")
# Site policy for a first infusion (IVIG-naive, product switch, long gap): the first step is held
# this many times its minutes. SiteSettings.first_infusion_first_step_factor holds the site's figure.
DEFAULT_FIRST_STEP_FACTOR = 2
FIRST_STEP_FACTOR_MAX = 4

TENTH = Decimal("0.1")
HUNDREDTH = Decimal("0.01")
MINUTES_PER_HOUR = 60
MG_PER_G = 1000


class WarningCode(StrEnum):
    OFF_LABEL_DOSE = "off_label_dose"
    OFF_LABEL_INDICATION = "off_label_indication"
    AGE_UNDER_18_ADULT_INDICATION = "age_under_18_adult_indication"
    IGA_DEFICIENCY_ANTI_IGA = "iga_deficiency_anti_iga"
    CORN_ALLERGY_MALTOSE = "corn_allergy_maltose"
    RENAL_RISK = "renal_risk"
    ROUNDING_OUTSIDE_TOLERANCE = "rounding_outside_tolerance"
    HYPERPROLINAEMIA_PROLINE = "hyperprolinaemia_proline"
    SHORT_STATURE = "short_stature"
    DAILY_DOSE_CEILING = "daily_dose_ceiling"
    PUMP_RATE_CEILING = "pump_rate_ceiling"
    PUMP_RATE_BELOW_MINIMUM = "pump_rate_below_minimum"
    FEWER_VIALS_AVAILABLE = "fewer_vials_available"
    FIRST_INFUSION_SLOW_START = "first_infusion_slow_start"


# --------------------------------------------------------------------------- input checks


def _decimal(value: Any, field_name: str) -> Decimal:
    # bool is an int subclass; True kg is never meant.
    if isinstance(value, bool) or not isinstance(value, int | str | Decimal):
        raise TypeError(
            f"{field_name}: must be a Decimal, int or str, not {type(value).__name__} "
            "(floats cannot hold clinical figures exactly)"
        )
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise FieldError(field_name, f"{value!r} is not a number") from None
    if not number.is_finite():
        raise FieldError(field_name, f"must be a finite number, not {value!r}")
    return number


def _positive(value: Any, field_name: str, unit: str) -> Decimal:
    number = _decimal(value, field_name)
    if number <= 0:
        raise FieldError(field_name, f"must be above 0 {unit}, not {number}")
    return number


def _whole(value: Any, field_name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{field_name}: must be a whole number (int), not {type(value).__name__}")
    return value


def _flag(value: Any, field_name: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{field_name}: must be True or False, not {value!r}")
    return value


def _weight(weight_kg: Any) -> Decimal:
    weight = _decimal(weight_kg, "weight_kg")
    if not 0 < weight <= WEIGHT_MAX_KG:
        raise FieldError("weight_kg", f"must be above 0 and at most {WEIGHT_MAX_KG} kg, not {weight}")
    return weight


def _height(height_cm: Any) -> Decimal:
    height = _decimal(height_cm, "height_cm")
    if not HEIGHT_MIN_CM <= height <= HEIGHT_MAX_CM:
        raise FieldError("height_cm", f"must be between {HEIGHT_MIN_CM} and {HEIGHT_MAX_CM} cm, not {height}")
    return height


def _sex(sex: Any) -> str:
    if sex not in SEXES:
        raise FieldError("sex", f"must be 'female' or 'male' (the Devine formula has no other base), not {sex!r}")
    return sex


def _dose_g_per_kg(dose_g_per_kg: Any, field_name: str = "dose_g_per_kg") -> Decimal:
    dose = _decimal(dose_g_per_kg, field_name)
    if not 0 < dose <= DOSE_MAX_G_PER_KG:
        raise FieldError(field_name, f"must be above 0 and at most {DOSE_MAX_G_PER_KG} g/kg, not {dose}")
    return dose


def _factor(adjusted_weight_factor: Any) -> Decimal:
    factor = _decimal(adjusted_weight_factor, "adjusted_weight_factor")
    if not 0 <= factor <= 1:
        raise FieldError("adjusted_weight_factor", f"must be between 0 and 1, not {factor}")
    return factor


def _tolerance(tolerance_percent: Any) -> Decimal:
    tolerance = _decimal(tolerance_percent, "tolerance_percent")
    if not 0 <= tolerance < 100:
        raise FieldError("tolerance_percent", f"must be at least 0 and below 100 %, not {tolerance}")
    return tolerance


# ----------------------------------------------------------------------- text formatting


def _plain(number: Decimal) -> str:
    """Shortest exact text for a sentence: Decimal('4.0') -> '4', Decimal('3.30') -> '3.3'."""
    return format(number.normalize(), "f")


def _kg(number: Decimal) -> str:
    """At least one decimal, as scales and BMI charts show: 58 -> '58.0', 58.25 -> '58.25'."""
    if number.as_tuple().exponent >= -1:
        return str(number.quantize(TENTH))
    return format(number, "f")


# ----------------------------------------------------------------------- body weight


def _devine_kg(height_cm: Decimal, sex: str) -> Decimal:
    inches = height_cm / CM_PER_INCH
    return (DEVINE_BASE_KG[sex] + DEVINE_KG_PER_INCH * (inches - DEVINE_BASE_INCHES)).quantize(TENTH, ROUND_HALF_UP)


def ideal_body_weight_kg(*, height_cm: Decimal | int | str, sex: str) -> Decimal:
    """Devine ideal body weight: 50 kg (male) or 45.5 kg (female) + 2.3 kg per inch over 60 in.

    Below 60 in the line is extrapolated as is (the result falls under the base); where that
    leaves nothing (0.0 kg or less once rounded, below about 97 cm male / 102 cm female) the
    formula has no answer and ``ValueError`` is raised rather than inventing a floor.

    Example: 170 cm = 66.93 in; 45.5 + 2.3 x 6.93 = 61.44 -> 61.4 kg.

    >>> ideal_body_weight_kg(height_cm=Decimal("170"), sex="female")
    Decimal('61.4')
    """
    height = _height(height_cm)
    patient_sex = _sex(sex)
    ideal_kg = _devine_kg(height, patient_sex)
    if ideal_kg <= 0:
        raise FieldError(
            "height_cm",
            f"the Devine formula gives no ideal body weight at {height} cm for a {patient_sex} "
            f"patient ({ideal_kg} kg); dose on actual body weight",
        )
    return ideal_kg


def body_mass_index(*, weight_kg: Decimal | int | str, height_cm: Decimal | int | str) -> Decimal:
    """BMI in kg/m², rounded half up to 0.1.

    Example: 70 kg at 1.70 m -> 70 / 2.89 = 24.22 -> 24.2.

    >>> body_mass_index(weight_kg=Decimal("70"), height_cm=Decimal("170"))
    Decimal('24.2')
    """
    weight = _weight(weight_kg)
    height_m = _height(height_cm) / 100
    return (weight / (height_m * height_m)).quantize(TENTH, ROUND_HALF_UP)


def adjusted_body_weight_kg(
    *,
    weight_kg: Decimal | int | str,
    ideal_body_weight_kg: Decimal | int | str,
    factor: Decimal | int | str = DEFAULT_ADJUSTED_WEIGHT_FACTOR,
) -> Decimal:
    """Adjusted body weight = IBW + factor x (actual - IBW), rounded half up to 0.1 kg.

    Example: actual 95 kg, IBW 61.4 kg -> 61.4 + 0.4 x 33.6 = 74.84 -> 74.8 kg.

    >>> adjusted_body_weight_kg(weight_kg=Decimal("95"), ideal_body_weight_kg=Decimal("61.4"))
    Decimal('74.8')
    """
    weight = _weight(weight_kg)
    ideal_kg = _positive(ideal_body_weight_kg, "ideal_body_weight_kg", "kg")
    weight_factor = _factor(factor)
    return (ideal_kg + weight_factor * (weight - ideal_kg)).quantize(TENTH, ROUND_HALF_UP)


@dataclass(frozen=True)
class DosingWeight:
    basis_requested: str
    basis_used: str
    dosing_weight_kg: Decimal
    # None where the Devine formula gives nothing (very short patients); see ideal_body_weight_kg.
    ideal_body_weight_kg: Decimal | None
    adjusted_body_weight_kg: Decimal | None
    bmi: Decimal
    reason: str
    # Below 60 in (152.4 cm): "extrapolated" when an ideal or adjusted weight from the extended
    # Devine line is used, "not extended" when "auto" kept actual weight instead; else None.
    short_stature: str | None = None


def dosing_weight(
    *,
    weight_kg: Decimal | int | str,
    height_cm: Decimal | int | str,
    sex: str,
    basis: str,
    bmi_threshold: Decimal | int | str = DEFAULT_BMI_THRESHOLD,
    adjusted_weight_factor: Decimal | int | str = DEFAULT_ADJUSTED_WEIGHT_FACTOR,
    juvenile_dermatomyositis: bool = False,
) -> DosingWeight:
    """The weight the dose and the rates are calculated on.

    ``basis``: ``actual``; ``ideal`` or ``adjusted`` (never above actual); ``auto`` = adjusted
    when the shown BMI is at least ``bmi_threshold``, otherwise actual.

    ``auto`` never extends the Devine line silently: below 152.4 cm (60 in) it keeps actual
    body weight and says so (``short_stature="not extended"``); an explicit ``ideal`` or
    ``adjusted`` there is computed on the extrapolated line (``short_stature="extrapolated"``)
    for the prescriber to confirm. With ``juvenile_dermatomyositis`` the adult BMI rule does
    not choose: ``auto`` is actual body weight, and the reason says why.

    Example: 95 kg, 165.7 cm, female: BMI 95 / 1.657² = 34.6 >= 30; IBW 45.5 + 2.3 x 5.24 = 57.5 kg;
    adjusted 57.5 + 0.4 x 37.5 = 72.5 kg.

    >>> dosing_weight(weight_kg=Decimal("95"), height_cm=Decimal("165.7"), sex="female", basis="auto").reason
    'BMI 34.6 ≥ 30.0: adjusted body weight 72.5 kg used (actual 95.0 kg, ideal 57.5 kg)'

    Example: 80 kg, 150 cm (59.1 in), female, auto: BMI 35.6 >= 30, but below 60 in -> actual 80 kg.

    >>> dosing_weight(weight_kg="80", height_cm="150", sex="female", basis="auto").short_stature
    'not extended'
    """
    weight = _weight(weight_kg)
    height = _height(height_cm)
    patient_sex = _sex(sex)
    if basis not in WEIGHT_BASES:
        raise FieldError("weight_basis", f"must be one of {', '.join(WEIGHT_BASES)}, not {basis!r}")
    threshold = _positive(bmi_threshold, "bmi_threshold", "kg/m²")
    factor = _factor(adjusted_weight_factor)
    juvenile = _flag(juvenile_dermatomyositis, "juvenile_dermatomyositis")

    bmi = body_mass_index(weight_kg=weight, height_cm=height)
    ideal_kg: Decimal | None = _devine_kg(height, patient_sex)
    adjusted_kg: Decimal | None = None
    if ideal_kg > 0:
        adjusted_kg = adjusted_body_weight_kg(weight_kg=weight, ideal_body_weight_kg=ideal_kg, factor=factor)
    else:
        ideal_kg = None
    short = height < DEVINE_MIN_HEIGHT_CM

    def result(basis_used: str, used_kg: Decimal, reason: str, short_stature: str | None = None) -> DosingWeight:
        return DosingWeight(basis, basis_used, used_kg, ideal_kg, adjusted_kg, bmi, reason, short_stature)

    if basis == "actual":
        return result("actual", weight, f"actual body weight {_kg(weight)} kg requested")
    # "auto" below 60 in says the formula was not extended even where the BMI keeps actual weight
    # (the prescriber is asked to confirm the basis); a child's weight is never chosen by it.
    not_extended = "not extended" if short else None
    if basis == "auto" and juvenile:
        return result(
            "actual",
            weight,
            f"juvenile dermatomyositis: the adult BMI rule does not choose the weight (BMI {bmi}); "
            f"actual body weight {_kg(weight)} kg used",
        )
    if basis == "auto" and bmi < threshold:
        return result("actual", weight, f"BMI {bmi} < {_kg(threshold)}: actual body weight used", not_extended)
    if basis == "auto" and short:
        return result(
            "actual",
            weight,
            f"BMI {bmi} ≥ {_kg(threshold)}, but height {_kg(height)} cm is below {_plain(DEVINE_MIN_HEIGHT_CM)} cm "
            f"(60 in), where the Devine formula is not extended: actual body weight {_kg(weight)} kg used",
            "not extended",
        )

    wanted = "ideal" if basis == "ideal" else "adjusted"
    prefix = f"BMI {bmi} ≥ {_kg(threshold)}: " if basis == "auto" else ""
    candidate_kg = ideal_kg if wanted == "ideal" else adjusted_kg
    if candidate_kg is None:
        raise FieldError(
            "height_cm",
            f"{prefix}{wanted} body weight needs an ideal body weight, and the Devine formula "
            f"gives none at {height} cm for a {patient_sex} patient; choose weight basis 'actual'",
        )
    if candidate_kg > weight:
        return result(
            "actual",
            weight,
            f"{prefix}{wanted} body weight {candidate_kg} kg exceeds actual {_kg(weight)} kg: actual used",
        )
    detail = f"actual {_kg(weight)} kg" + (f", ideal {ideal_kg} kg" if wanted == "adjusted" else "")
    if short:
        detail += f"; Devine extrapolated below {_plain(DEVINE_MIN_HEIGHT_CM)} cm"
    return result(
        wanted,
        candidate_kg,
        f"{prefix}{wanted} body weight {candidate_kg} kg used ({detail})",
        "extrapolated" if short else None,
    )


# ----------------------------------------------------------------------- vials


class VialCount(NamedTuple):
    size_g: Decimal
    count: int


@dataclass(frozen=True)
class VialRounding:
    prescribed_dose_g: Decimal
    # The dose to give: the whole-vial amount when rounded, otherwise the prescribed dose.
    dose_g: Decimal
    rounded: bool
    # Largest vials first. When not rounded, these cover dose_g and the rest of the last vial is discarded.
    vials: tuple[VialCount, ...]
    vials_total_g: Decimal
    # The whole-vial amount closest to the prescription, and how far off it is (signed, against
    # the exact dose; rounded away from zero when outside tolerance, so it never reads as inside).
    nearest_whole_vial_g: Decimal
    difference_percent: Decimal
    tolerance_percent: Decimal
    # The dose the tolerance is measured against: dose x weight / days, not rounded.
    exact_dose_g: Decimal | None = None
    # "nearest" or "fewest": which whole-vial amount within tolerance is proposed.
    proposal: str = "nearest"
    # The other amount within tolerance (fewest vials when the nearest is proposed, and the
    # nearest when the fewest is), where the two differ; None otherwise.
    alternative_g: Decimal | None = None
    alternative_vials: tuple[VialCount, ...] = ()


def _vial_grid(sizes_g: Sequence[Decimal]) -> tuple[Decimal, dict[int, Decimal]]:
    """Express vial sizes as whole multiples of the largest common step (2, 2.5, 5 g -> step 0.5 g)."""
    finest = Decimal(1).scaleb(min(size.as_tuple().exponent for size in sizes_g))
    counts_of_finest = {size: int(size / finest) for size in sizes_g}
    common = math.gcd(*counts_of_finest.values())
    step_g = finest * common
    return step_g, {count // common: size for size, count in counts_of_finest.items()}


def _fewest_vials_table(sizes_in_steps: Iterable[int], limit: int) -> tuple[list[int], list[int]]:
    """Coin change: fewest vials for every amount 0..limit (in grid steps), and one vial of that best set.

    Larger vials are tried first and only a strictly better count replaces them, so among
    equally few vials the set built from the largest vials is kept (deterministic output).
    """
    unreachable = limit + 1
    fewest = [0] + [unreachable] * limit
    last_vial = [0] * (limit + 1)
    descending = sorted(set(sizes_in_steps), reverse=True)
    for amount in range(1, limit + 1):
        best, best_vial = unreachable, 0
        for vial in descending:
            if vial <= amount and fewest[amount - vial] + 1 < best:
                best, best_vial = fewest[amount - vial] + 1, vial
        fewest[amount], last_vial[amount] = best, best_vial
    return fewest, last_vial


def _vials_for(amount: int, last_vial: list[int], size_of: dict[int, Decimal]) -> tuple[VialCount, ...]:
    counts: dict[int, int] = {}
    while amount:
        vial = last_vial[amount]
        counts[vial] = counts.get(vial, 0) + 1
        amount -= vial
    return tuple(VialCount(size_of[vial], counts[vial]) for vial in sorted(counts, reverse=True))


def round_to_vials(
    *,
    dose_g: Decimal | int | str,
    vial_sizes_g: Sequence[Decimal | int | str],
    tolerance_percent: Decimal | int | str = DEFAULT_TOLERANCE_PERCENT,
    exact_dose_g: Decimal | int | str | None = None,
    proposal: str = "nearest",
) -> VialRounding:
    """Round a daily dose to the nearest amount made of whole vials, if within tolerance.

    The nearest amount (ties go to the lower one; zero vials is never an answer) is made with
    the fewest vials. The tolerance is measured against ``exact_dose_g`` (dose x weight / days
    before rounding to 0.01 g; ``dose_g`` itself when not given). If the nearest amount lies
    outside ±``tolerance_percent`` the dose is NOT rounded and the vials listed are the fewest
    whole vials covering it (least overage among those).

    Within tolerance, the amount needing the fewest vials (then the closest, then the lower)
    may differ from the nearest one; ``proposal`` ("nearest" or "fewest") says which is given,
    and ``alternative_g``/``alternative_vials`` hold the other.
    Exact and fast: a coin-change table over the vials' common gram step (e.g. 0.5 g for
    2.5 g vials), at most about 4,400 amounts for 1,050 g.

    Example: 70 g from 2/5/10/20/30 g vials -> 70 g exactly, as 2 x 30 g + 1 x 10 g.

    >>> plan = round_to_vials(dose_g=Decimal("70"), vial_sizes_g=[Decimal(s) for s in (2, 5, 10, 20, 30)])
    >>> plan.dose_g, plan.rounded, [(str(size), count) for size, count in plan.vials]
    (Decimal('70.00'), True, [('30', 2), ('10', 1)])

    Example: 73 g from the same vials is 7 vials (2 x 30 + 5 + 4 x 2); 70 g (-4.1 %) is 3 vials.

    >>> plan = round_to_vials(dose_g=Decimal("73"), vial_sizes_g=[Decimal(s) for s in (2, 5, 10, 20, 30)])
    >>> sum(count for _, count in plan.vials), plan.alternative_g, sum(c for _, c in plan.alternative_vials)
    (7, Decimal('70.00'), 3)
    """
    prescribed = _decimal(dose_g, "dose_g")
    if not 0 < prescribed <= DAILY_DOSE_MAX_G:
        raise FieldError("dose_g", f"must be above 0 and at most {DAILY_DOSE_MAX_G} g, not {prescribed}")
    exact = prescribed if exact_dose_g is None else _positive(exact_dose_g, "exact_dose_g", "g")
    sizes = _vial_sizes(vial_sizes_g)
    tolerance = _tolerance(tolerance_percent)
    if proposal not in VIAL_PROPOSALS:
        raise FieldError("vial_proposal", f"must be one of {', '.join(VIAL_PROPOSALS)}, not {proposal!r}")

    step_g, size_of = _vial_grid(sizes)
    target_steps = prescribed / step_g
    below = int(target_steps.to_integral_value(ROUND_FLOOR))
    above = int(target_steps.to_integral_value(ROUND_CEILING))
    # The amounts within tolerance of the exact dose, in grid steps.
    tolerance_low = int((exact * (100 - tolerance) / 100 / step_g).to_integral_value(ROUND_CEILING))
    tolerance_high = int((exact * (100 + tolerance) / 100 / step_g).to_integral_value(ROUND_FLOOR))
    # Some amount in [target, target + largest vial] is always reachable: the best amount
    # below the target plus one largest vial. So the table never needs to go further than
    # that, or than the top of the tolerance band.
    limit = max(above + max(size_of), tolerance_high)
    fewest, last_vial = _fewest_vials_table(size_of, limit)

    def reachable(amount: int) -> bool:
        return amount > 0 and fewest[amount] <= limit

    lower = next((a for a in range(below, 0, -1) if reachable(a)), None)
    upper = next(a for a in range(above, limit + 1) if reachable(a))
    nearest = upper
    if lower is not None and prescribed - lower * step_g <= upper * step_g - prescribed:
        nearest = lower
    nearest_g = nearest * step_g
    difference = nearest_g - exact
    within = abs(difference) * 100 <= tolerance * exact

    alternative = None
    if within:
        fewest_amount = min(
            (a for a in range(max(tolerance_low, 1), tolerance_high + 1) if reachable(a)),
            key=lambda a: (fewest[a], abs(a * step_g - exact), a),
        )
        chosen = nearest if proposal == "nearest" else fewest_amount
        if fewest[fewest_amount] < fewest[nearest]:
            alternative = fewest_amount if proposal == "nearest" else nearest
        dose_to_give = (chosen * step_g).quantize(HUNDREDTH)
    else:
        # Fewest vials first (the specification), then the least left over in the last vial.
        chosen = min((a for a in range(above, limit + 1) if reachable(a)), key=lambda a: (fewest[a], a))
        dose_to_give = prescribed
    return VialRounding(
        prescribed_dose_g=prescribed,
        dose_g=dose_to_give,
        rounded=within,
        vials=_vials_for(chosen, last_vial, size_of),
        vials_total_g=chosen * step_g,
        nearest_whole_vial_g=nearest_g,
        difference_percent=(difference * 100 / exact).quantize(TENTH, ROUND_HALF_UP if within else ROUND_UP),
        tolerance_percent=tolerance,
        exact_dose_g=exact,
        proposal=proposal,
        alternative_g=None if alternative is None else (alternative * step_g).quantize(HUNDREDTH),
        alternative_vials=() if alternative is None else _vials_for(alternative, last_vial, size_of),
    )


def _vial_sizes(vial_sizes_g: Any) -> tuple[Decimal, ...]:
    if isinstance(vial_sizes_g, str | bytes) or not isinstance(vial_sizes_g, Iterable):
        raise TypeError("vial_sizes_g: must be a list or tuple of vial sizes in grams")
    sizes = tuple(_positive(size, "vial_sizes_g", "g") for size in vial_sizes_g)
    if not sizes:
        raise FieldError("vial_sizes_g", "at least one vial size is needed")
    for size in sizes:
        # Keeps the vial search grid at 0.01 g or coarser, so it stays small and fast.
        if size != size.quantize(HUNDREDTH):
            raise FieldError("vial_sizes_g", f"sizes must have at most 2 decimals (grams), not {size}")
    return sizes


# ----------------------------------------------------------------------- rates


@dataclass(frozen=True)
class RateStep:
    """One rung of a label's ladder; ``minutes=None`` means it runs until the bag is done."""

    rate_mg_per_kg_min: Decimal
    minutes: int | None

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "rate_mg_per_kg_min", _positive(self.rate_mg_per_kg_min, "rate_mg_per_kg_min", "mg/kg/min")
        )
        if self.minutes is not None and _whole(self.minutes, "minutes") <= 0:
            raise FieldError("minutes", f"must be above 0 (or None for the last step), not {self.minutes}")


def _ladder(steps: Any, field_name: str = "steps") -> tuple[RateStep, ...]:
    ladder = tuple(steps)
    if not ladder:
        raise FieldError(field_name, "the ladder needs at least one step")
    if not all(isinstance(step, RateStep) for step in ladder):
        raise TypeError(f"{field_name}: every step must be a RateStep")
    if ladder[-1].minutes is not None or any(step.minutes is None for step in ladder[:-1]):
        raise FieldError(field_name, "only the last step runs until done (minutes=None), and it must")
    return ladder


def site_protocol_steps(
    initial_rate_mg_per_kg_min: Decimal | int | str,
    initial_minutes: int,
    max_rate_mg_per_kg_min: Decimal | int | str,
) -> tuple[RateStep, ...]:
    """The site's default ladder where a label says only "increase gradually".

    Doubles the rate every ``initial_minutes`` from the initial rate; the last step is the
    maximum and runs until done. This is site protocol, not label text.

    Example: 0.8 mg/kg/min for 30 min, maximum 8 -> 0.8, 1.6, 3.2, 6.4 (30 min each), then 8.

    >>> [(str(s.rate_mg_per_kg_min), s.minutes) for s in site_protocol_steps(Decimal("0.8"), 30, Decimal("8"))]
    [('0.8', 30), ('1.6', 30), ('3.2', 30), ('6.4', 30), ('8', None)]
    """
    initial = _positive(initial_rate_mg_per_kg_min, "initial_rate_mg_per_kg_min", "mg/kg/min")
    minutes = _whole(initial_minutes, "initial_minutes")
    if minutes <= 0:
        raise FieldError("initial_minutes", f"must be above 0, not {minutes}")
    maximum = _positive(max_rate_mg_per_kg_min, "max_rate_mg_per_kg_min", "mg/kg/min")
    if initial > maximum:
        raise FieldError(
            "initial_rate_mg_per_kg_min",
            f"{_plain(initial)} mg/kg/min is above the maximum {_plain(maximum)} mg/kg/min",
        )
    steps = []
    rate = initial
    while rate < maximum:
        steps.append(RateStep(rate, minutes))
        rate *= 2
    steps.append(RateStep(maximum, None))
    return tuple(steps)


@dataclass(frozen=True)
class RateCap:
    max_rate_mg_per_kg_min: Decimal
    reason: str


def max_rate_cap(
    *,
    indication_max_rate_mg_per_kg_min: Decimal | int | str,
    at_risk: bool,
    product_at_risk_cap_mg_per_kg_min: Decimal | int | str | None,
    site_at_risk_cap_mg_per_kg_min: Decimal | int | str = DEFAULT_SITE_AT_RISK_CAP_MG_PER_KG_MIN,
) -> RateCap:
    """The fastest rate allowed: the indication maximum, lowered to the at-risk cap when at risk.

    The at-risk cap is the stricter of the product label's figure and the site's; where the
    label gives none, the site's.

    Example: dermatomyositis maximum 4, at risk, label cap 3.3 -> 3.3 mg/kg/min.

    >>> max_rate_cap(indication_max_rate_mg_per_kg_min=Decimal("4"), at_risk=True,
    ...              product_at_risk_cap_mg_per_kg_min=Decimal("3.3")).reason
    'at-risk cap 3.3 mg/kg/min (label)'

    Example: the same with a site cap of 2.0 -> 2 mg/kg/min, the site's.

    >>> max_rate_cap(indication_max_rate_mg_per_kg_min=Decimal("4"), at_risk=True,
    ...              product_at_risk_cap_mg_per_kg_min=Decimal("3.3"), site_at_risk_cap_mg_per_kg_min="2.0").reason
    "at-risk cap 2 mg/kg/min (site policy, stricter than the label's 3.3 mg/kg/min)"
    """
    indication_max = _positive(indication_max_rate_mg_per_kg_min, "max_rate_mg_per_kg_min", "mg/kg/min")
    patient_at_risk = _flag(at_risk, "at_risk")
    site_cap = _positive(site_at_risk_cap_mg_per_kg_min, "site_at_risk_cap_mg_per_kg_min", "mg/kg/min")
    indication_reason = f"indication maximum {_plain(indication_max)} mg/kg/min"
    if not patient_at_risk:
        return RateCap(indication_max, indication_reason)
    if product_at_risk_cap_mg_per_kg_min is None:
        cap, source = site_cap, "site policy: the label gives no number"
    else:
        label_cap = _positive(product_at_risk_cap_mg_per_kg_min, "at_risk_cap_mg_per_kg_min", "mg/kg/min")
        if site_cap < label_cap:
            cap, source = site_cap, f"site policy, stricter than the label's {_plain(label_cap)} mg/kg/min"
        else:
            cap, source = label_cap, "label"
    cap_reason = f"at-risk cap {_plain(cap)} mg/kg/min ({source})"
    if indication_max <= cap:
        return RateCap(indication_max, f"{indication_reason}, at or below the {cap_reason}")
    return RateCap(cap, cap_reason)


def cap_steps(*, steps: Sequence[RateStep], max_rate_mg_per_kg_min: Decimal | int | str) -> tuple[RateStep, ...]:
    """Cap every step at the maximum and merge neighbours that end up at the same rate.

    A merged step keeps the summed minutes; if the last step is among those merged it runs
    until done.

    Example: 1, 2, 4, 8 (30 min each), 12 until done, capped at 3.3 -> 1, 2, then 3.3 until done.

    >>> ladder = [RateStep(Decimal(r), 30) for r in ("1", "2", "4", "8")] + [RateStep(Decimal("12"), None)]
    >>> [(str(s.rate_mg_per_kg_min), s.minutes) for s in cap_steps(steps=ladder, max_rate_mg_per_kg_min="3.3")]
    [('1', 30), ('2', 30), ('3.3', None)]
    """
    ladder = _ladder(steps)
    cap = _positive(max_rate_mg_per_kg_min, "max_rate_mg_per_kg_min", "mg/kg/min")
    return _merge_equal_neighbours(RateStep(min(step.rate_mg_per_kg_min, cap), step.minutes) for step in ladder)


def _merge_equal_neighbours(steps: Iterable[RateStep]) -> tuple[RateStep, ...]:
    merged: list[RateStep] = []
    for step in steps:
        if merged and merged[-1].rate_mg_per_kg_min == step.rate_mg_per_kg_min:
            previous = merged.pop()
            minutes = None if step.minutes is None else previous.minutes + step.minutes
            merged.append(RateStep(previous.rate_mg_per_kg_min, minutes))
        else:
            merged.append(step)
    return tuple(merged)


def pump_ceiling_rate_mg_per_kg_min(
    *,
    pump_rate_ceiling_ml_per_h: Decimal | int | str,
    dosing_weight_kg: Decimal | int | str,
    concentration_mg_per_ml: Decimal | int | str,
) -> Decimal:
    """The fastest rate, to 0.01 mg/kg/min rounded down, whose pump rate is at or under the ceiling.

    Example: 999 mL/h, 250 kg, 10 % -> 999 x 100 / (250 x 60) = 6.66 mg/kg/min (999.0 mL/h).

    >>> pump_ceiling_rate_mg_per_kg_min(pump_rate_ceiling_ml_per_h="999", dosing_weight_kg="250",
    ...                                 concentration_mg_per_ml="100")
    Decimal('6.66')
    """
    ceiling = _positive(pump_rate_ceiling_ml_per_h, "pump_rate_ceiling_ml_per_h", "mL/h")
    weight = _positive(dosing_weight_kg, "dosing_weight_kg", "kg")
    concentration = _positive(concentration_mg_per_ml, "concentration_mg_per_ml", "mg/mL")
    rate = (ceiling * concentration / (weight * MINUTES_PER_HOUR)).quantize(HUNDREDTH, ROUND_DOWN)
    if rate <= 0:
        raise FieldError(
            "pump_rate_ceiling_ml_per_h",
            f"{_plain(ceiling)} mL/h at {_kg(weight)} kg is below 0.01 mg/kg/min",
        )
    return rate


def hold_to_pump_ceiling(
    *,
    steps: Sequence[RateStep],
    pump_rate_ceiling_ml_per_h: Decimal | int | str,
    dosing_weight_kg: Decimal | int | str,
    concentration_mg_per_ml: Decimal | int | str,
) -> tuple[RateStep, ...]:
    """Every step whose pump rate is above the ceiling runs at the ceiling's rate
    (``pump_ceiling_rate_mg_per_kg_min``); equal neighbours merge as in ``cap_steps``. Steps
    at or under the ceiling are left as they are.

    Example: 250 kg, 10 %: 1, 2, 4, 8 (30 min each), 12 until done; 8 and 12 mg/kg/min are
    1,200 and 1,800 mL/h -> 1, 2, 4 (600 mL/h), then 6.66 (999 mL/h) until done.

    >>> ladder = [RateStep(Decimal(r), 30) for r in ("1", "2", "4", "8")] + [RateStep(Decimal("12"), None)]
    >>> [(str(s.rate_mg_per_kg_min), s.minutes) for s in hold_to_pump_ceiling(steps=ladder,
    ...     pump_rate_ceiling_ml_per_h="999", dosing_weight_kg="250", concentration_mg_per_ml="100")]
    [('1', 30), ('2', 30), ('4', 30), ('6.66', None)]
    """
    ladder = _ladder(steps)
    ceiling = _positive(pump_rate_ceiling_ml_per_h, "pump_rate_ceiling_ml_per_h", "mL/h")
    ceiling_rate = pump_ceiling_rate_mg_per_kg_min(
        pump_rate_ceiling_ml_per_h=ceiling,
        dosing_weight_kg=dosing_weight_kg,
        concentration_mg_per_ml=concentration_mg_per_ml,
    )
    held = []
    for step in ladder:
        ml_per_h = rate_ml_per_h(
            rate_mg_per_kg_min=step.rate_mg_per_kg_min,
            dosing_weight_kg=dosing_weight_kg,
            concentration_mg_per_ml=concentration_mg_per_ml,
        )
        held.append(RateStep(ceiling_rate, step.minutes) if ml_per_h > ceiling else step)
    return _merge_equal_neighbours(held)


def rate_ml_per_h(
    *,
    rate_mg_per_kg_min: Decimal | int | str,
    dosing_weight_kg: Decimal | int | str,
    concentration_mg_per_ml: Decimal | int | str,
) -> Decimal:
    """Pump rate: mg/kg/min x kg x 60 / (mg/mL), rounded DOWN to 0.1 mL/h so it never exceeds the cap.

    Example: 3.3 mg/kg/min, 70 kg, 10 % (100 mg/mL) -> 138.6 mL/h.

    >>> rate_ml_per_h(rate_mg_per_kg_min=Decimal("3.3"), dosing_weight_kg=Decimal("70"),
    ...               concentration_mg_per_ml=Decimal("100"))
    Decimal('138.6')
    """
    rate = _positive(rate_mg_per_kg_min, "rate_mg_per_kg_min", "mg/kg/min")
    weight = _positive(dosing_weight_kg, "dosing_weight_kg", "kg")
    concentration = _positive(concentration_mg_per_ml, "concentration_mg_per_ml", "mg/mL")
    return (rate * weight * MINUTES_PER_HOUR / concentration).quantize(TENTH, ROUND_DOWN)


@dataclass(frozen=True)
class InfusionStep:
    rate_mg_per_kg_min: Decimal
    rate_ml_per_h: Decimal
    start_min: int
    minutes: int
    volume_ml: Decimal


def infusion_timeline(
    *,
    steps: Sequence[RateStep],
    dosing_weight_kg: Decimal | int | str,
    concentration_mg_per_ml: Decimal | int | str,
    daily_volume_ml: Decimal | int | str,
) -> tuple[InfusionStep, ...]:
    """Run the (already capped) ladder until the day's volume is in.

    A step that would take in more than what is left is cut short and later steps are dropped.
    Full steps are credited with their volume rounded down to 0.1 mL; the finishing step takes
    the exact remainder (so volumes add up to ``daily_volume_ml``) and its minutes are rounded up.

    Example: 700 mL at 70 kg, 100 mg/mL: 21 mL at 42 mL/h, 42 mL at 84 mL/h, 637 mL at 168 mL/h
    for 228 min (227.5 rounded up), starting at minute 60.

    >>> ladder = (RateStep(Decimal("1"), 30), RateStep(Decimal("2"), 30), RateStep(Decimal("4"), None))
    >>> [(str(s.rate_ml_per_h), s.start_min, s.minutes, str(s.volume_ml)) for s in infusion_timeline(
    ...     steps=ladder, dosing_weight_kg="70", concentration_mg_per_ml="100", daily_volume_ml="700.0")]
    [('42.0', 0, 30, '21.0'), ('84.0', 30, 30, '42.0'), ('168.0', 60, 228, '637.0')]
    """
    ladder = _ladder(steps)
    weight = _positive(dosing_weight_kg, "dosing_weight_kg", "kg")
    concentration = _positive(concentration_mg_per_ml, "concentration_mg_per_ml", "mg/mL")
    pump_steps = []
    for step in ladder:
        ml_per_h = rate_ml_per_h(
            rate_mg_per_kg_min=step.rate_mg_per_kg_min, dosing_weight_kg=weight, concentration_mg_per_ml=concentration
        )
        if ml_per_h <= 0:
            raise FieldError(
                "dosing_weight_kg",
                f"{_kg(weight)} kg at {_plain(step.rate_mg_per_kg_min)} mg/kg/min gives a pump rate below 0.1 mL/h",
            )
        pump_steps.append(PumpStep(step.rate_mg_per_kg_min, ml_per_h, step.minutes))
    return pump_timeline(steps=pump_steps, daily_volume_ml=daily_volume_ml)


class PumpStep(NamedTuple):
    """One ladder step already at its pump rate; ``minutes`` None runs until the bag is done."""

    rate_mg_per_kg_min: Decimal
    rate_ml_per_h: Decimal
    minutes: int | None


def pump_timeline(*, steps: Sequence[PumpStep], daily_volume_ml: Decimal | int | str) -> tuple[InfusionStep, ...]:
    """Run steps already at their pump rates until the day's volume is in (see ``infusion_timeline``
    for the rounding). The last step always runs until done, whatever minutes it carries.

    Example: 700 mL at 42, 84 and 138.6 mL/h (30, 30 min, then until done) -> the last step gives
    637 mL in 276 min (275.76 rounded up), so 336 min in all.

    >>> steps = [PumpStep(Decimal("1"), Decimal("42.0"), 30), PumpStep(Decimal("2"), Decimal("84.0"), 30),
    ...          PumpStep(Decimal("3.3"), Decimal("138.6"), None)]
    >>> [(str(s.rate_ml_per_h), s.start_min, s.minutes, str(s.volume_ml)) for s in pump_timeline(
    ...     steps=steps, daily_volume_ml="700.0")]
    [('42.0', 0, 30, '21.0'), ('84.0', 30, 30, '42.0'), ('138.6', 60, 276, '637.0')]
    """
    if not steps:
        raise FieldError("steps", "a ladder needs at least one step")
    remaining_ml = _positive(daily_volume_ml, "daily_volume_ml", "mL")
    timeline: list[InfusionStep] = []
    start_min = 0
    for index, step in enumerate(steps):
        ml_per_h = _positive(step.rate_ml_per_h, "rate_ml_per_h", "mL/h")
        last = index == len(steps) - 1
        if step.minutes is not None and not last:
            step_capacity_ml = ml_per_h * step.minutes / MINUTES_PER_HOUR
            if step_capacity_ml < remaining_ml:
                step_volume_ml = step_capacity_ml.quantize(TENTH, ROUND_DOWN)
                timeline.append(
                    InfusionStep(step.rate_mg_per_kg_min, ml_per_h, start_min, step.minutes, step_volume_ml)
                )
                remaining_ml -= step_volume_ml
                start_min += step.minutes
                continue
        minutes = int((remaining_ml * MINUTES_PER_HOUR / ml_per_h).to_integral_value(ROUND_CEILING))
        timeline.append(InfusionStep(step.rate_mg_per_kg_min, ml_per_h, start_min, minutes, remaining_ml))
        break
    return tuple(timeline)


# ----------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class ProductFacts:
    slug: str
    name: str
    concentration_mg_per_ml: Decimal
    vial_sizes_g: tuple[Decimal, ...]
    # None where the label gives no number; the site's cap then applies to at-risk patients.
    at_risk_cap_mg_per_kg_min: Decimal | None
    contains_maltose: bool
    # L-proline as a stabiliser (Privigen): contraindicated in hyperprolinaemia.
    contains_proline: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "concentration_mg_per_ml", _positive(self.concentration_mg_per_ml, "concentration_mg_per_ml", "mg/mL")
        )
        object.__setattr__(self, "vial_sizes_g", _vial_sizes(self.vial_sizes_g))
        if self.at_risk_cap_mg_per_kg_min is not None:
            object.__setattr__(
                self,
                "at_risk_cap_mg_per_kg_min",
                _positive(self.at_risk_cap_mg_per_kg_min, "at_risk_cap_mg_per_kg_min", "mg/kg/min"),
            )
        _flag(self.contains_maltose, "contains_maltose")
        _flag(self.contains_proline, "contains_proline")


@dataclass(frozen=True)
class IndicationFacts:
    slug: str
    label_status: str
    population: str | None
    dose_g_per_kg_min: Decimal
    dose_g_per_kg_max: Decimal
    days_min: int
    days_max: int
    steps: tuple[RateStep, ...]
    max_rate_mg_per_kg_min: Decimal
    # True where the ladder is the site's default (site_protocol_steps), not label text.
    site_protocol: bool

    def __post_init__(self) -> None:
        if self.population not in POPULATIONS:
            raise FieldError("population", f"must be 'adults' or None, not {self.population!r}")
        dose_min = _dose_g_per_kg(self.dose_g_per_kg_min, "dose_g_per_kg_min")
        dose_max = _dose_g_per_kg(self.dose_g_per_kg_max, "dose_g_per_kg_max")
        if dose_min > dose_max:
            raise FieldError("dose_g_per_kg_min", f"{dose_min} g/kg is above dose_g_per_kg_max {dose_max} g/kg")
        if _whole(self.days_min, "days_min") < 1:
            raise FieldError("days_min", f"must be at least 1, not {self.days_min}")
        if _whole(self.days_max, "days_max") < self.days_min:
            raise FieldError("days_max", f"must be at least days_min ({self.days_min}), not {self.days_max}")
        object.__setattr__(self, "dose_g_per_kg_min", dose_min)
        object.__setattr__(self, "dose_g_per_kg_max", dose_max)
        object.__setattr__(self, "steps", _ladder(self.steps))
        object.__setattr__(
            self,
            "max_rate_mg_per_kg_min",
            _positive(self.max_rate_mg_per_kg_min, "max_rate_mg_per_kg_min", "mg/kg/min"),
        )
        _flag(self.site_protocol, "site_protocol")


@dataclass(frozen=True)
class DoseWarning:
    code: str
    message: str
    # A blocking warning means the dose must not be given as planned.
    blocking: bool = False


@dataclass(frozen=True)
class DosePlan:
    product_slug: str
    indication_slug: str
    concentration_mg_per_ml: Decimal
    dose_g_per_kg: Decimal
    days: int
    weight_basis_requested: str
    weight_basis: str
    weight_reason: str
    dosing_weight_kg: Decimal
    ideal_body_weight_kg: Decimal | None
    adjusted_body_weight_kg: Decimal | None
    bmi: Decimal
    prescribed_daily_dose_g: Decimal
    daily_dose_g: Decimal
    rounded: bool
    total_dose_g: Decimal
    daily_volume_ml: Decimal
    vials_per_day: tuple[VialCount, ...]
    at_risk: bool
    max_rate_mg_per_kg_min: Decimal
    max_rate_ml_per_h: Decimal
    cap_reason: str
    site_protocol: bool
    rate_steps: tuple[InfusionStep, ...]
    infusion_minutes: int
    warnings: tuple[DoseWarning, ...]

    @property
    def blocked(self) -> bool:
        return any(warning.blocking for warning in self.warnings)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly copy: Decimals as strings, tuples as lists, vials as {size_g, count}.

        Example: ``plan.to_dict()["daily_dose_g"] == "70.00"`` for the 70 g dermatomyositis day.
        """
        data = _jsonable(self)
        data["blocked"] = self.blocked
        return data


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, VialCount):
        return {"size_g": format(value.size_g, "f"), "count": value.count}
    if is_dataclass(value) and not isinstance(value, type):
        return {item.name: _jsonable(getattr(value, item.name)) for item in fields(value)}
    if isinstance(value, tuple | list):
        return [_jsonable(item) for item in value]
    return value


def _dose_text(indication: IndicationFacts) -> str:
    if indication.dose_g_per_kg_min == indication.dose_g_per_kg_max:
        return f"{_plain(indication.dose_g_per_kg_min)} g/kg"
    return f"{_plain(indication.dose_g_per_kg_min)}–{_plain(indication.dose_g_per_kg_max)} g/kg"


def _days(days: Any, indication: IndicationFacts) -> int:
    count = _whole(days, "days")
    if not indication.days_min <= count <= indication.days_max:
        allowed = (
            f"{indication.days_min}"
            if indication.days_min == indication.days_max
            else f"between {indication.days_min} and {indication.days_max}"
        )
        raise FieldError("days", f"must be {allowed} for {indication.slug}, not {count}")
    return count


def _age(age_years: Any) -> int | None:
    if age_years is None:
        return None
    age = _whole(age_years, "age_years")
    if not 0 <= age <= AGE_MAX_YEARS:
        raise FieldError("age_years", f"must be between 0 and {AGE_MAX_YEARS}, not {age}")
    return age


def plan_dose(
    *,
    product: ProductFacts,
    indication: IndicationFacts,
    weight_kg: Decimal | int | str,
    height_cm: Decimal | int | str,
    sex: str,
    dose_g_per_kg: Decimal | int | str,
    days: int,
    weight_basis: str,
    at_risk: bool,
    off_label_indication: bool = False,
    age_years: int | None = None,
    iga_deficient_with_anti_iga: bool = False,
    corn_allergy: bool = False,
    renal_risk: bool = False,
    tolerance_percent: Decimal | int | str = DEFAULT_TOLERANCE_PERCENT,
    site_at_risk_cap_mg_per_kg_min: Decimal | int | str = DEFAULT_SITE_AT_RISK_CAP_MG_PER_KG_MIN,
    adjusted_weight_factor: Decimal | int | str = DEFAULT_ADJUSTED_WEIGHT_FACTOR,
    bmi_threshold: Decimal | int | str = DEFAULT_BMI_THRESHOLD,
    hyperprolinaemia: bool = False,
    juvenile_dermatomyositis: bool = False,
    daily_dose_ceiling_g: Decimal | int | str = DEFAULT_DAILY_DOSE_CEILING_G,
    pump_rate_ceiling_ml_per_h: Decimal | int | str = DEFAULT_PUMP_RATE_CEILING_ML_PER_H,
    pump_rate_minimum_ml_per_h: Decimal | int | str = DEFAULT_PUMP_RATE_MINIMUM_ML_PER_H,
    vial_proposal: str = "nearest",
    first_infusion: bool = False,
    first_step_factor: int = DEFAULT_FIRST_STEP_FACTOR,
) -> DosePlan:
    """Everything the order screen shows for one course: weight, dose, vials, volume, ladder, warnings.

    ``renal_risk`` also counts as at risk for the rate cap: the labels' at-risk ceiling is for
    patients at risk of thrombosis *or* renal dysfunction.

    Pharmacy limits (site policy, each named in a warning where it bites): a day above
    ``daily_dose_ceiling_g`` is flagged for the prescriber (``daily_dose_ceiling``); no step runs
    above ``pump_rate_ceiling_ml_per_h`` (``pump_rate_ceiling``, the ladder and its time
    recomputed); a step below ``pump_rate_minimum_ml_per_h`` is flagged
    (``pump_rate_below_minimum``); ``vial_proposal`` gives the nearest whole-vial amount or the
    one with the fewest vials within tolerance (``fewer_vials_available`` names the other).
    ``first_infusion`` (an IVIG-naive patient, a product switch or a long gap) holds the first
    step of the ladder as run (after the cap) ``first_step_factor`` times its minutes
    (``slow_first_step``) and adds the ``first_infusion_slow_start`` warning; the factor is site
    policy (``SiteSettings.first_infusion_first_step_factor``).

    Example: 70 kg, 170 cm, female, Octagam 10 %, dermatomyositis, 2 g/kg over 2 days ->
    70 g/day (2 x 30 g + 10 g), 700 mL, 42 -> 84 -> 168 mL/h, 288 min.

    >>> octagam = ProductFacts(slug="octagam-10", name="Octagam 10%", concentration_mg_per_ml=Decimal("100"),
    ...     vial_sizes_g=(Decimal("2"), Decimal("5"), Decimal("10"), Decimal("20"), Decimal("30")),
    ...     at_risk_cap_mg_per_kg_min=Decimal("3.3"), contains_maltose=True)
    >>> dm = IndicationFacts(slug="dermatomyositis", label_status="label", population="adults",
    ...     dose_g_per_kg_min=Decimal("2"), dose_g_per_kg_max=Decimal("2"), days_min=2, days_max=5,
    ...     steps=(RateStep(Decimal("1"), 30), RateStep(Decimal("2"), 30), RateStep(Decimal("4"), None)),
    ...     max_rate_mg_per_kg_min=Decimal("4"), site_protocol=False)
    >>> plan = plan_dose(product=octagam, indication=dm, weight_kg="70", height_cm="170", sex="female",
    ...     dose_g_per_kg="2", days=2, weight_basis="auto", at_risk=False)
    >>> str(plan.daily_dose_g), str(plan.daily_volume_ml), [str(s.rate_ml_per_h) for s in plan.rate_steps]
    ('70.00', '700.0', ['42.0', '84.0', '168.0'])
    >>> plan.infusion_minutes
    288

    The same day as a first infusion: 42 mL/h for 60 min instead of 30 (42 mL), then 84 mL/h for
    30 min, and the last 616 mL at 168 mL/h in 220 min: 310 min in all.

    >>> first = plan_dose(product=octagam, indication=dm, weight_kg="70", height_cm="170", sex="female",
    ...     dose_g_per_kg="2", days=2, weight_basis="auto", at_risk=False, first_infusion=True)
    >>> [(str(s.rate_ml_per_h), s.start_min, s.minutes) for s in first.rate_steps], first.infusion_minutes
    ([('42.0', 0, 60), ('84.0', 60, 30), ('168.0', 90, 220)], 310)
    >>> str(first.warnings[-1].code)
    'first_infusion_slow_start'
    """
    if not isinstance(product, ProductFacts):
        raise TypeError("product: must be a ProductFacts")
    if not isinstance(indication, IndicationFacts):
        raise TypeError("indication: must be an IndicationFacts")
    dose = _dose_g_per_kg(dose_g_per_kg)
    day_count = _days(days, indication)
    patient_at_risk = _flag(at_risk, "at_risk")
    flags = {
        name: _flag(value, name)
        for name, value in (
            ("off_label_indication", off_label_indication),
            ("iga_deficient_with_anti_iga", iga_deficient_with_anti_iga),
            ("corn_allergy", corn_allergy),
            ("renal_risk", renal_risk),
            ("hyperprolinaemia", hyperprolinaemia),
        )
    }
    age = _age(age_years)
    daily_ceiling_g = _positive(daily_dose_ceiling_g, "daily_dose_ceiling_g", "g")
    pump_ceiling = _positive(pump_rate_ceiling_ml_per_h, "pump_rate_ceiling_ml_per_h", "mL/h")
    pump_minimum = _positive(pump_rate_minimum_ml_per_h, "pump_rate_minimum_ml_per_h", "mL/h")
    first = _flag(first_infusion, "first_infusion")
    factor = _first_step_factor(first_step_factor)

    weight = dosing_weight(
        weight_kg=weight_kg,
        height_cm=height_cm,
        sex=sex,
        basis=weight_basis,
        bmi_threshold=bmi_threshold,
        adjusted_weight_factor=adjusted_weight_factor,
        juvenile_dermatomyositis=juvenile_dermatomyositis,
    )
    exact_daily_g = dose * weight.dosing_weight_kg / day_count
    prescribed_daily_g = exact_daily_g.quantize(HUNDREDTH, ROUND_HALF_UP)
    if prescribed_daily_g <= 0:
        raise FieldError(
            "dose_g_per_kg", f"{_plain(dose)} g/kg at {_kg(weight.dosing_weight_kg)} kg is below 0.01 g a day"
        )
    vials = round_to_vials(
        dose_g=prescribed_daily_g,
        vial_sizes_g=product.vial_sizes_g,
        tolerance_percent=tolerance_percent,
        exact_dose_g=exact_daily_g,
        proposal=vial_proposal,
    )
    daily_volume_ml = (vials.dose_g * MG_PER_G / product.concentration_mg_per_ml).quantize(TENTH, ROUND_HALF_UP)

    capped_for_risk = patient_at_risk or flags["renal_risk"]
    cap = max_rate_cap(
        indication_max_rate_mg_per_kg_min=indication.max_rate_mg_per_kg_min,
        at_risk=capped_for_risk,
        product_at_risk_cap_mg_per_kg_min=product.at_risk_cap_mg_per_kg_min,
        site_at_risk_cap_mg_per_kg_min=site_at_risk_cap_mg_per_kg_min,
    )
    ladder = cap_steps(steps=indication.steps, max_rate_mg_per_kg_min=cap.max_rate_mg_per_kg_min)
    as_labelled = ladder
    if first:
        ladder = slow_first_step(steps=ladder, factor=factor)
    slowest = min(step.rate_mg_per_kg_min for step in ladder)
    slowest_ml_per_h = rate_ml_per_h(
        rate_mg_per_kg_min=slowest,
        dosing_weight_kg=weight.dosing_weight_kg,
        concentration_mg_per_ml=product.concentration_mg_per_ml,
    )
    if slowest_ml_per_h <= 0:
        # Reported against the field the user typed, not the derived dosing weight.
        raise FieldError(
            "weight_kg",
            f"{_kg(weight.dosing_weight_kg)} kg at {_plain(slowest)} mg/kg/min gives a pump rate below 0.1 mL/h",
        )
    timeline = infusion_timeline(
        steps=ladder,
        dosing_weight_kg=weight.dosing_weight_kg,
        concentration_mg_per_ml=product.concentration_mg_per_ml,
        daily_volume_ml=daily_volume_ml,
    )
    # The pump ceiling only where it bites: a step of the ladder above it.
    before_ceiling = timeline
    if any(step.rate_ml_per_h > pump_ceiling for step in timeline):
        timeline = infusion_timeline(
            steps=hold_to_pump_ceiling(
                steps=ladder,
                pump_rate_ceiling_ml_per_h=pump_ceiling,
                dosing_weight_kg=weight.dosing_weight_kg,
                concentration_mg_per_ml=product.concentration_mg_per_ml,
            ),
            dosing_weight_kg=weight.dosing_weight_kg,
            concentration_mg_per_ml=product.concentration_mg_per_ml,
            daily_volume_ml=daily_volume_ml,
        )
    max_ml_per_h = rate_ml_per_h(
        rate_mg_per_kg_min=cap.max_rate_mg_per_kg_min,
        dosing_weight_kg=weight.dosing_weight_kg,
        concentration_mg_per_ml=product.concentration_mg_per_ml,
    )

    warnings = _warnings(
        product=product,
        indication=indication,
        dose_g_per_kg=dose,
        age_years=age,
        flags=flags,
        vials=vials,
        daily_volume_ml=daily_volume_ml,
        cap=cap,
        max_rate_ml_per_h=max_ml_per_h,
        weight=weight,
        height_cm=_height(height_cm),
        days=day_count,
        daily_dose_ceiling_g=daily_ceiling_g,
        pump_rate_ceiling_ml_per_h=pump_ceiling,
        pump_rate_minimum_ml_per_h=pump_minimum,
        timeline=timeline,
        timeline_before_ceiling=before_ceiling,
    )
    if first:
        warnings += (
            first_infusion_warning(first_step=timeline[0], usual_minutes=as_labelled[0].minutes, factor=factor),
        )
    return DosePlan(
        product_slug=product.slug,
        indication_slug=indication.slug,
        concentration_mg_per_ml=product.concentration_mg_per_ml,
        dose_g_per_kg=dose,
        days=day_count,
        weight_basis_requested=weight.basis_requested,
        weight_basis=weight.basis_used,
        weight_reason=weight.reason,
        dosing_weight_kg=weight.dosing_weight_kg,
        ideal_body_weight_kg=weight.ideal_body_weight_kg,
        adjusted_body_weight_kg=weight.adjusted_body_weight_kg,
        bmi=weight.bmi,
        prescribed_daily_dose_g=prescribed_daily_g,
        daily_dose_g=vials.dose_g,
        rounded=vials.rounded,
        total_dose_g=vials.dose_g * day_count,
        daily_volume_ml=daily_volume_ml,
        vials_per_day=vials.vials,
        at_risk=capped_for_risk,
        max_rate_mg_per_kg_min=cap.max_rate_mg_per_kg_min,
        max_rate_ml_per_h=max_ml_per_h,
        cap_reason=cap.reason,
        site_protocol=indication.site_protocol,
        rate_steps=timeline,
        infusion_minutes=timeline[-1].start_min + timeline[-1].minutes,
        warnings=warnings,
    )


def _warnings(
    *,
    product: ProductFacts,
    indication: IndicationFacts,
    dose_g_per_kg: Decimal,
    age_years: int | None,
    flags: dict[str, bool],
    vials: VialRounding,
    daily_volume_ml: Decimal,
    cap: RateCap,
    max_rate_ml_per_h: Decimal,
    weight: DosingWeight,
    height_cm: Decimal,
    days: int,
    daily_dose_ceiling_g: Decimal,
    pump_rate_ceiling_ml_per_h: Decimal,
    pump_rate_minimum_ml_per_h: Decimal,
    timeline: tuple[InfusionStep, ...],
    timeline_before_ceiling: tuple[InfusionStep, ...],
) -> tuple[DoseWarning, ...]:
    # Order: what stops the infusion first, then what needs a prescriber's word, then nursing notes.
    found: list[DoseWarning] = []
    if flags["iga_deficient_with_anti_iga"]:
        found.append(
            DoseWarning(
                WarningCode.IGA_DEFICIENCY_ANTI_IGA,
                f"IgA deficiency with antibodies against IgA: {product.name} is contraindicated (risk of severe "
                "allergic reaction, anaphylaxis). Do not give; discuss an alternative with the prescriber.",
                blocking=True,
            )
        )
    if flags["hyperprolinaemia"] and product.contains_proline:
        found.append(
            DoseWarning(
                WarningCode.HYPERPROLINAEMIA_PROLINE,
                f"Hyperprolinaemia: {product.name} is stabilised with L-proline and is contraindicated in "
                "hyperprolinaemia (type I or II) (label). Do not give; choose a product without proline.",
                blocking=True,
            )
        )
    if flags["off_label_indication"]:
        found.append(
            DoseWarning(
                WarningCode.OFF_LABEL_INDICATION,
                f"{product.name} is not labelled for this patient's condition: off-label use, "
                "the prescriber must confirm and document the reason.",
            )
        )
    if not indication.dose_g_per_kg_min <= dose_g_per_kg <= indication.dose_g_per_kg_max:
        found.append(
            DoseWarning(
                WarningCode.OFF_LABEL_DOSE,
                f"{_plain(dose_g_per_kg)} g/kg is outside the labelled dose for {indication.slug} with {product.name} "
                f"({_dose_text(indication)}): off-label dose, the prescriber must confirm it.",
            )
        )
    if age_years is not None and age_years < ADULT_AGE_YEARS and indication.population == "adults":
        found.append(
            DoseWarning(
                WarningCode.AGE_UNDER_18_ADULT_INDICATION,
                f"Patient is {age_years} years old; {product.name} is labelled for {indication.slug} in adults only: "
                "use under 18 is off-label, the prescriber must confirm it.",
            )
        )
    found.extend(_short_stature_warnings(weight, height_cm))
    if vials.dose_g > daily_dose_ceiling_g:
        found.append(_daily_ceiling_warning(indication, dose_g_per_kg, weight, days, vials, daily_dose_ceiling_g))
    if flags["corn_allergy"] and product.contains_maltose:
        found.append(
            DoseWarning(
                WarningCode.CORN_ALLERGY_MALTOSE,
                f"Corn allergy: {product.name} contains maltose made from corn. Check with the prescriber before "
                "giving it, or choose a product without maltose.",
            )
        )
    if flags["renal_risk"]:
        found.append(
            DoseWarning(
                WarningCode.RENAL_RISK,
                "Renal risk: make sure the patient is well hydrated before the infusion (correct any volume "
                "depletion first); check serum creatinine, BUN and urine output before and during therapy; "
                f"do not exceed {_plain(cap.max_rate_mg_per_kg_min)} mg/kg/min ({max_rate_ml_per_h} mL/h); "
                "stop if renal function worsens.",
            )
        )
    if not vials.rounded:
        vial_list = " + ".join(f"{count} × {_plain(size)} g" for size, count in vials.vials)
        found.append(
            DoseWarning(
                WarningCode.ROUNDING_OUTSIDE_TOLERANCE,
                f"The daily dose {vials.prescribed_dose_g} g cannot be made from whole vials within "
                f"±{_plain(vials.tolerance_percent)} % (nearest: {_plain(vials.nearest_whole_vial_g)} g, "
                f"{vials.difference_percent:+} % of the exact {_plain(_exact_text(vials))} g). Dose not rounded: "
                f"give {vials.dose_g} g ({daily_volume_ml} mL) drawn from {vial_list} vials "
                f"({_plain(vials.vials_total_g)} g in all); discard what is left.",
            )
        )
    if vials.alternative_g is not None:
        found.append(_fewer_vials_warning(vials))
    if timeline != timeline_before_ceiling:
        found.append(_pump_ceiling_warning(timeline, timeline_before_ceiling, pump_rate_ceiling_ml_per_h))
    minimum = pump_rate_minimum_ml_per_h
    slow = [(number, step) for number, step in enumerate(timeline, 1) if step.rate_ml_per_h < minimum]
    if slow:
        steps_text = "; ".join(f"step {number} at {step.rate_ml_per_h} mL/h" for number, step in slow)
        found.append(
            DoseWarning(
                WarningCode.PUMP_RATE_BELOW_MINIMUM,
                f"{steps_text}: below {_plain(pump_rate_minimum_ml_per_h)} mL/h, the lowest rate the unit's pumps "
                "deliver (site policy). The pump cannot run this as planned: use a pump that delivers it "
                "(e.g. a syringe driver) or ask the prescriber to adjust the ladder.",
            )
        )
    return tuple(found)


def _exact_text(vials: VialRounding) -> Decimal:
    # The exact dose to 0.001 g (half up) for a sentence; the arithmetic used it unrounded.
    exact = vials.exact_dose_g if vials.exact_dose_g is not None else vials.prescribed_dose_g
    return exact.quantize(Decimal("0.001"), ROUND_HALF_UP)


def _vial_text(vials: tuple[VialCount, ...]) -> str:
    count = sum(vial.count for vial in vials)
    listed = " + ".join(f"{vial.count} × {_plain(vial.size_g)} g" for vial in vials)
    return f"{count} vial{'s' if count != 1 else ''}: {listed}"


def _short_stature_warnings(weight: DosingWeight, height_cm: Decimal) -> list[DoseWarning]:
    below = f"Height {_kg(height_cm)} cm is below {_plain(DEVINE_MIN_HEIGHT_CM)} cm (60 in)"
    if weight.short_stature == "not extended":
        return [
            DoseWarning(
                WarningCode.SHORT_STATURE,
                f"{below}: the Devine ideal body weight is not extended below 60 in, so with BMI {weight.bmi} "
                f"the automatic basis used actual body weight {_kg(weight.dosing_weight_kg)} kg, not an adjusted "
                "weight. The prescriber must confirm the dosing weight, or choose ideal or adjusted explicitly.",
            )
        ]
    if weight.short_stature == "extrapolated":
        return [
            DoseWarning(
                WarningCode.SHORT_STATURE,
                f"{below}: the Devine formula is extrapolated below 60 in (ideal {weight.ideal_body_weight_kg} kg, "
                f"adjusted {weight.adjusted_body_weight_kg} kg). The prescriber must confirm the dosing weight "
                f"{_kg(weight.dosing_weight_kg)} kg ({weight.basis_used} body weight).",
            )
        ]
    return []


def _daily_ceiling_warning(
    indication: IndicationFacts,
    dose_g_per_kg: Decimal,
    weight: DosingWeight,
    days: int,
    vials: VialRounding,
    ceiling_g: Decimal,
) -> DoseWarning:
    course_g = dose_g_per_kg * weight.dosing_weight_kg
    fewest_days = next(
        (count for count in range(indication.days_min, indication.days_max + 1) if course_g / count <= ceiling_g),
        None,
    )
    day_range = (
        f"{indication.days_min} day{'s' if indication.days_min != 1 else ''}"
        if indication.days_min == indication.days_max
        else f"{indication.days_min}–{indication.days_max} days"
    )
    if fewest_days is None:
        split = (
            f"No number of days within the range for {indication.slug} ({day_range}) brings each day under it: "
            "the prescriber must confirm this dose or lower it."
        )
    else:
        per_day_g = (course_g / fewest_days).quantize(HUNDREDTH, ROUND_HALF_UP)
        split = (
            f"Over {fewest_days} days (the fewest within {day_range} for {indication.slug}) each day is "
            f"{per_day_g} g before vial rounding; the prescriber must confirm {days} day{'s' if days != 1 else ''} "
            "or split the course."
        )
    return DoseWarning(
        WarningCode.DAILY_DOSE_CEILING,
        f"The daily dose {vials.dose_g} g is above the ceiling of {_plain(ceiling_g)} g per infusion day "
        f"(site policy; no label gives one). {split}",
    )


def _fewer_vials_warning(vials: VialRounding) -> DoseWarning:
    exact = vials.exact_dose_g if vials.exact_dose_g is not None else vials.prescribed_dose_g
    other_percent = ((vials.alternative_g - exact) * 100 / exact).quantize(TENTH, ROUND_HALF_UP)
    given = f"{_plain(vials.dose_g)} g ({_vial_text(vials.vials)})"
    other = f"{_plain(vials.alternative_g)} g ({_vial_text(vials.alternative_vials)}, {other_percent:+} %)"
    within = f"within ±{_plain(vials.tolerance_percent)} % of the exact {_plain(_exact_text(vials))} g"
    if vials.proposal == "nearest":
        message = (
            f"Fewer vials: {other} is also {within}. The plan proposes the nearest amount, {given} "
            "(site policy); the prescriber may choose the fewer vials."
        )
    else:
        message = f"The plan proposes the fewest vials {within}: {given} (site policy). The nearest amount is {other}."
    return DoseWarning(WarningCode.FEWER_VIALS_AVAILABLE, message)


def _pump_ceiling_warning(
    timeline: tuple[InfusionStep, ...], before: tuple[InfusionStep, ...], ceiling_ml_per_h: Decimal
) -> DoseWarning:
    replaced = max(step.rate_ml_per_h for step in before)
    fastest = max(timeline, key=lambda step: step.rate_ml_per_h)
    minutes_before = before[-1].start_min + before[-1].minutes
    minutes_now = timeline[-1].start_min + timeline[-1].minutes
    return DoseWarning(
        WarningCode.PUMP_RATE_CEILING,
        f"Pump ceiling {_plain(ceiling_ml_per_h)} mL/h (site policy): the ladder's {replaced} mL/h "
        f"runs at {fastest.rate_ml_per_h} mL/h ({_plain(fastest.rate_mg_per_kg_min)} mg/kg/min) instead; "
        f"infusion time {minutes_now} min (was {minutes_before} min).",
    )


# ----------------------------------------------------------------------- first infusion


def _first_step_factor(value: Any) -> int:
    factor = _whole(value, "first_step_factor")
    if not 1 <= factor <= FIRST_STEP_FACTOR_MAX:
        raise FieldError("first_step_factor", f"must be between 1 and {FIRST_STEP_FACTOR_MAX}, not {factor}")
    return factor


def slow_first_step(*, steps: Sequence[RateStep], factor: int) -> tuple[RateStep, ...]:
    """The ladder of a first infusion: the first step held ``factor`` times its minutes, the rest
    unchanged. A first step that runs until done (a one-step ladder) has nothing to hold longer.

    Applied to the ladder as run (after ``cap_steps``), so a stored plan's steps give the same
    answer (``dosing.chart_limits.first_infusion_plan``).

    Example: 1 mg/kg/min for 30 min, 2 for 30, then 4 until done, factor 2 -> 60, 30, until done.

    >>> ladder = (RateStep(Decimal("1"), 30), RateStep(Decimal("2"), 30), RateStep(Decimal("4"), None))
    >>> [(str(s.rate_mg_per_kg_min), s.minutes) for s in slow_first_step(steps=ladder, factor=2)]
    [('1', 60), ('2', 30), ('4', None)]
    """
    ladder = _ladder(steps)
    times = _first_step_factor(factor)
    first = ladder[0]
    if first.minutes is None:
        return ladder
    return (RateStep(first.rate_mg_per_kg_min, first.minutes * times), *ladder[1:])


def first_infusion_warning(*, first_step: InfusionStep, usual_minutes: int | None, factor: int) -> DoseWarning:
    """The ``first_infusion_slow_start`` warning: why the first step is slower, and that the factor
    is site policy. ``first_step`` is the first step as it will run; ``usual_minutes`` its minutes
    on the usual ladder (None: it runs until done).

    Example: 42 mL/h held 2 x 30 min.

    >>> step = InfusionStep(Decimal("1"), Decimal("42.0"), 0, 60, Decimal("42.0"))
    >>> print(first_infusion_warning(first_step=step, usual_minutes=30, factor=2).message)
    ... # doctest: +NORMALIZE_WHITESPACE
    First infusion (IVIG-naive, a product switch or a long gap without IVIG): the first step,
    42.0 mL/h (1 mg/kg/min), is held 2 × 30 min = 60 min instead of 30 min (site policy:
    first-infusion first-step factor 2). Watch closely for a reaction before going faster.
    """
    times = _first_step_factor(factor)
    why = "First infusion (IVIG-naive, a product switch or a long gap without IVIG)"
    rate = f"{first_step.rate_ml_per_h} mL/h ({_plain(first_step.rate_mg_per_kg_min)} mg/kg/min)"
    if usual_minutes is None:
        held = f"the ladder is a single step, {rate} until done: there is no first step to hold longer"
    elif times == 1:
        held = f"the first step, {rate}, runs its usual {usual_minutes} min (site policy: factor 1, no slower start)"
    else:
        held = (
            f"the first step, {rate}, is held {times} × {usual_minutes} min = {usual_minutes * times} min instead of "
            f"{usual_minutes} min (site policy: first-infusion first-step factor {times})"
        )
    return DoseWarning(
        WarningCode.FIRST_INFUSION_SLOW_START, f"{why}: {held}. Watch closely for a reaction before going faster."
    )
