"""visits.instruments: the MMT-8 total and the HAQ-DI index, as tables of worked cases plus the
invariants (no result outside the instrument's range, impossible input refused by name)."""

import doctest
from decimal import Decimal
from itertools import product

import pytest

from visits import instruments, tis

UNILATERAL = ["neck", "deltoid", "biceps", "wrist", "glut_max", "glut_med", "quadriceps", "ankle"]
BILATERAL = ["neck"] + [f"{group}_{side}" for group in UNILATERAL[1:] for side in ("right", "left")]
HAQ = ["dressing", "arising", "eating", "walking", "hygiene", "reach", "grip", "activities"]


def test_doctests():
    failures, attempted = doctest.testmod(instruments)
    assert (failures, attempted > 0) == (0, True)


# ----------------------------------------------------------------------------------- MMT-8


@pytest.mark.parametrize(
    ("grades", "bilateral", "total"),
    [
        ([9, 8, 9, 10, 7, 8, 9, 8], False, Decimal(68)),
        ([0] * 8, False, Decimal(0)),
        ([10] * 8, False, Decimal(80)),
        ([10] * 15, True, Decimal(150)),
        ([5] * 15, True, Decimal(75)),
        ([10] + [9, 8] * 7, True, Decimal(129)),
    ],
)
def test_mmt8_total(grades, bilateral, total):
    names = BILATERAL if bilateral else UNILATERAL
    assert instruments.mmt8_total(dict(zip(names, grades, strict=True)), bilateral=bilateral) == total


def test_mmt8_maxima_are_the_scales_the_tis_knows():
    assert instruments.mmt8_total(dict.fromkeys(UNILATERAL, 10), bilateral=False) == tis.MMT8_UNILATERAL_MAX
    assert instruments.mmt8_total(dict.fromkeys(BILATERAL, 10), bilateral=True) == tis.MMT8_BILATERAL_MAX


@pytest.mark.parametrize(
    ("grades", "bilateral", "message"),
    [
        (dict.fromkeys(UNILATERAL[:7], 5), False, "unilateral MMT-8 needs 8 grades, got 7"),
        (dict.fromkeys(UNILATERAL, 5), True, "bilateral MMT-8 needs 15 grades, got 8"),
        (dict.fromkeys(BILATERAL, 5), False, "unilateral MMT-8 needs 8 grades, got 15"),
        ({**dict.fromkeys(UNILATERAL, 5), "ankle": 11}, False, "ankle must be a whole grade from 0 to 10, not 11"),
        ({**dict.fromkeys(UNILATERAL, 5), "neck": -1}, False, "neck must be a whole grade"),
        ({**dict.fromkeys(UNILATERAL, 5), "neck": 4.5}, False, "neck must be a whole grade"),
        ({**dict.fromkeys(UNILATERAL, 5), "neck": Decimal("4.5")}, False, "neck must be a whole grade"),
        ({**dict.fromkeys(UNILATERAL, 5), "neck": True}, False, "neck must be a whole grade"),
        ({**dict.fromkeys(UNILATERAL, 5), "neck": None}, False, "neck must be a whole grade"),
    ],
)
def test_mmt8_total_refuses_impossible_grades(grades, bilateral, message):
    with pytest.raises(ValueError, match=f"^grades: {message}"):
        instruments.mmt8_total(grades, bilateral=bilateral)


# ----------------------------------------------------------------------------------- HAQ-DI


@pytest.mark.parametrize(
    ("score", "aids", "category_score"),
    [(0, False, 0), (0, True, 2), (1, False, 1), (1, True, 2), (2, True, 2), (3, False, 3), (3, True, 3)],
)
def test_haq_category_score(score, aids, category_score):
    assert instruments.haq_category_score(score, aids=aids) == category_score


@pytest.mark.parametrize("score", [-1, 4, 1.5, Decimal("1"), True, None, "2"])
def test_haq_category_score_refuses_what_is_not_0_to_3(score):
    with pytest.raises(ValueError, match="^score: must be a whole number from 0 to 3"):
        instruments.haq_category_score(score, aids=False)


@pytest.mark.parametrize(
    ("scores", "index"),
    [
        ([2, 1, 1, 1, 1, 1, 1, 1], Decimal("1.125")),  # 9 / 8, exact
        ([0] * 8, Decimal("0.000")),
        ([3] * 8, Decimal("3.000")),
        ([1, 2, 1, 2, 1, 3], Decimal("1.667")),  # 10 / 6 = 1.6666...: half up at the third decimal
        ([2, 2, 2, 1, 1, 1], Decimal("1.500")),
        ([1, 1, 1, 1, 1, 1, 2], Decimal("1.143")),  # 8 / 7 = 1.142857...
        ([1, 1, 1, 1, 1, 2, 2], Decimal("1.286")),  # 9 / 7 = 1.285714...
        ([0, 0, 0, 0, 0, 1], Decimal("0.167")),  # 1 / 6 = 0.1666...
    ],
)
def test_haq_index(scores, index):
    result = instruments.haq_index(dict(zip(HAQ, scores, strict=False)))
    assert result == index
    assert result.as_tuple().exponent == -3  # as stored: three decimal places


@pytest.mark.parametrize("answered", [6, 7, 8])
def test_haq_index_stays_within_0_to_3_and_within_half_a_thousandth_of_the_mean(answered):
    for scores in product(range(4), repeat=answered):  # every possible answer sheet
        index = instruments.haq_index(dict(zip(HAQ, scores, strict=False)))
        assert Decimal(0) <= index <= tis.HAQ_MAX
        assert abs(index - Decimal(sum(scores)) / Decimal(answered)) <= Decimal("0.0005")


@pytest.mark.parametrize(
    ("scores", "message"),
    [
        (dict(zip(HAQ, [1] * 5, strict=False)), "6 to 8 categories are needed, got 5"),
        ({}, "6 to 8 categories are needed, got 0"),
        ({**dict(zip(HAQ, [1] * 8, strict=True)), "extra": 1}, "6 to 8 categories are needed, got 9"),
        ({**dict(zip(HAQ, [1] * 8, strict=True)), "grip": 4}, "grip must be a whole number from 0 to 3, not 4"),
        ({**dict(zip(HAQ, [1] * 8, strict=True)), "reach": 1.5}, "reach must be a whole number"),
        ({**dict(zip(HAQ, [1] * 8, strict=True)), "reach": False}, "reach must be a whole number"),
    ],
)
def test_haq_index_refuses_impossible_input(scores, message):
    with pytest.raises(ValueError, match=f"^category_scores: {message}"):
        instruments.haq_index(scores)
