"""Tests for visits.tis against /work/shared/reference/tis.md. No Django, no database."""

import dataclasses
import doctest
import inspect
import json
import re
from datetime import date
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from visits import tis
from visits.tis import (
    ENZYME_RANGE_ULN_MULTIPLE,
    ENZYMES,
    MEASURES,
    MMT_SCALE_MAXIMA,
    POINTS_PER_BAND,
    CoreSetMeasures,
    DeteriorationResult,
    EnzymeReading,
    confirmed_deterioration,
    enzyme_range,
    improvement_category,
    most_abnormal_enzyme,
    percent_change,
    points_for,
    total_improvement_score,
    visit_worsening,
    week16_responder,
)

# The worked example's baseline in tis.md; most tests change one measure of it at a time.
BASELINE = {
    "physician_global": "6",
    "patient_global": "7",
    "mmt": "60",
    "haq": "1.5",
    "extramuscular_global": "4",
    "enzymes": {"ck": ("3000", "200")},
}


def visit(**overrides):
    return CoreSetMeasures(**{**BASELINE, **overrides})


def score(baseline, followup, *, population="adult", mmt_max=80):
    return total_improvement_score(baseline, followup, population=population, mmt_max=mmt_max)


# --- Worked example (tis.md) ---------------------------------------------------------------------

WORKED_FOLLOWUP = {
    "physician_global": "4.5",
    "patient_global": "5.5",
    "mmt": "68",
    "haq": "1.05",
    "extramuscular_global": "2.5",
    "enzymes": {"ck": ("2550", "200")},
}


@pytest.mark.parametrize("population", ["adult", "juvenile"])
def test_worked_example_scores_35_minimal(population):
    result = score(visit(), visit(**WORKED_FOLLOWUP), population=population, mmt_max=80)

    assert result.total == Decimal(35)
    assert result.category == "minimal"
    assert result.missing == ()
    assert {m: (s.percent_change_exact, s.points) for m, s in result.measures.items()} == {
        "physician_global": (15, Decimal("7.5")),
        "patient_global": (15, Decimal("2.5")),
        "mmt": (10, Decimal("10")),
        "haq": (15, Decimal("5")),
        "enzyme": (15, Decimal("2.5")),
        "extramuscular_global": (15, Decimal("7.5")),
    }


def test_worked_example_to_dict_matches_api_shape():
    data = score(visit(), visit(**WORKED_FOLLOWUP)).to_dict()

    assert data == {
        "total": "35.0",
        "category": "minimal",
        "measures": {
            "physician_global": {"percent_change": "15.00", "points": "7.5"},
            "patient_global": {"percent_change": "15.00", "points": "2.5"},
            "mmt": {"percent_change": "10.00", "points": "10.0"},
            "haq": {"percent_change": "15.00", "points": "5.0"},
            "enzyme": {
                "percent_change": "15.00",
                "points": "2.5",
                "name": "ck",
                "uln": "200",
                "followup_uln": "200",
                "range": "3000",
                "range_uln_multiple": 15,
            },
            "extramuscular_global": {"percent_change": "15.00", "points": "7.5"},
        },
        "missing": [],
    }
    assert json.loads(json.dumps(data)) == data


# --- Exact arithmetic ----------------------------------------------------------------------------


def test_float_trap_2_2_to_0_7_cm_is_exactly_15_percent():
    # The reason floats are banned: binary floats put this change just above the 15 % edge.
    assert (2.2 - 0.7) / 10 * 100 == 15.000000000000002

    assert percent_change("physician_global", "2.2", "0.7") == Fraction(15)
    assert points_for("physician_global", percent_change("physician_global", "2.2", "0.7")) == Decimal("7.5")
    result = score(visit(physician_global="2.2"), visit(physician_global="0.7"))
    assert result.measures["physician_global"].percent_change == Decimal("15.00")
    assert result.measures["physician_global"].points == Decimal("7.5")


@pytest.mark.parametrize(
    ("measure", "baseline", "followup", "kwargs", "expected"),
    [
        ("physician_global", "6", "4.5", {}, Fraction(15)),
        ("patient_global", "3", "5", {}, Fraction(-20)),
        ("extramuscular_global", "0", "0", {}, Fraction(0)),
        ("haq", "1.5", "1.4", {}, Fraction(10, 3)),
        ("mmt", "60", "68", {"mmt_max": 80}, Fraction(10)),
        ("mmt", "100", "101", {"mmt_max": 150}, Fraction(2, 3)),
        ("mmt", "20", "21", {"mmt_max": 52}, Fraction(25, 13)),
        ("enzyme", "3000", "2550", {"enzyme_range_u_per_l": "3000"}, Fraction(15)),
        ("enzyme", "10", "40", {"enzyme_range_u_per_l": "24"}, Fraction(-125)),
    ],
)
def test_percent_change_uses_instrument_range_not_baseline(measure, baseline, followup, kwargs, expected):
    assert percent_change(measure, baseline, followup, **kwargs) == expected


@pytest.mark.parametrize(
    ("enzyme", "uln", "expected"),
    [("ck", "200", "3000"), ("aldolase", "8", "24"), ("ast", "40", "120"), ("alt", "45", "135"), ("ldh", "250", "750")],
)
def test_enzyme_range_is_15_uln_for_ck_and_3_uln_for_the_others(enzyme, uln, expected):
    assert enzyme_range(enzyme, uln) == Decimal(expected)


def test_enzyme_range_rule_is_kept_in_one_place_and_flagged_unconfirmed():
    assert dict(ENZYME_RANGE_ULN_MULTIPLE) == {"ck": 15, "aldolase": 3, "ast": 3, "alt": 3, "ldh": 3}
    assert tis.ENZYME_RANGE_RULE_CONFIRMED is False
    assert "not confirmed" in tis.ENZYME_RANGE_RULE_NOTE


# --- Points per band -----------------------------------------------------------------------------

PERCENT_CHECKPOINTS = ("-100", "0", "5", "5.01", "15", "15.01", "25", "25.01", "40", "40.01", "100")
MMT_CHECKPOINTS = ("-100", "0", "2", "2.01", "10", "10.01", "20", "20.01", "30", "30.01", "100")
# Typed from the tables in tis.md, one value per checkpoint above.
EXPECTED_POINTS = {
    "physician_global": ("0", "0", "0", "7.5", "7.5", "15", "15", "17.5", "17.5", "20", "20"),
    "patient_global": ("0", "0", "0", "2.5", "2.5", "5", "5", "7.5", "7.5", "10", "10"),
    "mmt": ("0", "0", "0", "10", "10", "20", "20", "27.5", "27.5", "32.5", "32.5"),
    "haq": ("0", "0", "0", "5", "5", "7.5", "7.5", "7.5", "7.5", "10", "10"),
    "enzyme": ("0", "0", "0", "2.5", "2.5", "5", "5", "7.5", "7.5", "7.5", "7.5"),
    "extramuscular_global": ("0", "0", "0", "7.5", "7.5", "12.5", "12.5", "15", "15", "20", "20"),
}
BAND_CASES = [
    (measure, percent, expected)
    for measure, expected_points in EXPECTED_POINTS.items()
    for percent, expected in zip(
        MMT_CHECKPOINTS if measure == "mmt" else PERCENT_CHECKPOINTS, expected_points, strict=True
    )
]


@pytest.mark.parametrize(("measure", "percent", "expected"), BAND_CASES)
def test_points_per_band_with_closed_upper_edges(measure, percent, expected):
    assert points_for(measure, percent) == Decimal(expected)


@pytest.mark.parametrize("measure", MEASURES)
def test_a_hair_above_an_edge_moves_up_a_band(measure):
    edges = (2, 10, 20, 30) if measure == "mmt" else (5, 15, 25, 40)
    hair = Fraction(1, 10**12)
    for band, edge in enumerate(edges):
        assert points_for(measure, Fraction(edge)) == POINTS_PER_BAND[measure][band]
        assert points_for(measure, edge + hair) == POINTS_PER_BAND[measure][band + 1]


def test_maximum_points_add_up_to_100():
    assert sum(points[-1] for points in POINTS_PER_BAND.values()) == Decimal(100)


def _vas_rows(measure, points):
    # Baseline 10 cm: a fall of 0.5 cm is exactly 5 %, 0.51 cm is 5.1 %, and so on.
    followups = ("9.5", "9.49", "8.5", "8.49", "7.5", "7.49", "6", "5.99")
    return [(measure, "10", followup, 80, expected) for followup, expected in zip(followups, points, strict=True)]


# (measure, baseline, follow-up, mmt_max, points) with real visit values landing on each edge.
EDGE_VISITS = [
    *_vas_rows("physician_global", ("0", "7.5", "7.5", "15", "15", "17.5", "17.5", "20")),
    *_vas_rows("patient_global", ("0", "2.5", "2.5", "5", "5", "7.5", "7.5", "10")),
    *_vas_rows("extramuscular_global", ("0", "7.5", "7.5", "12.5", "12.5", "15", "15", "20")),
    ("haq", "3", "2.85", 80, "0"),
    ("haq", "3", "2.849", 80, "5"),
    ("haq", "3", "2.55", 80, "5"),
    ("haq", "3", "2.549", 80, "7.5"),
    ("haq", "3", "2.25", 80, "7.5"),
    ("haq", "3", "2.249", 80, "7.5"),
    ("haq", "3", "1.8", 80, "7.5"),
    ("haq", "3", "1.799", 80, "10"),
    # MMT-8 bilateral 0-150: 3 points is exactly 2 %, 15 is 10 %, 30 is 20 %, 45 is 30 %.
    ("mmt", "100", "103", 150, "0"),
    ("mmt", "100", "104", 150, "10"),
    ("mmt", "100", "115", 150, "10"),
    ("mmt", "100", "116", 150, "20"),
    ("mmt", "100", "130", 150, "20"),
    ("mmt", "100", "131", 150, "27.5"),
    ("mmt", "100", "145", 150, "27.5"),
    ("mmt", "100", "146", 150, "32.5"),
    # MMT-8 unilateral 0-80: 1.6 is exactly 2 %, 8 is 10 %, 16 is 20 %, 24 is 30 %.
    ("mmt", "40", "41.6", 80, "0"),
    ("mmt", "40", "41.7", 80, "10"),
    ("mmt", "40", "48", 80, "10"),
    ("mmt", "40", "56", 80, "20"),
    ("mmt", "40", "64", 80, "27.5"),
    ("mmt", "40", "64.1", 80, "32.5"),
]
# CK with ULN 200 has a range of 3000 U/L: 150 is exactly 5 %, 450 is 15 %, 750 is 25 %, 1200 is 40 %.
ENZYME_EDGE_VISITS = [
    ("ck", "3000", "2850", "200", "0"),
    ("ck", "3000", "2849", "200", "2.5"),
    ("ck", "3000", "2550", "200", "2.5"),
    ("ck", "3000", "2549", "200", "5"),
    ("ck", "3000", "2250", "200", "5"),
    ("ck", "3000", "2249", "200", "7.5"),
    ("ck", "3000", "1800", "200", "7.5"),
    ("ck", "3000", "1799", "200", "7.5"),
    # Aldolase with ULN 8 has a range of 24 U/L: 1.2 is exactly 5 %, 3.6 is 15 %.
    ("aldolase", "40", "38.8", "8", "0"),
    ("aldolase", "40", "38.79", "8", "2.5"),
    ("aldolase", "40", "36.4", "8", "2.5"),
    ("aldolase", "40", "36.39", "8", "5"),
]


@pytest.mark.parametrize(("measure", "baseline", "followup", "mmt_max", "expected"), EDGE_VISITS)
def test_band_edges_through_whole_visits(measure, baseline, followup, mmt_max, expected):
    result = score(visit(**{measure: baseline}), visit(**{measure: followup}), mmt_max=mmt_max)

    assert result.measures[measure].points == Decimal(expected)
    assert result.total == Decimal(expected)


@pytest.mark.parametrize(("enzyme", "baseline", "followup", "uln", "expected"), ENZYME_EDGE_VISITS)
def test_enzyme_band_edges_through_whole_visits(enzyme, baseline, followup, uln, expected):
    result = score(visit(enzymes={enzyme: (baseline, uln)}), visit(enzymes={enzyme: (followup, uln)}))

    assert result.measures["enzyme"].points == Decimal(expected)
    assert result.total == Decimal(expected)


@pytest.mark.parametrize(
    ("measure", "followup"),
    [
        ("physician_global", "10"),
        ("patient_global", "7.1"),
        ("mmt", "20"),
        ("haq", "3"),
        ("extramuscular_global", "4.5"),
    ],
)
def test_worsening_scores_zero_never_negative(measure, followup):
    result = score(visit(), visit(**{measure: followup}))

    assert result.measures[measure].percent_change_exact < 0
    assert result.measures[measure].points == 0
    assert result.total == 0
    assert result.category == "none"


def test_rising_enzyme_scores_zero():
    result = score(visit(), visit(enzymes={"ck": ("9000", "200")}))

    assert result.measures["enzyme"].percent_change_exact == -200
    assert result.measures["enzyme"].points == 0


def test_baseline_of_zero_needs_no_division_by_baseline():
    baseline = visit(physician_global="0", patient_global="0", mmt="0", haq="0", enzymes={"ck": ("0", "200")})
    followup = visit(physician_global="0", patient_global="3", mmt="40", haq="0", enzymes={"ck": ("0", "200")})

    result = score(baseline, followup, mmt_max=80)

    assert result.measures["physician_global"].percent_change_exact == 0
    assert result.measures["patient_global"].percent_change_exact == -30
    assert result.measures["mmt"].percent_change_exact == 50
    assert result.measures["enzyme"].enzyme == "ck"
    assert result.total == Decimal("32.5")


def test_displayed_percent_never_crosses_a_band_edge():
    # 150.1 / 3000 = 5.00333 %: rounding to nearest would show "5.00" beside 2.5 points.
    result = score(visit(), visit(enzymes={"ck": ("2849.9", "200")}))

    assert result.measures["enzyme"].percent_change == Decimal("5.01")
    assert result.measures["enzyme"].points == Decimal("2.5")


# --- Categories ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("population", "total", "expected"),
    [
        ("adult", "0", "none"),
        ("adult", "17.5", "none"),
        ("adult", "20", "minimal"),
        ("adult", "37.5", "minimal"),
        ("adult", "40", "moderate"),
        ("adult", "57.5", "moderate"),
        ("adult", "60", "major"),
        ("adult", "100", "major"),
        ("juvenile", "0", "none"),
        ("juvenile", "27.5", "none"),
        ("juvenile", "30", "minimal"),
        ("juvenile", "42.5", "minimal"),
        ("juvenile", "45", "moderate"),
        ("juvenile", "67.5", "moderate"),
        ("juvenile", "70", "major"),
        ("juvenile", "100", "major"),
    ],
)
def test_category_thresholds(population, total, expected):
    assert improvement_category(total, population=population) == expected


@pytest.mark.parametrize(("population", "expected"), [("adult", "minimal"), ("juvenile", "none")])
def test_same_27_5_total_is_minimal_for_adults_but_none_for_juveniles(population, expected):
    # MMT 60 -> 77 of 80 is 21.25 %: 27.5 points, every other measure unchanged.
    result = score(visit(), visit(mmt="77"), population=population)

    assert result.total == Decimal("27.5")
    assert result.category == expected


# --- MMT scales ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mmt_max", "expected_percent", "expected_points"),
    [(80, Fraction(10), "10"), (150, Fraction(16, 3), "10"), (52, Fraction(200, 13), "20")],
)
def test_same_mmt_rise_scored_against_each_scale(mmt_max, expected_percent, expected_points):
    result = score(visit(mmt="40"), visit(mmt="48"), mmt_max=mmt_max)

    assert result.measures["mmt"].percent_change_exact == expected_percent
    assert result.measures["mmt"].points == Decimal(expected_points)


def test_mmt_scale_maxima():
    assert MMT_SCALE_MAXIMA == (80, 150, 52)


@pytest.mark.parametrize(("mmt_max", "mmt"), [(80, "81"), (52, "53"), (150, "150.5")])
def test_mmt_above_the_chosen_scale_is_rejected(mmt_max, mmt):
    with pytest.raises(ValueError, match=r"^mmt: "):
        score(visit(), visit(mmt=mmt), mmt_max=mmt_max)


# --- Enzyme choice -------------------------------------------------------------------------------

PANEL = {"ck": ("1000", "200"), "aldolase": ("48", "8")}  # CK 5x ULN, aldolase 6x ULN


def test_enzyme_chosen_by_multiple_of_uln_not_raw_value():
    assert most_abnormal_enzyme(PANEL) == "aldolase"


def test_chosen_enzyme_is_followed_at_follow_up():
    baseline = visit(enzymes=PANEL)
    ck_falls = visit(enzymes={"ck": ("200", "200"), "aldolase": ("48", "8")})
    aldolase_falls = visit(enzymes={"ck": ("5000", "200"), "aldolase": ("24", "8")})

    assert score(baseline, ck_falls).measures["enzyme"].points == 0
    falls = score(baseline, aldolase_falls).measures["enzyme"]
    assert (falls.enzyme, falls.uln_u_per_l, falls.range_u_per_l) == ("aldolase", Decimal(8), Decimal(24))
    assert falls.percent_change_exact == 100
    assert falls.points == Decimal("7.5")


@pytest.mark.parametrize(
    ("panel", "expected"),
    [
        ({"ldh": ("500", "250"), "ck": ("400", "200")}, "ck"),
        ({"alt": ("90", "45"), "ast": ("80", "40")}, "ast"),
        ({"ldh": ("250", "250"), "aldolase": ("8", "8")}, "aldolase"),
        ({"ldh": ("251", "250"), "aldolase": ("8", "8")}, "ldh"),
        ({"ast": ("0", "40")}, "ast"),
        ({}, None),
    ],
)
def test_enzyme_ties_go_to_the_fixed_order(panel, expected):
    assert most_abnormal_enzyme(panel) == expected


def test_enzyme_range_uses_baseline_uln_and_reports_a_changed_one():
    result = score(visit(), visit(enzymes={"ck": ("2550", "180")}))

    enzyme = result.measures["enzyme"]
    assert (enzyme.uln_u_per_l, enzyme.followup_uln_u_per_l, enzyme.range_u_per_l) == (200, 180, 3000)
    assert enzyme.percent_change_exact == 15


# --- Incomplete ----------------------------------------------------------------------------------

SCALARS = ("physician_global", "patient_global", "mmt", "haq", "extramuscular_global")


@pytest.mark.parametrize("at", ["baseline", "followup"])
@pytest.mark.parametrize("measure", SCALARS)
def test_missing_measure_makes_result_incomplete_and_names_it(measure, at):
    baseline = visit(**{measure: None}) if at == "baseline" else visit()
    followup = visit(**{measure: None}) if at == "followup" else visit(**WORKED_FOLLOWUP)

    result = score(baseline, followup)

    assert result.total is None
    assert result.category == "incomplete"
    assert result.missing == (measure,)
    assert result.measures[measure].points is None
    data = result.to_dict()
    assert (data["total"], data["missing"]) == (None, [measure])
    assert data["measures"][measure] == {"percent_change": None, "points": None}


@pytest.mark.parametrize(
    ("baseline_enzymes", "followup_enzymes"),
    [
        ({}, {"ck": ("2550", "200")}),
        ({"ck": ("3000", "200")}, {}),
        ({"ck": ("3000", "200")}, {"aldolase": ("10", "8")}),  # wrong enzyme at follow-up
    ],
)
def test_missing_enzyme_makes_result_incomplete(baseline_enzymes, followup_enzymes):
    result = score(visit(enzymes=baseline_enzymes), visit(**{**WORKED_FOLLOWUP, "enzymes": followup_enzymes}))

    assert (result.total, result.category, result.missing) == (None, "incomplete", ("enzyme",))
    assert result.measures["enzyme"].points is None


def test_missing_measures_listed_once_in_measure_order():
    baseline = visit(haq=None, physician_global=None, enzymes={})
    followup = visit(haq=None, extramuscular_global=None)

    result = score(baseline, followup)

    assert result.missing == ("physician_global", "haq", "enzyme", "extramuscular_global")
    assert list(result.measures) == list(MEASURES)


# --- Invariants ----------------------------------------------------------------------------------

VAS_CM = st.integers(0, 100).map(lambda mm: Decimal(mm) / 10)
HAQ_SCORE = st.integers(0, 24).map(lambda eighths: Decimal(eighths) * Decimal("0.125"))


@st.composite
def visit_pairs(draw):
    mmt_max = draw(st.sampled_from(MMT_SCALE_MAXIMA))
    names = draw(st.lists(st.sampled_from(ENZYMES), min_size=1, unique=True))
    ulns = {name: draw(st.integers(1, 1000)) for name in names}

    def one_visit():
        return CoreSetMeasures(
            physician_global=draw(VAS_CM),
            patient_global=draw(VAS_CM),
            mmt=Decimal(draw(st.integers(0, mmt_max))),
            haq=draw(HAQ_SCORE),
            extramuscular_global=draw(VAS_CM),
            enzymes={name: (Decimal(draw(st.integers(0, 40 * uln))), Decimal(uln)) for name, uln in ulns.items()},
        )

    return mmt_max, one_visit(), one_visit()


@settings(max_examples=200)
@given(visit_pairs(), st.sampled_from(["adult", "juvenile"]))
def test_total_is_the_sum_of_points_within_0_to_100_in_steps_of_2_5(pair, population):
    mmt_max, baseline, followup = pair

    result = score(baseline, followup, population=population, mmt_max=mmt_max)

    assert result.total == sum(s.points for s in result.measures.values())
    assert 0 <= result.total <= 100
    assert result.total % Decimal("2.5") == 0
    assert result.category == improvement_category(result.total, population=population)
    for measure, measure_score in result.measures.items():
        assert points_for(measure, measure_score.percent_change) == measure_score.points


@given(visit_pairs(), st.sampled_from(["adult", "juvenile"]))
def test_identical_visits_score_zero_and_none(pair, population):
    mmt_max, baseline, _ = pair

    result = score(baseline, baseline, population=population, mmt_max=mmt_max)

    assert (result.total, result.category) == (0, "none")


# --- ProDERM deterioration -----------------------------------------------------------------------

STABLE = {
    "physician_global": "4",
    "patient_global": "4",
    "mmt": "100",
    "haq": "1",
    "extramuscular_global": "2",
    "enzymes": {"ck": ("1000", "200")},
}


def stable(**overrides):
    return CoreSetMeasures(**{**STABLE, **overrides})


WORSE = stable(extramuscular_global="4")


@pytest.mark.parametrize(
    ("overrides", "criteria", "worsened"),
    [
        # Physician up 2 cm with MMT down 20 % of baseline; MMT alone is not 30 % worse.
        ({"physician_global": "6", "mmt": "80"}, ("physician_global_and_mmt",), ("physician_global",)),
        ({"physician_global": "5.9", "mmt": "80"}, (), ("physician_global",)),
        ({"physician_global": "6", "mmt": "81"}, (), ("physician_global",)),
        # Extramuscular up 2 cm.
        ({"extramuscular_global": "4"}, ("extramuscular_global",), ("extramuscular_global",)),
        ({"extramuscular_global": "3.9"}, (), ("extramuscular_global",)),
        # Three of five worse by 30 % of baseline.
        (
            {"patient_global": "5.2", "haq": "1.3", "mmt": "70"},
            ("three_of_five",),
            ("patient_global", "mmt", "haq"),
        ),
        ({"patient_global": "5.2", "haq": "1.29", "mmt": "70"}, (), ("patient_global", "mmt")),
        ({"patient_global": "5.2", "haq": "1.3", "mmt": "71"}, (), ("patient_global", "haq")),
        (
            {"physician_global": "5.2", "patient_global": "5.2", "haq": "1.3"},
            ("three_of_five",),
            ("physician_global", "patient_global", "haq"),
        ),
        # Enzymes play no part in worsening.
        ({"enzymes": {"ck": ("10000", "200")}}, (), ()),
        # All three at once.
        (
            {"physician_global": "6", "mmt": "70", "extramuscular_global": "4"},
            ("physician_global_and_mmt", "extramuscular_global", "three_of_five"),
            ("physician_global", "mmt", "extramuscular_global"),
        ),
    ],
)
def test_each_worsening_criterion(overrides, criteria, worsened):
    result = visit_worsening(stable(), stable(**overrides), label=1)

    assert result.criteria == criteria
    assert result.worsened_measures == worsened
    assert result.worse is bool(criteria)


@pytest.mark.parametrize(
    ("measure", "followup", "worse"),
    [("patient_global", "0.1", True), ("patient_global", "0", False), ("haq", "0.125", True), ("mmt", "0", False)],
)
def test_baseline_of_zero_is_worse_only_if_the_value_rose(measure, followup, worse):
    baseline = stable(**{measure: "0"})

    result = visit_worsening(baseline, stable(**{measure: followup}))

    assert (measure in result.worsened_measures) is worse


W = WORSE
N = stable()


@pytest.mark.parametrize(
    ("sequence", "pairs"),
    [
        ([], ()),
        ([W], ()),
        ([W, N], ()),
        ([N, W], ()),
        ([W, N, W], ()),
        ([W, N, W, N, W], ()),
        ([W, W], ((1, 2),)),
        ([N, W, W], ((2, 3),)),
        ([W, W, W], ((1, 2), (2, 3))),
        ([W, N, W, W], ((3, 4),)),
    ],
)
def test_confirmed_deterioration_needs_two_consecutive_worse_visits(sequence, pairs):
    result = confirmed_deterioration(stable(), list(enumerate(sequence, start=1)))

    assert result.confirmed_pairs == pairs
    assert result.confirmed is bool(pairs)
    assert result.confirmed_on == (pairs[0][1] if pairs else None)
    assert [v.worse for v in result.visits] == [v is W for v in sequence]


def test_consecutive_visits_may_be_worse_by_different_criteria():
    by_three = stable(patient_global="5.2", haq="1.3", mmt="70")

    result = confirmed_deterioration(stable(), [(1, WORSE), (2, by_three)])

    assert result.confirmed
    assert [v.criteria for v in result.visits] == [("extramuscular_global",), ("three_of_five",)]


def test_deterioration_with_dates_and_to_dict():
    visits = [(date(2024, 1, 10), N), (date(2024, 2, 7), W), (date(2024, 3, 6), W)]

    data = confirmed_deterioration(stable(), visits).to_dict()

    assert data["confirmed"] is True
    assert data["confirmed_on"] == "2024-03-06"
    assert data["confirmed_pairs"] == [["2024-02-07", "2024-03-06"]]
    assert data["visits"][1] == {
        "label": "2024-02-07",
        "worse": True,
        "criteria": ["extramuscular_global"],
        "worsened_measures": ["extramuscular_global"],
        "missing": [],
    }
    assert json.loads(json.dumps(data)) == data


@pytest.mark.parametrize(
    ("baseline", "followup", "criteria", "missing"),
    [
        # Physician global missing: the physician-and-MMT criterion cannot fire despite MMT -50 %.
        (stable(), stable(physician_global=None, mmt="50"), (), ("physician_global",)),
        (stable(mmt=None), stable(physician_global="8"), (), ("mmt",)),
        (stable(extramuscular_global=None), stable(extramuscular_global="9"), (), ("extramuscular_global",)),
        # Three present measures worse still fire, whatever the missing ones would have shown.
        (
            stable(),
            stable(physician_global=None, extramuscular_global=None, patient_global="6", haq="2", mmt="60"),
            ("three_of_five",),
            ("physician_global", "extramuscular_global"),
        ),
        (
            stable(),
            stable(patient_global=None, haq=None, mmt=None, physician_global="6"),
            (),
            ("patient_global", "mmt", "haq"),
        ),
    ],
)
def test_missing_measure_never_counts_as_worse(baseline, followup, criteria, missing):
    result = visit_worsening(baseline, followup)

    assert (result.criteria, result.missing) == (criteria, missing)


@pytest.mark.parametrize(
    "followups",
    [
        [(2, N), (1, N)],
        [(1, N), (1, N)],
        [(date(2024, 2, 1), N), (date(2024, 1, 1), N)],
        [(1, N), (date(2024, 1, 1), N)],
        [("week 4", N)],
        [(True, N)],
        [(1, N, "extra")],
    ],
)
def test_follow_ups_must_be_ordered_and_labelled(followups):
    with pytest.raises(ValueError, match=r"^followups: "):
        confirmed_deterioration(stable(), followups)


# --- Week-16 responder ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "deteriorated", "expected"),
    [
        ("20", False, True),
        ("17.5", False, False),
        ("100", True, False),
        ("35", DeteriorationResult(visits=(), confirmed_pairs=()), True),
        ("35", DeteriorationResult(visits=(), confirmed_pairs=((1, 2),)), False),
    ],
)
def test_week16_responder(total, deteriorated, expected):
    assert week16_responder(total, deteriorated) is expected


# --- Validation ----------------------------------------------------------------------------------

VALUE_ERRORS = [
    ("physician_global: must be between 0 and 10 cm", lambda: visit(physician_global="10.1")),
    ("physician_global: ", lambda: visit(physician_global="-0.1")),
    ("physician_global: ", lambda: visit(physician_global="NaN")),
    ("patient_global: ", lambda: visit(patient_global="11")),
    ("extramuscular_global: ", lambda: visit(extramuscular_global="Infinity")),
    ("haq: must be between 0 and 3", lambda: visit(haq="3.01")),
    ("haq: 'one' is not a number", lambda: visit(haq="one")),
    ("mmt: ", lambda: visit(mmt="-1")),
    ("mmt: ", lambda: visit(mmt="151")),
    ("enzymes.ck.value_u_per_l: ", lambda: visit(enzymes={"ck": ("-1", "200")})),
    ("enzymes.ck.uln_u_per_l: ", lambda: visit(enzymes={"ck": ("100", "0")})),
    ("enzymes.ldh: ", lambda: visit(enzymes={"ldh": ("100",)})),
    ("enzymes: unknown enzyme 'cpk'", lambda: visit(enzymes={"cpk": ("100", "200")})),
    ("value_u_per_l: ", lambda: EnzymeReading(value_u_per_l="-5", uln_u_per_l="200")),
    ("uln_u_per_l: ", lambda: EnzymeReading(value_u_per_l="5", uln_u_per_l="-200")),
    ("population: ", lambda: score(visit(), visit(), population="child")),
    ("mmt_max: ", lambda: score(visit(), visit(), mmt_max=100)),
    ("total: ", lambda: improvement_category("102.5", population="adult")),
    ("total: ", lambda: improvement_category("-2.5", population="adult")),
    ("total: ", lambda: improvement_category("12.3", population="adult")),
    ("population: ", lambda: improvement_category("20", population="Adult")),
    ("measure: ", lambda: points_for("cmas", 10)),
    ("percent_change: ", lambda: points_for("mmt", "ten")),
    ("mmt_max: ", lambda: percent_change("mmt", "60", "68")),
    ("mmt_max: ", lambda: percent_change("haq", "1", "0.5", mmt_max=80)),
    ("mmt: ", lambda: percent_change("mmt", "60", "90", mmt_max=80)),
    ("enzyme_range_u_per_l: ", lambda: percent_change("enzyme", "100", "50")),
    ("enzyme_range_u_per_l: ", lambda: percent_change("enzyme", "100", "50", enzyme_range_u_per_l="0")),
    ("enzyme: ", lambda: percent_change("enzyme", "-1", "50", enzyme_range_u_per_l="3000")),
    ("uln_u_per_l: ", lambda: enzyme_range("ck", "0")),
    ("enzyme: ", lambda: enzyme_range("cpk", "200")),
    ("tis_total: ", lambda: week16_responder(None, False)),
    ("tis_total: ", lambda: week16_responder("101", False)),
]


@pytest.mark.parametrize(("prefix", "call"), VALUE_ERRORS, ids=[prefix for prefix, _ in VALUE_ERRORS])
def test_value_error_message_starts_with_the_field(prefix, call):
    with pytest.raises(ValueError, match=rf"^{re.escape(prefix)}"):
        call()


FLOAT_INPUTS = [
    ("physician_global: ", lambda: visit(physician_global=2.2)),
    ("mmt: ", lambda: visit(mmt=60.0)),
    ("enzymes.ck.value_u_per_l: ", lambda: visit(enzymes={"ck": (3000.0, "200")})),
    ("value_u_per_l: ", lambda: EnzymeReading(value_u_per_l=1.5, uln_u_per_l="8")),
    ("physician_global: ", lambda: percent_change("physician_global", 2.2, "0.7")),
    ("percent_change: ", lambda: points_for("haq", 15.0)),
    ("total: ", lambda: improvement_category(35.0, population="adult")),
    ("mmt_max: ", lambda: score(visit(), visit(), mmt_max=80.0)),
    ("uln_u_per_l: ", lambda: enzyme_range("ck", 200.0)),
    ("tis_total: ", lambda: week16_responder(35.0, False)),
    ("haq: ", lambda: visit(haq=True)),
    ("confirmed_deterioration: ", lambda: week16_responder("35", 0)),
    ("baseline: ", lambda: score({"haq": "1"}, visit())),
    ("enzymes: ", lambda: visit(enzymes=[("ck", ("1", "2"))])),
]


@pytest.mark.parametrize(("prefix", "call"), FLOAT_INPUTS, ids=[prefix for prefix, _ in FLOAT_INPUTS])
def test_floats_and_wrong_types_are_rejected_with_type_error(prefix, call):
    with pytest.raises(TypeError, match=rf"^{re.escape(prefix)}"):
        call()


def test_inputs_are_stored_as_decimal_and_frozen():
    measures = visit(mmt=60, haq="-0", enzymes={"ck": (3000, Decimal("200"))})

    assert measures.mmt == Decimal(60) and isinstance(measures.mmt, Decimal)
    assert str(measures.haq) == "0"
    assert measures.enzymes["ck"] == EnzymeReading(value_u_per_l=Decimal(3000), uln_u_per_l=Decimal(200))
    with pytest.raises(dataclasses.FrozenInstanceError):
        measures.haq = Decimal(1)
    with pytest.raises(TypeError):
        measures.enzymes["ldh"] = EnzymeReading(value_u_per_l="1", uln_u_per_l="1")


def test_every_field_is_required_so_missing_is_always_explicit():
    with pytest.raises(TypeError):
        CoreSetMeasures(physician_global="1", patient_global="1", mmt="1", haq="1", enzymes={})


# --- Docstrings ----------------------------------------------------------------------------------


def test_every_public_function_and_class_carries_a_worked_example():
    public = [
        obj
        for name, obj in vars(tis).items()
        if not name.startswith("_")
        and (inspect.isfunction(obj) or inspect.isclass(obj))
        and obj.__module__ == tis.__name__
    ]

    assert public
    assert [obj.__name__ for obj in public if ">>>" not in (obj.__doc__ or "")] == []


def test_docstring_examples_hold():
    failures, attempted = doctest.testmod(tis, verbose=False)

    assert attempted > 0
    assert failures == 0
