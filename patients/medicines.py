"""Which drug a medication's name is, and a glucocorticoid dose as prednisone.

Pure: no Django, no models. A small, sourced table, not a drug dictionary: it names the drug
classes the IVIG boxed warnings care about (estrogens for thrombosis, nephrotoxic drugs for the
kidneys), glucocorticoids (for steroid sparing) and the anticoagulants and immunosuppressants a
myositis clinic records. A name the table does not know is simply not recognised (``None``);
the person entering it still chooses the category.

Sources:
- classes and codes: WHO Collaborating Centre for Drug Statistics Methodology, ATC/DDD Index
  (G03A hormonal contraceptives for systemic use, G03C estrogens, G03F progestogens and estrogens
  in combination, M01A NSAIDs, J01G aminoglycosides, L04AD calcineurin inhibitors, C03C loop
  diuretics, V08A iodinated contrast media, H02AB glucocorticoids, B01A antithrombotics,
  L04A immunosuppressants);
- "use of estrogens" (thrombosis) and "nephrotoxic drugs" (renal dysfunction): the IVIG class
  boxed warning (../shared/reference/safety.md);
- glucocorticoid equivalence: ``GLUCOCORTICOID_EQUIVALENCE_SOURCE``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

ESTROGEN = "estrogen"
NEPHROTOXIC = "nephrotoxic"
GLUCOCORTICOID = "glucocorticoid"
ANTICOAGULANT = "anticoagulant"
IMMUNOSUPPRESSANT = "immunosuppressant"

GLUCOCORTICOID_EQUIVALENCE_SOURCE = (
    "BNF, 'Glucocorticoid therapy': equivalent anti-inflammatory doses — prednisolone 5 mg = "
    "prednisone 5 mg = methylprednisolone 4 mg = dexamethasone 750 micrograms = hydrocortisone 20 mg"
)

# mg of prednisone per mg of the drug (exact fractions: dexamethasone is 20/3).
PREDNISONE_PER_MG: dict[str, Fraction] = {
    "prednisone": Fraction(1),
    "prednisolone": Fraction(1),
    "methylprednisolone": Fraction(5, 4),
    "dexamethasone": Fraction(20, 3),
    "hydrocortisone": Fraction(1, 4),
}


@dataclass(frozen=True)
class DrugClass:
    category: str
    name: str
    atc: str
    why: str


_ESTROGEN = DrugClass(
    ESTROGEN,
    "estrogens and estrogen-containing contraceptives",
    "G03A, G03C, G03F",
    "boxed warning: use of estrogens raises the risk of thrombosis",
)
_NSAID = DrugClass(
    NEPHROTOXIC,
    "non-steroidal anti-inflammatory drugs",
    "M01A",
    "boxed warning: nephrotoxic drugs raise the risk of renal dysfunction",
)
_AMINOGLYCOSIDE = DrugClass(
    NEPHROTOXIC, "aminoglycosides", "J01G", "boxed warning: nephrotoxic drugs raise the risk of renal dysfunction"
)
_CALCINEURIN = DrugClass(
    NEPHROTOXIC,
    "calcineurin inhibitors",
    "L04AD",
    "boxed warning: nephrotoxic drugs raise the risk of renal dysfunction",
)
_LOOP = DrugClass(
    NEPHROTOXIC,
    "loop diuretics",
    "C03C",
    "boxed warning: volume depletion and nephrotoxic drugs raise the risk of renal dysfunction",
)
_CONTRAST = DrugClass(
    NEPHROTOXIC,
    "iodinated contrast media",
    "V08A",
    "boxed warning: nephrotoxic drugs raise the risk of renal dysfunction",
)
_GLUCOCORTICOID = DrugClass(GLUCOCORTICOID, "glucocorticoids", "H02AB", "steroid sparing is followed on the trend")
_ANTICOAGULANT = DrugClass(ANTICOAGULANT, "anticoagulants", "B01A", "thrombosis prophylaxis or treatment")
_IMMUNOSUPPRESSANT = DrugClass(IMMUNOSUPPRESSANT, "immunosuppressants", "L04A", "concomitant myositis treatment")

# Lower-case names (and common spellings) -> class. Matched as whole words of the entered name.
_NAMES: dict[str, DrugClass] = {
    **dict.fromkeys(
        (
            "estradiol",
            "oestradiol",
            "ethinylestradiol",
            "ethinyloestradiol",
            "estriol",
            "oestriol",
            "estrone",
            "mestranol",
            "estetrol",
            "premarin",
            "tibolone",
            "conjugated estrogens",
            "conjugated oestrogens",
            "ethinyl estradiol",
            "combined oral contraceptive",
            "estrogen",
            "oestrogen",
            "estrogens",
            "oestrogens",
        ),
        _ESTROGEN,
    ),
    **dict.fromkeys(
        (
            "ibuprofen",
            "naproxen",
            "diclofenac",
            "ketorolac",
            "indometacin",
            "indomethacin",
            "celecoxib",
            "etoricoxib",
            "meloxicam",
            "ketoprofen",
            "piroxicam",
            "aceclofenac",
            "nabumetone",
            "etodolac",
        ),
        _NSAID,
    ),
    **dict.fromkeys(("gentamicin", "tobramycin", "amikacin", "streptomycin", "neomycin"), _AMINOGLYCOSIDE),
    **dict.fromkeys(("ciclosporin", "cyclosporine", "cyclosporin", "tacrolimus", "voclosporin"), _CALCINEURIN),
    **dict.fromkeys(("furosemide", "frusemide", "bumetanide", "torasemide", "torsemide"), _LOOP),
    **dict.fromkeys(("iohexol", "iopamidol", "iodixanol", "ioversol", "iomeprol", "iodinated contrast"), _CONTRAST),
    **dict.fromkeys(tuple(PREDNISONE_PER_MG) + ("deflazacort", "triamcinolone", "budesonide"), _GLUCOCORTICOID),
    **dict.fromkeys(
        (
            "apixaban",
            "rivaroxaban",
            "edoxaban",
            "dabigatran",
            "warfarin",
            "enoxaparin",
            "dalteparin",
            "tinzaparin",
            "heparin",
            "fondaparinux",
        ),
        _ANTICOAGULANT,
    ),
    **dict.fromkeys(
        ("methotrexate", "mycophenolate", "azathioprine", "cyclophosphamide", "sirolimus", "leflunomide"),
        _IMMUNOSUPPRESSANT,
    ),
}


@dataclass(frozen=True)
class Recognition:
    drug: str
    drug_class: DrugClass

    @property
    def category(self) -> str:
        return self.drug_class.category

    def sentence(self) -> str:
        """Example: 'estradiol is one of the estrogens and estrogen-containing contraceptives
        (ATC G03A, G03C, G03F): boxed warning: use of estrogens raises the risk of thrombosis'."""
        return f"{self.drug} is one of the {self.drug_class.name} (ATC {self.drug_class.atc}): {self.drug_class.why}"


def _words(name: str) -> list[str]:
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return re.findall(r"[a-z]+", plain)


def recognise(name: str) -> Recognition | None:
    """The first known drug named in ``name`` (whole words; two-word names too), or None.

    >>> recognise("Estradiol (HRT)").category
    'estrogen'
    >>> recognise("Ethinylestradiol/levonorgestrel").drug
    'ethinylestradiol'
    >>> recognise("Ibuprofen (as needed)").drug_class.atc
    'M01A'
    >>> recognise("Vitamin D") is None
    True
    """
    words = _words(name)
    for index in range(len(words)):
        for length in (3, 2, 1):
            candidate = " ".join(words[index : index + length])
            if candidate in _NAMES:
                return Recognition(candidate, _NAMES[candidate])
    return None


def recognised_elsewhere(name: str, category: str) -> Recognition | None:
    """The table's recognition of ``name`` when it files the drug under another category than
    ``category`` (so the entry would escape the checks of its real class), else None.

    Example: "Estradiol" entered under "other" is an estrogen, which the thrombosis flag counts;
    under "estrogen", or a name the table does not know, there is nothing to say.

    >>> recognised_elsewhere("Estradiol", "other").category
    'estrogen'
    >>> recognised_elsewhere("Estradiol 2 mg", "estrogen") is None, recognised_elsewhere("Vitamin D", "other") is None
    (True, True)
    """
    recognised = recognise(name)
    if recognised is None or recognised.category == category:
        return None
    return recognised


TENTH = Decimal("0.1")


def prednisone_equivalent_mg(name: str, daily_dose_mg: Decimal) -> Decimal | None:
    """The daily dose as prednisone (mg, half up to 0.1 mg), or None where the name is not a
    glucocorticoid with an equivalence in the table.

    Example: methylprednisolone 16 mg/day = 16 x 5/4 = 20 mg prednisone; dexamethasone 4 mg =
    4 x 20/3 = 26.67 -> 26.7 mg.

    >>> prednisone_equivalent_mg("Methylprednisolone", Decimal("16"))
    Decimal('20.0')
    >>> prednisone_equivalent_mg("Dexamethasone", Decimal("4"))
    Decimal('26.7')
    >>> prednisone_equivalent_mg("Budesonide", Decimal("9")) is None
    True
    """
    if isinstance(daily_dose_mg, float) or not isinstance(daily_dose_mg, Decimal | int):
        raise TypeError("daily_dose_mg: must be a Decimal or int (floats cannot hold doses exactly)")
    recognised = recognise(name)
    if recognised is None or recognised.drug not in PREDNISONE_PER_MG:
        return None
    exact = Fraction(daily_dose_mg) * PREDNISONE_PER_MG[recognised.drug]
    return (Decimal(exact.numerator) / Decimal(exact.denominator)).quantize(TENTH, ROUND_HALF_UP)


@dataclass(frozen=True)
class GlucocorticoidCourse:
    """One glucocorticoid as entered: name, mg per day, and the days it was taken."""

    name: str
    daily_dose_mg: Decimal
    started_on: date | None
    stopped_on: date | None  # the first day it is no longer taken (as Medication.current_on reads it)


@dataclass(frozen=True)
class PrednisonePoint:
    on: date
    prednisone_mg: Decimal
    # Names taken that day whose equivalence the table does not know (not counted in the total).
    unconverted: tuple[str, ...] = ()


def prednisone_timeline(courses: Iterable[GlucocorticoidCourse], *, start: date, end: date) -> list[PrednisonePoint]:
    """The daily prednisone-equivalent dose from ``start`` to ``end``: one point at ``start`` and
    one at every day the total changes (a step function). A course without a start date counts
    from ``start``.

    >>> courses = [GlucocorticoidCourse("Prednisone", Decimal("40"), date(2026, 1, 1), date(2026, 3, 1)),
    ...            GlucocorticoidCourse("Prednisolone", Decimal("10"), date(2026, 3, 1), None)]
    >>> [(p.on.isoformat(), str(p.prednisone_mg)) for p in prednisone_timeline(
    ...     courses, start=date(2026, 2, 1), end=date(2026, 4, 1))]
    [('2026-02-01', '40.0'), ('2026-03-01', '10.0')]
    """
    if end < start:
        raise ValueError("end: must not be before start")
    courses = list(courses)
    days = {start}
    for course in courses:
        for day in (course.started_on, course.stopped_on):
            if day is not None and start < day <= end:
                days.add(day)
    points: list[PrednisonePoint] = []
    for day in sorted(days):
        total = Decimal("0.0")
        unconverted = []
        for course in courses:
            if (course.started_on is None or course.started_on <= day) and (
                course.stopped_on is None or course.stopped_on > day
            ):
                mg = prednisone_equivalent_mg(course.name, course.daily_dose_mg)
                if mg is None:
                    unconverted.append(course.name)
                else:
                    total += mg
        point = PrednisonePoint(day, total, tuple(unconverted))
        if not points or (points[-1].prednisone_mg, points[-1].unconverted) != (total, point.unconverted):
            points.append(point)
    return points


def prednisone_on(courses: Iterable[GlucocorticoidCourse], day: date) -> PrednisonePoint:
    """The prednisone-equivalent dose taken on one day.

    >>> hydrocortisone = GlucocorticoidCourse("Hydrocortisone", Decimal("20"), None, None)
    >>> prednisone_on([hydrocortisone], date(2026, 1, 1)).prednisone_mg
    Decimal('5.0')
    """
    return prednisone_timeline(courses, start=day, end=day)[0]
