"""Dose-plan API (JSON): the calculator's arithmetic for scripts and other systems.

Authentication: a per-user API token (``Authorization: Bearer ...``, no CSRF) or the
browser session (with CSRF, as for any POST). Any clinic role may calculate.

Numbers arrive as JSON numbers or decimal strings and become ``Decimal`` from their
written text, never through a binary float (the API's parser, patients/api_common.py).
Every 422, from the schema or from the dose arithmetic, has one shape: ``{"detail",
"errors": [{"field", "message"}]}``.
"""

from typing import Any, Literal

from ninja import Field, Router, Schema
from ninja.errors import AuthorizationError
from pydantic import StrictBool, model_validator
from pydantic_core import PydanticCustomError

from accounts.errors import FieldError
from patients.api_common import (
    DecimalText,
    ExactDecimal,
    InvalidInput,
    InvalidInputOut,
    JsonConstant,
    JsonObjectBody,
    MessageOut,
    WholeNumber,
    decimal_text_schema,
    whole_text_schema,
)

from .calculations import DOSE_MAX_G_PER_KG, HEIGHT_MAX_CM, HEIGHT_MIN_CM, SEXES, WEIGHT_BASES, WEIGHT_MAX_KG
from .models import Indication, Product, SiteSettings
from .planning import label_info, plan_for

router = Router(tags=["dosing"])


# --------------------------------------------------------------------------- request


def _has_json_constant(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_has_json_constant(item) for item in value.values())
    if isinstance(value, list):
        return any(_has_json_constant(item) for item in value)
    return isinstance(value, JsonConstant)


class DosePlanRequest(JsonObjectBody):
    product: str = Field(max_length=50, description="Catalog product slug.", examples=["octagam-10"])
    indication: str = Field(
        max_length=50, description="Indication slug; must belong to the product.", examples=["dermatomyositis"]
    )
    weight_kg: ExactDecimal = Field(
        gt=0,
        le=WEIGHT_MAX_KG,
        description="Actual body weight (kg).",
        examples=["70"],
        json_schema_extra=decimal_text_schema,
    )
    height_cm: ExactDecimal = Field(
        ge=HEIGHT_MIN_CM,
        le=HEIGHT_MAX_CM,
        description="Height (cm).",
        examples=["170"],
        json_schema_extra=decimal_text_schema,
    )
    sex: Literal[SEXES] = Field(description="Sex at birth (Devine ideal body weight).")
    dose_g_per_kg: ExactDecimal = Field(
        gt=0,
        le=DOSE_MAX_G_PER_KG,
        description="Dose per cycle (g/kg), split over `days`.",
        examples=["2"],
        json_schema_extra=decimal_text_schema,
    )
    days: WholeNumber = Field(
        ge=1,
        description="Infusion days per cycle, within the indication's range.",
        examples=[2],
        json_schema_extra=whole_text_schema,
    )
    weight_basis: Literal[WEIGHT_BASES] = Field(
        "auto",
        description="auto: adjusted body weight from the site's BMI threshold, otherwise actual. Below "
        "152.4 cm (60 in) auto keeps actual body weight (warning short_stature) rather than extend the "
        "Devine formula; an explicit ideal or adjusted is extrapolated, with the same warning.",
    )
    at_risk: StrictBool = Field(
        False, description="At risk of thrombosis or renal dysfunction: the at-risk rate cap applies."
    )
    juvenile_dermatomyositis: StrictBool = Field(
        False,
        description="Juvenile dermatomyositis: with weight_basis auto the adult BMI rule does not choose the "
        "weight; actual body weight is used.",
    )
    hyperprolinaemia: StrictBool = Field(
        False,
        description="Hyperprolinaemia (type I or II): a product stabilised with proline (Privigen) is "
        "contraindicated (blocking warning hyperprolinaemia_proline).",
    )
    first_infusion: StrictBool = Field(
        False,
        description="A first infusion (IVIG-naive, a product switch, or a long gap without IVIG): the first "
        "rate step is held longer, by the site's first-infusion factor (site policy).",
    )

    @model_validator(mode="before")
    @classmethod
    def _no_json_constants(cls, data: Any) -> Any:
        # Here NaN or Infinity makes the whole body invalid, as it is in strict JSON (the TIS
        # endpoint instead names the field it was given for).
        if _has_json_constant(data):
            raise PydanticCustomError("json_invalid", "The body is not valid JSON: NaN and Infinity are not numbers.")
        return data


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
    except FieldError as exc:
        # The arithmetic names the field ("days": "must be between 2 and 5 ..."). A field that is
        # not in the request means the catalog or site settings are wrong: a server error.
        if exc.field not in DosePlanRequest.model_fields:
            raise
        raise InvalidInput([{"field": exc.field, "message": exc.message}]) from None
    return {**plan.to_dict(), "label": label_info(product, indication)}


# -------------------------------------------------------------------------- responses


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


@router.post(
    "/dose-plans/calculate",
    response={200: DosePlanOut, 401: MessageOut, 403: MessageOut, 422: InvalidInputOut},
    summary="Calculate a dose plan",
)
def calculate_dose_plan(request, payload: DosePlanRequest):
    """Dose, vials, volume and the infusion-rate ladder for one patient and course,
    from the catalog and site settings as they are now. Nothing is saved.

    Example: Octagam 10%, dermatomyositis, 70 kg, 170 cm, female, 2 g/kg over 2 days →
    70 g a day (2 × 30 g + 10 g) in 700 mL, 42 → 84 → 168 mL/h, 288 minutes.
    """
    if not request.auth.has_perm("dosing.view_product"):
        raise AuthorizationError(message="Your account has no clinic role.")
    return _plan(payload)
