"""The sums behind two core set instruments: the MMT-8 total from per-muscle grades and the
HAQ-DI / CHAQ disability index from its 8 category scores.

Pure arithmetic, no Django: the visit form (visits/forms.py) checks what was typed and calls
these; their results are what a visit stores. Impossible input raises ``ValueError`` naming
the argument at fault; nothing is clamped.

- MMT-8 (Kendall 0–10 per muscle group): neck flexors once (axial), seven limb groups on one
  side (unilateral, 8 grades, 0–80) or on both sides (bilateral, 15 grades, 0–150).
- HAQ-DI: each category scored 0–3; a category done with aids, devices or help counts at least
  2; the index is the mean of the answered categories and needs at least 6 of the 8, stored to
  0.001 (rounded half up). The mean is taken exactly (as a fraction) before that one rounding.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from accounts.errors import FieldError

MMT8_GRADE_MAX = 10
MMT8_UNILATERAL_GRADES = 8
MMT8_BILATERAL_GRADES = 15

HAQ_CATEGORY_COUNT = 8
HAQ_CATEGORY_SCORE_MAX = 3
HAQ_AIDS_MINIMUM = 2
HAQ_MIN_CATEGORIES = 6
HAQ_PLACES = Decimal("0.001")  # as stored (Visit.haq_score has 3 decimal places)


def _whole(value: object, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def mmt8_total(grades: Mapping[str, int], *, bilateral: bool) -> Decimal:
    """The MMT-8 total: the sum of every group's grade, 8 grades (unilateral, 0–80) or 15 (bilateral, 0–150).

    Example: unilateral grades 9, 8, 9, 10, 7, 8, 9 and 8 make 68 of 80.

    >>> mmt8_total({"neck": 9, "deltoid": 8, "biceps": 9, "wrist": 10, "glut_max": 7,
    ...             "glut_med": 8, "quadriceps": 9, "ankle": 8}, bilateral=False)
    Decimal('68')
    """
    expected = MMT8_BILATERAL_GRADES if bilateral else MMT8_UNILATERAL_GRADES
    if len(grades) != expected:
        scale = "bilateral" if bilateral else "unilateral"
        raise FieldError("grades", f"{scale} MMT-8 needs {expected} grades, got {len(grades)}")
    for muscle, grade in grades.items():
        if not _whole(grade, 0, MMT8_GRADE_MAX):
            raise FieldError("grades", f"{muscle} must be a whole grade from 0 to {MMT8_GRADE_MAX}, not {grade!r}")
    return Decimal(sum(grades.values()))


def haq_category_score(score: int, *, aids: bool) -> int:
    """A HAQ-DI category's score: as answered (0–3), raised to at least 2 when done with aids,
    devices or help.

    Example: "with some difficulty" (1) using a device counts 2.

    >>> haq_category_score(1, aids=True), haq_category_score(1, aids=False), haq_category_score(3, aids=True)
    (2, 1, 3)
    """
    if not _whole(score, 0, HAQ_CATEGORY_SCORE_MAX):
        raise FieldError("score", f"must be a whole number from 0 to {HAQ_CATEGORY_SCORE_MAX}, not {score!r}")
    return max(score, HAQ_AIDS_MINIMUM) if aids else score


def haq_index(category_scores: Mapping[str, int]) -> Decimal:
    """HAQ-DI / CHAQ: the mean of the answered category scores, stored to 0.001.

    Means over 8 categories are exact at 0.001 (9 / 8 = 1.125); over 6 or 7 they are rounded
    half up at the third decimal (10 / 6 -> 1.667). Fewer than 6 answers is refused.

    Example: dressing 2 and the other seven categories 1 give 9 / 8.

    >>> haq_index({"dressing": 2, "arising": 1, "eating": 1, "walking": 1, "hygiene": 1,
    ...            "reach": 1, "grip": 1, "activities": 1})
    Decimal('1.125')
    """
    answered = len(category_scores)
    if not HAQ_MIN_CATEGORIES <= answered <= HAQ_CATEGORY_COUNT:
        raise FieldError(
            "category_scores", f"{HAQ_MIN_CATEGORIES} to {HAQ_CATEGORY_COUNT} categories are needed, got {answered}"
        )
    for category, score in category_scores.items():
        if not _whole(score, 0, HAQ_CATEGORY_SCORE_MAX):
            raise FieldError(
                "category_scores",
                f"{category} must be a whole number from 0 to {HAQ_CATEGORY_SCORE_MAX}, not {score!r}",
            )
    mean = Fraction(sum(category_scores.values()), answered)
    return (Decimal(mean.numerator) / Decimal(mean.denominator)).quantize(HAQ_PLACES, rounding=ROUND_HALF_UP)
