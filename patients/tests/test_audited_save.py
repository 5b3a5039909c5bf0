"""accounts.audit.audited_save over a clinical record: validated first, who and why in its history."""

import pytest
from django.core.exceptions import ValidationError

from accounts.audit import audited_save
from patients.tests.factories import MeasurementFactory


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
