"""risk/services.py: the chart read into a snapshot, flags opened/kept/resolved by
`flags_recompute`, `flag_acknowledge`, and the RiskFlag queryset and constraints.

The signals that recompute on every chart write are switched off here, so each test
decides when the service runs and with which `now`; risk/tests/test_signals.py covers them."""

from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models.signals import post_delete, post_save

from dosing.models import DoseOrder, Indication, SiteSettings
from dosing.services.orders import dose_order_cancel, dose_order_create
from patients.tests.factories import (
    LabResultFactory,
    MeasurementFactory,
    MedicationFactory,
    PatientFactory,
    RiskFactorFactory,
)
from risk import rules, signals
from risk.models import RiskFlag
from risk.services import chart_snapshot, flag_acknowledge, flags_recompute

NEW_YORK = ZoneInfo("America/New_York")
TODAY = date(2026, 11, 22)
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=NEW_YORK)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


@pytest.fixture(autouse=True)
def frozen_now():
    with time_machine.travel(NOW, tick=False):
        yield NOW


@pytest.fixture(autouse=True)
def recompute_only_when_called():
    receivers = [
        (signal, model, f"risk.recompute.{kind}.{model.__name__}")
        for model in signals.WATCHED
        for signal, kind in ((post_save, "save"), (post_delete, "delete"))
        if not (model is signals.Patient and kind == "delete")
    ]
    for signal, model, uid in receivers:
        assert signal.disconnect(sender=model, dispatch_uid=uid), uid
    yield
    for signal, model, uid in receivers:
        signal.connect(signals._recompute, sender=model, dispatch_uid=uid)


@pytest.fixture
def patient(db):
    """56 years old on TODAY, DM without a diagnosis date, no antibody: no rule applies yet."""
    return PatientFactory(date_of_birth=date(1970, 5, 17), diagnosis="adult_dm", antibodies=[])


def lab(patient, test, value, collected_on, unit="mg/dL"):
    return LabResultFactory(patient=patient, test=test, value=Decimal(value), unit=unit, collected_on=collected_on)


def active_codes(patient) -> set[str]:
    return set(patient.risk_flags.active().values_list("code", flat=True))


def reasons(flag) -> list[str]:
    return [row.history_change_reason for row in flag.history.order_by("history_date", "history_id")]


# --- chart_snapshot ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_snapshot_reads_active_risk_factors_noted_on_or_before_today(patient):
    RiskFactorFactory(patient=patient, kind="venous_thrombosis", noted_on=TODAY)
    RiskFactorFactory(patient=patient, kind="smoking", noted_on=TODAY + DAY)
    RiskFactorFactory(patient=patient, kind="sepsis", noted_on=date(2026, 1, 1), ended_on=date(2026, 2, 1))
    snapshot = chart_snapshot(patient, TODAY)
    assert snapshot.risk_factors == (("venous_thrombosis", "History of venous thrombosis (DVT/PE)", TODAY),)
    assert (snapshot.today, snapshot.age_years, snapshot.diagnosis) == (TODAY, 56, "adult_dm")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("started_on", "stopped_on", "current"),
    [
        (None, None, True),
        (TODAY, None, True),
        (TODAY + DAY, None, False),
        (date(2026, 1, 1), TODAY + DAY, True),
        (date(2026, 1, 1), TODAY, False),
        (date(2026, 1, 1), TODAY - DAY, False),
    ],
)
def test_snapshot_reads_medications_current_today(patient, started_on, stopped_on, current):
    MedicationFactory(patient=patient, category="estrogen", name="Estradiol", daily_dose_mg=None,
                      started_on=started_on, stopped_on=stopped_on)  # fmt: skip
    expected = (("estrogen", "Estradiol"),) if current else ()
    assert chart_snapshot(patient, TODAY).medications == expected


@pytest.mark.django_db
def test_snapshot_reads_the_renal_and_lipid_labs_newest_first_and_none_after_today(patient):
    lab(patient, "creatinine", "0.9", date(2026, 3, 1))
    lab(patient, "creatinine", "1.4", TODAY)
    lab(patient, "creatinine", "1.1", date(2026, 9, 1))
    lab(patient, "creatinine", "5.0", TODAY + DAY)
    lab(patient, "egfr", "48", date(2026, 9, 1), unit="mL/min/1.73 m²")
    lab(patient, "ck", "3000", TODAY, unit="U/L")
    snapshot = chart_snapshot(patient, TODAY)
    assert snapshot.labs == {
        "creatinine": (
            rules.LabValue(Decimal("1.4"), "mg/dL", TODAY),
            rules.LabValue(Decimal("1.1"), "mg/dL", date(2026, 9, 1)),
            rules.LabValue(Decimal("0.9"), "mg/dL", date(2026, 3, 1)),
        ),
        "egfr": (rules.LabValue(Decimal("48"), "mL/min/1.73 m²", date(2026, 9, 1)),),
    }


@pytest.mark.django_db
def test_snapshot_bmi_is_from_the_latest_weight_and_latest_height_up_to_today(patient):
    MeasurementFactory(
        patient=patient, measured_on=date(2025, 1, 10), weight_kg=Decimal("60"), height_cm=Decimal("170")
    )
    MeasurementFactory(patient=patient, measured_on=date(2026, 11, 20), weight_kg=Decimal("90"), height_cm=None)
    MeasurementFactory(patient=patient, measured_on=TODAY + DAY, weight_kg=Decimal("140"), height_cm=Decimal("150"))
    snapshot = chart_snapshot(patient, TODAY)
    assert (snapshot.bmi, snapshot.bmi_on) == (Decimal("31.1"), date(2026, 11, 20))  # 90 / 1.70² = 31.14


@pytest.mark.django_db
def test_snapshot_without_a_height_has_no_bmi(patient):
    MeasurementFactory(patient=patient, measured_on=date(2026, 11, 20), weight_kg=Decimal("120"), height_cm=None)
    assert (chart_snapshot(patient, TODAY).bmi, chart_snapshot(patient, TODAY).bmi_on) == (None, None)


@pytest.mark.django_db
def test_snapshot_reads_the_dose_of_the_latest_order_still_in_play(patient, make_user):
    MeasurementFactory(patient=patient, measured_on=date(2026, 11, 20))
    indication = Indication.objects.get(product__slug="octagam-10", slug="dermatomyositis")
    physician = make_user("physician")
    fields = {"by": physician, "patient": patient, "indication": indication, "days": 2, "weight_basis": "auto"}
    assert chart_snapshot(patient, TODAY).planned_dose_g_per_kg is None
    dose_order_create(dose_g_per_kg=Decimal("1"), today=TODAY, **fields)
    with time_machine.travel(NOW + HOUR, tick=False):
        later = dose_order_create(
            dose_g_per_kg=Decimal("2"), today=TODAY, authorisation_reason="Back to the labelled dose", **fields
        )
    assert chart_snapshot(patient, TODAY).planned_dose_g_per_kg == Decimal("2")
    dose_order_cancel(by=physician, order=later, reason="Entered twice")
    assert DoseOrder.objects.filter(patient=patient).count() == 2
    assert chart_snapshot(patient, TODAY).planned_dose_g_per_kg == Decimal("1")


# --- flags_recompute --------------------------------------------------------------------------


@pytest.mark.django_db
def test_recompute_opens_a_flag_first_seen_now_with_the_findings_fields(patient):
    RiskFactorFactory(patient=patient, kind="venous_thrombosis", noted_on=date(2024, 3, 1))
    result = flags_recompute(patient=patient, now=NOW)
    assert result == {"opened": ["thrombosis_history"], "resolved": [], "kept": []}
    flag = RiskFlag.objects.get(patient=patient)
    expected = only_finding(patient, "thrombosis_history")
    assert (flag.code, flag.category, flag.severity, flag.title) == (
        "thrombosis_history", rules.THROMBOSIS, rules.HIGH, expected.title
    )  # fmt: skip
    assert (flag.evidence, flag.evidence_on, flag.mitigation, flag.source) == (
        expected.evidence, date(2024, 3, 1), expected.mitigation, expected.source
    )  # fmt: skip
    assert (flag.first_seen_at, flag.last_evaluated_at, flag.resolved_at, flag.acknowledged_at) == (
        NOW,
        NOW,
        None,
        None,
    )
    assert reasons(flag) == ["raised by the rules"]


def only_finding(patient, code) -> rules.Finding:
    return next(f for f in rules.evaluate(chart_snapshot(patient, TODAY)) if f.code == code)


@pytest.mark.django_db
def test_recompute_twice_keeps_the_flag_and_changes_nothing(patient):
    RiskFactorFactory(patient=patient, kind="venous_thrombosis", noted_on=date(2024, 3, 1))
    flags_recompute(patient=patient, now=NOW)
    before = RiskFlag.objects.get(patient=patient)
    result = flags_recompute(patient=patient, now=NOW + 3 * HOUR)
    assert result == {"opened": [], "resolved": [], "kept": ["thrombosis_history"]}
    after = RiskFlag.objects.get(patient=patient)
    assert (after.pk, after.first_seen_at, after.evidence) == (before.pk, NOW, before.evidence)
    assert after.history.count() == 1


@pytest.mark.django_db
def test_recompute_updates_the_evidence_and_severity_when_the_value_changes(patient):
    lab(patient, "egfr", "42", date(2026, 11, 8), unit="mL/min/1.73 m²")
    flags_recompute(patient=patient, now=NOW)
    lab(patient, "egfr", "25", date(2026, 11, 20), unit="mL/min/1.73 m²")
    later = NOW + 2 * HOUR
    result = flags_recompute(patient=patient, now=later)
    assert result == {"opened": [], "resolved": [], "kept": ["renal_low_egfr"]}
    flag = RiskFlag.objects.get(patient=patient)
    assert "eGFR 25 " in flag.evidence and "2026-11-20" in flag.evidence
    assert (flag.severity, flag.evidence_on, flag.first_seen_at, flag.last_evaluated_at) == (
        rules.HIGH, date(2026, 11, 20), NOW, later
    )  # fmt: skip
    assert reasons(flag) == ["raised by the rules", "evidence updated"]


@pytest.mark.django_db
def test_recompute_resolves_a_flag_whose_condition_went_and_keeps_the_row(patient):
    factor = RiskFactorFactory(patient=patient, kind="venous_thrombosis", noted_on=date(2024, 3, 1))
    flags_recompute(patient=patient, now=NOW)
    factor.ended_on = TODAY
    factor.save()
    later = NOW + 2 * HOUR
    assert flags_recompute(patient=patient, now=later) == {"opened": [], "resolved": ["thrombosis_history"], "kept": []}
    flag = RiskFlag.objects.get(patient=patient)
    assert (flag.resolved_at, flag.first_seen_at, flag.is_active) == (later, NOW, False)
    assert reasons(flag) == ["raised by the rules", "condition no longer holds"]
    assert not RiskFlag.objects.active().exists()
    assert flags_recompute(patient=patient, now=later + HOUR) == {"opened": [], "resolved": [], "kept": []}


@pytest.mark.django_db
def test_a_condition_that_comes_back_opens_a_new_flag(patient):
    factor = RiskFactorFactory(patient=patient, kind="venous_thrombosis", noted_on=date(2024, 3, 1))
    flags_recompute(patient=patient, now=NOW)
    factor.ended_on = date(2026, 6, 1)
    factor.save()
    flags_recompute(patient=patient, now=NOW + HOUR)
    RiskFactorFactory(patient=patient, kind="venous_thrombosis", noted_on=TODAY)
    result = flags_recompute(patient=patient, now=NOW + 2 * HOUR)
    assert result == {"opened": ["thrombosis_history"], "resolved": [], "kept": []}
    old, new = RiskFlag.objects.filter(patient=patient).order_by("first_seen_at")
    assert (old.first_seen_at, old.resolved_at) == (NOW, NOW + HOUR)
    assert (new.first_seen_at, new.resolved_at, new.evidence_on) == (NOW + 2 * HOUR, None, TODAY)


@pytest.mark.django_db
def test_recompute_touches_only_the_patients_own_flags(patient):
    other = PatientFactory(antibodies=[], date_of_birth=date(1950, 1, 1))
    flags_recompute(patient=other, now=NOW)
    RiskFactorFactory(patient=patient, kind="sepsis", noted_on=TODAY)
    assert flags_recompute(patient=patient, now=NOW)["opened"] == ["renal_sepsis"]
    assert active_codes(other) == {"thrombosis_advanced_age", "renal_age_over_65"}


@pytest.mark.django_db
def test_recompute_reads_the_chart_on_the_local_date_of_now(patient):
    RiskFactorFactory(patient=patient, kind="sepsis", noted_on=date(2026, 11, 23))
    # 22:30 in New York is already 23 November in UTC: the factor is not yet noted locally.
    flags_recompute(patient=patient, now=datetime(2026, 11, 22, 22, 30, tzinfo=NEW_YORK))
    assert active_codes(patient) == set()
    flags_recompute(patient=patient, now=datetime(2026, 11, 23, 0, 30, tzinfo=NEW_YORK))
    assert active_codes(patient) == {"renal_sepsis"}


@pytest.mark.django_db
@pytest.mark.parametrize(("threshold", "flagged"), [(Decimal("1000"), False), (Decimal("600"), True)])
def test_recompute_uses_the_sites_triglyceride_threshold(patient, threshold, flagged):
    SiteSettings.objects.update_or_create(pk=1, defaults={"hyperviscosity_triglycerides_mg_dl": threshold})
    lab(patient, "triglycerides", "800", date(2026, 11, 8))
    flags_recompute(patient=patient, now=NOW)
    assert ("thrombosis_hyperviscosity" in active_codes(patient)) is flagged


@pytest.mark.django_db
def test_one_active_flag_per_patient_and_code(patient):
    fields = {"patient": patient, "code": "renal_sepsis", "category": rules.RENAL, "severity": rules.HIGH,
              "title": "Sepsis", "evidence": "x", "mitigation": "x", "source": "x",
              "first_seen_at": NOW, "last_evaluated_at": NOW}  # fmt: skip
    RiskFlag.objects.create(**fields, resolved_at=NOW)  # a resolved one does not count
    RiskFlag.objects.create(**fields)
    with pytest.raises(IntegrityError), transaction.atomic():
        RiskFlag.objects.create(**fields)
    RiskFlag.objects.create(**(fields | {"patient": PatientFactory()}))
    assert RiskFlag.objects.filter(code="renal_sepsis").active().count() == 2


# --- flag_acknowledge -------------------------------------------------------------------------


@pytest.fixture
def flag(patient):
    RiskFactorFactory(patient=patient, kind="venous_thrombosis", noted_on=date(2024, 3, 1))
    flags_recompute(patient=patient, now=NOW)
    return RiskFlag.objects.get(patient=patient)


@pytest.mark.django_db
@pytest.mark.parametrize("comment", ["", "   "])
def test_acknowledging_needs_a_comment(flag, make_user, comment):
    with pytest.raises(ValidationError) as error:
        flag_acknowledge(by=make_user("physician"), flag=flag, comment=comment)
    assert set(error.value.message_dict) == {"comment"}
    flag.refresh_from_db()
    assert (flag.acknowledged_at, flag.acknowledged_by) == (None, None)


@pytest.mark.django_db
def test_acknowledging_records_who_when_and_what(flag, make_user):
    nurse = make_user("nurse")
    flag_acknowledge(by=nurse, flag=flag, comment="  Hydration ordered, rate capped. ")
    flag.refresh_from_db()
    assert (flag.acknowledged_by, flag.acknowledged_at, flag.acknowledgement_comment) == (
        nurse, NOW, "Hydration ordered, rate capped."
    )  # fmt: skip
    latest = flag.history.order_by("-history_date", "-history_id").first()
    assert (latest.history_user, latest.history_change_reason) == (nurse, "acknowledged")
    assert flag.is_active  # acknowledged is not resolved
    assert not RiskFlag.objects.unacknowledged().exists()


@pytest.mark.django_db
def test_a_flag_is_acknowledged_once(flag, make_user):
    first = make_user("physician")
    flag_acknowledge(by=first, flag=flag, comment="Seen", now=NOW - HOUR)
    with pytest.raises(ValidationError, match="already acknowledged"):
        flag_acknowledge(by=make_user("pharmacist"), flag=flag, comment="Seen too")
    flag.refresh_from_db()
    assert (flag.acknowledged_by, flag.acknowledged_at, flag.acknowledgement_comment) == (first, NOW - HOUR, "Seen")


@pytest.mark.django_db
def test_a_resolved_flag_cannot_be_acknowledged(flag, patient, make_user):
    patient.risk_factors.update(ended_on=TODAY)
    flags_recompute(patient=patient, now=NOW + HOUR)
    with pytest.raises(ValidationError, match="no longer applies"):
        flag_acknowledge(by=make_user("physician"), flag=flag, comment="Seen")
    flag.refresh_from_db()
    assert flag.acknowledged_at is None


# --- queryset ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_queryset_filters(patient, make_user):
    def make(code, category, severity, **extra):
        RiskFlag.objects.create(
            patient=patient, code=code, category=category, severity=severity, title=code, evidence="e",
            mitigation="m", source="s", first_seen_at=NOW, last_evaluated_at=NOW, **extra,
        )  # fmt: skip

    make("thrombosis_moderate", rules.THROMBOSIS, rules.MODERATE)
    make("renal_high", rules.RENAL, rules.HIGH)
    make("renal_acknowledged", rules.RENAL, rules.MODERATE, acknowledged_by=make_user(), acknowledged_at=NOW)
    make("thrombosis_info", rules.THROMBOSIS, rules.INFO)
    make("renal_info", rules.RENAL, rules.INFO)
    make("contra_high", rules.CONTRAINDICATION, rules.HIGH)
    make("other_high", rules.OTHER, rules.HIGH)
    make("thrombosis_resolved", rules.THROMBOSIS, rules.HIGH, resolved_at=NOW)
    make("contra_resolved", rules.CONTRAINDICATION, rules.HIGH, resolved_at=NOW)

    def codes(queryset):
        return set(queryset.values_list("code", flat=True))

    flags = RiskFlag.objects.filter(patient=patient)
    assert codes(flags.putting_at_risk()) == {"thrombosis_moderate", "renal_high", "renal_acknowledged"}
    assert {flag.code for flag in flags.active() if flag.puts_at_risk} == codes(flags.putting_at_risk())
    assert codes(flags.contraindications()) == {"contra_high"}
    assert codes(flags.unacknowledged()) == codes(flags.active()) - {"renal_acknowledged"}
    assert codes(flags.active()) == codes(flags) - {"thrombosis_resolved", "contra_resolved"}
