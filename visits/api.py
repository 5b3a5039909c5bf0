"""TIS calculator API (JSON): the 2016 ACR/EULAR Total Improvement Score of two visits.

Authentication as for the rest of the API: a per-user token (``Authorization: Bearer ...``,
no CSRF) or the browser session (with CSRF). Any clinic role may calculate (visits.view_visit).

Numbers are read as the dose-plan endpoint reads them (patients/api_common.py): a JSON number
becomes a ``Decimal`` from its text, so that 2.2 -> 0.7 cm is exactly 15 % (7.5 points) and not
15.000000000000002 % (15 points); every 422 has one shape, ``{"detail", "errors": [{"field",
"message"}]}``, with a dotted field path such as ``baseline.physician_global``. One difference:
NaN and Infinity written as JSON constants are refused by the field they belong to, so the 422
names that field instead of the whole body.
"""

from decimal import Decimal
from typing import Annotated, Any, Literal

from ninja import Field, Router, Schema
from ninja.errors import AuthorizationError
from pydantic import BeforeValidator, ConfigDict, WithJsonSchema, field_validator
from pydantic_core import PydanticCustomError

from accounts.errors import FieldError
from patients.api_common import (
    DECIMAL_TEXT_PATTERN,
    DecimalText,
    InvalidInput,
    InvalidInputOut,
    JsonObjectBody,
    MessageOut,
    WholeNumber,
    exact_decimal,
)

from . import tis

router = Router(tags=["visits"])


# --------------------------------------------------------------------------- request


def _measure(low: int | Decimal, high: int | Decimal | None, unit: str, *, low_exclusive: bool = False):
    """An exact decimal within the instrument's range; out of range is refused, never clamped."""

    def check(value: Any) -> Decimal:
        number = exact_decimal(value)
        too_low = number <= low if low_exclusive else number < low
        if too_low or (high is not None and number > high):
            if high is None:
                expected = f"{'greater than' if low_exclusive else 'at least'} {low} {unit}"
            else:
                expected = f"between {low} and {high} {unit}"
            raise PydanticCustomError(
                "out_of_range", "must be {expected}, not {value}", {"expected": expected.strip(), "value": str(number)}
            )
        return number

    number_schema: dict[str, Any] = {"type": "number", ("exclusiveMinimum" if low_exclusive else "minimum"): low}
    if high is not None:
        number_schema["maximum"] = high
    json_schema = {"anyOf": [number_schema, {"type": "string", "pattern": DECIMAL_TEXT_PATTERN}]}
    return Annotated[Decimal, BeforeValidator(check), WithJsonSchema(json_schema)]


VasCm = _measure(0, int(tis.VAS_MAX_CM), "cm")
HaqScore = _measure(0, int(tis.HAQ_MAX), "")
MmtScore = _measure(0, tis.MMT_WIDEST_MAX, "points")
EnzymeUPerL = _measure(0, None, "U/L")
UlnUPerL = _measure(0, None, "U/L", low_exclusive=True)
EnzymeName = Literal[tis.ENZYMES]


class EnzymeIn(Schema):
    model_config = ConfigDict(extra="forbid")

    value: EnzymeUPerL = Field(description="Result (U/L).", examples=["3000"])
    uln: UlnUPerL = Field(description="The laboratory's upper limit of normal (U/L).", examples=["200"])


class VisitMeasuresIn(Schema):
    """One visit's six core set measures; null or absent means not measured (the TIS is then incomplete)."""

    model_config = ConfigDict(extra="forbid")

    physician_global: VasCm | None = Field(None, description="Physician global activity, VAS 0–10 cm.")
    patient_global: VasCm | None = Field(None, description="Patient (juvenile: parent) global activity, VAS 0–10 cm.")
    mmt: MmtScore | None = Field(None, description="MMT-8 or CMAS score, on the scale given by `mmt_max`.")
    haq: HaqScore | None = Field(None, description="HAQ-DI (juvenile: CHAQ), 0–3.")
    extramuscular_global: VasCm | None = Field(None, description="Extramuscular global activity, VAS 0–10 cm.")
    enzymes: dict[EnzymeName, EnzymeIn | None] | None = Field(
        None,
        description="Muscle enzymes measured: ck, aldolase, ast, alt, ldh. The TIS follows the one most "
        "above its ULN at baseline.",
        examples=[{"ck": {"value": "3000", "uln": "200"}}],
    )


def _mmt_max_schema(schema: dict) -> None:
    # Accepted as a JSON number or as its text, like every number here.
    for key in ("type", "minimum"):
        schema.pop(key, None)
    schema["anyOf"] = [
        {"type": "integer", "enum": list(tis.MMT_SCALE_MAXIMA)},
        {"type": "string", "enum": [str(maximum) for maximum in tis.MMT_SCALE_MAXIMA]},
    ]


class TisRequest(JsonObjectBody):
    population: Literal[tis.POPULATIONS] = Field(
        description="adult (DM/PM thresholds 20/40/60) or juvenile (JDM thresholds 30/45/70)."
    )
    mmt_max: WholeNumber = Field(
        description="Muscle strength scale of both visits: 80 (MMT-8), 150 (MMT-8 bilateral) or 52 (CMAS).",
        json_schema_extra=_mmt_max_schema,
    )
    baseline: VisitMeasuresIn
    followup: VisitMeasuresIn

    @field_validator("mmt_max")
    @classmethod
    def _known_scale(cls, value: int) -> int:
        if value not in tis.MMT_SCALE_MAXIMA:
            raise ValueError(f"must be 80 (MMT-8), 150 (MMT-8 bilateral) or 52 (CMAS), not {value}")
        return value


def _check_mmt_scale(request: TisRequest) -> None:
    errors = [
        {"field": f"{name}.mmt", "message": f"must be between 0 and {request.mmt_max} points, not {visit.mmt}"}
        for name, visit in (("baseline", request.baseline), ("followup", request.followup))
        if visit.mmt is not None and visit.mmt > request.mmt_max
    ]
    if errors:
        raise InvalidInput(errors)


def _core_set(name: str, visit: VisitMeasuresIn) -> tis.CoreSetMeasures:
    enzymes = {enzyme: (reading.value, reading.uln) for enzyme, reading in (visit.enzymes or {}).items() if reading}
    try:
        return tis.CoreSetMeasures(
            physician_global=visit.physician_global,
            patient_global=visit.patient_global,
            mmt=visit.mmt,
            haq=visit.haq,
            extramuscular_global=visit.extramuscular_global,
            enzymes=enzymes,
        )
    except FieldError as exc:
        # The schema checks the same ranges; this keeps tis.py the last word and names the visit.
        raise InvalidInput([{"field": f"{name}.{exc.field}", "message": exc.message}]) from None


def _calculate(request: TisRequest) -> dict:
    _check_mmt_scale(request)
    result = tis.total_improvement_score(
        _core_set("baseline", request.baseline),
        _core_set("followup", request.followup),
        population=request.population,
        mmt_max=request.mmt_max,
    )
    return {**result.to_dict(), "enzyme_range_rule": tis.ENZYME_RANGE_RULE_NOTE}


# -------------------------------------------------------------------------- responses


class MeasureScoreOut(Schema):
    percent_change: DecimalText | None = Field(
        description="Improvement as % of the instrument's range, to 0.01 (rounded so it never crosses a band edge); "
        "null when missing."
    )
    points: DecimalText | None = Field(description="Points for this measure, to 0.1; null when missing.")


class EnzymeScoreOut(MeasureScoreOut):
    name: EnzymeName | None = Field(description="The enzyme followed: the most abnormal at baseline.")
    uln: DecimalText | None = Field(description="Baseline ULN (U/L).")
    followup_uln: DecimalText | None = Field(description="Follow-up ULN (U/L), if the laboratory's differs.")
    range: DecimalText | None = Field(description="The k × ULN range used as the denominator (U/L).")
    range_uln_multiple: int | None = Field(description="k: 15 for CK, 3 for the others (unconfirmed rule).")


class MeasuresOut(Schema):
    physician_global: MeasureScoreOut
    patient_global: MeasureScoreOut
    mmt: MeasureScoreOut
    haq: MeasureScoreOut
    enzyme: EnzymeScoreOut
    extramuscular_global: MeasureScoreOut


class TisOut(Schema):
    total: DecimalText | None = Field(description="0–100 in steps of 2.5; null when any measure is missing.")
    category: Literal["none", "minimal", "moderate", "major", "incomplete"]
    measures: MeasuresOut
    missing: list[Literal[tis.MEASURES]] = Field(description="Measures absent at baseline, follow-up or both.")
    enzyme_range_rule: str = Field(
        description="The enzyme percent-change rule, which is not confirmed from the source."
    )


@router.post(
    "/tis/calculate",
    response={200: TisOut, 401: MessageOut, 403: MessageOut, 422: InvalidInputOut},
    summary="Calculate a Total Improvement Score",
)
def calculate_tis(request, payload: TisRequest):
    """The TIS between a baseline and a follow-up visit, with each measure's percent change
    and points. Nothing is saved.

    Example (adult, MMT-8 0–80): physician 6 → 4.5 cm, patient 7 → 5.5 cm, MMT 60 → 68,
    HAQ 1.5 → 1.05, CK 3000 → 2550 U/L (ULN 200), extramuscular 4 → 2.5 cm → TIS 35, minimal.
    """
    if not request.auth.has_perm("visits.view_visit"):
        raise AuthorizationError(message="Your account has no clinic role.")
    return _calculate(payload)
