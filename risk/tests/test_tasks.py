from datetime import UTC, date, datetime

import pytest

from patients.tests.factories import PatientFactory
from risk.models import RiskFlag
from risk.services import flags_recompute_all
from risk.tasks import flags_recompute_nightly


@pytest.mark.django_db
def test_nightly_recompute_catches_time_passing():
    # Diagnosed with DM 360 days before the first run: the "within a year" flag holds, then lapses.
    patient = PatientFactory(diagnosis="adult_dm", diagnosis_date=date(2025, 11, 27))
    flags_recompute_all(now=datetime(2026, 11, 22, 12, tzinfo=UTC))
    assert RiskFlag.objects.active().filter(patient=patient, code="info_dm_recent").exists()
    totals = flags_recompute_all(now=datetime(2026, 11, 30, 12, tzinfo=UTC))
    assert totals["resolved"] >= 1
    assert not RiskFlag.objects.active().filter(patient=patient, code="info_dm_recent").exists()
    assert flags_recompute_all(now=datetime(2026, 11, 30, 12, tzinfo=UTC))["resolved"] == 0


@pytest.mark.django_db
def test_task_calls_the_service():
    PatientFactory()
    assert flags_recompute_nightly.apply().get()["patients"] == 1
