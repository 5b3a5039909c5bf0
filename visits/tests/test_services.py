"""Visit writes: record, correct, move the baseline; each leaves who and why in the history."""

from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from patients.tests.factories import LabResultFactory, PatientFactory
from visits.models import Visit
from visits.services import enzyme_labs_on, visit_record, visit_set_baseline, visit_update

TODAY = date(2026, 11, 22)


@pytest.fixture
def patient(db):
    return PatientFactory(ivig_started_on=date(2026, 6, 1))


@pytest.fixture
def record(physician, patient):
    def make(visit_date, **fields):
        return visit_record(by=physician, patient=patient, today=TODAY, visit_date=visit_date, **fields)

    return make


def _reasons(visit) -> list[str]:
    return list(visit.history.order_by("history_id").values_list("history_change_reason", flat=True))


@pytest.mark.django_db
def test_record_defaults_the_assessor_and_logs_who_and_why(physician, record):
    visit = record(date(2026, 5, 28), physician_global_cm=Decimal("6"))
    assert (visit.assessor, visit.recorded_by) == (physician, physician)
    entry = visit.history.get()
    assert (entry.history_user, entry.history_change_reason, entry.history_type) == (physician, "recorded", "+")


@pytest.mark.django_db
def test_marking_a_new_baseline_unmarks_the_other_with_a_reason(record, make_user):
    first = record(date(2026, 5, 28), is_baseline=True)
    second = record(date(2026, 9, 21), is_baseline=True)
    first.refresh_from_db()
    assert (first.is_baseline, second.is_baseline) == (False, True)
    assert _reasons(first) == ["recorded", "baseline moved to another visit"]
    assert Visit.objects.filter(is_baseline=True).get() == second


@pytest.mark.django_db
def test_set_baseline_moves_it_and_records_both_changes(physician, record, make_user):
    first = record(date(2026, 5, 28), is_baseline=True)
    second = record(date(2026, 9, 21))
    other_physician = make_user("physician")
    visit_set_baseline(by=other_physician, visit=second)
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.is_baseline, second.is_baseline) == (False, True)
    assert _reasons(first) == ["recorded", "baseline moved to another visit"]
    assert _reasons(second) == ["recorded", "marked as baseline"]
    assert first.history.latest("history_id").history_user == other_physician


@pytest.mark.django_db
def test_set_baseline_twice_writes_no_spurious_unmarking(record):
    visit = record(date(2026, 5, 28), is_baseline=True)
    visit_set_baseline(by=visit.recorded_by, visit=visit)
    assert _reasons(visit) == ["recorded", "marked as baseline"]
    assert Visit.objects.get().is_baseline


@pytest.mark.django_db
def test_baselines_of_other_patients_are_untouched(physician, record):
    elsewhere = visit_record(by=physician, patient=PatientFactory(), today=TODAY, visit_date=date(2026, 1, 5))
    visit_set_baseline(by=physician, visit=elsewhere)
    mine = record(date(2026, 5, 28), is_baseline=True)
    elsewhere.refresh_from_db()
    assert elsewhere.is_baseline and mine.is_baseline


@pytest.mark.django_db
def test_correcting_a_visit_to_baseline_unmarks_the_other(physician, record):
    first = record(date(2026, 5, 28), is_baseline=True)
    second = record(date(2026, 9, 21))
    visit_update(by=physician, visit=second, today=TODAY, is_baseline=True, notes="baseline after washout")
    first.refresh_from_db()
    assert not first.is_baseline and Visit.objects.get(pk=second.pk).is_baseline
    assert _reasons(second) == ["recorded", "corrected"]


@pytest.mark.django_db
def test_future_date_is_refused_and_a_failed_baseline_move_is_rolled_back(physician, record):
    first = record(date(2026, 5, 28), is_baseline=True)
    with pytest.raises(ValidationError) as error:
        record(date(2026, 11, 23))
    assert error.value.message_dict == {"visit_date": ["This date is in the future."]}
    with pytest.raises(ValidationError):
        record(date(2026, 9, 21), is_baseline=True, physician_global_cm=Decimal("12"))
    first.refresh_from_db()
    assert first.is_baseline and _reasons(first) == ["recorded"]
    assert Visit.objects.count() == 1


@pytest.mark.django_db
def test_enzyme_labs_on_takes_that_days_latest_enzyme_results(patient):
    LabResultFactory(patient=patient, test="ck", collected_on=date(2026, 11, 20), value=Decimal("3100"))
    newest = LabResultFactory(patient=patient, test="ck", collected_on=date(2026, 11, 20), value=Decimal("3000"))
    LabResultFactory(patient=patient, test="ast", collected_on=date(2026, 11, 20), value=Decimal("80"))
    LabResultFactory(patient=patient, test="ck", collected_on=date(2026, 11, 19), value=Decimal("5000"))
    LabResultFactory(patient=patient, test="creatinine", collected_on=date(2026, 11, 20), value=Decimal("1"))
    LabResultFactory(test="aldolase", collected_on=date(2026, 11, 20), value=Decimal("20"))  # another patient
    panel = enzyme_labs_on(patient, date(2026, 11, 20))
    assert panel == {"ck": (newest.value, Decimal("200")), "ast": (Decimal("80"), Decimal("200"))}
    assert enzyme_labs_on(patient, date(2026, 11, 21)) == {}
