"""Dose orders: a physician prescribes from the patient's chart as it stands, a
pharmacist (never the prescriber) verifies or rejects, and a later change of
weight by 10 % or more sends a verified order back for verification.

Each write validates, runs in one transaction and leaves who/why in the order's
history. The order keeps a snapshot of its inputs, facts and plan.

Versions: every change of state raises the order's ``version``. The verify, reject and cancel
pages post the version they showed as ``expected_version``; under the row lock a different
version is refused (``stale_version_error``), so of a pharmacist verifying and a physician
cancelling at the same moment the first wins and the second is told, with nothing written.
``expected_version=None`` means the caller showed no page (a script, the demo loader): no check."""

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from patients.audit import audited_save, stale_version_error
from patients.models import IgAStatus, Patient
from risk.models import RiskFlag
from risk.services import flags_recompute, flags_recompute_once

from ..models import DoseOrder, Indication, OrderStatus, SiteSettings
from ..planning import LABELLED_FOR_DIAGNOSES, facts_snapshot, label_info, plan_for

REVERIFY_WEIGHT_CHANGE_PERCENT = Decimal("10")
# Fields of the order form that a calculation error can be shown next to.
FORM_FIELDS = {"dose_g_per_kg", "days", "weight_basis", "indication"}


def _current(patient: Patient, field: str, today: date):
    measurement = patient.latest_measurement(field, today)
    return (getattr(measurement, field), measurement.measured_on) if measurement else (None, None)


def order_inputs(patient: Patient, today: date) -> dict:
    """What an order for this patient would be computed from today, with the evidence.

    Example: {"weight_kg": "70.0", "weight_measured_on": "2026-11-19", "height_cm": "170.0", ...,
    "at_risk": False, "at_risk_reasons": []} for a 52-year-old with no risk factor.
    """
    weight_kg, weight_on = _current(patient, "weight_kg", today)
    height_cm, height_on = _current(patient, "height_cm", today)
    # Any active thrombosis or renal flag (not an informational one) puts the patient at risk.
    reasons = list(patient.risk_flags.putting_at_risk().order_by("category", "code"))
    return {
        "weight_kg": None if weight_kg is None else format(weight_kg, "f"),
        "weight_measured_on": weight_on and weight_on.isoformat(),
        "height_cm": None if height_cm is None else format(height_cm, "f"),
        "height_measured_on": height_on and height_on.isoformat(),
        "sex": patient.sex_at_birth,
        "age_years": patient.age_on(today),
        "diagnosis": patient.diagnosis,
        "iga_deficient_with_anti_iga": patient.iga_status == IgAStatus.DEFICIENT_ANTI_IGA,
        "hypersensitivity_to_immunoglobulin": patient.hypersensitivity_to_immunoglobulin,
        "corn_allergy": patient.corn_allergy,
        "at_risk": bool(reasons),
        "renal_risk": any(flag.category == "renal" for flag in reasons),
        "at_risk_reasons": [
            {"category": flag.category, "code": flag.code, "text": f"{flag.title}: {flag.evidence}"} for flag in reasons
        ],
        "computed_on": today.isoformat(),
    }


def plan_order(*, patient: Patient, indication: Indication, dose_g_per_kg, days, weight_basis, today: date):
    """Compute (without saving) the plan an order would have. Returns (inputs, plan)."""
    inputs = order_inputs(patient, today)
    missing = [name for name in ("weight_kg", "height_cm") if inputs[name] is None]
    if missing:
        raise ValidationError(
            f"Record the patient's {' and '.join(m.split('_')[0] for m in missing)} first: dosing needs both."
        )
    labelled_for = LABELLED_FOR_DIAGNOSES.get(indication.slug)
    try:
        plan = plan_for(
            product=indication.product,
            indication=indication,
            site=SiteSettings.load(),
            off_label_indication=labelled_for is not None and patient.diagnosis not in labelled_for,
            weight_kg=Decimal(inputs["weight_kg"]),
            height_cm=Decimal(inputs["height_cm"]),
            sex=inputs["sex"],
            dose_g_per_kg=dose_g_per_kg,
            days=days,
            weight_basis=weight_basis,
            at_risk=inputs["at_risk"],
            age_years=inputs["age_years"],
            iga_deficient_with_anti_iga=inputs["iga_deficient_with_anti_iga"],
            corn_allergy=inputs["corn_allergy"],
            renal_risk=inputs["renal_risk"],
        )
    except (ValueError, TypeError) as exc:
        field, _, message = str(exc).partition(": ")
        if field in FORM_FIELDS:
            raise ValidationError({field: message[:1].upper() + message[1:]}) from exc
        raise ValidationError(f"The patient's recorded data cannot be dosed: {exc}") from exc
    return inputs, plan


def blocking_flags(patient: Patient, indication: Indication) -> list[RiskFlag]:
    """Active contraindication flags that stop an order of this product unless a physician overrides."""
    flags = list(patient.risk_flags.contraindications().order_by("code"))
    if not indication.product.contains_maltose:
        # Corn allergy matters only for products made with maltose from corn.
        flags = [flag for flag in flags if flag.code != "contra_corn_allergy"]
    return flags


@transaction.atomic
@flags_recompute_once()
def dose_order_create(
    *,
    by,
    patient: Patient,
    indication: Indication,
    dose_g_per_kg,
    days: int,
    weight_basis: str,
    notes: str = "",
    override_reason: str = "",
    today: date | None = None,
) -> DoseOrder:
    """Place an order. Contraindication flags stop it unless `override_reason` says why the
    physician gives IVIG anyway; the override is kept with the order and in its history."""
    today = today or timezone.localdate()
    flags_recompute(patient=patient)  # the order must see the chart as it is now
    inputs, plan = plan_order(
        patient=patient,
        indication=indication,
        dose_g_per_kg=dose_g_per_kg,
        days=days,
        weight_basis=weight_basis,
        today=today,
    )
    blocking = blocking_flags(patient, indication)
    override = {}
    if blocking:
        if not override_reason.strip():
            raise ValidationError(
                [f"Contraindicated: {flag.title} ({flag.evidence})." for flag in blocking]
                + ["A physician may override with a reason."]
            )
        override = {
            "flags": [{"code": flag.code, "title": flag.title, "evidence": flag.evidence} for flag in blocking],
            "reason": override_reason.strip(),
        }
    site = SiteSettings.load()
    facts = facts_snapshot(indication.product, indication, site)
    facts["label"] = label_info(indication.product, indication)
    order = DoseOrder(
        patient=patient,
        product=indication.product,
        indication=indication,
        dose_g_per_kg=plan.dose_g_per_kg,
        days=plan.days,
        weight_basis=weight_basis,
        at_risk=plan.at_risk,
        at_risk_reasons=inputs["at_risk_reasons"],
        inputs=inputs,
        facts=facts,
        plan=plan.to_dict(),
        catalog_revision=site.catalog_revision,
        notes=notes,
        contraindication_override=override,
        prescribed_by=by,
    )
    reason = "prescribed" if not override else f"prescribed, contraindication overridden: {override['reason']}"
    audited_save(order, by=by, reason=reason[:100])
    return order


def _locked(order: DoseOrder, expected_version: int | None) -> DoseOrder:
    """The order re-read under a row lock, refused if the page showed another version of it."""
    locked = DoseOrder.objects.select_for_update().get(pk=order.pk)
    if expected_version is not None and expected_version != locked.version:
        raise stale_version_error(locked, what="order", state=locked.get_status_display())
    return locked


def _save_change(order: DoseOrder, *, by, reason: str) -> None:
    order.version += 1
    audited_save(order, by=by, reason=reason)


def _require_awaiting(order: DoseOrder) -> None:
    if order.status not in (OrderStatus.AWAITING_VERIFICATION, OrderStatus.REVERIFY):
        raise ValidationError(
            f"This order is {order.get_status_display().lower()}; only a pending order can be verified."
        )


@transaction.atomic
def dose_order_verify(
    *, by, order: DoseOrder, expected_version: int | None = None, now: datetime | None = None
) -> DoseOrder:
    order = _locked(order, expected_version)
    _require_awaiting(order)
    if order.prescribed_by_id == by.pk:
        raise ValidationError("You prescribed this order: another pharmacist must verify it.")
    order.status = OrderStatus.VERIFIED
    order.status_reason = ""
    order.verified_by = by
    order.verified_at = now or timezone.now()
    _save_change(order, by=by, reason="verified")
    return order


@transaction.atomic
def dose_order_reject(*, by, order: DoseOrder, reason: str, expected_version: int | None = None) -> DoseOrder:
    order = _locked(order, expected_version)
    _require_awaiting(order)
    if not reason.strip():
        raise ValidationError({"reason": "Say why the order is rejected; the prescriber sees it."})
    if order.prescribed_by_id == by.pk:
        raise ValidationError("You prescribed this order: cancel it instead of rejecting it.")
    order.status = OrderStatus.REJECTED
    order.status_reason = reason.strip()
    _save_change(order, by=by, reason=f"rejected: {reason.strip()}")
    return order


@transaction.atomic
def dose_order_cancel(*, by, order: DoseOrder, reason: str, expected_version: int | None = None) -> DoseOrder:
    order = _locked(order, expected_version)
    if order.status in (OrderStatus.CANCELLED, OrderStatus.REJECTED):
        raise ValidationError(f"This order is already {order.get_status_display().lower()}.")
    if not reason.strip():
        raise ValidationError({"reason": "Say why the order is cancelled."})
    order.status = OrderStatus.CANCELLED
    order.status_reason = reason.strip()
    _save_change(order, by=by, reason=f"cancelled: {reason.strip()}")
    return order


def weight_change_percent(ordered_kg: Decimal, current_kg: Decimal) -> Decimal:
    """Change from the ordered weight, in percent of it, to 0.1.

    Example: weight_change_percent(Decimal("70.0"), Decimal("77.0")) == Decimal("10.0")
    """
    return (abs(current_kg - ordered_kg) * 100 / ordered_kg).quantize(Decimal("0.1"), ROUND_HALF_UP)


@transaction.atomic
def dose_orders_recheck_weight(*, patient: Patient, by=None, today: date | None = None) -> list[DoseOrder]:
    """Send verified orders back for verification when the current weight differs from
    the ordered weight by 10 % or more. Returns the orders it changed."""
    current_kg, measured_on = _current(patient, "weight_kg", today or timezone.localdate())
    if current_kg is None:
        return []
    changed = []
    for order in patient.dose_orders.select_for_update().filter(status=OrderStatus.VERIFIED):
        ordered_kg = Decimal(order.inputs["weight_kg"])
        # Exact comparison: 10 % of the ordered weight is the line, not a rounded figure.
        if abs(current_kg - ordered_kg) * 100 < REVERIFY_WEIGHT_CHANGE_PERCENT * ordered_kg:
            continue
        order.status = OrderStatus.REVERIFY
        order.status_reason = (
            f"Weight changed from {ordered_kg} kg to {current_kg} kg on {measured_on:%Y-%m-%d} "
            f"({weight_change_percent(ordered_kg, current_kg)} %) after verification."
        )
        # A pharmacist's verify page opened before the weight changed goes stale with this.
        _save_change(order, by=by, reason="weight changed by 10 % or more")
        changed.append(order)
    return changed
