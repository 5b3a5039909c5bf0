import pytest
from django.core.exceptions import ValidationError

from accounts.audit import CHANGE_REASON_MAX_CHARS, audited_save
from dosing.services.orders import dose_order_reject
from patients.tests.factories import MeasurementFactory


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


@pytest.mark.django_db
def test_validates_before_saving_and_records_who(make_user):
    measurement = MeasurementFactory()
    nurse = make_user("nurse")
    measurement.weight_kg = 0
    with pytest.raises(ValidationError):
        audited_save(measurement, by=nurse, reason="corrected")
    measurement.refresh_from_db()
    assert measurement.weight_kg == 70
    measurement.weight_kg = 71
    audited_save(measurement, by=nurse, reason="corrected")
    latest = measurement.history.first()
    assert (latest.history_user, latest.history_change_reason) == (nurse, "corrected")
