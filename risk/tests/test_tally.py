"""risk/tally.py (the fold of a patient's flags per key) and the figures the services keep with
it: PatientFlagSummary rows and FlagTally totals, which must always equal what counting the
active flags afresh gives."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Count, Min, Q

from patients.tests.factories import MedicationFactory, PatientFactory, RiskFactorFactory
from risk import rules, tally
from risk.models import PUTS_AT_RISK, SEVERITY_RANK, FlagTally, PatientFlagSummary, RiskFlag
from risk.services import (
    flag_acknowledge,
    flag_summaries_rebuild,
    flag_tally_counted,
    flag_tally_kept,
    flag_tally_reconcile,
    flags_recompute,
    flags_recompute_all,
)

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=ZoneInfo("America/New_York"))


def facts(category, severity, code="c", acknowledged=False):
    return tally.FlagFacts(category, severity, code, acknowledged)


@pytest.mark.parametrize(("severity", "category", "key"), [
    ("", "", "/"),
    ("high", "", "high/"),
    ("", "renal", "/renal"),
    ("moderate", "thrombosis", "moderate/thrombosis"),
])  # fmt: skip
def test_filter_key(severity, category, key):
    assert tally.filter_key(severity, category) == key


@pytest.mark.parametrize(("severity", "category", "field"), [("grave", "", "severity"), ("", "liver", "category")])
def test_filter_key_refuses_what_the_filter_cannot_pick(severity, category, field):
    with pytest.raises(ValueError, match=field):
        tally.filter_key(severity, category)


@pytest.mark.parametrize(("flag", "keys"), [
    (facts("renal", "high"), {"/", "high/", "/renal", "high/renal", "at-risk", "unacknowledged"}),
    (facts("renal", "high", acknowledged=True), {"/", "high/", "/renal", "high/renal", "at-risk"}),
    (facts("renal", "info"), {"/", "info/", "/renal", "info/renal"}),  # info: never at risk, never "new"
    (facts("other", "moderate"), {"/", "moderate/", "/other", "moderate/other", "unacknowledged"}),
    (
        facts("other", "moderate", code=rules.CONFIRMED_DETERIORATION, acknowledged=True),
        {"/", "moderate/", "/other", "moderate/other", "deterioration"},
    ),
])  # fmt: skip
def test_flag_keys(flag, keys):
    assert set(tally.flag_keys(flag)) == keys


def test_fold_keeps_the_worst_rank_and_counts_per_key():
    folded = tally.fold([facts("renal", "moderate"), facts("renal", "high", acknowledged=True), facts("other", "info")])
    assert folded["/"] == (0, 3)
    assert folded["/renal"] == (0, 2)
    assert folded["moderate/renal"] == (1, 1)
    assert folded["info/"] == (2, 1)
    assert folded["unacknowledged"] == (1, 1)
    assert tally.fold([]) == {}


def test_tally_change_counts_a_patient_once_per_key_and_leaves_out_keys_that_do_not_move():
    before = {"/": tally.KeyFigures(1, 1), "/renal": tally.KeyFigures(1, 1)}
    after = {"/": tally.KeyFigures(0, 2), "high/": tally.KeyFigures(0, 1), "/renal": tally.KeyFigures(0, 1)}
    assert tally.tally_change(before, after) == {"/": (0, 1), "high/": (1, 1)}
    assert tally.tally_change(after, {}) == {"/": (-1, -2), "/renal": (-1, -1), "high/": (-1, -1)}


# ----------------------------------------------------------------------------- the kept figures


def counted_from_flags() -> dict[str, tuple[int, int]]:
    """The totals per key as the dashboard used to count them: straight off the active flags."""
    active = RiskFlag.objects.active()
    conditions = {
        tally.AT_RISK: PUTS_AT_RISK,
        tally.UNACKNOWLEDGED: Q(acknowledged_at__isnull=True) & ~Q(severity=rules.INFO),
        tally.DETERIORATION: Q(code=rules.CONFIRMED_DETERIORATION),
    }
    for severity in ("", *rules.SEVERITIES):
        for category in ("", *rules.CATEGORIES):
            chosen = Q(**({"severity": severity} if severity else {}), **({"category": category} if category else {}))
            conditions[tally.filter_key(severity, category)] = chosen
    totals = {}
    for key, condition in conditions.items():
        figures = active.filter(condition).aggregate(patients=Count("patient", distinct=True), flags=Count("id"))
        if figures["flags"]:
            totals[key] = (figures["patients"], figures["flags"])
    return totals


def ranking_from_flags(key_filter: Q) -> list[tuple[int, int, int]]:
    """(patient, worst rank, flag count) in the dashboard's order, grouped off the active flags."""
    grouped = (
        RiskFlag.objects.active()
        .filter(key_filter)
        .values("patient")
        .annotate(worst=Min(SEVERITY_RANK), flag_count=Count("id"))
        .order_by("worst", "-flag_count", "patient__family_name", "patient")
    )
    return [(row["patient"], row["worst"], row["flag_count"]) for row in grouped]


def assert_kept_equals_recounted():
    assert flag_tally_kept() == counted_from_flags()
    assert flag_tally_counted() == counted_from_flags()
    assert flag_summaries_rebuild(check_only=True) == {"patients": 0, "keys": 0}
    for severity, category in (("", ""), ("high", ""), ("", "renal"), ("moderate", "thrombosis")):
        chosen = Q(**({"severity": severity} if severity else {}), **({"category": category} if category else {}))
        kept = PatientFlagSummary.objects.filter(key=tally.filter_key(severity, category)).order_by(
            "worst_rank", "-flag_count", "family_name", "patient"
        )
        assert [(row.patient_id, row.worst_rank, row.flag_count) for row in kept] == ranking_from_flags(chosen)


@pytest.fixture(autouse=True)
def frozen_now():
    with time_machine.travel(NOW, tick=False):
        yield NOW


@pytest.mark.django_db
def test_kept_figures_equal_the_recounted_ones_after_a_series_of_flag_changes(make_user):
    nurse = make_user("nurse")
    old, young, renal = (
        PatientFactory(date_of_birth=date(1950, 1, 1), family_name="Zeller"),  # age: a moderate flag
        PatientFactory(date_of_birth=date(1990, 1, 1), family_name="Abbot"),
        PatientFactory(date_of_birth=date(1990, 1, 1), family_name="Moreau"),
    )
    assert_kept_equals_recounted()
    RiskFactorFactory(patient=young, kind="venous_thrombosis", noted_on=date(2024, 1, 1))  # a high flag, at risk
    assert_kept_equals_recounted()
    MedicationFactory(patient=renal, category="nephrotoxic", name="Gentamicin", daily_dose_mg=None)
    factor = RiskFactorFactory(patient=old, kind="arterial_thrombosis", noted_on=date(2024, 1, 1))
    assert_kept_equals_recounted()
    assert FlagTally.objects.get(key=tally.AT_RISK).patients == 3
    flag_acknowledge(by=nurse, flag=RiskFlag.objects.active().get(patient=young, severity=rules.HIGH), comment="ok")
    assert_kept_equals_recounted()
    factor.ended_on = date(2026, 11, 1)  # the arterial thrombosis history no longer holds: its flag resolves
    factor.save()
    old.family_name = "Aalto"  # renamed: the ranking's tie-break follows
    old.save()
    assert_kept_equals_recounted()
    assert PatientFlagSummary.objects.filter(patient=old, family_name="Aalto").exists()
    for patient in (old, young, renal):
        flags_recompute(patient=patient)  # recomputing what did not change leaves the figures alone
    assert_kept_equals_recounted()
    assert RiskFlag.objects.exclude(resolved_at=None).exists() and RiskFlag.objects.active().count() >= 4


@pytest.mark.django_db
def test_drift_is_found_by_the_check_and_put_right_by_the_rebuild_and_the_nightly_run(capsys):
    patient = PatientFactory(date_of_birth=date(1950, 1, 1))
    RiskFactorFactory(patient=patient, kind="venous_thrombosis", noted_on=date(2024, 1, 1))
    RiskFlag.objects.active().filter(patient=patient).update(resolved_at=NOW)  # past the services
    FlagTally.objects.filter(key="/").update(flags=99)
    with pytest.raises(CommandError, match="1 patient summaries and"):
        call_command("risk_tally_rebuild", "--check")
    call_command("risk_tally_rebuild")
    assert "rebuilt" in capsys.readouterr().out
    assert_kept_equals_recounted()
    assert not PatientFlagSummary.objects.filter(patient=patient).exists()
    call_command("risk_tally_rebuild", "--check")  # nothing differs: no error
    FlagTally.objects.filter(key="/").update(patients=7)
    assert flag_tally_reconcile() == 1
    FlagTally.objects.filter(key="/").update(patients=7)
    assert flags_recompute_all()["tally_corrected"] >= 1
    assert_kept_equals_recounted()
