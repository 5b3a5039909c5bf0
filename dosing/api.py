"""Dose-plan API (JSON): the calculator's arithmetic for scripts and other systems.

Authentication: a per-user API token (``Authorization: Bearer ...``, no CSRF) or the
browser session (with CSRF, as for any POST). Any clinic role may calculate.

Numbers arrive as JSON numbers or decimal strings and become ``Decimal`` from their
written text, never through a binary float: the body is read with
``json.loads(parse_float=Decimal)``. That is also why this endpoint reads its own
body instead of declaring a Ninja body parameter: Ninja 1.7 parses JSON numbers to
floats and has no per-router validation-error handler, and every 422 here, from the
schema or from the dose arithmetic, has one shape: ``{"detail", "errors": [{"field",
"message"}]}``. The request schema is still published in the OpenAPI document.
"""

import json
import re
from decimal import Decimal
from typing import Annotated, Any, Literal

import pydantic
from ninja import Field, Router, Schema, Status
from ninja.errors import AuthorizationError
from pydantic import BeforeValidator, ConfigDict, StrictBool
from pydantic_core import PydanticCustomError

from patients.api import MessageOut

from .calculations import DOSE_MAX_G_PER_KG, HEIGHT_MAX_CM, HEIGHT_MIN_CM, SEXES, WEIGHT_BASES, WEIGHT_MAX_KG
from .models import Indication, Product, SiteSettings
from .planning import label_info, plan_for

router = Router(tags=["dosing"])

DECIMAL_TEXT = re.compile(r"-?[0-9]+(\.[0-9]+)?")
DECIMAL_TEXT_PATTERN = "^" + DECIMAL_TEXT.pattern + "$"
WHOLE_TEXT = re.compile(r"[0-9]+")


# --------------------------------------------------------------------------- request


def exact_decimal(value: Any) -> Decimal:
    """A JSON number (already a Decimal or int, see _read_json) or a plain decimal string
    such as "70.1"; nothing else, so "70,1", "1_000", " 70" or "NaN" are refused."""
    if isinstance(value, Decimal | int) and not isinstance(value, bool):
        return Decimal(value)
    if isinstance(value, str) and DECIMAL_TEXT.fullmatch(value):
        return Decimal(value)
    raise PydanticCustomError(
        "decimal_text",
        "must be a number such as 70.1 (a JSON number or a decimal string), not {value}",
        {"value": repr(value)},
    )


def _whole_number(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        return int(value)
    if isinstance(value, str) and WHOLE_TEXT.fullmatch(value):
        return int(value)
    raise PydanticCustomError("whole_number", "must be a whole number, not {value}", {"value": repr(value)})


def _decimal_text_schema(schema: dict) -> None:
    # Document the string form as this endpoint reads it (pydantic's own pattern is looser).
    for branch in schema.get("anyOf", []):
        if branch.get("type") == "string":
            branch["pattern"] = DECIMAL_TEXT_PATTERN


def _whole_text_schema(schema: dict) -> None:
    number = {key: schema.pop(key) for key in ("type", "minimum") if key in schema}
    schema["anyOf"] = [number, {"type": "string", "pattern": "^" + WHOLE_TEXT.pattern + "$"}]


ExactDecimal = Annotated[Decimal, BeforeValidator(exact_decimal)]
WholeNumber = Annotated[int, BeforeValidator(_whole_number)]


class DosePlanRequest(Schema):
    model_config = ConfigDict(extra="forbid")  # a misspelt or unsupported flag must not be ignored silently

    product: str = Field(max_length=50, description="Catalog product slug.", examples=["octagam-10"])
    indication: str = Field(
        max_length=50, description="Indication slug; must belong to the product.", examples=["dermatomyositis"]
    )
    weight_kg: ExactDecimal = Field(
        gt=0,
        le=WEIGHT_MAX_KG,
        description="Actual body weight (kg).",
        examples=["70"],
        json_schema_extra=_decimal_text_schema,
    )
    height_cm: ExactDecimal = Field(
        ge=HEIGHT_MIN_CM,
        le=HEIGHT_MAX_CM,
        description="Height (cm).",
        examples=["170"],
        json_schema_extra=_decimal_text_schema,
    )
    sex: Literal[SEXES] = Field(description="Sex at birth (Devine ideal body weight).")
    dose_g_per_kg: ExactDecimal = Field(
        gt=0,
        le=DOSE_MAX_G_PER_KG,
        description="Dose per cycle (g/kg), split over `days`.",
        examples=["2"],
        json_schema_extra=_decimal_text_schema,
    )
    days: WholeNumber = Field(
        ge=1,
        description="Infusion days per cycle, within the indication's range.",
        examples=[2],
        json_schema_extra=_whole_text_schema,
    )
    weight_basis: Literal[WEIGHT_BASES] = Field(
        "auto", description="auto: adjusted body weight from the site's BMI threshold, otherwise actual."
    )
    at_risk: StrictBool = Field(
        False, description="At risk of thrombosis or renal dysfunction: the at-risk rate cap applies."
    )


class InvalidInput(Exception):
    def __init__(self, errors: list[dict]):
        self.errors = errors
        super().__init__(errors)


def _read_json(body: bytes) -> Any:
    def refuse(constant: str):
        raise ValueError(f"{constant} is not a number")

    try:
        return json.loads(body, parse_float=Decimal, parse_constant=refuse)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput([{"field": None, "message": f"The body is not valid JSON: {exc}"}]) from None


def field_errors(exc: pydantic.ValidationError) -> list[dict]:
    errors = []
    for error in exc.errors(include_url=False):
        field = ".".join(str(part) for part in error["loc"]) or None
        message = error["msg"].removeprefix("Value error, ")
        errors.append({"field": field, "message": message})
    return errors


def _parse(body: bytes) -> DosePlanRequest:
    data = _read_json(body)
    if not isinstance(data, dict):
        raise InvalidInput([{"field": None, "message": "The body must be a JSON object."}])
    try:
        return DosePlanRequest.model_validate(data)
    except pydantic.ValidationError as exc:
        raise InvalidInput(field_errors(exc)) from None


def _catalog_rows(request: DosePlanRequest) -> tuple[Product, Indication]:
    product = Product.objects.filter(slug=request.product).first()
    indication = Indication.objects.filter(product=product, slug=request.indication).first() if product else None
    errors = []
    if product is None:
        errors.append({"field": "product", "message": f"no product {request.product!r} in the catalog"})
    if indication is None:
        if not Indication.objects.filter(slug=request.indication).exists():
            errors.append({"field": "indication", "message": f"no indication {request.indication!r} in the catalog"})
        elif product is not None:
            message = f"{request.indication!r} is not an indication of {request.product!r} in the catalog"
            errors.append({"field": "indication", "message": message})
    if errors:
        raise InvalidInput(errors)
    return product, indication


def _plan(request: DosePlanRequest) -> dict:
    product, indication = _catalog_rows(request)
    inputs = request.model_dump(exclude={"product", "indication"})
    try:
        plan = plan_for(product=product, indication=indication, site=SiteSettings.load(), **inputs)
    except ValueError as exc:
        # The arithmetic names the field first ("days: must be between 2 and 5 ..."). A field
        # that is not in the request means the catalog or site settings are wrong: a server error.
        field, _, message = str(exc).partition(": ")
        if field not in DosePlanRequest.model_fields:
            raise
        raise InvalidInput([{"field": field, "message": message}]) from None
    return {**plan.to_dict(), "label": label_info(product, indication)}


# -------------------------------------------------------------------------- responses

DecimalText = Annotated[str, Field(json_schema_extra={"format": "decimal"}, description="Exact decimal, as text.")]


class VialCountOut(Schema):
    size_g: DecimalText
    count: int


class RateStepOut(Schema):
    rate_mg_per_kg_min: DecimalText
    rate_ml_per_h: DecimalText = Field(description="Pump rate, rounded down to 0.1 mL/h (never above the cap).")
    start_min: int
    minutes: int
    volume_ml: DecimalText


class DoseWarningOut(Schema):
    code: str
    message: str
    blocking: bool = Field(description="True: the dose must not be given as planned.")


class LabelOut(Schema):
    status: str = Field(description="Where the figures come from: label, maker, eu, secondary or unconfirmed.")
    status_display: str
    source: str
    site_protocol: bool


class DosePlanOut(Schema):
    product_slug: str
    indication_slug: str
    concentration_mg_per_ml: DecimalText
    dose_g_per_kg: DecimalText
    days: int
    weight_basis_requested: str
    weight_basis: str = Field(description="The basis used: actual, ideal or adjusted.")
    weight_reason: str
    dosing_weight_kg: DecimalText
    ideal_body_weight_kg: DecimalText | None
    adjusted_body_weight_kg: DecimalText | None
    bmi: DecimalText
    prescribed_daily_dose_g: DecimalText
    daily_dose_g: DecimalText = Field(description="The dose to give each day (rounded to whole vials if `rounded`).")
    rounded: bool
    total_dose_g: DecimalText
    daily_volume_ml: DecimalText
    vials_per_day: list[VialCountOut]
    at_risk: bool
    max_rate_mg_per_kg_min: DecimalText = Field(description="The effective cap (at-risk cap when at risk).")
    max_rate_ml_per_h: DecimalText
    cap_reason: str
    site_protocol: bool
    rate_steps: list[RateStepOut]
    infusion_minutes: int
    warnings: list[DoseWarningOut]
    blocked: bool
    label: LabelOut


class FieldErrorOut(Schema):
    field: str | None = Field(description="The request field at fault; null when the body as a whole is.")
    message: str


class InvalidInputOut(Schema):
    detail: str
    errors: list[FieldErrorOut]


_REQUEST_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": DosePlanRequest.model_json_schema()}},
    }
}


@router.post(
    "/dose-plans/calculate",
    response={200: DosePlanOut, 401: MessageOut, 403: MessageOut, 422: InvalidInputOut},
    summary="Calculate a dose plan",
    openapi_extra=_REQUEST_BODY,
)
def calculate_dose_plan(request):
    """Dose, vials, volume and the infusion-rate ladder for one patient and course,
    from the catalog and site settings as they are now. Nothing is saved.

    Example: Octagam 10%, dermatomyositis, 70 kg, 170 cm, female, 2 g/kg over 2 days →
    70 g a day (2 × 30 g + 10 g) in 700 mL, 42 → 84 → 168 mL/h, 288 minutes.
    """
    if not request.auth.has_perm("dosing.view_product"):
        raise AuthorizationError(message="Your account has no clinic role.")
    try:
        return _plan(_parse(request.body))
    except InvalidInput as exc:
        fields = ", ".join(sorted({error["field"] or "body" for error in exc.errors}))
        return Status(422, {"detail": f"Invalid input: {fields}.", "errors": exc.errors})
