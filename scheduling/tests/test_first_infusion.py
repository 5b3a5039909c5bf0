"""Week 0 derived from the first infusion given: scheduling keeps Patient.first_infusion_on as
each start is recorded or corrected, and week 16, the cohort and the TIS reminders follow it
when no first infusion date is recorded; a recorded date stays authoritative.

Time is frozen on Sunday 22 Nov 2026 12:00 in New York (the conftest's day). The first
infusion is on Saturday 1 Aug 2026, so week 16 is Saturday 21 Nov."""

import csv
import importlib
import io
from datetime import date, timedelta

import pytest
from django.apps import apps
from django.urls import reverse

from dosing.tests.factories import verified
from patients.models import WEEK_ZERO_DERIVED, WEEK_ZERO_RECORDED, Patient
from patients.tests.factories import PatientFactory
from scheduling.models import InfusionRecord, Reminder
from scheduling.services import records
from scheduling.tests.factories import CHECK_ACCEPTED, local, make_session, remind
from visits.cohort import load_cohort
from visits.scoring import patient_response
from visits.services import visit_record
from visits.tests.factories import WORKED_BASELINE, WORKED_FOLLOWUP

FIRST_DAY = date(2026, 8, 1)
WEEK16 = FIRST_DAY + timedelta(weeks=16)  # Sat 21 Nov
NOW = local(12)  # the frozen moment


@pytest.fixture(autouse=True)
def clinic_time(settings, frozen_today):
    settings.TIME_ZONE = "America/New_York"


@pytest.fixture
def nurse(make_user):
    return make_user("nurse")


@pytest.fixture
def order(make_order):
    return verified(make_order())


@pytest.fixture
def start(order, nurse):
    """Start, through record_start, a session of `order` planned at `hour` on `day`."""

    def started(day: date, hour: int = 9, minute: int = 5):
        session = make_session(order, by=nurse, planned_start=local(hour, day=day))
        records.record_start(
            **CHECK_ACCEPTED,
            by=nurse,
            session=session,
            started_at=local(hour, minute, day=day),
            expected_version=1,
            now=NOW,
        )
        return session

    return started


def assessed(patient, by):
    """A baseline a week before the first infusion and the worked follow-up (TIS 35) at week 16."""
    visit_record(by=by, patient=patient, visit_date=FIRST_DAY - timedelta(weeks=1), **WORKED_BASELINE)
    visit_record(by=by, patient=patient, visit_date=WEEK16, **WORKED_FOLLOWUP)


@pytest.mark.django_db
def test_a_started_first_infusion_gives_week_16_and_a_place_in_the_cohort(dm_patient, start, physician):
    assert dm_patient.ivig_started_on is None and load_cohort(today=date(2026, 11, 22)).without_first_infusion == 1
    assessed(dm_patient, physician)
    assert patient_response(dm_patient).week16_visit is None  # nothing to count from yet
    version, history = dm_patient.version, dm_patient.history.count()

    start(FIRST_DAY)

    dm_patient.refresh_from_db()
    assert dm_patient.first_infusion_on == FIRST_DAY and dm_patient.ivig_started_on is None
    # Derived data: not an edit of the patient's details, so no new version and no history entry.
    assert (dm_patient.version, dm_patient.history.count()) == (version, history)
    response = patient_response(dm_patient)
    assert (response.first_infusion_on, response.first_infusion_derived) == (FIRST_DAY, True)
    assert response.week16_visit.visit.visit_date == WEEK16 and response.week16_visit.weeks_since_first_infusion == 16
    assert response.week16_visit.result.total == 35 and response.week16_responder is True
    report = load_cohort(today=date(2026, 11, 22))
    (row,) = report.adults.results
    assert (row.patient, row.first_infusion_on, row.first_infusion_derived) == (dm_patient, FIRST_DAY, True)
    assert report.without_first_infusion == 0


@pytest.mark.django_db
def test_the_cohort_page_csv_and_visits_page_show_the_derived_date(dm_patient, start, physician, role_client):
    assessed(dm_patient, physician)
    start(FIRST_DAY)
    html = role_client("viewer").get(reverse("visits:cohort")).content.decode()
    assert f'{FIRST_DAY:%Y-%m-%d} <span class="source"' in html and ">derived</span>" in html
    body = role_client("viewer").get(reverse("visits:cohort_csv")).content.decode()
    (row,) = [r for r in csv.DictReader(io.StringIO(body)) if r["mrn"] == dm_patient.mrn]
    assert (row["first_infusion_on"], row["first_infusion_source"]) == ("2026-08-01", WEEK_ZERO_DERIVED)
    page = role_client("viewer").get(reverse("visits:patient_visits", kwargs={"patient_uuid": dm_patient.uuid}))
    assert '2026-08-01 <span class="source">week 0, derived from the first infusion given' in page.content.decode()


@pytest.mark.django_db
def test_the_local_day_of_the_start_counts_not_the_utc_one(dm_patient, start):
    start(FIRST_DAY, hour=22, minute=30)  # 02:30 UTC on 2 Aug
    dm_patient.refresh_from_db()
    assert dm_patient.first_infusion_on == FIRST_DAY


@pytest.mark.django_db
def test_an_earlier_infusion_recorded_afterwards_moves_week_0_back(dm_patient, start):
    start(FIRST_DAY)
    start(FIRST_DAY - timedelta(days=3))  # entered late, from the paper chart
    dm_patient.refresh_from_db()
    assert dm_patient.first_infusion_on == date(2026, 7, 29)


@pytest.mark.django_db
def test_a_corrected_start_is_derived_again(dm_patient, start, nurse):
    """record_update keeps a start on its planned day, so a correction changes week 0 only
    through which start is the earliest; the date is worked out again from the records as
    corrected, whatever was kept before (here a stale date)."""
    first = start(FIRST_DAY)
    Patient.objects.filter(pk=dm_patient.pk).update(first_infusion_on=date(2026, 8, 5))
    records.record_update(
        by=nurse,
        session=first,
        started_at=local(8, 55, day=FIRST_DAY),
        stopped_at=None,
        volume_given_ml=None,
        grams_wasted=None,
        notes="",
        reason="start typed wrongly",
        expected_version=InfusionRecord.objects.get(session=first).version,
        now=NOW,
    )
    assert Patient.objects.get(pk=dm_patient.pk).first_infusion_on == FIRST_DAY


@pytest.mark.django_db
def test_a_recorded_first_infusion_date_wins(dm_patient, start, physician):
    recorded = FIRST_DAY - timedelta(weeks=1)  # begun at another hospital
    Patient.objects.filter(pk=dm_patient.pk).update(ivig_started_on=recorded)
    dm_patient.refresh_from_db()
    assessed(dm_patient, physician)
    start(FIRST_DAY)
    dm_patient.refresh_from_db()
    assert dm_patient.first_infusion_on == FIRST_DAY  # kept all the same
    assert dm_patient.ivig_week_zero == (recorded, WEEK_ZERO_RECORDED)
    response = patient_response(dm_patient)
    assert (response.first_infusion_on, response.first_infusion_derived) == (recorded, False)
    assert response.week16_visit.weeks_since_first_infusion == 17  # within ±2 weeks of week 16
    (row,) = load_cohort(today=date(2026, 11, 22)).adults.results
    assert (row.first_infusion_on, row.first_infusion_derived) == (recorded, False)


@pytest.mark.django_db
def test_the_tis_reminder_at_week_16_follows_the_derived_date(dm_patient, start):
    start(FIRST_DAY)  # its course is active: the patient is on IVIG
    remind(now=NOW)
    reminder = Reminder.objects.get(kind="tis_assessment", due_at__lte=NOW)
    assert reminder.patient == dm_patient
    assert reminder.subject_key == f"tis_assessment:patient-{dm_patient.pk}:{WEEK16:%Y-%m-%d}"
    assert "week 16 of IVIG (started 2026-08-01, derived from the first infusion given)" in reminder.message


@pytest.mark.django_db
def test_the_tis_reminder_follows_a_recorded_date_over_the_derived_one(dm_patient, start):
    Patient.objects.filter(pk=dm_patient.pk).update(ivig_started_on=FIRST_DAY)
    start(FIRST_DAY + timedelta(weeks=1))  # derived, week 16 would be 28 Nov: not yet due
    remind(now=NOW)
    reminder = Reminder.objects.get(kind="tis_assessment", due_at__lte=NOW)
    assert reminder.subject_key == f"tis_assessment:patient-{dm_patient.pk}:{WEEK16:%Y-%m-%d}"
    assert "(started 2026-08-01)" in reminder.message and "derived" not in reminder.message


@pytest.mark.django_db
def test_the_data_migration_fills_the_date_from_the_starts_recorded(dm_patient, start):
    untreated = PatientFactory()
    start(FIRST_DAY + timedelta(days=1))
    start(FIRST_DAY, hour=22, minute=30)  # the local day, not the UTC one
    Patient.objects.update(first_infusion_on=None)
    migration = importlib.import_module("scheduling.migrations.0006_first_infusion_on")
    migration.fill_first_infusion_on(apps, None)
    assert Patient.objects.get(pk=dm_patient.pk).first_infusion_on == FIRST_DAY
    assert Patient.objects.get(pk=untreated.pk).first_infusion_on is None
