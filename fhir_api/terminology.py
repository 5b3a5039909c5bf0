"""The codes the FHIR API uses: LOINC for what has a LOINC code, UCUM for every unit, and our
local CodeSystem (``ivig-clinic-measures``) for the myositis core set measures and the TIS,
which have none. One table each; the CodeSystem resource and every Observation read from them.
"""

from dataclasses import dataclass
from types import MappingProxyType

from patients.labs import LAB_CATALOG
from visits import tis

from . import units

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
DATA_ABSENT_REASON = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
LOCAL_CODE_SYSTEM_ID = "ivig-clinic-measures"

# Our unit strings (patients/labs.py, as shown on the pages) -> their UCUM codes. Exact
# equivalents only: a unit missing here is an error, never a guess.
UCUM_FOR_UNIT = MappingProxyType(
    {
        "U/L": "U/L",
        "mg/dL": "mg/dL",
        "g/dL": "g/dL",
        "%": "%",
        "mL/min/1.73 m²": "mL/min/{1.73_m2}",
        "×10⁹/L": "10*9/L",
        # FEU (fibrinogen-equivalent units) is a note on what was measured, not a unit: UCUM's
        # annotation braces keep it without changing the unit, as LOINC's D-dimer FEU terms do.
        "mg/L FEU": "mg/L{FEU}",
        "kg": "kg",
        "cm": "cm",
        "{score}": "{score}",
        "mL/h": "mL/h",
    }
)


def ucum(unit: str) -> str:
    """The UCUM code of one of our units.

    >>> ucum("mL/min/1.73 m²"), ucum("×10⁹/L")
    ('mL/min/{1.73_m2}', '10*9/L')
    """
    try:
        return UCUM_FOR_UNIT[unit]
    except KeyError:
        raise ValueError(f"unit: {unit!r} has no UCUM code in fhir_api.terminology.UCUM_FOR_UNIT") from None


@dataclass(frozen=True)
class LoincCode:
    code: str
    display: str


BODY_WEIGHT = LoincCode("29463-7", "Body weight")
BODY_HEIGHT = LoincCode("8302-2", "Body height")


# Inbound Observations (POST /fhir/Observation): the LOINC codes accepted, each -> what it is
# stored as (a test of patients/labs.py LAB_CATALOG, "weight" or "height"). Every catalog test's
# own code, plus a few codes laboratories send for the same test in practice; the unit of the
# value decides the conversion (fhir_api.units), not the code. Any other code is refused.
INBOUND_ALIASES = MappingProxyType(
    {
        "14682-9": "creatinine",  # Creatinine [Moles/volume] in Serum or Plasma (umol/L)
        "62238-1": "egfr",  # GFR/1.73 sq M.predicted, creatinine-based, CKD-EPI (2009)
        "33914-3": "egfr",  # GFR/1.73 sq M.predicted, creatinine-based, MDRD
        "77147-7": "egfr",  # GFR/1.73 sq M.predicted, creatinine-based, MDRD (IDMS traceable)
        "20570-8": "haematocrit",  # Hematocrit [Volume Fraction] of Blood
        "1743-4": "alt",  # ALT with P-5'-P
        "14927-8": "triglycerides",  # Triglyceride [Moles/volume] in Serum or Plasma (mmol/L)
        "3141-9": "weight",  # Body weight Measured
        "8306-3": "height",  # Body height --lying (infants)
    }
)


def inbound_codes() -> dict[str, str]:
    """Every LOINC code an inbound Observation may carry -> what it is stored as.

    >>> codes = inbound_codes()
    >>> codes["2160-0"], codes["14682-9"], codes["29463-7"], codes["8302-2"]
    ('creatinine', 'creatinine', 'weight', 'height')
    """
    codes = {definition.loinc: test for test, definition in LAB_CATALOG.items()}
    codes |= {BODY_WEIGHT.code: "weight", BODY_HEIGHT.code: "height"}
    clashes = set(codes) & set(INBOUND_ALIASES)
    if clashes:
        raise ValueError(f"code: {sorted(clashes)} both a catalog code and an alias")
    return codes | dict(INBOUND_ALIASES)


def inbound_documentation() -> str:
    """What an inbound Observation may be, generated from the two tables that decide it: each
    stored quantity, its LOINC codes, its stored UCUM unit and the units converted to it."""
    codes: dict[str, list[str]] = {}
    for code, quantity in inbound_codes().items():
        codes.setdefault(quantity, []).append(code)
    lines = []
    for quantity, conversion in units.CONVERSIONS.items():
        others = f"; converted from {', '.join(conversion.from_units)}" if conversion.from_units else ""
        lines.append(f"{quantity}: LOINC {', '.join(codes[quantity])}; UCUM {conversion.stored_ucum}{others}")
    return (
        "Observation create: status final, amended or corrected; subject.identifier (the MRN, system "
        "the site's MRN system or none) or subject.reference Patient/<id>; effectiveDateTime, "
        "effectivePeriod.start or effectiveInstant (the collection day); valueQuantity with a UCUM code "
        "(converted exactly, rounded half up to the stored places: 3 for labs, 1 for kg and cm); "
        "referenceRange.high: the upper limit of normal. A result already on file (same patient, test, "
        "day and value) is not written twice (200 with it). Accepted: " + " | ".join(lines) + "."
    )


@dataclass(frozen=True)
class LocalConcept:
    code: str
    display: str
    definition: str


CORE_SET_CATEGORY = LocalConcept(
    "core-set-measure",
    "Myositis core set measure",
    "An observation that is one of the six IMACS/PRINTO core set measures of myositis disease activity "
    "recorded at a visit (the muscle enzyme is sent under its own LOINC code with this category).",
)
TIS = LocalConcept(
    "total-improvement-score",
    "Total Improvement Score (TIS)",
    "The 2016 ACR/EULAR myositis response criteria Total Improvement Score, 0-100 points, of a visit "
    "against the patient's baseline visit (Aggarwal et al., Arthritis Rheumatol 2017).",
)
IMPROVEMENT_CATEGORY = LocalConcept(
    "improvement-category",
    "TIS improvement category",
    "The response category of a TIS: none, minimal, moderate or major improvement "
    "(adult thresholds 20/40/60 points, juvenile 30/45/70), or incomplete when a measure is missing.",
)
CATEGORY_CONCEPTS = MappingProxyType(
    {
        tis.CATEGORY_NONE: LocalConcept("improvement-none", "No improvement", "TIS below the minimal threshold."),
        tis.CATEGORY_MINIMAL: LocalConcept(
            "improvement-minimal", "Minimal improvement", "TIS at least 20 (adult) or 30 (juvenile)."
        ),
        tis.CATEGORY_MODERATE: LocalConcept(
            "improvement-moderate", "Moderate improvement", "TIS at least 40 (adult) or 45 (juvenile)."
        ),
        tis.CATEGORY_MAJOR: LocalConcept(
            "improvement-major", "Major improvement", "TIS at least 60 (adult) or 70 (juvenile)."
        ),
        tis.CATEGORY_INCOMPLETE: LocalConcept(
            "improvement-incomplete",
            "Incomplete",
            "No TIS: a core set measure is missing at the baseline or this visit.",
        ),
    }
)


@dataclass(frozen=True)
class VisitMeasure:
    """A core set measure a visit records as one number, and how it goes out as an Observation."""

    field: str  # on visits.models.Visit
    id_suffix: str  # the Observation id is "<visit uuid>-<id_suffix>": at most 27 characters (ids are <= 64)
    concept: LocalConcept
    unit: str  # ours; ucum() gives the code
    category: str  # observation-category: "exam" (the clinician's) or "survey" (the patient's)


VISIT_MEASURES: tuple[VisitMeasure, ...] = (
    VisitMeasure(
        "physician_global_cm",
        "physician-global",
        LocalConcept(
            "physician-global-activity",
            "Physician global activity (VAS, cm)",
            "The physician's global assessment of disease activity on a 10 cm visual analogue scale.",
        ),
        "cm",
        "exam",
    ),
    VisitMeasure(
        "patient_global_cm",
        "patient-global",
        LocalConcept(
            "patient-global-activity",
            "Patient or parent global activity (VAS, cm)",
            "The patient's (or parent's) global assessment of disease activity on a 10 cm visual analogue scale.",
        ),
        "cm",
        "survey",
    ),
    VisitMeasure(
        "mmt_score",
        "muscle-strength",
        LocalConcept(
            "muscle-strength",
            "Muscle strength (MMT-8 or CMAS)",
            "Manual muscle testing of 8 muscle groups (MMT-8, 0-80 unilateral or 0-150 bilateral) or the "
            "Childhood Myositis Assessment Scale (CMAS, 0-52); the scale is the observation's method.",
        ),
        "{score}",
        "exam",
    ),
    VisitMeasure(
        "haq_score",
        "physical-function",
        LocalConcept(
            "physical-function",
            "Physical function (HAQ-DI or CHAQ)",
            "Health Assessment Questionnaire disability index (adults) or Childhood HAQ, 0-3; "
            "the questionnaire is the observation's method.",
        ),
        "{score}",
        "survey",
    ),
    VisitMeasure(
        "extramuscular_global_cm",
        "extramuscular-global",
        LocalConcept(
            "extramuscular-global-activity",
            "Extramuscular global activity (VAS, cm)",
            "The physician's assessment of extramuscular disease activity on a 10 cm visual analogue scale.",
        ),
        "cm",
        "exam",
    ),
)

# The instrument a score was measured with (Visit.mmt_scale, Visit.haq_instrument), as Observation.method.
METHOD_CONCEPTS = MappingProxyType(
    {
        "mmt8_80": LocalConcept("mmt8-80", "MMT-8 unilateral (0-80)", "Manual muscle testing, 8 muscles, one side."),
        "mmt8_150": LocalConcept(
            "mmt8-150", "MMT-8 bilateral (0-150)", "Manual muscle testing, 8 muscles, both sides."
        ),
        "cmas_52": LocalConcept("cmas-52", "CMAS (0-52)", "Childhood Myositis Assessment Scale."),
        "haq_di": LocalConcept("haq-di", "HAQ-DI (0-3)", "Health Assessment Questionnaire disability index."),
        "chaq": LocalConcept("chaq", "CHAQ (0-3)", "Childhood Health Assessment Questionnaire."),
    }
)

# Visit enzymes: tis.ENZYMES, each under the LOINC code of the lab catalog.
VISIT_ENZYMES: tuple[str, ...] = tis.ENZYMES


def enzyme_loinc(enzyme: str) -> str:
    """The LOINC code a visit's enzyme is sent under, the lab catalog's.

    >>> enzyme_loinc("ck")
    '2157-6'
    """
    return LAB_CATALOG[enzyme].loinc


def local_concepts() -> list[LocalConcept]:
    """Every local code, in the order the CodeSystem lists them; each code once."""
    concepts = [
        CORE_SET_CATEGORY,
        *(measure.concept for measure in VISIT_MEASURES),
        TIS,
        IMPROVEMENT_CATEGORY,
        *CATEGORY_CONCEPTS.values(),
        *METHOD_CONCEPTS.values(),
    ]
    codes = [concept.code for concept in concepts]
    if len(codes) != len(set(codes)):
        raise ValueError("code: a local code is defined twice")
    return concepts
