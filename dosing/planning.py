"""Bind catalog rows and the site's settings to the pure dose arithmetic.

One place builds a plan, so the calculator page, the API and dose orders all
compute the same numbers from the same facts."""

from datetime import date
from decimal import Decimal

from .calculations import ADULT_AGE_YEARS, DosePlan, plan_dose
from .catalog import indication_facts, product_facts
from .chart_limits import first_infusion_plan
from .first_infusion import FirstInfusion, first_infusion, given_from_rows, last_given_before
from .models import Indication, LabelStatus, Product, SiteSettings

# Patient diagnoses for which each catalog indication is labelled.
LABELLED_FOR_DIAGNOSES = {
    "dermatomyositis": {"adult_dm", "juvenile_dm", "amyopathic_dm"},
}
OFF_LABEL_STATUSES = {LabelStatus.EU, LabelStatus.SECONDARY, LabelStatus.UNCONFIRMED}
DERMATOMYOSITIS_DIAGNOSES = {"adult_dm", "juvenile_dm", "amyopathic_dm"}


def juvenile_dermatomyositis(diagnosis: str, age_years: int | None) -> bool:
    """Whether plan_dose's ``juvenile_dermatomyositis`` applies (the adult BMI rule does not
    choose the dosing weight): a diagnosis of juvenile dermatomyositis, at any age (the course
    goes on as it began), or any dermatomyositis under 18 (a child recorded as adult or
    amyopathic DM is a juvenile one; the BMI threshold of 30 is an adult definition).

    Example: juvenile_dm at 25 -> True; adult_dm at 16 -> True; adult_dm at 40 -> False;
    polymyositis at 12 -> False (not dermatomyositis: the order shows the age warning instead).

    >>> [juvenile_dermatomyositis(d, a) for d, a in (("juvenile_dm", 25), ("adult_dm", 16), ("adult_dm", 40))]
    [True, True, False]
    """
    if diagnosis == "juvenile_dm":
        return True
    return diagnosis in DERMATOMYOSITIS_DIAGNOSES and age_years is not None and age_years < ADULT_AGE_YEARS


def site_parameters(site: SiteSettings) -> dict:
    """The site's dosing policy as plan_dose's keyword arguments (Decimals, and the vial proposal)."""
    return {
        "tolerance_percent": Decimal(site.rounding_tolerance_percent),
        "site_at_risk_cap_mg_per_kg_min": Decimal(site.site_at_risk_cap_mg_per_kg_min),
        "adjusted_weight_factor": Decimal(site.adjusted_weight_factor),
        "bmi_threshold": Decimal(site.adjusted_weight_bmi_threshold),
        "daily_dose_ceiling_g": Decimal(site.daily_dose_ceiling_g),
        "pump_rate_ceiling_ml_per_h": Decimal(site.pump_rate_ceiling_ml_per_h),
        "pump_rate_minimum_ml_per_h": Decimal(site.pump_rate_minimum_ml_per_h),
        "vial_proposal": site.vial_proposal,
    }


def plan_for(
    *,
    product: Product,
    indication: Indication,
    site: SiteSettings,
    off_label_indication: bool = False,
    **inputs,
) -> DosePlan:
    """The dose plan for these inputs under the catalog and site settings as they are now.

    Example: Octagam 10%, dermatomyositis, 70 kg, 170 cm, female, 2 g/kg over 2 days,
    weight basis auto, not at risk → 70 g a day in 700 mL, 42 → 84 → 168 mL/h, 288 minutes;
    with ``first_infusion=True`` and the site's factor 2, 42 mL/h for 60 minutes, 310 minutes.
    """
    if indication.product_id != product.pk:
        raise ValueError(f"indication: {indication.slug} is not an indication of {product.slug}")
    return plan_dose(
        product=product_facts(product),
        indication=indication_facts(indication),
        off_label_indication=off_label_indication or indication.label_status in OFF_LABEL_STATUSES,
        **site_parameters(site),
        first_step_factor=site.first_infusion_first_step_factor,
        **inputs,
    )


def label_info(product: Product, indication: Indication) -> dict:
    """Where the figures come from, for the plan's `label` block."""
    return {
        "status": indication.label_status,
        "status_display": indication.get_label_status_display(),
        "source": "; ".join(product.sources) or f"{product.name} prescribing information (see catalog)",
        "site_protocol": indication.site_protocol,
    }


def facts_snapshot(product: Product, indication: Indication, site: SiteSettings) -> dict:
    """Everything an order was computed from, kept with the order."""
    return {
        "product": {
            "slug": product.slug,
            "name": product.name,
            "concentration_mg_per_ml": format(product.concentration_mg_per_ml, "f"),
            "vial_sizes_in_stock_g": list(product.vial_sizes_in_stock_g),
            "at_risk_cap_mg_per_kg_min": None
            if product.at_risk_cap_mg_per_kg_min is None
            else format(product.at_risk_cap_mg_per_kg_min, "f"),
            "contains_maltose": product.contains_maltose,
            "contains_proline": product.contains_proline,
            "sources": list(product.sources),
        },
        "indication": {
            "slug": indication.slug,
            "name": indication.name,
            "label_status": indication.label_status,
            "population": indication.population,
            "dose_g_per_kg_min": format(indication.dose_g_per_kg_min, "f"),
            "dose_g_per_kg_max": format(indication.dose_g_per_kg_max, "f"),
            "days_min": indication.days_min,
            "days_max": indication.days_max,
            "interval_weeks_min": indication.interval_weeks_min,
            "interval_weeks_max": indication.interval_weeks_max,
            "steps": indication.steps,
            "max_rate_mg_per_kg_min": format(indication.max_rate_mg_per_kg_min, "f"),
            "site_protocol": indication.site_protocol,
        },
        "site": {
            key: format(value, "f") if isinstance(value, Decimal) else value
            for key, value in site_parameters(site).items()
        },
    }


def first_infusion_of(patient, product: Product, on: date, site: SiteSettings) -> FirstInfusion | None:
    """Whether an infusion of ``product`` for ``patient`` on ``on`` is a first infusion, and why:
    ``dosing.first_infusion`` over the infusions given as scheduling keeps them on the patient
    (``Patient.infusions_given``), the start recorded on the patient (``ivig_started_on``) and the
    site's gap (``first_infusion_gap_weeks``). The order, its infusion sheet and the session all
    ask here, so they agree.

    Example: Gamunex-C given on 2026-08-01, Octagam 10 % on 2026-08-29 -> product switch.
    """
    last = last_given_before(given_from_rows(patient.infusions_given), on)
    return first_infusion(
        on=on,
        product_slug=product.slug,
        last_given=last,
        ivig_started_on=patient.ivig_started_on,
        gap_weeks=site.first_infusion_gap_weeks,
    )


def as_first_infusion(plan: dict, mark: FirstInfusion | None, site: SiteSettings) -> dict:
    """``plan`` as a first infusion runs it (``chart_limits.first_infusion_plan``, the site's
    factor) when ``mark`` says it is one; otherwise ``plan`` itself."""
    if mark is None:
        return plan
    return first_infusion_plan(
        plan, factor=site.first_infusion_first_step_factor, reason=mark.reason, kind=mark.kind.value
    )
