from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from accounts.audit import CHANGE_REASON_MAX_CHARS
from dosing.models import Indication, OrderStatus, SiteSettings
from dosing.services.orders import (
    dose_order_cancel,
    dose_order_create,
    dose_order_reject,
    dose_order_verify,
    dose_orders_follow_chart,
    order_inputs,
    weight_change_percent,
)
from dosing.tests.factories import TODAY
from patients import services as patient_services
from patients.tests.factories import MeasurementFactory, MedicationFactory, PatientFactory, RiskFactorFactory


@pytest.mark.django_db
def test_order_snapshots_inputs_facts_and_the_worked_plan(make_order, dm_patient):
    order = make_order()
    assert order.status == OrderStatus.AWAITING_VERIFICATION
    assert order.inputs["weight_kg"] == "70.0" and order.inputs["weight_measured_on"] == "2026-11-20"
    assert order.at_risk is False and order.at_risk_reasons == []
    assert order.plan["daily_dose_g"] == "70.00" or Decimal(order.plan["daily_dose_g"]) == 70
    assert Decimal(order.plan["daily_volume_ml"]) == 700
    assert [Decimal(s["rate_ml_per_h"]) for s in order.plan["rate_steps"]] == [42, 84, 168]
    assert order.plan["infusion_minutes"] == 288
    assert order.facts["product"]["slug"] == "octagam-10"
    assert order.facts["label"]["status"] == "label"
    assert order.catalog_revision == SiteSettings.load().catalog_revision
    assert order.history.get().history_change_reason == "prescribed"


@pytest.mark.django_db
def test_at_risk_patient_gets_the_at_risk_cap_with_reasons(make_order, dm_patient):
    RiskFactorFactory(patient=dm_patient, kind="venous_thrombosis", noted_on=date(2024, 5, 1))
    order = make_order()
    assert order.at_risk is True
    assert [Decimal(s["rate_ml_per_h"]) for s in order.plan["rate_steps"]] == [
        Decimal("42"),
        Decimal("84"),
        Decimal("138.6"),
    ]
    assert order.plan["infusion_minutes"] == 336
    assert "venous thrombosis" in order.at_risk_reasons[0]["text"].lower()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        (lambda p: RiskFactorFactory(patient=p, kind="central_catheter"), "thrombosis"),
        (
            lambda p: MedicationFactory(patient=p, category="estrogen", name="Estradiol", daily_dose_mg=None),
            "thrombosis",
        ),
        (lambda p: MedicationFactory(patient=p, category="nephrotoxic", name="Ibuprofen", daily_dose_mg=None), "renal"),
        (lambda p: RiskFactorFactory(patient=p, kind="sepsis"), "renal"),
    ],
)
def test_risk_reasons_from_the_chart(dm_patient, setup, expected):
    setup(dm_patient)
    inputs = order_inputs(dm_patient, TODAY)
    assert inputs["at_risk"] is True
    assert {reason["category"] for reason in inputs["at_risk_reasons"]} == {expected}
    assert inputs["renal_risk"] is (expected == "renal")


@pytest.mark.django_db
def test_ended_risk_factor_and_stopped_estrogen_do_not_count(dm_patient):
    RiskFactorFactory(patient=dm_patient, kind="immobilisation", noted_on=date(2025, 1, 1), ended_on=date(2025, 3, 1))
    MedicationFactory(
        patient=dm_patient, category="estrogen", name="Estradiol", daily_dose_mg=None, stopped_on=date(2026, 1, 1)
    )
    assert order_inputs(dm_patient, TODAY)["at_risk"] is False


@pytest.mark.django_db
def test_age_bmi_and_egfr_reasons(make_user):
    patient = PatientFactory(date_of_birth=date(1950, 1, 1))
    patient_services.measurement_record(
        by=make_user("physician"),
        patient=patient,
        measured_on=date(2026, 11, 1),
        weight_kg=Decimal("95"),
        height_cm=Decimal("170"),
        today=TODAY,
    )
    patient_services.lab_result_record(
        by=make_user("physician"),
        patient=patient,
        test="egfr",
        collected_on=date(2026, 11, 2),
        value=Decimal("42"),
        today=TODAY,
    )
    texts = [reason["text"] for reason in order_inputs(patient, TODAY)["at_risk_reasons"]]
    assert "Advanced age: Age 76 (65 or over)" in texts and "Age over 65: Age 76" in texts
    assert any(text.startswith("Cardiovascular risk factors: Obesity: BMI 32.9") for text in texts)
    assert any(text.startswith("Reduced kidney function: eGFR 42 ") for text in texts)


@pytest.mark.django_db
def test_no_weight_refuses_the_order(make_order):
    with pytest.raises(ValidationError, match="weight"):
        make_order(patient=PatientFactory())


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("overrides", "field"),
    [({"days": 6}, "days"), ({"days": 1}, "days"), ({"dose_g_per_kg": Decimal("3.5")}, "dose_g_per_kg")],
)
def test_out_of_range_order_names_the_field_and_writes_nothing(make_order, overrides, field):
    from dosing.models import DoseOrder

    with pytest.raises(ValidationError) as caught:
        make_order(**overrides)
    assert field in caught.value.message_dict
    assert DoseOrder.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"iga_status": "deficient_anti_iga"}, "IgA"),
        ({"hypersensitivity_to_immunoglobulin": True}, "hypersensitivity"),
    ],
)
def test_contraindication_blocks_the_order(make_order, make_user, dm_patient, changes, message):
    from dosing.models import DoseOrder

    for key, value in changes.items():
        setattr(dm_patient, key, value)
    dm_patient.save()
    with pytest.raises(ValidationError, match=message):
        make_order()
    assert DoseOrder.objects.count() == 0
    order = make_order(override_reason="Life-threatening flare; premedicated, anaesthetist present")
    assert order.contraindication_override["reason"].startswith("Life-threatening flare")
    assert message.lower() in order.contraindication_override["flags"][0]["title"].lower()
    assert order.history.get().history_change_reason.startswith("prescribed, contraindication overridden")
    # The overridden contraindication neither blocks verification nor stops the order in use.
    dose_order_verify(by=make_user("pharmacist"), order=order)
    dose_orders_follow_chart(patient=dm_patient, today=TODAY)
    order.refresh_from_db()
    assert order.status == OrderStatus.VERIFIED and order.is_administrable


@pytest.mark.django_db
def test_corn_allergy_blocks_only_products_with_maltose(make_order, dm_patient, make_user):
    from dosing.models import Indication

    dm_patient.corn_allergy = True
    dm_patient.save()
    with pytest.raises(ValidationError, match="Corn allergy"):
        make_order()
    privigen_cidp = Indication.objects.get(product__slug="privigen", slug="cidp")
    order = dose_order_create(
        by=make_user("physician"),
        patient=dm_patient,
        indication=privigen_cidp,
        dose_g_per_kg=Decimal("2"),
        days=2,
        weight_basis="auto",
        today=TODAY,
    )
    assert order.contraindication_override == {}


@pytest.mark.django_db
def test_informational_flags_do_not_lower_the_cap(make_order, dm_patient):
    dm_patient.diagnosis_date = date(2026, 6, 1)  # DM within the last year: informational only
    dm_patient.save()
    assert dm_patient.risk_flags.active().filter(code="info_dm_recent").exists()
    order = make_order()
    assert order.at_risk is False and order.plan["infusion_minutes"] == 288


@pytest.mark.django_db
def test_off_label_and_age_warnings_are_kept_with_the_order(make_order, dm_patient):
    dm_patient.diagnosis = "polymyositis"
    dm_patient.date_of_birth = date(2012, 1, 1)
    dm_patient.save()
    codes = {warning["code"] for warning in make_order().plan["warnings"]}
    assert {"off_label_indication", "age_under_18_adult_indication"} <= codes
    assert "corn_allergy_maltose" not in codes  # no corn allergy recorded


@pytest.mark.django_db
def test_verify_by_another_pharmacist(make_order, make_user):
    order = make_order()
    pharmacist = make_user("pharmacist")
    dose_order_verify(by=pharmacist, order=order)
    order.refresh_from_db()
    assert order.status == OrderStatus.VERIFIED and order.verified_by == pharmacist
    with pytest.raises(ValidationError, match="only a pending order"):
        dose_order_verify(by=make_user("pharmacist"), order=order)


@pytest.mark.django_db
def test_nobody_verifies_their_own_order(make_order, make_user):
    prescriber = make_user("physician")
    prescriber.groups.add(*make_user("pharmacist").groups.all())
    order = make_order(by=prescriber)
    with pytest.raises(ValidationError, match="another pharmacist"):
        dose_order_verify(by=prescriber, order=order)
    order.refresh_from_db()
    assert order.status == OrderStatus.AWAITING_VERIFICATION


@pytest.mark.django_db
def test_reject_needs_a_reason(make_order, make_user):
    order = make_order()
    with pytest.raises(ValidationError):
        dose_order_reject(by=make_user("pharmacist"), order=order, reason="  ")
    dose_order_reject(by=make_user("pharmacist"), order=order, reason="Use the 10 g vials we have")
    order.refresh_from_db()
    assert order.status == OrderStatus.REJECTED and order.status_reason == "Use the 10 g vials we have"


@pytest.mark.django_db
def test_cancel(make_order, make_user):
    order = make_order()
    dose_order_cancel(by=make_user("physician"), order=order, reason="Switched to SCIg")
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED
    with pytest.raises(ValidationError):
        dose_order_cancel(by=make_user("physician"), order=order, reason="again")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("new_weight", "needs_reverify"), [("77.0", True), ("63.0", True), ("76.9", False), ("63.1", False)]
)
def test_weight_change_of_ten_percent_sends_a_verified_order_back(
    make_order, make_user, dm_patient, new_weight, needs_reverify, frozen_today
):
    order = make_order()
    dose_order_verify(by=make_user("pharmacist"), order=order)
    patient_services.measurement_record(
        by=make_user("nurse"), patient=dm_patient, measured_on=TODAY, weight_kg=Decimal(new_weight)
    )
    order.refresh_from_db()
    assert (order.status == OrderStatus.REVERIFY) is needs_reverify
    if needs_reverify:
        assert "Weight changed from 70.0 kg to" in order.status_reason


@pytest.mark.django_db
def test_following_the_chart_leaves_unverified_orders_pending_and_is_idempotent(
    make_order, make_user, dm_patient, frozen_today
):
    pending = make_order()
    patient_services.measurement_record(
        by=make_user("nurse"), patient=dm_patient, measured_on=TODAY, weight_kg=Decimal("80")
    )
    assert dose_orders_follow_chart(patient=dm_patient, today=TODAY) == []
    pending.refresh_from_db()
    assert pending.status == OrderStatus.AWAITING_VERIFICATION
    # The chart was compared (the weight moved) but a pending order waits for its verification.
    assert pending.chart_replan["inputs"]["weight_kg"] == "80.0"


def test_weight_change_percent_example():
    assert weight_change_percent(Decimal("70.0"), Decimal("77.0")) == Decimal("10.0")
    assert weight_change_percent(Decimal("70.0"), Decimal("63.0")) == Decimal("10.0")


@pytest.mark.django_db
def test_later_catalog_edits_do_not_rewrite_an_order(make_order, dm_indication):
    order = make_order()
    plan_before = dict(order.plan)
    dm_indication.max_rate_mg_per_kg_min = Decimal("2")
    dm_indication.save()
    order.refresh_from_db()
    assert order.plan == plan_before


# ----------------------------------------------------------------------- versions (two pages open at once)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "write",
    [
        lambda order, users: dose_order_verify(by=users("pharmacist"), order=order, expected_version=1),
        lambda order, users: dose_order_reject(by=users("pharmacist"), order=order, reason="r", expected_version=1),
        lambda order, users: dose_order_cancel(by=users("physician"), order=order, reason="r", expected_version=1),
    ],
    ids=["verify", "reject", "cancel"],
)
def test_every_change_of_state_raises_the_version(make_order, make_user, write):
    order = make_order()
    assert order.version == 1
    write(order, make_user)
    order.refresh_from_db()
    assert order.version == 2


@pytest.mark.django_db
def test_sent_back_for_verification_raises_the_version(make_order, make_user, dm_patient, frozen_today):
    order = make_order()
    dose_order_verify(by=make_user("pharmacist"), order=order, expected_version=1)
    patient_services.measurement_record(
        by=make_user("nurse"), patient=dm_patient, measured_on=TODAY, weight_kg=Decimal("80")
    )
    order.refresh_from_db()
    assert (order.status, order.version) == (OrderStatus.REVERIFY, 3)


@pytest.mark.django_db
def test_second_of_two_writes_from_the_same_version_is_refused_and_writes_nothing(make_order, make_user, frozen_today):
    """A physician cancels while a pharmacist has the verify page (version 1) open: the
    cancel stands, the verify is refused with who changed what, and nothing of it is written."""
    order = make_order()
    physician = make_user("physician", first_name="Dana", last_name="Reyes")
    dose_order_cancel(by=physician, order=order, reason="Patient declined", expected_version=1)
    history_rows = order.history.count()
    with pytest.raises(ValidationError) as refused:
        dose_order_verify(by=make_user("pharmacist"), order=order, expected_version=1)
    assert refused.value.messages == [
        "This order was changed by Dana Reyes at 2026-11-22 12:00 (now: Cancelled) after you opened it. "
        "Nothing was saved — review the order as it is now and try again."
    ]
    assert refused.value.error_list[0].code == "stale"
    order.refresh_from_db()
    assert (order.status, order.status_reason, order.verified_by, order.version) == (
        OrderStatus.CANCELLED,
        "Patient declined",
        None,
        2,
    )
    assert order.history.count() == history_rows


@pytest.mark.django_db
def test_stale_version_is_refused_before_any_other_check(make_order, make_user):
    # The person must first see the order as it is now; a status message about it would mislead.
    order = make_order()
    dose_order_verify(by=make_user("pharmacist"), order=order, expected_version=1)
    with pytest.raises(ValidationError, match=r"changed by .* \(now: Verified\)"):
        dose_order_reject(by=make_user("pharmacist"), order=order, reason="r", expected_version=1)


@pytest.mark.django_db
def test_no_expected_version_means_no_check(make_order, make_user):
    # Scripts and the demo loader show no page; they write against the order as it is.
    order = make_order()
    dose_order_verify(by=make_user("pharmacist"), order=order)
    dose_order_cancel(by=make_user("physician"), order=order, reason="r")
    order.refresh_from_db()
    assert (order.status, order.version) == (OrderStatus.CANCELLED, 3)


@pytest.mark.django_db
def test_a_long_reason_fits_the_history_column(make_order, make_user):
    # A pharmacist's rejection reason can be 300 characters; the history column holds 100
    # (a varchar on PostgreSQL, where a longer value would fail the whole write).
    order = make_order()
    reason = "Dose exceeds what the weight supports; " * 7
    dose_order_reject(by=make_user("pharmacist"), order=order, reason=reason[:300])
    saved = order.history.first().history_change_reason
    assert len(saved) == CHANGE_REASON_MAX_CHARS and saved.endswith("…")
    order.refresh_from_db()
    assert order.status_reason == reason[:300].strip()  # the order itself keeps the whole reason


# ------------------------------------------------------- pharmacy-grade limits (issue 15)


def _privigen_itp():
    return Indication.objects.get(product__slug="privigen", slug="chronic-itp")


@pytest.mark.django_db
def test_hyperprolinaemia_blocks_privigen_until_a_physician_overrides(dm_patient, make_user, make_order):
    dm_patient.hyperprolinaemia = True
    dm_patient.save()
    physician = make_user("physician")
    order_privigen = {
        "by": physician,
        "patient": dm_patient,
        "indication": _privigen_itp(),
        "dose_g_per_kg": Decimal("2"),
        "days": 2,
        "weight_basis": "auto",
        "today": TODAY,
    }
    with pytest.raises(ValidationError, match=r"Contraindicated: Hyperprolinaemia \(proline\)"):
        dose_order_create(**order_privigen)
    order = dose_order_create(**order_privigen, override_reason="no other product available; metabolic team agrees")
    assert order.inputs["hyperprolinaemia"] is True
    assert [flag["code"] for flag in order.contraindication_override["flags"]] == ["contra_hyperprolinaemia"]
    (blocking,) = [warning for warning in order.plan["warnings"] if warning["blocking"]]
    assert blocking["code"] == "hyperprolinaemia_proline"
    assert order.plan["blocked"] is True
    # Octagam contains no proline: no flag, no warning, no override needed.
    octagam = make_order()
    assert octagam.contraindication_override == {}
    assert octagam.plan["blocked"] is False


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("diagnosis", "born", "juvenile", "dosing_weight_kg"),
    [
        ("juvenile_dm", date(2012, 5, 1), True, "80.0"),  # 14: actual weight
        ("adult_dm", date(2010, 5, 1), True, "80.0"),  # 16 with DM recorded as adult: a juvenile DM
        ("juvenile_dm", date(2000, 5, 1), True, "80.0"),  # juvenile DM, now 26: the course goes on as it began
        ("adult_dm", date(1974, 2, 3), False, "63.4"),  # the adult rule: BMI 31.3, adjusted weight
    ],
)
def test_orders_pass_juvenile_dermatomyositis_from_the_patient(make_order, dm_patient, diagnosis, born, juvenile,
                                                                 dosing_weight_kg):  # fmt: skip
    dm_patient.diagnosis, dm_patient.date_of_birth = diagnosis, born
    dm_patient.save()
    MeasurementFactory(patient=dm_patient, measured_on=date(2026, 11, 21), weight_kg=Decimal("80"),
                       height_cm=Decimal("160"))  # fmt: skip
    assert order_inputs(dm_patient, TODAY)["juvenile_dermatomyositis"] is juvenile
    order = make_order()
    assert Decimal(order.plan["dosing_weight_kg"]) == Decimal(dosing_weight_kg)
    if juvenile:
        assert order.plan["weight_reason"].startswith("juvenile dermatomyositis: the adult BMI rule does not choose")


@pytest.mark.django_db
def test_an_order_keeps_the_site_limits_it_was_planned_with(make_order):
    site = SiteSettings.load()
    SiteSettings.objects.filter(pk=site.pk).update(daily_dose_ceiling_g=Decimal("60"), vial_proposal="fewest")
    order = make_order()
    assert order.facts["site"]["daily_dose_ceiling_g"] == "60.0"
    assert order.facts["site"]["vial_proposal"] == "fewest"
    assert "daily_dose_ceiling" in {warning["code"] for warning in order.plan["warnings"]}
