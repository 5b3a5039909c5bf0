"""risk/signals.py: every chart write that the rules read recomputes the patient's flags,
inside the writer's transaction, so the flags never lag behind the chart just saved.

Writes go through the services the views use (patients.services, visits.services)."""

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import transaction

from accounts.transactions import service_transaction
from dosing.models import Indication
from dosing.services.orders import dose_order_cancel, dose_order_create
from patients.models import LabTest, MedicationCategory, RiskFactorKind
from patients.services import (
    clinical_record_delete,
    clinical_record_update,
    lab_result_record,
    measurement_record,
    medication_record,
    patient_update,
    risk_factor_record,
)
from patients.tests.factories import PatientFactory
from risk.models import RiskFlag
from visits.services import visit_record

TODAY = date(2026, 11, 22)
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=ZoneInfo("America/New_York"))

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def frozen_now():
    with time_machine.travel(NOW, tick=False):
        yield NOW


@pytest.fixture
def nurse(make_user):
    return make_user("nurse")


@pytest.fixture
def patient(db):
    """56 years old, DM without a diagnosis date, no antibody, 70 kg and 170 cm: no flag."""
    patient = PatientFactory(date_of_birth=date(1970, 5, 17), diagnosis="adult_dm", antibodies=[])
    patient.measurements.create(measured_on=date(2026, 11, 1), weight_kg=Decimal("70"), height_cm=Decimal("170"))
    assert not patient.risk_flags.exists()
    return patient


def active(patient) -> dict[str, RiskFlag]:
    return {flag.code: flag for flag in patient.risk_flags.active()}


def test_recording_a_venous_thrombosis_raises_the_flag_and_ending_it_resolves_it(patient, nurse):
    factor = risk_factor_record(
        by=nurse, patient=patient, kind=RiskFactorKind.VENOUS_THROMBOSIS, noted_on=date(2025, 4, 2), today=TODAY
    )
    flag = active(patient)["thrombosis_history"]
    assert (flag.first_seen_at, flag.evidence_on) == (NOW, date(2025, 4, 2))
    assert "2025-04-02" in flag.evidence
    clinical_record_update(by=nurse, record=factor, ended_on=TODAY, today=TODAY)
    assert "thrombosis_history" not in active(patient)
    flag.refresh_from_db()
    assert flag.resolved_at == NOW


def test_an_egfr_of_42_raises_low_egfr_and_deleting_the_result_resolves_it(patient, nurse):
    result = lab_result_record(
        by=nurse, patient=patient, test=LabTest.EGFR, value=Decimal("42"), collected_on=date(2026, 11, 20), today=TODAY
    )
    flag = active(patient)["renal_low_egfr"]
    assert (flag.severity, flag.evidence_on) == ("moderate", date(2026, 11, 20))
    assert "eGFR 42 mL/min/1.73 m² on 2026-11-20" in flag.evidence
    clinical_record_delete(by=nurse, record=result, reason="Another patient's result")
    assert active(patient) == {}
    flag.refresh_from_db()
    assert flag.resolved_at == NOW


@pytest.mark.parametrize(("stopped_on", "still_flagged"), [(TODAY, False), (date(2026, 11, 1), False),
                                                           (date(2026, 12, 1), True)])  # fmt: skip
def test_starting_an_estrogen_raises_the_flag_and_stopping_it_resolves_it(patient, nurse, stopped_on, still_flagged):
    medication = medication_record(
        by=nurse, patient=patient, category=MedicationCategory.ESTROGEN, name="Ethinylestradiol",
        started_on=date(2026, 1, 5), today=TODAY,
    )  # fmt: skip
    assert "Ethinylestradiol" in active(patient)["thrombosis_estrogen"].evidence
    clinical_record_update(by=nurse, record=medication, stopped_on=stopped_on, today=TODAY)
    assert ("thrombosis_estrogen" in active(patient)) is still_flagged


def test_editing_the_patient_to_iga_deficient_with_anti_iga_raises_the_contraindication(patient, nurse):
    patient_update(by=nurse, patient=patient, iga_status="deficient", today=TODAY)
    assert active(patient) == {}
    patient_update(by=nurse, patient=patient, iga_status="deficient_anti_iga", today=TODAY)
    assert active(patient)["contra_iga_anti_iga"].category == "contraindication"
    assert list(patient.risk_flags.contraindications().values_list("code", flat=True)) == ["contra_iga_anti_iga"]


@pytest.mark.parametrize(("weight_kg", "flagged"), [("86.5", False), ("86.7", True)])  # BMI 29.9 and 30.0 at 170 cm
def test_a_new_weight_making_bmi_30_raises_the_cardiovascular_flag(patient, nurse, weight_kg, flagged):
    measurement_record(by=nurse, patient=patient, measured_on=TODAY, weight_kg=Decimal(weight_kg), today=TODAY)
    assert ("thrombosis_cardiovascular" in active(patient)) is flagged
    if flagged:
        assert "BMI 30 kg/m² (2026-11-22)" in active(patient)["thrombosis_cardiovascular"].evidence


BASELINE = {
    "physician_global_cm": Decimal("6"),
    "patient_global_cm": Decimal("7"),
    "mmt_scale": "mmt8_80",
    "mmt_score": Decimal("60"),
    "haq_score": Decimal("1.5"),
    "extramuscular_global_cm": Decimal("4"),
}
WORSE = BASELINE | {"extramuscular_global_cm": Decimal("6")}  # up 2 cm: ProDERM worsening


def test_two_consecutive_worse_visits_raise_confirmed_deterioration(patient, make_user):
    physician = make_user("physician")
    visit_record(by=physician, patient=patient, visit_date=date(2026, 9, 1), is_baseline=True, today=TODAY, **BASELINE)
    visit_record(by=physician, patient=patient, visit_date=date(2026, 10, 1), today=TODAY, **WORSE)
    assert "response_confirmed_deterioration" not in active(patient)
    visit_record(by=physician, patient=patient, visit_date=date(2026, 11, 2), today=TODAY, **WORSE)
    flag = active(patient)["response_confirmed_deterioration"]
    assert (flag.severity, flag.evidence_on, flag.puts_at_risk) == ("high", date(2026, 11, 2), False)


def test_a_2_g_per_kg_order_for_a_non_o_patient_raises_haemolysis_and_cancelling_resolves_it(patient, make_user):
    patient_update(by=make_user(), patient=patient, blood_group="A", today=TODAY)
    physician = make_user("physician")
    order = dose_order_create(
        by=physician, patient=patient, today=TODAY, dose_g_per_kg=Decimal("2"), days=2, weight_basis="auto",
        indication=Indication.objects.get(product__slug="octagam-10", slug="dermatomyositis"),
    )  # fmt: skip
    assert "2 g/kg" in active(patient)["info_haemolysis_risk"].evidence
    dose_order_cancel(by=physician, order=order, reason="Cycle postponed")
    assert "info_haemolysis_risk" not in active(patient)


def test_a_2_g_per_kg_order_without_a_blood_group_asks_for_it_until_it_is_recorded(patient, make_user):
    # Before: an unknown group switched the haemolysis check off without a word.
    patient.blood_group = "unknown"
    patient.save()
    physician = make_user("physician")
    dose_order_create(
        by=physician, patient=patient, today=TODAY, dose_g_per_kg=Decimal("2"), days=2, weight_basis="auto",
        indication=Indication.objects.get(product__slug="octagam-10", slug="dermatomyositis"),
    )  # fmt: skip
    flag = active(patient)["info_blood_group_unknown"]
    assert (flag.severity, flag.puts_at_risk) == ("info", False)
    assert "2 g/kg" in flag.evidence
    assert "info_haemolysis_risk" not in active(patient)
    patient_update(by=make_user(), patient=patient, blood_group="B", today=TODAY)
    assert "info_blood_group_unknown" not in active(patient)
    assert "info_haemolysis_risk" in active(patient)


def test_the_flag_is_rolled_back_with_the_write_that_raised_it(patient, nurse):
    with pytest.raises(RuntimeError), transaction.atomic():
        risk_factor_record(by=nurse, patient=patient, kind=RiskFactorKind.SEPSIS, noted_on=TODAY, today=TODAY)
        assert "renal_sepsis" in active(patient)
        raise RuntimeError("the rest of the form failed")
    assert not RiskFlag.objects.filter(patient=patient).exists()


def test_deleting_a_patient_with_chart_records_deletes_their_flags(patient, nurse):
    risk_factor_record(by=nurse, patient=patient, kind=RiskFactorKind.SMOKING, noted_on=TODAY, today=TODAY)
    lab_result_record(by=nurse, patient=patient, test=LabTest.EGFR, value=Decimal("42"), collected_on=TODAY,
                      today=TODAY)  # fmt: skip
    assert set(active(patient)) == {"thrombosis_cardiovascular", "renal_low_egfr"}
    with transaction.atomic():
        patient.delete()
    assert not RiskFlag.objects.exists()


class TestRecomputeOnce:
    """Each patient a service transaction touched is recomputed once, at its end, before it commits
    (accounts.transactions): booking a course saves every session and recomputes once."""

    @pytest.fixture
    def recomputes(self, flag_recomputes):
        return flag_recomputes

    def test_saves_inside_the_block_recompute_once_at_its_end(self, patient, nurse, recomputes):
        with service_transaction():
            risk_factor_record(by=nurse, patient=patient, kind=RiskFactorKind.SMOKING, noted_on=TODAY, today=TODAY)
            lab_result_record(by=nurse, patient=patient, test=LabTest.EGFR, value=Decimal("42"), collected_on=TODAY,
                              today=TODAY)  # fmt: skip
            assert recomputes == []
            assert not active(patient)
        assert recomputes == [patient.pk]
        assert set(active(patient)) == {"thrombosis_cardiovascular", "renal_low_egfr"}

    def test_nested_blocks_recompute_at_the_outermost_end(self, patient, nurse, recomputes):
        with service_transaction():
            with service_transaction():
                risk_factor_record(by=nurse, patient=patient, kind=RiskFactorKind.SMOKING, noted_on=TODAY,
                                   today=TODAY)  # fmt: skip
            assert recomputes == []
        assert recomputes == [patient.pk]

    def test_an_exception_recomputes_nothing_and_closes_the_block(self, patient, nurse, recomputes):
        with pytest.raises(RuntimeError), service_transaction():
            risk_factor_record(by=nurse, patient=patient, kind=RiskFactorKind.SEPSIS, noted_on=TODAY, today=TODAY)
            raise RuntimeError("the rest of the form failed")
        assert recomputes == []
        risk_factor_record(by=nurse, patient=patient, kind=RiskFactorKind.SEPSIS, noted_on=TODAY, today=TODAY)
        assert recomputes == [patient.pk]  # the service's own transaction, once
        assert "renal_sepsis" in active(patient)

    def test_the_recompute_commits_with_the_change_or_not_at_all(self, patient, nurse, monkeypatch):
        """Before commit, not after: a lab result never stands without the flags (and the lower
        cap of an order in use) it causes. A recompute that fails takes the result back."""
        from risk import services

        def failing(*, patient, **kwargs):
            raise RuntimeError("the rules could not run")

        monkeypatch.setattr(services, "flags_recompute", failing)
        with pytest.raises(RuntimeError):
            lab_result_record(by=nurse, patient=patient, test=LabTest.EGFR, value=Decimal("42"), collected_on=TODAY,
                              today=TODAY)  # fmt: skip
        assert not patient.lab_results.exists()
