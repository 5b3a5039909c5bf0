"""Total Improvement Score (2016 ACR/EULAR myositis response criteria) and ProDERM deterioration.

Pure arithmetic, no Django: callers pass two visits' core set measures and get back a
frozen result they can store, render or serialise. The specification is
``/work/shared/reference/tis.md`` (Aggarwal et al. 2017, Rider et al. 2017, ProDERM).

All arithmetic runs on exact ``Fraction`` values built from ``Decimal`` inputs: with binary
floats a 2.2 -> 0.7 cm change is 15.000000000000002 %, which lands in the wrong band.
Floats are therefore refused outright rather than converted.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from types import MappingProxyType
from typing import Any, Literal

from accounts.errors import FieldError

# --- Measures, scales and enzymes -------------------------------------------------------------

PHYSICIAN_GLOBAL = "physician_global"
PATIENT_GLOBAL = "patient_global"
MMT = "mmt"
HAQ = "haq"
ENZYME = "enzyme"
EXTRAMUSCULAR_GLOBAL = "extramuscular_global"

# Order used everywhere a list of measures is shown (results, "missing" lists).
MEASURES: tuple[str, ...] = (PHYSICIAN_GLOBAL, PATIENT_GLOBAL, MMT, HAQ, ENZYME, EXTRAMUSCULAR_GLOBAL)
VAS_MEASURES: tuple[str, ...] = (PHYSICIAN_GLOBAL, PATIENT_GLOBAL, EXTRAMUSCULAR_GLOBAL)
# The five measures a visit records as one number each; the enzyme is chosen from a panel.
SCALAR_MEASURES: tuple[str, ...] = (PHYSICIAN_GLOBAL, PATIENT_GLOBAL, MMT, HAQ, EXTRAMUSCULAR_GLOBAL)

VAS_MAX_CM = Decimal(10)
HAQ_MAX = Decimal(3)

MMT8_UNILATERAL_MAX = 80
MMT8_BILATERAL_MAX = 150
CMAS_MAX = 52
MMT_SCALE_MAXIMA: tuple[int, ...] = (MMT8_UNILATERAL_MAX, MMT8_BILATERAL_MAX, CMAS_MAX)
# A visit does not record its scale, so a lone visit can only be checked against the widest one;
# the scoring functions then check against the scale actually used.
MMT_WIDEST_MAX = max(MMT_SCALE_MAXIMA)

CK = "ck"
ALDOLASE = "aldolase"
AST = "ast"
ALT = "alt"
LDH = "ldh"
# Also the tie-break order for "most abnormal enzyme": CK first because it is the enzyme
# myositis clinics follow by default, so a tie resolves to the familiar one.
ENZYMES: tuple[str, ...] = (CK, ALDOLASE, AST, ALT, LDH)

# UNCONFIRMED RULE -- the one point of the TIS not confirmed from the primary publication.
# Enzyme percent change is (baseline - follow-up) / (k x ULN) x 100 with k = 15 for CK and 3 for
# the others. It matches the one public implementation and the fact that the official IMACS
# calculator asks for each enzyme's ULN, but the published text does not state it. It lives
# only here so that it can be corrected in one place, and every enzyme score carries the enzyme,
# its ULN and the k x ULN range used, so a reviewer can check the arithmetic by hand.
ENZYME_RANGE_ULN_MULTIPLE: Mapping[str, int] = MappingProxyType({CK: 15, ALDOLASE: 3, AST: 3, ALT: 3, LDH: 3})
ENZYME_RANGE_RULE_CONFIRMED = False
ENZYME_RANGE_RULE_NOTE = (
    "Enzyme percent change uses a range of k x ULN (k = 15 for CK, 3 for aldolase, AST, ALT and LDH). "
    "This rule is not confirmed from the primary publication; check the enzyme, ULN and range shown."
)

# --- Points and categories ------------------------------------------------------------------------

# Upper edges are closed: a change of exactly 15 % sits in the >5-15 band, exactly 40 % in >25-40.
BAND_UPPER_EDGES_PERCENT: Mapping[str, tuple[int, ...]] = MappingProxyType(
    {measure: ((2, 10, 20, 30) if measure == MMT else (5, 15, 25, 40)) for measure in MEASURES}
)
# One entry per band, lowest band first; the lowest band includes any worsening, so points never go negative.
POINTS_PER_BAND: Mapping[str, tuple[Decimal, ...]] = MappingProxyType(
    {
        PHYSICIAN_GLOBAL: tuple(Decimal(p) for p in ("0", "7.5", "15", "17.5", "20")),
        PATIENT_GLOBAL: tuple(Decimal(p) for p in ("0", "2.5", "5", "7.5", "10")),
        MMT: tuple(Decimal(p) for p in ("0", "10", "20", "27.5", "32.5")),
        HAQ: tuple(Decimal(p) for p in ("0", "5", "7.5", "7.5", "10")),
        ENZYME: tuple(Decimal(p) for p in ("0", "2.5", "5", "7.5", "7.5")),
        EXTRAMUSCULAR_GLOBAL: tuple(Decimal(p) for p in ("0", "7.5", "12.5", "15", "20")),
    }
)
TIS_MAX = Decimal(100)
TIS_STEP = Decimal("2.5")

Population = Literal["adult", "juvenile"]
Category = Literal["none", "minimal", "moderate", "major", "incomplete"]
ADULT: Population = "adult"
JUVENILE: Population = "juvenile"
POPULATIONS: tuple[str, ...] = (ADULT, JUVENILE)
CATEGORY_NONE: Category = "none"
CATEGORY_MINIMAL: Category = "minimal"
CATEGORY_MODERATE: Category = "moderate"
CATEGORY_MAJOR: Category = "major"
CATEGORY_INCOMPLETE: Category = "incomplete"
# Highest threshold first so the first match is the right category.
CATEGORY_THRESHOLDS: Mapping[str, tuple[tuple[Decimal, Category], ...]] = MappingProxyType(
    {
        ADULT: ((Decimal(60), CATEGORY_MAJOR), (Decimal(40), CATEGORY_MODERATE), (Decimal(20), CATEGORY_MINIMAL)),
        JUVENILE: ((Decimal(70), CATEGORY_MAJOR), (Decimal(45), CATEGORY_MODERATE), (Decimal(30), CATEGORY_MINIMAL)),
    }
)

# --- ProDERM worsening --------------------------------------------------------------------------

CRITERION_PHYSICIAN_AND_MMT = "physician_global_and_mmt"
CRITERION_EXTRAMUSCULAR = "extramuscular_global"
CRITERION_THREE_OF_FIVE = "three_of_five"
WORSENING_CRITERIA: tuple[str, ...] = (CRITERION_PHYSICIAN_AND_MMT, CRITERION_EXTRAMUSCULAR, CRITERION_THREE_OF_FIVE)
WORSE_GLOBAL_RISE_CM = Decimal(2)
WORSE_MMT_FALL_FRACTION = Fraction(20, 100)
WORSE_MEASURE_FRACTION = Fraction(30, 100)
WORSE_MEASURES_NEEDED = 3
RESPONDER_MIN_TIS = Decimal(20)


# --- Input conversion ---------------------------------------------------------------------------


def _to_decimal(field_name: str, value: object) -> Decimal:
    # bool is an int subclass and float subclasses include numpy floats: both are refused explicitly.
    if isinstance(value, bool | float):
        raise TypeError(f"{field_name}: {type(value).__name__} is not accepted; pass a Decimal, int or str")
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, str):
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise FieldError(field_name, f"{value!r} is not a number") from None
    else:
        raise TypeError(f"{field_name}: expected Decimal, int or str, got {type(value).__name__}")
    if not number.is_finite():
        raise FieldError(field_name, f"must be a finite number (got {value!r})")
    # "-0" would otherwise be shown to clinicians as a negative score.
    return abs(number) if number.is_zero() else number


def _to_fraction(field_name: str, value: object) -> Fraction:
    if isinstance(value, Fraction):
        return value
    return Fraction(_to_decimal(field_name, value))


def _check_between(field_name: str, value: Decimal, low: Decimal | int, high: Decimal | int, unit: str) -> None:
    if not low <= value <= high:
        suffix = f" {unit}" if unit else ""
        raise FieldError(field_name, f"must be between {low} and {high}{suffix} (got {value})")


def _check_measure_value(measure: str, value: Decimal, *, mmt_max: int) -> None:
    if measure in VAS_MEASURES:
        _check_between(measure, value, 0, VAS_MAX_CM, "cm")
    elif measure == HAQ:
        _check_between(measure, value, 0, HAQ_MAX, "")
    elif measure == MMT:
        _check_between(measure, value, 0, mmt_max, "points")
    elif measure == ENZYME:
        if value < 0:
            raise FieldError(measure, f"must be 0 U/L or more (got {value})")
    else:
        raise FieldError("measure", f"unknown measure {measure!r}; expected one of {', '.join(MEASURES)}")


def _check_population(population: object) -> Population:
    if population == ADULT:
        return ADULT
    if population == JUVENILE:
        return JUVENILE
    raise FieldError("population", f"must be 'adult' or 'juvenile' (got {population!r})")


def _check_mmt_max(mmt_max: object) -> int:
    number = _to_decimal("mmt_max", mmt_max)
    if number not in MMT_SCALE_MAXIMA:
        raise FieldError("mmt_max", f"must be one of 80 (MMT-8), 150 (MMT-8 bilateral), 52 (CMAS) (got {mmt_max})")
    return int(number)


def _check_total(field_name: str, total: object) -> Decimal:
    number = _to_decimal(field_name, total)
    if not (0 <= number <= TIS_MAX and number % TIS_STEP == 0):
        raise FieldError(field_name, f"must be a multiple of 2.5 between 0 and 100 (got {number})")
    return number


# --- Visit measures -----------------------------------------------------------------------------


def _check_enzyme(field_prefix: str, value: object, uln: object) -> tuple[Decimal, Decimal]:
    value_u_per_l = _to_decimal(f"{field_prefix}value_u_per_l", value)
    uln_u_per_l = _to_decimal(f"{field_prefix}uln_u_per_l", uln)
    if value_u_per_l < 0:
        raise FieldError(f"{field_prefix}value_u_per_l", f"must be 0 U/L or more (got {value_u_per_l})")
    if uln_u_per_l <= 0:
        raise FieldError(f"{field_prefix}uln_u_per_l", f"must be greater than 0 U/L (got {uln_u_per_l})")
    return value_u_per_l, uln_u_per_l


@dataclass(frozen=True)
class EnzymeReading:
    """One muscle enzyme result with the reporting laboratory's upper limit of normal.

    >>> EnzymeReading(value_u_per_l="3000", uln_u_per_l="200").multiple_of_uln
    Fraction(15, 1)
    """

    value_u_per_l: Decimal
    uln_u_per_l: Decimal

    def __post_init__(self) -> None:
        value_u_per_l, uln_u_per_l = _check_enzyme("", self.value_u_per_l, self.uln_u_per_l)
        object.__setattr__(self, "value_u_per_l", value_u_per_l)
        object.__setattr__(self, "uln_u_per_l", uln_u_per_l)

    @property
    def multiple_of_uln(self) -> Fraction:
        return Fraction(self.value_u_per_l) / Fraction(self.uln_u_per_l)


def _normalise_enzymes(enzymes: object) -> dict[str, EnzymeReading]:
    if not isinstance(enzymes, Mapping):
        raise TypeError(
            f"enzymes: expected a mapping of enzyme name to (value U/L, ULN U/L), got {type(enzymes).__name__}"
        )
    readings: dict[str, EnzymeReading] = {}
    for name, raw in enzymes.items():
        if name not in ENZYMES:
            raise FieldError("enzymes", f"unknown enzyme {name!r}; expected one of {', '.join(ENZYMES)}")
        if isinstance(raw, EnzymeReading):
            readings[name] = raw
            continue
        if isinstance(raw, str) or not isinstance(raw, Sequence) or len(raw) != 2:
            raise FieldError(f"enzymes.{name}", f"expected (value U/L, ULN U/L), got {raw!r}")
        value_u_per_l, uln_u_per_l = _check_enzyme(f"enzymes.{name}.", raw[0], raw[1])
        readings[name] = EnzymeReading(value_u_per_l=value_u_per_l, uln_u_per_l=uln_u_per_l)
    # Fixed order so equal panels compare and display the same whatever order they were entered in.
    return {name: readings[name] for name in ENZYMES if name in readings}


@dataclass(frozen=True, kw_only=True)
class CoreSetMeasures:
    """The six core set measures recorded at one visit; ``None`` (or no enzymes) means not measured.

    Every field is required, so a forgotten argument fails loudly instead of silently reading as
    "missing". Values may be given as Decimal, int or str and are stored as Decimal; enzymes map a
    name from ``ENZYMES`` to ``(value U/L, ULN U/L)`` or an ``EnzymeReading``. MMT is checked
    against the widest scale (0-150) here; scoring checks it against the scale actually used.

    >>> v = CoreSetMeasures(physician_global="6", patient_global="7", mmt=60, haq="1.5",
    ...                     extramuscular_global="4", enzymes={"ck": ("3000", "200")})
    >>> v.haq, v.enzymes["ck"].uln_u_per_l
    (Decimal('1.5'), Decimal('200'))
    """

    physician_global: Decimal | None
    patient_global: Decimal | None
    mmt: Decimal | None
    haq: Decimal | None
    extramuscular_global: Decimal | None
    # Excluded from the hash because a mapping is unhashable; equality still compares it.
    enzymes: Mapping[str, EnzymeReading] = field(hash=False)

    def __post_init__(self) -> None:
        for measure in SCALAR_MEASURES:
            raw = getattr(self, measure)
            if raw is None:
                continue
            value = _to_decimal(measure, raw)
            _check_measure_value(measure, value, mmt_max=MMT_WIDEST_MAX)
            object.__setattr__(self, measure, value)
        object.__setattr__(self, "enzymes", MappingProxyType(_normalise_enzymes(self.enzymes)))


# --- Single-measure arithmetic -----------------------------------------------------------------


def enzyme_range(enzyme: str, uln_u_per_l: Decimal | int | str) -> Decimal:
    """The k x ULN denominator used for an enzyme's percent change (see ``ENZYME_RANGE_ULN_MULTIPLE``).

    >>> enzyme_range("ck", "200")
    Decimal('3000')
    """
    if enzyme not in ENZYMES:
        raise FieldError("enzyme", f"unknown enzyme {enzyme!r}; expected one of {', '.join(ENZYMES)}")
    uln = _to_decimal("uln_u_per_l", uln_u_per_l)
    if uln <= 0:
        raise FieldError("uln_u_per_l", f"must be greater than 0 U/L (got {uln})")
    return ENZYME_RANGE_ULN_MULTIPLE[enzyme] * uln


def most_abnormal_enzyme(baseline_enzymes: Mapping[str, Any]) -> str | None:
    """The baseline enzyme furthest above its own ULN (as a multiple of ULN, not raw U/L).

    That enzyme is then followed at every later visit. Ties go to the first in ``ENZYMES``
    (ck, aldolase, ast, alt, ldh). Returns ``None`` when no enzyme was measured. An enzyme is
    chosen even if every result is within normal limits: the criteria still need one followed.

    >>> most_abnormal_enzyme({"ck": ("1000", "200"), "aldolase": ("48", "8")})  # 5x vs 6x ULN
    'aldolase'
    """
    readings = _normalise_enzymes(baseline_enzymes)
    chosen: str | None = None
    for name, reading in readings.items():
        # Strictly greater, so an equal multiple never displaces an earlier enzyme in ENZYMES.
        if chosen is None or reading.multiple_of_uln > readings[chosen].multiple_of_uln:
            chosen = name
    return chosen


def _instrument_range(measure: str, *, mmt_max: int | None, enzyme_range_u_per_l: Decimal | None) -> Decimal:
    if measure in VAS_MEASURES:
        return VAS_MAX_CM
    if measure == HAQ:
        return HAQ_MAX
    if measure == MMT:
        if mmt_max is None:
            raise FieldError("mmt_max", "required to compute the percent change of mmt")
        return Decimal(mmt_max)
    if measure == ENZYME:
        if enzyme_range_u_per_l is None:
            raise FieldError("enzyme_range_u_per_l", "required to compute the percent change of enzyme")
        return enzyme_range_u_per_l
    raise FieldError("measure", f"unknown measure {measure!r}; expected one of {', '.join(MEASURES)}")


def _exact_percent_change(measure: str, baseline: Decimal, followup: Decimal, instrument_range: Decimal) -> Fraction:
    # MMT is the one measure where a higher score is better; improvement is always positive.
    change = Fraction(followup) - Fraction(baseline) if measure == MMT else Fraction(baseline) - Fraction(followup)
    return change / Fraction(instrument_range) * 100


def percent_change(
    measure: str,
    baseline: Decimal | int | str,
    followup: Decimal | int | str,
    *,
    mmt_max: int | None = None,
    enzyme_range_u_per_l: Decimal | int | str | None = None,
) -> Fraction:
    """Exact absolute percent change of one measure, improvement positive.

    The denominator is the instrument's range (10 cm, HAQ 3, the MMT scale maximum, or
    k x ULN for the enzyme from ``enzyme_range``), never the baseline value.

    >>> percent_change("physician_global", "2.2", "0.7")  # 15.000000000000002 with floats
    Fraction(15, 1)
    """
    if measure not in MEASURES:
        raise FieldError("measure", f"unknown measure {measure!r}; expected one of {', '.join(MEASURES)}")
    if mmt_max is not None and measure != MMT:
        raise FieldError("mmt_max", f"applies only to mmt, not {measure}")
    if enzyme_range_u_per_l is not None and measure != ENZYME:
        raise FieldError("enzyme_range_u_per_l", f"applies only to enzyme, not {measure}")
    checked_mmt_max = _check_mmt_max(mmt_max) if mmt_max is not None else None
    checked_range = None
    if enzyme_range_u_per_l is not None:
        checked_range = _to_decimal("enzyme_range_u_per_l", enzyme_range_u_per_l)
        if checked_range <= 0:
            raise FieldError("enzyme_range_u_per_l", f"must be greater than 0 U/L (got {checked_range})")
    instrument_range = _instrument_range(measure, mmt_max=checked_mmt_max, enzyme_range_u_per_l=checked_range)
    values = []
    for value in (baseline, followup):
        number = _to_decimal(measure, value)
        _check_measure_value(measure, number, mmt_max=checked_mmt_max or MMT_WIDEST_MAX)
        values.append(number)
    return _exact_percent_change(measure, values[0], values[1], instrument_range)


def points_for(measure: str, percent: Fraction | Decimal | int | str) -> Decimal:
    """TIS points for one measure's percent change; bands are closed on their upper edge.

    >>> points_for("physician_global", 15), points_for("physician_global", "15.01")
    (Decimal('7.5'), Decimal('15'))
    """
    if measure not in MEASURES:
        raise FieldError("measure", f"unknown measure {measure!r}; expected one of {', '.join(MEASURES)}")
    exact = _to_fraction("percent_change", percent)
    points = POINTS_PER_BAND[measure]
    for band, upper_edge in enumerate(BAND_UPPER_EDGES_PERCENT[measure]):
        if exact <= upper_edge:
            return points[band]
    return points[-1]


def improvement_category(total: Decimal | int | str, *, population: Population) -> Category:
    """Response category of a complete TIS: "none", "minimal", "moderate" or "major".

    Adult DM/PM thresholds are 20/40/60, juvenile DM 30/45/70.

    >>> improvement_category("35", population="adult"), improvement_category("35", population="juvenile")
    ('minimal', 'minimal')
    """
    checked_population = _check_population(population)
    checked_total = _check_total("total", total)
    for threshold, category in CATEGORY_THRESHOLDS[checked_population]:
        if checked_total >= threshold:
            return category
    return CATEGORY_NONE


# --- Total Improvement Score -------------------------------------------------------------------


def _percent_for_display(exact: Fraction) -> Decimal:
    # Rounded towards +infinity at 0.01 %: every band edge is a whole percent, so the shown value
    # always falls in the same band as the exact one (5.001 shows 5.01, 4.999 shows 5.00).
    return Decimal(math.ceil(exact * 100)).scaleb(-2)


def _decimal_str(value: Decimal | None, places: str) -> str | None:
    return None if value is None else str(value.quantize(Decimal(places)))


@dataclass(frozen=True)
class MeasureScore:
    """One measure's contribution to a TIS; ``percent_change_exact`` and ``points`` are ``None`` when missing.

    For the enzyme, ``baseline``/``followup`` are that enzyme's U/L values, and ``enzyme``,
    ``uln_u_per_l`` (baseline ULN) and ``range_u_per_l`` (k x ULN) let a reviewer redo the sum.

    >>> MeasureScore(measure="haq", baseline=Decimal("1.5"), followup=Decimal("1.4"),
    ...              percent_change_exact=Fraction(10, 3), points=Decimal("0")).percent_change
    Decimal('3.34')
    """

    measure: str
    baseline: Decimal | None
    followup: Decimal | None
    percent_change_exact: Fraction | None
    points: Decimal | None
    enzyme: str | None = None
    uln_u_per_l: Decimal | None = None
    range_u_per_l: Decimal | None = None
    followup_uln_u_per_l: Decimal | None = None

    @property
    def percent_change(self) -> Decimal | None:
        """Percent change to 0.01 %, rounded so it never crosses a band edge."""
        return None if self.percent_change_exact is None else _percent_for_display(self.percent_change_exact)

    @property
    def range_uln_multiple(self) -> int | None:
        return None if self.enzyme is None else ENZYME_RANGE_ULN_MULTIPLE[self.enzyme]

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "percent_change": None if self.percent_change is None else str(self.percent_change),
            "points": _decimal_str(self.points, "0.1"),
        }
        if self.measure == ENZYME:
            data.update(
                name=self.enzyme,
                uln=None if self.uln_u_per_l is None else str(self.uln_u_per_l),
                followup_uln=None if self.followup_uln_u_per_l is None else str(self.followup_uln_u_per_l),
                range=None if self.range_u_per_l is None else str(self.range_u_per_l),
                range_uln_multiple=self.range_uln_multiple,
            )
        return data


@dataclass(frozen=True)
class TisResult:
    """A Total Improvement Score; ``total`` is ``None`` and category "incomplete" if any measure is missing.

    ``measures`` always holds all six keys in ``MEASURES`` order; ``missing`` names the measures
    absent at baseline, follow-up or both.

    >>> TisResult(population="adult", mmt_max=80, total=None, category="incomplete",
    ...           measures={}, missing=("haq",)).to_dict()["missing"]
    ['haq']
    """

    population: str
    mmt_max: int
    total: Decimal | None
    category: Category
    measures: Mapping[str, MeasureScore] = field(hash=False)
    missing: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: Decimals as strings, totals and points to 0.1, percent changes to 0.01."""
        return {
            "total": _decimal_str(self.total, "0.1"),
            "category": self.category,
            "measures": {measure: score.to_dict() for measure, score in self.measures.items()},
            "missing": list(self.missing),
        }


def _check_visit(visit_name: str, visit: object) -> CoreSetMeasures:
    if not isinstance(visit, CoreSetMeasures):
        raise TypeError(f"{visit_name}: expected CoreSetMeasures, got {type(visit).__name__}")
    return visit


def _enzyme_score(baseline: CoreSetMeasures, followup: CoreSetMeasures) -> MeasureScore:
    name = most_abnormal_enzyme(baseline.enzymes)
    if name is None:
        return MeasureScore(measure=ENZYME, baseline=None, followup=None, percent_change_exact=None, points=None)
    at_baseline = baseline.enzymes[name]
    at_followup = followup.enzymes.get(name)
    # The baseline ULN defines the range throughout, because the enzyme was chosen against it;
    # a different follow-up ULN (another laboratory) is carried along so it can be shown.
    instrument_range = enzyme_range(name, at_baseline.uln_u_per_l)
    exact = None
    points = None
    if at_followup is not None:
        exact = _exact_percent_change(ENZYME, at_baseline.value_u_per_l, at_followup.value_u_per_l, instrument_range)
        points = points_for(ENZYME, exact)
    return MeasureScore(
        measure=ENZYME,
        baseline=at_baseline.value_u_per_l,
        followup=None if at_followup is None else at_followup.value_u_per_l,
        percent_change_exact=exact,
        points=points,
        enzyme=name,
        uln_u_per_l=at_baseline.uln_u_per_l,
        range_u_per_l=instrument_range,
        followup_uln_u_per_l=None if at_followup is None else at_followup.uln_u_per_l,
    )


def total_improvement_score(
    baseline: CoreSetMeasures,
    followup: CoreSetMeasures,
    *,
    population: Population,
    mmt_max: int,
) -> TisResult:
    """The 2016 ACR/EULAR Total Improvement Score between a baseline and a follow-up visit.

    Needs all six measures at both visits; otherwise the result is "incomplete", names the
    missing measures and has no total (never a partial score). Both visits must use the MMT
    scale given by ``mmt_max`` (80, 150 or 52).

    >>> base = CoreSetMeasures(physician_global="6", patient_global="7", mmt=60, haq="1.5",
    ...                        extramuscular_global="4", enzymes={"ck": ("3000", "200")})
    >>> later = CoreSetMeasures(physician_global="4.5", patient_global="5.5", mmt=68, haq="1.05",
    ...                         extramuscular_global="2.5", enzymes={"ck": ("2550", "200")})
    >>> result = total_improvement_score(base, later, population="adult", mmt_max=80)
    >>> result.total, result.category
    (Decimal('35.0'), 'minimal')
    """
    baseline = _check_visit("baseline", baseline)
    followup = _check_visit("followup", followup)
    checked_population = _check_population(population)
    checked_mmt_max = _check_mmt_max(mmt_max)
    for visit in (baseline, followup):
        if visit.mmt is not None:
            _check_measure_value(MMT, visit.mmt, mmt_max=checked_mmt_max)

    scores: dict[str, MeasureScore] = {}
    for measure in MEASURES:
        if measure == ENZYME:
            scores[measure] = _enzyme_score(baseline, followup)
            continue
        before = getattr(baseline, measure)
        after = getattr(followup, measure)
        exact = None
        points = None
        if before is not None and after is not None:
            instrument_range = _instrument_range(measure, mmt_max=checked_mmt_max, enzyme_range_u_per_l=None)
            exact = _exact_percent_change(measure, before, after, instrument_range)
            points = points_for(measure, exact)
        scores[measure] = MeasureScore(
            measure=measure, baseline=before, followup=after, percent_change_exact=exact, points=points
        )

    missing = tuple(measure for measure, score in scores.items() if score.points is None)
    if missing:
        total = None
        category = CATEGORY_INCOMPLETE
    else:
        total = sum((score.points for score in scores.values() if score.points is not None), Decimal("0.0"))
        category = improvement_category(total, population=checked_population)
    return TisResult(
        population=checked_population,
        mmt_max=checked_mmt_max,
        total=total,
        category=category,
        measures=MappingProxyType(scores),
        missing=missing,
    )


# --- ProDERM deterioration ---------------------------------------------------------------------


def _worse_by_at_least(measure: str, baseline: Decimal, followup: Decimal, fraction: Fraction) -> bool:
    # Relative to the baseline value (IMACS worsening), unlike the TIS which uses the range.
    if measure == MMT:
        # An MMT of 0 cannot fall any further.
        if baseline == 0:
            return False
        return (Fraction(baseline) - Fraction(followup)) / Fraction(baseline) >= fraction
    # Any rise from 0 counts, since a percentage of 0 is undefined.
    if baseline == 0:
        return followup > 0
    return (Fraction(followup) - Fraction(baseline)) / Fraction(baseline) >= fraction


@dataclass(frozen=True)
class VisitWorsening:
    """Whether one follow-up visit is worse than baseline by the ProDERM definition, and why.

    ``criteria`` lists the criteria met (from ``WORSENING_CRITERIA``); ``worsened_measures`` the
    non-enzyme measures worse by 30 % or more; ``missing`` the non-enzyme measures absent at
    baseline or at this visit, which can never count as worse.

    >>> VisitWorsening(label=1, criteria=("extramuscular_global",), worsened_measures=(), missing=()).worse
    True
    """

    label: date | int | None
    criteria: tuple[str, ...]
    worsened_measures: tuple[str, ...]
    missing: tuple[str, ...]

    @property
    def worse(self) -> bool:
        return bool(self.criteria)

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label.isoformat() if isinstance(self.label, date) else self.label,
            "worse": self.worse,
            "criteria": list(self.criteria),
            "worsened_measures": list(self.worsened_measures),
            "missing": list(self.missing),
        }


def visit_worsening(
    baseline: CoreSetMeasures, followup: CoreSetMeasures, *, label: date | int | None = None
) -> VisitWorsening:
    """Check one follow-up visit against baseline for ProDERM worsening.

    Worse means (physician global up >= 2 cm AND MMT down >= 20 % of baseline) OR
    (extramuscular global up >= 2 cm) OR (3 of the 5 non-enzyme measures worse by >= 30 % of
    baseline). A criterion that needs a missing value does not fire; the three-of-five criterion
    still fires when three measures that are present are worse.

    >>> base = CoreSetMeasures(physician_global="4", patient_global="4", mmt=100, haq="1",
    ...                        extramuscular_global="2", enzymes={})
    >>> later = CoreSetMeasures(physician_global="4", patient_global="4", mmt=100, haq="1",
    ...                         extramuscular_global="4", enzymes={})
    >>> visit_worsening(base, later, label=1).criteria
    ('extramuscular_global',)
    """
    baseline = _check_visit("baseline", baseline)
    followup = _check_visit("followup", followup)
    present = {
        measure: (getattr(baseline, measure), getattr(followup, measure))
        for measure in SCALAR_MEASURES
        if getattr(baseline, measure) is not None and getattr(followup, measure) is not None
    }
    missing = tuple(measure for measure in SCALAR_MEASURES if measure not in present)

    criteria = []
    if PHYSICIAN_GLOBAL in present and MMT in present:
        physician_before, physician_after = present[PHYSICIAN_GLOBAL]
        mmt_before, mmt_after = present[MMT]
        if physician_after - physician_before >= WORSE_GLOBAL_RISE_CM and _worse_by_at_least(
            MMT, mmt_before, mmt_after, WORSE_MMT_FALL_FRACTION
        ):
            criteria.append(CRITERION_PHYSICIAN_AND_MMT)
    if EXTRAMUSCULAR_GLOBAL in present:
        before, after = present[EXTRAMUSCULAR_GLOBAL]
        if after - before >= WORSE_GLOBAL_RISE_CM:
            criteria.append(CRITERION_EXTRAMUSCULAR)
    worsened = tuple(
        measure
        for measure, (before, after) in present.items()
        if _worse_by_at_least(measure, before, after, WORSE_MEASURE_FRACTION)
    )
    if len(worsened) >= WORSE_MEASURES_NEEDED:
        criteria.append(CRITERION_THREE_OF_FIVE)
    return VisitWorsening(label=label, criteria=tuple(criteria), worsened_measures=worsened, missing=missing)


@dataclass(frozen=True)
class DeteriorationResult:
    """ProDERM confirmed deterioration over a series of follow-up visits.

    ``visits`` holds every visit's worsening check in order; ``confirmed_pairs`` each pair of
    consecutive visit labels that were both worse; ``confirmed_on`` the later label of the first pair.

    >>> DeteriorationResult(visits=(), confirmed_pairs=((2, 3),)).confirmed_on
    3
    """

    visits: tuple[VisitWorsening, ...]
    confirmed_pairs: tuple[tuple[date | int, date | int], ...]

    @property
    def confirmed(self) -> bool:
        return bool(self.confirmed_pairs)

    @property
    def confirmed_on(self) -> date | int | None:
        return self.confirmed_pairs[0][1] if self.confirmed_pairs else None

    def to_dict(self) -> dict[str, Any]:
        def label(value: date | int) -> str | int:
            return value.isoformat() if isinstance(value, date) else value

        return {
            "confirmed": self.confirmed,
            "confirmed_on": None if self.confirmed_on is None else label(self.confirmed_on),
            "confirmed_pairs": [[label(first), label(second)] for first, second in self.confirmed_pairs],
            "visits": [visit.to_dict() for visit in self.visits],
        }


def _check_labels(followups: Sequence[Any]) -> list[tuple[date | int, CoreSetMeasures]]:
    if isinstance(followups, str | bytes) or not isinstance(followups, Sequence):
        raise TypeError(f"followups: expected a sequence of (date or visit index, CoreSetMeasures), got {followups!r}")
    checked: list[tuple[date | int, CoreSetMeasures]] = []
    for position, item in enumerate(followups):
        if not isinstance(item, Sequence) or len(item) != 2:
            raise FieldError("followups", f"item {position} must be (date or visit index, CoreSetMeasures)")
        label, visit = item
        is_index = isinstance(label, int) and not isinstance(label, bool)
        if not (is_index or isinstance(label, date)):
            raise FieldError("followups", f"label {label!r} must be a date or an int visit index")
        checked.append((label, _check_visit(f"followups[{position}]", visit)))
    labels = [label for label, _ in checked]
    if len({isinstance(label, date) for label in labels}) > 1:
        raise FieldError("followups", "labels must be all dates or all visit indices, not a mix")
    for earlier, later in zip(labels, labels[1:], strict=False):
        # Consecutive means adjacent in time, so an out-of-order list would pair the wrong visits.
        if not earlier < later:
            raise FieldError(
                "followups", f"visits must be in order with distinct labels; {later!r} follows {earlier!r}"
            )
    return checked


def confirmed_deterioration(
    baseline: CoreSetMeasures, followups: Sequence[tuple[date | int, CoreSetMeasures]]
) -> DeteriorationResult:
    """ProDERM confirmed deterioration: worse than baseline at two consecutive follow-up visits.

    ``followups`` is ordered oldest first, each a ``(date or visit index, CoreSetMeasures)``.
    The two visits need not meet the same criterion; each must meet at least one.

    >>> base = CoreSetMeasures(physician_global="4", patient_global="4", mmt=100, haq="1",
    ...                        extramuscular_global="2", enzymes={})
    >>> worse = CoreSetMeasures(physician_global="4", patient_global="4", mmt=100, haq="1",
    ...                         extramuscular_global="4", enzymes={})
    >>> confirmed_deterioration(base, [(1, worse), (2, base), (3, worse), (4, worse)]).confirmed_pairs
    ((3, 4),)
    """
    baseline = _check_visit("baseline", baseline)
    checked = _check_labels(followups)
    visits = tuple(visit_worsening(baseline, visit, label=label) for label, visit in checked)
    pairs = tuple(
        (earlier.label, later.label)
        for earlier, later in zip(visits, visits[1:], strict=False)
        if earlier.worse and later.worse
    )
    return DeteriorationResult(visits=visits, confirmed_pairs=pairs)


def week16_responder(
    tis_total: Decimal | int | str | None, confirmed_deterioration: bool | DeteriorationResult
) -> bool:
    """ProDERM week-16 responder: TIS >= 20 and no confirmed deterioration up to week 16.

    An incomplete TIS (``None``) raises rather than reading as "not a responder".

    >>> week16_responder(Decimal("35.0"), False), week16_responder(Decimal("35.0"), True)
    (True, False)
    """
    if tis_total is None:
        raise FieldError("tis_total", "the TIS is incomplete, so response cannot be judged")
    total = _check_total("tis_total", tis_total)
    if isinstance(confirmed_deterioration, DeteriorationResult):
        deteriorated = confirmed_deterioration.confirmed
    elif isinstance(confirmed_deterioration, bool):
        deteriorated = confirmed_deterioration
    else:
        kind = type(confirmed_deterioration).__name__
        raise TypeError(f"confirmed_deterioration: expected bool or DeteriorationResult, got {kind}")
    return total >= RESPONDER_MIN_TIS and not deteriorated
