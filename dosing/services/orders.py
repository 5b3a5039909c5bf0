"""Dose orders: a physician prescribes from the patient's chart as it stands, a pharmacist
(never the prescriber) verifies the plan from today's chart or rejects it, and the order then
follows the chart (``dose_orders_follow_chart``): a lower cap reaches the chair at once, a
changed verdict sends the order back to the pharmacist while it stays in use, and a dose change
of 10 % or more, a new contraindication or an undosable chart stops it until verified.

Each write validates, runs in one transaction and leaves who/why in the order's
history. The order keeps a snapshot of its inputs, facts and plan.

Versions: every change of state raises the order's ``version``. The verify, reject and cancel
pages post the version they showed as ``expected_version``; under the row lock a different
version is refused (``accounts.audit.check_version``), so of a pharmacist verifying and a physician
cancelling at the same moment the first wins and the second is told, with nothing written.
``expected_version=None`` means the caller showed no page (a script, the demo loader): no check."""

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.audit import STALE, audited_save, check_version
from accounts.errors import FieldError
from accounts.transactions import service
from patients.models import IgAStatus, Patient, VerdictFlag

from ..chart_limits import REVERIFY_WEIGHT_CHANGE_PERCENT, changed_by_at_least, plan_differences, plan_digest
from ..models import (
    MAX_PREMEDICATIONS,
    OPEN_STATUSES,
    PENDING_STATUSES,
    DoseOrder,
    HydrationFluid,
    Indication,
    OrderStatus,
    Premedication,
    SiteSettings,
)
from ..planning import (
    LABELLED_FOR_DIAGNOSES,
    facts_snapshot,
    first_infusion_of,
    juvenile_dermatomyositis,
    label_info,
    plan_for,
)
from ..signals import order_closed, order_plan_changed
from .treatment_courses import course_for, needs_for_order, new_course, treatment_course_start

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
    # The risk rules' verdict, kept on the patient: any active thrombosis or renal flag (not an
    # informational one) puts the patient at risk.
    reasons = patient.verdict_flags("at_risk")
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
        "hyperprolinaemia": patient.hyperprolinaemia,
        "juvenile_dermatomyositis": juvenile_dermatomyositis(patient.diagnosis, patient.age_on(today)),
        "at_risk": bool(reasons),
        # Renal risk: an at-risk flag of the renal category (risk.models.PUTS_AT_RENAL_RISK).
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
            hyperprolinaemia=inputs["hyperprolinaemia"],
            juvenile_dermatomyositis=inputs["juvenile_dermatomyositis"],
        )
    except FieldError as exc:
        if exc.field in FORM_FIELDS:
            raise ValidationError({exc.field: exc.sentence}) from exc
        raise ValidationError(f"The patient's recorded data cannot be dosed: {exc}") from exc
    except (ValueError, TypeError) as exc:
        raise ValidationError(f"The patient's recorded data cannot be dosed: {exc}") from exc
    return inputs, plan


def blocking_flags(patient: Patient, indication: Indication) -> list[VerdictFlag]:
    """Active contraindication flags that stop an order of this product unless a physician overrides."""
    flags = patient.verdict_flags("contraindications")
    if not indication.product.contains_maltose:
        # Corn allergy matters only for products made with maltose from corn.
        flags = [flag for flag in flags if flag.code != "contra_corn_allergy"]
    if not indication.product.contains_proline:
        # Hyperprolinaemia matters only for products stabilised with proline.
        flags = [flag for flag in flags if flag.code != "contra_hyperprolinaemia"]
    return flags


def first_infusion_mark(patient: Patient, product, today: date, site: SiteSettings) -> dict:
    """The order's first-infusion mark (``DoseOrder.first_infusion``): is an infusion of ``product``
    given ``today`` a first one (``planning.first_infusion_of``), and why.

    Dosing may not read scheduling's sessions (the layer above); scheduling keeps the infusions
    given on the patient (``Patient.infusions_given``, as it keeps ``first_infusion_on``) and the
    order reads them there. The mark is derived, not asked: the prescriber sees it, with the slower
    first step, on the order page. It is as of the day of ordering (and of verifying); each session
    derives it again for its own day, and the chair follows the session's.

    Example: Gamunex-C given on 2026-08-01, Octagam 10 % ordered on 2026-08-20 -> {"kind":
    "product_switch", "reason": "product switch from Gamunex-C (last given 2026-08-01)",
    "derived_on": "2026-08-20"}.
    """
    mark = first_infusion_of(patient, product, today, site)
    return {} if mark is None else {**mark.to_dict(), "derived_on": today.isoformat()}


@service
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
    plan_digest_shown: str | None = None,
    premedications: list[dict] = (),
    pre_hydration_fluid: str = HydrationFluid.NONE,
    pre_hydration_volume_ml=None,
    pre_hydration_rate_ml_per_h=None,
    post_hydration_fluid: str = HydrationFluid.NONE,
    post_hydration_volume_ml=None,
    post_hydration_rate_ml_per_h=None,
    observation_minutes: int = 0,
    bedside_instructions: str = "",
    authorisation_reason: str = "",
) -> DoseOrder:
    """Place an order. Contraindication flags stop it unless `override_reason` says why the
    physician gives IVIG anyway; the override is kept with the order and in its history.
    ``plan_digest_shown`` (from a page that showed the plan) must match the plan placed.

    The bedside instructions are written with the order, in the same transaction: hydration,
    observation and free text on the order, each premedication as a row (``premedications``: at
    most four dicts of drug, drug_name, dose, dose_unit, route, minutes_before_start). A bad one
    refuses the whole order; its error is keyed ``premedications-<index>-<field>``, as the
    order form's formset names its fields.
    Example: ``premedications=[{"drug": "paracetamol", "dose": Decimal("1"), "dose_unit": "g",
    "route": "oral", "minutes_before_start": 30}]``.

    The order is placed on the patient's treatment course for the indication (its authorisation
    window), or starts one with the site's defaults (``order.treatment_course_started`` is then
    True). An order outside the window (after ``authorised_until``, above its maximum dose, or on a
    course in trial off or stopped) is refused at ``authorisation_reason`` unless that says why;
    the reason is kept with the order."""
    today = today or timezone.localdate()
    # The chart as the risk rules last judged it: on every change they read, and nightly.
    inputs, plan = plan_order(
        patient=patient,
        indication=indication,
        dose_g_per_kg=dose_g_per_kg,
        days=days,
        weight_basis=weight_basis,
        today=today,
    )
    if plan_digest_shown is not None and plan_digest_shown != plan_digest(plan.to_dict()):
        raise ValidationError(
            "The plan changed after it was shown (an input or the chart): nothing was ordered. "
            "Calculate again and check the plan.",
            code=STALE,
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
        first_infusion=first_infusion_mark(patient, indication.product, today, site),
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
        pre_hydration_fluid=pre_hydration_fluid or HydrationFluid.NONE,
        pre_hydration_volume_ml=pre_hydration_volume_ml,
        pre_hydration_rate_ml_per_h=pre_hydration_rate_ml_per_h,
        post_hydration_fluid=post_hydration_fluid or HydrationFluid.NONE,
        post_hydration_volume_ml=post_hydration_volume_ml,
        post_hydration_rate_ml_per_h=post_hydration_rate_ml_per_h,
        observation_minutes=observation_minutes or 0,
        bedside_instructions=bedside_instructions.strip(),
    )
    # Every refusal at once, the order's and the premedications', before anything is written.
    errors = {}
    course = course_for(patient, indication.slug)
    started = course is None
    if started:
        course = new_course(
            by=by, patient=patient, indication=indication, dose_g_per_kg=plan.dose_g_per_kg, today=today
        )
        order.authorisation_reason = ""
    else:
        needs = needs_for_order(course, dose_g_per_kg=plan.dose_g_per_kg, ordered_on=today)
        order.authorisation_reason = authorisation_reason.strip()[:300] if needs else ""
        if needs and not order.authorisation_reason:
            errors["authorisation_reason"] = [
                " ".join(needs) + " Record a stewardship review (renewal), or give the reason to order anyway."
            ]
    try:
        order.full_clean(exclude=["treatment_course"])
    except ValidationError as exc:
        errors.update(exc.update_error_dict({}))
    try:
        premeds = _premedications(premedications)
    except ValidationError as exc:
        errors.update(exc.update_error_dict({}))
    if errors:
        raise ValidationError(errors)
    if started:
        treatment_course_start(by=by, course=course)
    order.treatment_course = course
    order.treatment_course_started = started
    reason = "prescribed" if not override else f"prescribed, contraindication overridden: {override['reason']}"
    if order.authorisation_reason:
        reason += f"; outside the authorisation: {order.authorisation_reason}"
    audited_save(order, by=by, reason=reason[:100])
    for premed in premeds:
        premed.order = order
        audited_save(premed, by=by, reason="prescribed with the order")
    return order


PREMEDICATION_FIELDS = ("drug", "drug_name", "dose", "dose_unit", "route", "minutes_before_start")


def _premedications(rows) -> list[Premedication]:
    """The premedications as unsaved rows, each checked before anything is written."""
    rows = list(rows)
    if len(rows) > MAX_PREMEDICATIONS:
        raise ValidationError(
            {"premedications": f"At most {MAX_PREMEDICATIONS} premedications on one order; {len(rows)} were given."}
        )
    premeds, errors = [], {}
    for index, row in enumerate(rows):
        unknown = set(row) - set(PREMEDICATION_FIELDS)
        if unknown:
            raise ValidationError(
                {"premedications": f"Premedication {index + 1}: unknown {', '.join(sorted(unknown))}."}
            )
        premed = Premedication(**{name: row.get(name) for name in PREMEDICATION_FIELDS if name != "drug_name"})
        premed.drug_name = (row.get("drug_name") or "").strip()
        try:
            premed.full_clean(exclude=["order"])
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                key = f"premedications-{index}-{field}" if field in PREMEDICATION_FIELDS else "premedications"
                errors.setdefault(key, []).extend(
                    messages if field in PREMEDICATION_FIELDS else [f"Premedication {index + 1}: {m}" for m in messages]
                )
        premeds.append(premed)
    if errors:
        raise ValidationError(errors)
    return premeds


def _locked(order: DoseOrder, expected_version: int | None) -> DoseOrder:
    """The order re-read under a row lock, refused if the page showed another version of it."""
    locked = DoseOrder.objects.select_for_update().get(pk=order.pk)
    check_version(locked, expected_version, what="order", state=locked.get_status_display())
    return locked


def _save_change(order: DoseOrder, *, by, reason: str) -> None:
    order.version += 1
    audited_save(order, by=by, reason=reason)


def _require_awaiting(order: DoseOrder) -> None:
    if order.status not in PENDING_STATUSES:
        raise ValidationError(
            f"This order is {order.get_status_display().lower()}; only a pending order can be verified."
        )


def verification_plan(order: DoseOrder, today: date) -> tuple[dict, dict]:
    """What verifying the order now would verify: (inputs, plan) from today's chart and catalog,
    for the order's product, indication, g/kg, days and weight basis."""
    inputs, plan = plan_order(
        patient=order.patient,
        indication=order.indication,
        # As the order's plan wrote it ("2", not the column's "2.00"), so an unchanged chart
        # gives the very same plan.
        dose_g_per_kg=Decimal(order.plan["dose_g_per_kg"]),
        days=order.days,
        weight_basis=order.weight_basis,
        today=today,
    )
    return inputs, plan.to_dict()


def verification_changes(order: DoseOrder, inputs: dict, plan: dict) -> list[dict]:
    """Rows of what changed since the order was last verified (or prescribed)."""
    return plan_differences((order.inputs, order.plan), (inputs, plan))


def _uncovered_contraindications(order: DoseOrder) -> list[VerdictFlag]:
    overridden = {flag["code"] for flag in order.contraindication_override.get("flags", [])}
    return [flag for flag in blocking_flags(order.patient, order.indication) if flag.code not in overridden]


@service
def dose_order_verify(
    *,
    by,
    order: DoseOrder,
    expected_version: int | None = None,
    plan_digest_shown: str | None = None,
    now: datetime | None = None,
) -> DoseOrder:
    """Verify the plan from today's chart (never the plan of an older chart): weight, at-risk
    verdict, catalog and site settings as they are now become the order's snapshot, and the
    booked sessions follow it. ``plan_digest_shown`` is the digest of the plan the page showed:
    if the chart moved since, the pharmacist is shown the new plan instead."""
    order = _locked(order, expected_version)
    _require_awaiting(order)
    if order.prescribed_by_id == by.pk:
        raise ValidationError("You prescribed this order: another pharmacist must verify it.")
    now = now or timezone.now()
    inputs, plan = verification_plan(order, timezone.localdate(now))
    if plan_digest_shown is not None and plan_digest_shown != plan_digest(plan):
        raise ValidationError(
            "The patient's chart changed while this page was open, and with it the plan: "
            "nothing was verified. Check the plan shown now, then verify.",
            code=STALE,
        )
    uncovered = _uncovered_contraindications(order)
    if uncovered:
        raise ValidationError(
            [f"Contraindicated since the order was placed: {flag.title} ({flag.evidence})." for flag in uncovered]
            + ["The prescriber must cancel this order, or place a new one overriding it with a reason."]
        )
    changed = [row["label"].lower() for row in verification_changes(order, inputs, plan) if row["changed"]]
    site = SiteSettings.load()
    facts = facts_snapshot(order.product, order.indication, site)
    facts["label"] = label_info(order.product, order.indication)
    order.inputs, order.plan, order.facts = inputs, plan, facts
    order.first_infusion = first_infusion_mark(order.patient, order.product, timezone.localdate(now), site)
    order.at_risk = plan["at_risk"]
    order.at_risk_reasons = inputs["at_risk_reasons"]
    order.catalog_revision = site.catalog_revision
    order.chart_replan = {}
    order.status = OrderStatus.VERIFIED
    order.status_reason = ""
    order.verified_by = by
    order.verified_at = now
    reason = "verified" + (f"; changed since last checked: {', '.join(changed)}" if changed else "")
    _save_change(order, by=by, reason=reason[:100])
    order_plan_changed.send(sender=DoseOrder, order=order)
    return order


@service
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
    # An order in use that a pharmacist rejects on re-verification ends its courses too.
    order_closed.send(sender=DoseOrder, order=order, by=by, reason=f"order rejected: {reason.strip()}")
    return order


@service
def dose_order_cancel(*, by, order: DoseOrder, reason: str, expected_version: int | None = None) -> DoseOrder:
    order = _locked(order, expected_version)
    if order.status in (OrderStatus.CANCELLED, OrderStatus.REJECTED):
        raise ValidationError(f"This order is already {order.get_status_display().lower()}.")
    if not reason.strip():
        raise ValidationError({"reason": "Say why the order is cancelled."})
    order.status = OrderStatus.CANCELLED
    order.status_reason = reason.strip()
    _save_change(order, by=by, reason=f"cancelled: {reason.strip()}")
    order_closed.send(sender=DoseOrder, order=order, by=by, reason=f"order cancelled: {reason.strip()}")
    return order


def weight_change_percent(ordered_kg: Decimal, current_kg: Decimal) -> Decimal:
    """Change from the ordered weight, in percent of it, to 0.1.

    Example: weight_change_percent(Decimal("70.0"), Decimal("77.0")) == Decimal("10.0")
    """
    return (abs(current_kg - ordered_kg) * 100 / ordered_kg).quantize(Decimal("0.1"), ROUND_HALF_UP)


def _changed_by_ten_percent(before, after) -> bool:
    return changed_by_at_least(before, after, REVERIFY_WEIGHT_CHANGE_PERCENT)


def _verdict(inputs: dict) -> str:
    if not inputs["at_risk"]:
        return "not at risk"
    return "at risk: " + "; ".join(f"{reason['category']}, {reason['text']}" for reason in inputs["at_risk_reasons"])


def chart_changes(order: DoseOrder, inputs: dict, plan: dict | None, error: str) -> tuple[str, list[str]]:
    """How far today's chart moves the order from what was verified: ("", []) for nothing the
    pharmacist must see; ("review", reasons) when the at-risk verdict or the maximum rate in
    mg/kg/min changed (the order stays in use under the lower limits); ("reverify", reasons)
    when the dose would change by 10 % or more, a contraindication appeared, or the chart
    cannot be dosed (nothing is given until verified)."""
    stop, review = [], []
    if plan is None:
        stop.append(f"Today's chart cannot be dosed: {error}")
    else:
        ordered_kg, current_kg = order.inputs["weight_kg"], inputs["weight_kg"]
        if _changed_by_ten_percent(ordered_kg, current_kg):
            stop.append(
                f"Weight changed from {ordered_kg} kg to {current_kg} kg on {inputs['weight_measured_on']} "
                f"({weight_change_percent(Decimal(ordered_kg), Decimal(current_kg))} %) after verification."
            )
        elif _changed_by_ten_percent(order.plan["dosing_weight_kg"], plan["dosing_weight_kg"]):
            stop.append(
                f"Dosing weight changed from {order.plan['dosing_weight_kg']} kg to {plan['dosing_weight_kg']} kg "
                f"({plan['weight_reason']}) after verification."
            )
        if bool(order.plan["at_risk"]) != bool(plan["at_risk"]) or bool(order.inputs.get("renal_risk")) != bool(
            inputs["renal_risk"]
        ):
            review.append(f"Now {_verdict(inputs)} (was {_verdict(order.inputs)}).")
        elif Decimal(order.plan["max_rate_mg_per_kg_min"]) != Decimal(plan["max_rate_mg_per_kg_min"]):
            review.append(f"Maximum rate now {plan['cap_reason']} (verified: {order.plan['cap_reason']}).")
    for flag in _uncovered_contraindications(order):
        stop.append(f"Contraindicated: {flag.title} ({flag.evidence}).")
    if stop:
        return "reverify", stop + review
    return ("review", review) if review else ("", [])


def _as_verified(order: DoseOrder) -> dict:
    # What an order's chart comparison is when today's chart gives exactly its own plan.
    return {"inputs": order.inputs, "plan": order.plan, "error": "", "changes": [], "reason": ""}


def _comparable(chart: dict) -> dict:
    inputs = {key: value for key, value in (chart.get("inputs") or {}).items() if key != "computed_on"}
    return {
        "inputs": inputs,
        "plan": chart.get("plan"),
        "error": chart.get("error", ""),
        "changes": chart.get("changes"),
    }


@service
def dose_orders_follow_chart(*, patient: Patient, today: date, by=None) -> list[DoseOrder]:
    """Re-plan every open order of the patient from today's chart. Called whenever the chart
    changes (risk.services.flags_recompute, on every save the rules read, and nightly).

    The chair then follows the lower of the verified plan and today's (``administration_plan``):
    a lower limit applies at once, a higher one waits for the pharmacist. A verified order whose
    at-risk verdict changed goes back to the pharmacist but stays in use (REVIEW); one whose dose
    would change, that became contraindicated or that can no longer be dosed is stopped until
    verified (REVERIFY). Returns the orders whose chart comparison changed; running it twice
    changes nothing."""
    changed = []
    for order in patient.dose_orders.select_for_update().filter(status__in=OPEN_STATUSES).order_by("pk"):
        try:
            inputs, plan = verification_plan(order, today)
            error = ""
        except ValidationError as exc:
            inputs, plan, error = order_inputs(patient, today), None, " ".join(exc.messages)
        level, reasons = chart_changes(order, inputs, plan, error)
        chart = {
            "inputs": inputs,
            "plan": plan,
            "error": error,
            "changes": reasons,
            "reason": f"Today's chart: {_verdict(inputs)}.",
        }
        if _comparable(chart) == _comparable(order.chart_replan or _as_verified(order)):
            continue
        before_limit = order.administration_plan
        order.chart_replan = {**chart, "checked_on": today.isoformat()}
        reason = "chart compared"
        if level and order.status in (OrderStatus.VERIFIED, OrderStatus.REVIEW):
            new_status = OrderStatus.REVERIFY if level == "reverify" else OrderStatus.REVIEW
            if new_status != order.status or order.status_reason != " ".join(reasons):
                order.status = new_status
                order.status_reason = " ".join(reasons)[:300]
                reason = "chart changed: verify again" if level == "review" else "chart changed: stopped until verified"
        # A verify page opened before the chart changed goes stale with this.
        order._skip_flags_recompute = True  # risk's recompute need not run again for this save
        _save_change(order, by=by, reason=reason)
        del order._skip_flags_recompute
        if order.administration_plan != before_limit:
            order_plan_changed.send(sender=DoseOrder, order=order)
        changed.append(order)
    return changed


def dose_order_note_last_cycle(*, order: DoseOrder, note: str, on: date | None) -> None:
    """Keep on the order the note the next cycle's sheet and sessions show (``note`` empty and
    ``on`` None clear it). Called inside scheduling's record services, so it commits with them.

    An update, not a save: a copy of findings audited where they are recorded (the infusion record
    and the prescriber's reminder), so it neither raises the order's version (a verify page open
    meanwhile is not made stale) nor enters its history.

    Example: a moderate headache at the infusion of 2027-01-12 -> "Reaction last cycle (moderate
    headache, 2027-01-12): consider premedication and a slower ladder.", on 2027-01-12.
    """
    order.last_cycle_note, order.last_cycle_note_on = note[:500], on
    DoseOrder.objects.filter(pk=order.pk).update(last_cycle_note=note[:500], last_cycle_note_on=on)


def dose_order_course_booked(*, order_id: int, booked_at: datetime) -> bool:
    """Mark that an infusion course was booked from the order (the first booking only: later
    ones keep the first time). Runs in the booking's transaction; a marker, not a clinical
    change, so it leaves no history row and wakes no chart recompute. True if it marked."""
    return bool(DoseOrder.objects.filter(pk=order_id, course_booked_at__isnull=True).update(course_booked_at=booked_at))
