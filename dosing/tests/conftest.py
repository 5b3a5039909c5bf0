from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine

from dosing.models import Indication
from dosing.services.orders import dose_order_create
from patients.tests.factories import MeasurementFactory, PatientFactory

TODAY = date(2026, 11, 22)


@pytest.fixture
def frozen_today():
    with time_machine.travel(datetime(2026, 11, 22, 12, 0, tzinfo=ZoneInfo("America/New_York")), tick=False):
        yield TODAY


@pytest.fixture
def dm_indication(db):
    return Indication.objects.select_related("product").get(product__slug="octagam-10", slug="dermatomyositis")


@pytest.fixture
def dm_patient(db):
    """The worked check's patient: 52-year-old woman with DM, 70 kg, 170 cm, no risk factor."""
    patient = PatientFactory(date_of_birth=date(1974, 2, 3), sex_at_birth="female", diagnosis="adult_dm")
    MeasurementFactory(
        patient=patient, measured_on=date(2026, 11, 20), weight_kg=Decimal("70.0"), height_cm=Decimal("170.0")
    )
    return patient


@pytest.fixture
def make_order(dm_indication, dm_patient, make_user):
    def make(patient=None, by=None, **overrides):
        fields = {"dose_g_per_kg": Decimal("2"), "days": 2, "weight_basis": "auto"} | overrides
        return dose_order_create(
            by=by or make_user("physician"),
            patient=patient or dm_patient,
            indication=dm_indication,
            today=TODAY,
            **fields,
        )

    return make
