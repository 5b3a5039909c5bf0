"""Issue 15, point 8: the antiphospholipid screen asked for before a dermatomyositis patient's
first cycle, and anticoagulant prophylaxis shown as a consideration where thrombosis flags stand.

Signals recompute the flags on every chart write here, as in the running app."""

from datetime import date

import pytest
from django.urls import reverse

from patients.models import MedicationCategory, RiskFactorKind
from patients.tests.factories import MedicationFactory, PatientFactory, RiskFactorFactory
from risk.models import RiskFlag

pytestmark = pytest.mark.django_db


def _active(patient) -> set[str]:
    return set(RiskFlag.objects.filter(patient=patient, resolved_at__isnull=True).values_list("code", flat=True))


def test_an_unscreened_dm_patient_is_asked_for_the_screen_until_it_is_recorded(role_client):
    patient = PatientFactory(antiphospholipid_screen="", antiphospholipid_screen_on=None, antibodies=[])
    patient.save()  # the signal recomputes the flags
    assert "info_antiphospholipid_screen" in _active(patient)
    flag = RiskFlag.objects.get(patient=patient, code="info_antiphospholipid_screen")
    assert "no screen recorded" in flag.evidence and "ProDERM editorial" in flag.source

    page = role_client("physician").get(reverse("patients:detail", kwargs={"patient_uuid": patient.uuid}))
    assert "Antiphospholipid antibody screen before IVIG" in page.content.decode()

    patient.antiphospholipid_screen, patient.antiphospholipid_screen_on = "negative", date(2026, 11, 20)
    patient.save()
    assert "info_antiphospholipid_screen" not in _active(patient)
    assert RiskFlag.objects.get(patient=patient, code="info_antiphospholipid_screen").resolved_at is not None


def test_a_positive_screen_puts_the_patient_on_the_at_risk_cap_with_prophylaxis_to_consider(role_client):
    patient = PatientFactory(antiphospholipid_screen="positive", antiphospholipid_screen_on=date(2026, 11, 20))
    patient.save()
    flag = RiskFlag.objects.get(patient=patient, code="thrombosis_hypercoagulable", resolved_at__isnull=True)
    assert "Antiphospholipid screen positive (2026-11-20)" in flag.evidence and flag.puts_at_risk
    patient.refresh_from_db()
    consideration = patient.risk_verdict["considerations"][0]
    assert consideration["title"] == "Anticoagulant prophylaxis to consider"
    assert "Hypercoagulable state" in consideration["evidence"]

    page = role_client("nurse").get(reverse("patients:detail", kwargs={"patient_uuid": patient.uuid}))
    text = page.content.decode()
    assert "Anticoagulant prophylaxis to consider" in text and "not a rule" in text
    board = role_client("physician").get(reverse("home"), {"section": "flags"}).content.decode()
    assert "Anticoagulant prophylaxis to consider" in board

    MedicationFactory(patient=patient, category=MedicationCategory.ANTICOAGULANT, name="Enoxaparin")
    patient.refresh_from_db()
    assert "considerations" not in patient.risk_verdict  # already anticoagulated


def test_no_consideration_without_a_thrombosis_flag_that_lowers_the_cap():
    patient = PatientFactory(antibodies=[])
    patient.save()
    patient.refresh_from_db()
    assert "considerations" not in patient.risk_verdict
    RiskFactorFactory(patient=patient, kind=RiskFactorKind.SMOKING, noted_on=date(2020, 1, 1))
    patient.refresh_from_db()
    assert patient.risk_verdict["considerations"][0]["code"] == "consider_anticoagulant_prophylaxis"


def test_the_screen_needs_its_date_and_no_future_date(role_client):
    patient = PatientFactory()
    url = reverse("patients:edit", kwargs={"patient_uuid": patient.uuid})
    page = role_client("physician").get(url)
    assert page.status_code == 200
    form = page.context["form"]
    data = {name: field.value() for name, field in ((n, form[n]) for n in form.fields) if field.value() is not None}
    data.update(antiphospholipid_screen="positive", antiphospholipid_screen_on="")
    response = role_client("physician").post(url, data)
    assert response.status_code == 200
    assert "Give both the screen" in response.content.decode()
    patient.refresh_from_db()
    assert patient.antiphospholipid_screen == "negative"  # nothing written
