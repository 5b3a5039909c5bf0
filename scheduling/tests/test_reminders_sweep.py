"""Which reminders the data calls for, when, for whom; created once.

The computation is the one the triggers run after a write (reminders_recompute) and the nightly
reconciliation runs for every patient; the `sweep` fixture runs the reconciliation and then the
periodic sweep, as a clinic whose triggers all fired would stand. Time is frozen on Sunday 22 Nov
2026 12:00 in New York (the conftest's day); every run is given its `now` explicitly."""

import threading
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import IntegrityError, connection
from django.test.utils import CaptureQueriesContext

from dosing.models import DoseOrder, SiteSettings, TreatmentCourse
from patients.models import LabResult, Patient
from patients.tests.factories import LabResultFactory, RiskFactorFactory, WeighedPatientFactory
from risk.models import RiskFlag
from scheduling import signals as scheduling_signals
from scheduling.models import (
    Course,
    CourseStatus,
    Cycle,
    InfusionRecord,
    InfusionSession,
    Reminder,
    ReminderStatus,
    SessionStatus,
    UnitSettings,
)
from scheduling.services import sweep as service
from scheduling.services.sweep import reminders_reconcile, reminders_sweep, session_changed
from scheduling.tests.factories import InfusionRecordFactory, book_course
from visits.models import Visit
from visits.tests.factories import WORKED_BASELINE as BASELINE
from visits.tests.factories import WORKED_FOLLOWUP as FOLLOWUP

NY = ZoneInfo("America/New_York")
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=NY)  # Sunday
TODAY = NOW.date()


def local(day: date, hour: int = 9, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=NY)


# --------------------------------------------------------------------------- helpers


def sessions_of(course) -> list[InfusionSession]:
    return list(InfusionSession.objects.filter(cycle__course=course).order_by("planned_start"))


def give(session, *, stopped_at=None, status=SessionStatus.COMPLETED):
    session.status = status
    session.save()
    if status == SessionStatus.COMPLETED:
        InfusionRecordFactory(session=session, stopped_at=stopped_at)  # started at the planned start


def live(kind=None):
    reminders = Reminder.objects.filter(status__in=[ReminderStatus.PENDING, ReminderStatus.SENT])
    return reminders.filter(kind=kind) if kind else reminders


def due_by(now, kind=None):
    """Live reminders due by `now`: what the inbox shows and delivery e-mails (reminders are made
    up to scheduling.services.sweep.HORIZON ahead of their due time)."""
    return live(kind).filter(due_at__lte=now)


@pytest.fixture(autouse=True)
def clinic_time(settings, frozen_today):
    settings.TIME_ZONE = "America/New_York"


@pytest.fixture
def nurse(make_user):
    return make_user("nurse", email="nurse@example.org")


@pytest.fixture
def book(make_order, nurse):
    def make(first_day, *, patient=None, **options):
        return book_course(make_order(patient=patient), nurse, first_day, **options)

    return make


@pytest.fixture
def sweep(django_capture_on_commit_callbacks):
    """Compute every patient's reminders as of `now` (what the triggers and the nightly run
    make), then run the periodic sweep, executing on-commit callbacks; `queued_ids` holds the ids
    of the reminders it found due for delivery (its task queues exactly these)."""

    def run(now=NOW):
        with django_capture_on_commit_callbacks(execute=True):
            result = reminders_reconcile(now=now)
            result |= reminders_sweep(now=now)
        return result | {"queued_ids": list(result["due_ids"])}

    return run


# --------------------------------------------------------------------------- upcoming infusion


@pytest.mark.django_db
def test_upcoming_reminder_exists_once_booked_and_is_queued_when_due(book, sweep, dm_patient):
    course = book(date(2026, 11, 26))  # Thursday 09:00
    first = sessions_of(course)[0]

    result = sweep()
    reminder = live("upcoming_infusion").get(session=first)
    assert reminder.subject_key == f"upcoming_infusion:session-{first.pk}:2026-11-23"
    assert reminder.due_at == local(date(2026, 11, 23))  # 3 days before, at the session's clock time
    assert reminder.window_end == first.planned_start
    assert reminder.role == "nurse" and reminder.user is None
    assert reminder.patient == dm_patient and reminder.cycle == first.cycle
    assert reminder.pk not in result["queued_ids"]  # not due yet

    assert reminder.pk not in sweep(local(date(2026, 11, 23), 8, 59))["queued_ids"]
    assert reminder.pk in sweep(local(date(2026, 11, 23)))["queued_ids"]
    assert live("upcoming_infusion").count() == 2  # day 1 and day 2, once each


@pytest.mark.django_db
def test_upcoming_lead_time_comes_from_the_unit_settings(book, sweep):
    UnitSettings.objects.filter(pk=1).update(upcoming_reminder_days=5)
    first = sessions_of(book(date(2026, 11, 30)))[0]
    sweep()
    assert live("upcoming_infusion").get(session=first).due_at == local(date(2026, 11, 25))


@pytest.mark.django_db
def test_upcoming_session_beyond_the_horizon_waits(book, sweep):
    far = sessions_of(book(date(2027, 1, 20)))[0]  # reminder due 17 Jan: 56 days ahead
    sweep()
    assert not live("upcoming_infusion").exists()
    sweep(local(date(2026, 12, 20)))  # 28 days before its reminder: inside the 35-day horizon
    assert live("upcoming_infusion").filter(session=far).exists()


@pytest.mark.django_db
def test_cancelled_and_missed_sessions_get_no_reminders(book, sweep):
    ahead = book(date(2026, 11, 26))
    for session in sessions_of(ahead):
        session.status = SessionStatus.CANCELLED
        session.save()
    behind = book(date(2026, 11, 19))  # would be due for post-infusion checks if given
    for session in sessions_of(behind):
        give(session, status=SessionStatus.MISSED)

    sweep()
    # No reminder for the sessions themselves; the cycle missed as a whole is overdue therapy.
    assert list(Reminder.objects.values_list("kind", "cycle__course")) == [("cycle_overdue", behind.pk)]


@pytest.mark.django_db
def test_moved_session_loses_its_pending_reminder_and_gets_a_new_one(book, sweep):
    session = sessions_of(book(date(2026, 11, 26)))[0]
    sweep()
    old = live("upcoming_infusion").get(session=session)

    session.planned_start = local(date(2026, 11, 28), 13)
    session.save()
    assert session_changed(session) >= 1
    result = sweep()

    old.refresh_from_db()
    assert old.status == ReminderStatus.CANCELLED
    new = live("upcoming_infusion").get(session=session)
    assert new.subject_key.endswith(":2026-11-25") and new.due_at == local(date(2026, 11, 25), 13)
    assert result["created"] >= 1

    # Moved back: the first reminders are what the data calls for again; the labs reminder
    # that followed the move (anchored on day 2, then the first day booked) is superseded.
    session.planned_start = local(date(2026, 11, 26))
    session.save()
    session_changed(session)
    # Upcoming infusion, labs, baseline TIS, and the cycle's "missed" reminder made ahead (due the
    # morning after its last day unless it is given), all dated by this session.
    assert sweep()["revived"] == 4
    old.refresh_from_db()
    assert old.status == ReminderStatus.PENDING and old.due_at == local(date(2026, 11, 23))
    assert list(live("upcoming_infusion").filter(session=session)) == [old]
    assert [r.subject_key[-10:] for r in live("labs_creatinine_bun")] == ["2026-11-19"]


@pytest.mark.django_db
def test_sweep_cancels_a_reminder_left_behind_by_a_race_with_a_move(book, sweep):
    # The sweep read the old time while the move committed: session_changed ran before the
    # reminder existed. The next sweep notices the reminder no longer matches its session.
    session = sessions_of(book(date(2026, 11, 26)))[0]
    sweep()
    InfusionSession.objects.filter(pk=session.pk).update(planned_start=local(date(2026, 11, 25)))
    result = sweep()
    assert result["cancelled"] == 2  # its upcoming reminder and the cycle's labs, both dated by it
    assert live("upcoming_infusion").get(session=session).subject_key.endswith(":2026-11-22")
    assert [r.subject_key[-10:] for r in live("labs_creatinine_bun")] == ["2026-11-18"]


# --------------------------------------------------------------------------- labs before a cycle


@pytest.mark.parametrize(
    ("renal", "creatinine_days_before", "haemolysis", "expected"),
    [
        pytest.param(None, None, False, {"labs_creatinine_bun"}, id="no creatinine on record"),
        pytest.param(None, 10, False, set(), id="recent creatinine"),
        pytest.param(None, 30, False, set(), id="30 days before the cycle is still recent"),
        pytest.param(None, 31, False, {"labs_creatinine_bun"}, id="31 days before: stale"),
        pytest.param("factor", 10, False, {"labs_creatinine_bun"}, id="renal flag despite a recent creatinine"),
        pytest.param("info", 10, False, set(), id="informational renal flag does not count"),
        pytest.param("resolved", 10, False, set(), id="resolved renal flag does not count"),
        pytest.param(None, 10, True, {"labs_hb_hct"}, id="haemolysis risk"),
        pytest.param("factor", None, True, {"labs_creatinine_bun", "labs_hb_hct"}, id="both"),
    ],
)
@pytest.mark.django_db
def test_labs_before_a_cycle(book, sweep, make_user, renal, creatinine_days_before, haemolysis, expected):
    cycle_day = date(2026, 11, 28)  # labs due Sat 21 Nov 08:00: due at the sweep
    patient = WeighedPatientFactory(blood_group="A" if haemolysis else "O")  # 2 g/kg and group A: haemolysis flag
    if creatinine_days_before is not None:
        LabResultFactory(
            patient=patient, test="creatinine", value=Decimal("70"), unit="µmol/L", upper_limit_normal=None,
            collected_on=cycle_day - timedelta(days=creatinine_days_before),
        )  # fmt: skip
    if renal == "factor":
        RiskFactorFactory(patient=patient, kind="renal_insufficiency")
    course = book(cycle_day, patient=patient)
    if renal in ("info", "resolved"):
        RiskFlag.objects.create(
            patient=patient, code="renal_watch", category="renal", severity="info" if renal == "info" else "high",
            title="t", evidence="e", mitigation="m", source="s", first_seen_at=NOW, last_evaluated_at=NOW,
            resolved_at=NOW if renal == "resolved" else None,
        )  # fmt: skip

    sweep()
    labs = Reminder.objects.filter(kind__startswith="labs_")
    assert {r.kind for r in labs} == expected
    first = sessions_of(course)[0]
    for reminder in labs:
        assert reminder.subject_key == f"{reminder.kind}:cycle-{first.cycle_id}:2026-11-21"
        assert reminder.due_at == local(date(2026, 11, 21), 8) and reminder.window_end == local(cycle_day, 0)
        assert reminder.role == "nurse" and reminder.session == first and reminder.cycle == first.cycle


@pytest.mark.django_db
def test_labs_wait_for_their_day_and_stop_once_the_cycle_starts(book, sweep):
    course = book(date(2026, 12, 3))  # labs due Thu 26 Nov 08:00
    labs = sweep()
    # Made ahead, so no run has to compute it when its day comes; not due, not queued yet.
    reminder = Reminder.objects.get(kind="labs_creatinine_bun")
    assert reminder.due_at == local(date(2026, 11, 26), 8) and reminder.pk not in labs["queued_ids"]
    assert not due_by(NOW, "labs_creatinine_bun").exists()
    assert reminder.pk in sweep(local(date(2026, 11, 26), 8))["queued_ids"]
    assert Reminder.objects.filter(kind="labs_creatinine_bun").count() == 1

    started = book(date(2026, 11, 23))
    give(sessions_of(started)[0])
    sweep(local(date(2026, 11, 23), 18))
    assert not Reminder.objects.filter(kind="labs_creatinine_bun", cycle__course=started).exists()
    assert Reminder.objects.filter(kind="labs_creatinine_bun", cycle__course=course).count() == 1


@pytest.mark.django_db
def test_labs_follow_the_first_day_still_booked(book, sweep):
    day1, day2 = sessions_of(book(date(2026, 11, 26)))
    day1.status = SessionStatus.CANCELLED
    day1.save()
    sweep()
    reminder = Reminder.objects.get(kind="labs_creatinine_bun")
    assert reminder.session == day2 and reminder.subject_key.endswith(":2026-11-20")


# --------------------------------------------------------------------------- after a cycle


@pytest.mark.django_db
def test_checks_after_the_last_day_of_a_cycle(book, sweep):
    patient = WeighedPatientFactory(blood_group="B")  # haemolysis risk with 2 g/kg
    day1, day2 = sessions_of(book(date(2026, 11, 19), patient=patient))  # Thu, Fri
    give(day1, stopped_at=local(date(2026, 11, 19), 14))
    give(day2, stopped_at=local(date(2026, 11, 20), 15))

    sweep()
    thrombosis = Reminder.objects.get(kind="thrombosis_check")
    assert thrombosis.subject_key == f"thrombosis_check:cycle-{day2.cycle_id}:2026-11-20"
    assert thrombosis.due_at == local(date(2026, 11, 20), 15)
    assert thrombosis.window_end == local(date(2026, 11, 23), 15)  # 72 h
    assert thrombosis.session == day2 and thrombosis.role == "nurse"
    haemolysis = Reminder.objects.get(kind="haemolysis_check")  # 36 to 96 h
    assert (haemolysis.due_at, haemolysis.window_end) == (local(date(2026, 11, 22), 3), local(date(2026, 11, 24), 15))
    assert not due_by(NOW, "venous_check").exists()  # day 14 is 4 Dec 09:00: made ahead, not due

    venous = Reminder.objects.get(kind="venous_check")
    assert venous.due_at == local(date(2026, 12, 4)) and venous.window_end is None
    assert venous.pk not in sweep(local(date(2026, 12, 4), 8, 59))["queued_ids"]
    assert venous.pk in sweep(local(date(2026, 12, 4), 9))["queued_ids"]


@pytest.mark.django_db
def test_post_infusion_checks_use_the_planned_end_without_a_stop_time_and_skip_missed_days(book, sweep):
    day1, day2 = sessions_of(book(date(2026, 11, 19), minutes=300))
    give(day1)  # no stop time recorded
    give(day2, status=SessionStatus.MISSED)
    sweep()
    thrombosis = Reminder.objects.get(kind="thrombosis_check")
    assert thrombosis.session == day1 and thrombosis.due_at == local(date(2026, 11, 19), 14)
    assert not Reminder.objects.filter(kind="haemolysis_check").exists()  # no haemolysis risk


@pytest.mark.django_db
def test_no_post_infusion_check_while_a_day_is_still_open_or_once_the_window_is_over(book, sweep):
    day1, _ = sessions_of(book(date(2026, 11, 21)))
    give(day1, stopped_at=local(date(2026, 11, 21), 14))  # day 2 (today 09:00) still planned
    expired = book(date(2026, 11, 12))
    for session in sessions_of(expired):
        give(session, stopped_at=session.planned_start + timedelta(hours=5))  # 72 h ended 16 Nov
    sweep()
    assert not Reminder.objects.filter(kind="thrombosis_check").exists()


# --------------------------------------------------------------------------- TIS and stewardship


@pytest.fixture
def visit(make_user):
    assessor = make_user("physician")

    def make(patient, visit_date, **fields):
        return Visit.objects.create(
            patient=patient, visit_date=visit_date, assessor=assessor, recorded_by=assessor, **fields
        )

    return make


@pytest.mark.django_db
def test_tis_falls_due_at_each_cycle_before_week_16(book, sweep, visit):
    # Started 1 Aug: due at weeks 4 (29 Aug), 8 (26 Sep), 12 (24 Oct) and 16 (21 Nov), so that a
    # deterioration at two consecutive visits can be confirmed before week 16 (ProDERM).
    patient = WeighedPatientFactory(ivig_started_on=date(2026, 8, 1))
    book(date(2026, 12, 10), patient=patient)
    visit(patient, date(2026, 8, 30))  # answers week 4
    sweep(local(date(2026, 9, 27), 12))
    reminder = due_by(local(date(2026, 9, 27), 12), "tis_assessment").get()  # week 12 is made ahead
    assert reminder.subject_key == f"tis_assessment:patient-{patient.pk}:2026-09-26"
    assert "week 8 of IVIG" in reminder.message
    assert "site rhythm: every 4 weeks to week 16, then every 12 weeks" in reminder.message


@pytest.mark.django_db
def test_tis_rhythm_follows_the_site_settings(book, sweep):
    SiteSettings.objects.update_or_create(pk=1, defaults={"tis_every_weeks_early": 8})
    patient = WeighedPatientFactory(ivig_started_on=date(2026, 8, 1))
    book(date(2026, 12, 10), patient=patient)
    sweep(local(date(2026, 8, 31), 12))  # week 4 has passed: not due under an 8-weekly rhythm
    assert not due_by(local(date(2026, 8, 31), 12), "tis_assessment").exists()
    assert not Reminder.objects.filter(kind="tis_assessment", subject_key__endswith=":2026-08-29").exists()
    sweep(local(date(2026, 9, 27), 12))
    assert due_by(local(date(2026, 9, 27), 12), "tis_assessment").get().subject_key.endswith(":2026-09-26")


@pytest.mark.parametrize(
    ("visit_offset_days", "created"),
    [(None, True), (-11, False), (-14, False), (-15, True), (10, False)],
)
@pytest.mark.django_db
def test_tis_week_16_unless_a_visit_is_within_two_weeks(book, sweep, visit, visit_offset_days, created):
    patient = WeighedPatientFactory(ivig_started_on=date(2026, 8, 1))  # week 16: Sat 21 Nov
    book(date(2026, 12, 10), patient=patient)
    if visit_offset_days is not None:
        visit(patient, date(2026, 11, 21) + timedelta(days=visit_offset_days))
    sweep()
    reminders = Reminder.objects.filter(kind="tis_assessment")
    assert reminders.exists() is created
    if created:
        reminder = reminders.get()
        assert reminder.subject_key == f"tis_assessment:patient-{patient.pk}:2026-11-21"
        assert reminder.due_at == local(date(2026, 11, 21), 8) and reminder.role == "physician"
        assert "week 16" in reminder.message


@pytest.mark.django_db
def test_tis_every_12_weeks_after_week_16_and_only_for_patients_on_a_course(book, sweep):
    patient = WeighedPatientFactory(ivig_started_on=date(2026, 5, 16))  # week 28: Sat 28 Nov
    book(date(2026, 12, 10), patient=patient)
    off_course = WeighedPatientFactory(ivig_started_on=date(2026, 8, 1))
    Course.objects.filter(patient=off_course).update(status=CourseStatus.STOPPED)
    sweep(local(date(2026, 11, 28), 8))
    assert [r.subject_key for r in Reminder.objects.filter(kind="tis_assessment")] == [
        f"tis_assessment:patient-{patient.pk}:2026-11-28"
    ]


@pytest.mark.django_db
def test_baseline_tis_a_week_before_the_first_infusion_unless_recorded(book, sweep, visit):
    fresh = WeighedPatientFactory()
    first = sessions_of(book(date(2026, 11, 27), patient=fresh))[0]
    assessed = WeighedPatientFactory()
    book(date(2026, 11, 27), patient=assessed)
    visit(assessed, date(2026, 11, 18))
    marked = WeighedPatientFactory()
    book(date(2026, 11, 27), patient=marked)
    visit(marked, date(2026, 9, 1), is_baseline=True)

    sweep()
    reminder = Reminder.objects.get(kind="tis_assessment")
    assert reminder.patient == fresh and reminder.session == first
    assert reminder.due_at == local(date(2026, 11, 20), 8) and reminder.role == "physician"
    assert "Baseline" in reminder.message


@pytest.mark.django_db
def test_a_first_day_left_unrecorded_does_not_make_a_second_baseline_reminder(book, sweep):
    # Booked 27–28 Nov, no baseline visit: the baseline reminder is due on 20 Nov. On 27 Nov at noon day 1
    # has not been started nor marked missed: it is still the first infusion, late, and day 2 is not.
    patient = WeighedPatientFactory()
    book(date(2026, 11, 27), patient=patient)
    sweep()
    assert list(Reminder.objects.filter(kind="tis_assessment").values_list("subject_key", flat=True)) == [
        f"tis_assessment:patient-{patient.pk}:2026-11-20"
    ]

    later = sweep(local(date(2026, 11, 27), 12))
    assert "tis_assessment" not in later["created_by_kind"]
    assert Reminder.objects.filter(kind="tis_assessment").count() == 1


def _course_dates(patient, started_on, due, *, until=None, status="active", reason=""):
    """Set the patient's treatment course (started by its first order) to these dates."""
    TreatmentCourse.objects.filter(patient=patient).update(
        started_on=started_on, next_review_due=due, authorised_until=until or due, status=status, status_reason=reason
    )
    return TreatmentCourse.objects.get(patient=patient)


@pytest.mark.django_db
def test_stewardship_review_from_the_treatment_course_shows_latest_tis_and_grams(book, sweep, visit):
    patient = WeighedPatientFactory(ivig_started_on=date(2026, 8, 22))
    course = book(date(2026, 8, 22), patient=patient, cycles=4)  # 70 g a day (70 kg, 2 g/kg, 2 days)
    # Review due Sun 20 Dec: 28 days' notice (site settings) -> from Sun 22 Nov.
    treatment = _course_dates(patient, date(2026, 8, 22), date(2026, 12, 20))
    for session in sessions_of(course)[:6]:
        give(session, stopped_at=session.planned_start + timedelta(hours=5))
    visit(patient, date(2026, 8, 20), **BASELINE)
    visit(patient, date(2026, 11, 12), **FOLLOWUP)

    sweep()
    review = Reminder.objects.get(kind="stewardship_review")
    assert review.subject_key == f"stewardship_review:treatment-course-{treatment.pk}:2026-11-22"
    assert review.role == "physician" and review.due_at == local(TODAY, 8)
    assert review.window_end == local(date(2026, 12, 20), 8)
    assert "Stewardship review due 2026-12-20" in review.message
    assert "Latest TIS 35.0 (minimal) on 2026-11-12" in review.message
    assert "420 g given in 6 infusion days" in review.message


@pytest.mark.django_db
def test_worked_example_dm_started_5_january_reminded_from_7_june(book, sweep):
    patient = WeighedPatientFactory(ivig_started_on=date(2026, 1, 5))
    book(date(2026, 12, 10), patient=patient)
    # As the first order would have set it on 5 Jan 2026: 6 months -> 5 Jul 2026.
    _course_dates(patient, date(2026, 1, 5), date(2026, 7, 5))
    sweep(local(date(2026, 5, 30), 9))  # beyond the reviews' 2-day horizon: not made yet
    assert not Reminder.objects.filter(kind="stewardship_review").exists()
    sweep(local(date(2026, 6, 6), 9))
    assert not due_by(local(date(2026, 6, 6), 9), "stewardship_review").exists()
    sweep(local(date(2026, 6, 7), 9))
    reminder = due_by(local(date(2026, 6, 7), 9), "stewardship_review").get()
    assert reminder.due_at == local(date(2026, 6, 7), 8) and reminder.window_end == local(date(2026, 7, 5), 8)


@pytest.mark.django_db
def test_lapsing_authorisation_and_trial_off_reassessment_and_nothing_once_stopped(book, sweep):
    lapsing = WeighedPatientFactory()
    book(date(2026, 12, 10), patient=lapsing)
    # Review due later than the window: both remind, each 28 days ahead.
    _course_dates(lapsing, date(2026, 6, 1), date(2027, 1, 20), until=date(2026, 12, 1))
    paused = WeighedPatientFactory()
    book(date(2026, 12, 10), patient=paused)
    _course_dates(paused, date(2026, 1, 5), date(2026, 12, 5), status="trial_off", reason="stable 12 months")
    stopped = WeighedPatientFactory()
    book(date(2026, 12, 10), patient=stopped)
    _course_dates(stopped, date(2026, 1, 5), date(2026, 12, 5), status="stopped", reason="no benefit")
    sweep()
    messages = {r.patient_id: r.message for r in Reminder.objects.filter(kind="stewardship_review")}
    assert set(messages) == {lapsing.pk, paused.pk}
    assert messages[lapsing.pk].startswith("IVIG authorisation lapses 2026-12-01")
    assert messages[paused.pk].startswith("Reassessment after a trial off IVIG due 2026-12-05")


@pytest.mark.django_db
def test_stewardship_review_without_visits_says_so(book, sweep):
    patient = WeighedPatientFactory(ivig_started_on=date(2026, 5, 22))
    book(date(2026, 12, 10), patient=patient)
    _course_dates(patient, date(2026, 5, 22), date(2026, 12, 20))
    sweep()
    assert "No TIS yet; 0 g given in 0 infusion days." in Reminder.objects.get(kind="stewardship_review").message


# --------------------------------------------------------------------------- overdue cycle


@pytest.mark.parametrize(
    ("now", "booked_next", "expected"),
    [
        pytest.param(local(date(2026, 11, 5), 12), None, False, id="within the 7 days' grace"),
        pytest.param(local(date(2026, 11, 6), 7, 59), None, False, id="first overdue day before 08:00"),
        pytest.param(local(date(2026, 11, 6), 8), None, True, id="first overdue day 08:00"),
        pytest.param(NOW, None, True, id="weeks later: same key"),
        pytest.param(NOW, date(2026, 11, 30), False, id="next cycle booked"),
        pytest.param(NOW, date(2026, 11, 10), True, id="a booking passed unrecorded"),
    ],
)
@pytest.mark.django_db
def test_cycle_overdue(book, sweep, nurse, now, booked_next, expected):
    course = book(date(2026, 10, 1), interval_weeks=4)  # next due 29 Oct; grace ends 5 Nov
    for session in sessions_of(course):
        give(session, stopped_at=session.planned_start + timedelta(hours=5))
    if booked_next:
        cycle = Cycle.objects.create(course=course, number=2, start_date=booked_next)
        InfusionSession.objects.create(
            cycle=cycle, patient=course.patient, day_number=1, chair=1, planned_start=local(booked_next),
            expected_minutes=300,
        )  # fmt: skip
    sweep(now)
    reminders = due_by(now, "cycle_overdue")  # one may exist ahead, due when the cycle is late
    assert reminders.exists() is expected
    if expected and booked_next:
        # The booked cycle that passed unrecorded is what is reported, the morning after it.
        reminder = reminders.get()
        assert reminder.subject_key == f"cycle_overdue:cycle-{cycle.pk}:2026-11-11"
        assert reminder.due_at == local(date(2026, 11, 11), 8) and reminder.role == "nurse"
        assert "Cycle 2, booked for 2026-11-10, passed with no infusion recorded" in reminder.message
    elif expected:
        reminder = reminders.get()
        assert reminder.subject_key == f"cycle_overdue:course-{course.pk}:2026-11-06"
        assert reminder.due_at == local(date(2026, 11, 6), 8) and reminder.role == "nurse"
        assert "with nothing scheduled" in reminder.message


@pytest.mark.django_db
def test_a_missed_cycle_is_reported_once_the_morning_after_it(book, sweep):
    course = book(date(2026, 9, 3), cycles=2)  # 3 Sep given, 1-2 Oct missed
    given, missed = sessions_of(course)[:2], sessions_of(course)[2:]
    for session in given:
        give(session, stopped_at=session.planned_start + timedelta(hours=5))
    for session in missed:
        give(session, status=SessionStatus.MISSED)
    sweep()
    sweep()
    reminder = Reminder.objects.get(kind="cycle_overdue")
    assert reminder.subject_key == f"cycle_overdue:cycle-{missed[0].cycle_id}:2026-10-03"
    assert "Cycle 2, booked for 2026-10-01 to 2026-10-02" in reminder.message


# --------------------------------------------------------------------------- once, and only once


def _rich_clinic(book):
    """Every kind due on Mon 23 Nov 09:00, for patients named so that a leak would show."""
    name = {"given_name": "Zenobia", "family_name": "Quackenbush"}
    # Given 19-20 Nov (checks), next booked 26 Nov (upcoming, labs); group AB at 2 g/kg: haemolysis.
    treated = WeighedPatientFactory(**name, blood_group="AB", ivig_started_on=date(2026, 11, 19))
    for session in sessions_of(book(date(2026, 11, 19), patient=treated)):
        give(session, stopped_at=session.planned_start + timedelta(hours=5))
    book(date(2026, 11, 26), patient=treated)
    # Last cycle 1 Oct, nothing booked (overdue); review due 20 Dec, reminded from 22 Nov (treatment course).
    overdue = WeighedPatientFactory(**name, ivig_started_on=date(2026, 8, 22))
    for session in sessions_of(book(date(2026, 10, 1), patient=overdue)):
        give(session, stopped_at=session.planned_start + timedelta(hours=5))
    _course_dates(overdue, date(2026, 8, 22), date(2026, 12, 20))
    # First infusion 27 Nov, no baseline visit.
    book(date(2026, 11, 27), patient=WeighedPatientFactory(**name))


@pytest.mark.django_db
def test_running_twice_creates_each_reminder_once_and_names_no_patient(book, sweep):
    _rich_clinic(book)
    first = sweep(local(date(2026, 11, 23), 9))
    assert first["errors"] == 0
    assert set(first["created_by_kind"]) >= {
        "upcoming_infusion", "labs_creatinine_bun", "labs_hb_hct", "thrombosis_check", "haemolysis_check",
        "cycle_overdue", "tis_assessment", "stewardship_review",
    }  # fmt: skip
    count = Reminder.objects.count()
    second = sweep(local(date(2026, 11, 23), 9))
    assert second["created"] == 0 and second["existing"] == count and Reminder.objects.count() == count
    assert sorted(second["queued_ids"]) == sorted(first["queued_ids"])  # not delivered yet: queued again
    for reminder in Reminder.objects.all():
        assert "Zenobia" not in reminder.message and "Quackenbush" not in reminder.message


@pytest.mark.django_db
def test_a_concurrent_insert_of_the_same_key_is_not_an_error(book, sweep, monkeypatch):
    """The race as SQLite can show it: the other sweep committed each key after this one looked
    (it found none) and before it inserted, so every insert fails on the unique key."""
    book(date(2026, 11, 26))
    sweep()  # the other sweep
    before = sorted(Reminder.objects.values_list("subject_key", flat=True))
    monkeypatch.setattr(service, "_existing_rows", lambda keys: {})

    def insert_loses_the_race(*, subject_key, defaults):
        raise IntegrityError("duplicate key value violates unique constraint")

    monkeypatch.setattr(Reminder.objects, "get_or_create", insert_loses_the_race)
    result = sweep()
    assert result["errors"] == 0 and result["created"] == 0 and result["existing"] == len(before) > 0
    assert sorted(Reminder.objects.values_list("subject_key", flat=True)) == before


@pytest.mark.skipif(connection.vendor != "postgresql", reason="real concurrent inserts need PostgreSQL")
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_sweeps_at_the_same_moment_on_postgresql(make_order, make_user, monkeypatch):
    # Two reconciliations at once over a clinic whose triggers did not run (each write here
    # commits at once, so a trigger would already have made every reminder).
    monkeypatch.setattr(scheduling_signals, "reminders_recompute_later", lambda patient_id: None)
    nurse = make_user("nurse")
    for _ in range(3):
        book_course(make_order(patient=WeighedPatientFactory()), nurse, date(2026, 11, 26))
    barrier = threading.Barrier(2, timeout=20)

    def existing_after_both_looked(keys):
        barrier.wait()  # both sweeps have computed the same keys and found none
        return {}

    monkeypatch.setattr(service, "_existing_rows", existing_after_both_looked)
    results, failures = [], []

    def run():
        try:
            results.append(reminders_reconcile(now=NOW))
        except Exception as error:  # reported below, in the test's thread
            failures.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a sweep hung"
    assert failures == []
    keys = list(Reminder.objects.values_list("subject_key", flat=True))
    assert len(keys) == len(set(keys)) > 0
    assert sum(result["created"] for result in results) == len(keys)  # each key created by one sweep
    assert sum(result["existing"] for result in results) == len(keys)  # and found made by the other
    assert all(result["errors"] == 0 for result in results)


@pytest.mark.django_db
def test_one_bad_record_does_not_stop_the_sweep(book, sweep, monkeypatch):
    sessions_of(book(date(2026, 11, 26)))
    broken = book(date(2026, 11, 27))

    real = service.timing.lab_reminders

    def fails_for_one(cycle_start, **kwargs):
        if kwargs["target"] == f"cycle-{sessions_of(broken)[0].cycle_id}":
            raise ValueError("last_creatinine_on: impossible")
        return real(cycle_start, **kwargs)

    monkeypatch.setattr(service.timing, "lab_reminders", fails_for_one)
    result = sweep()
    assert result["errors"] == 1
    assert Reminder.objects.filter(kind="labs_creatinine_bun").count() == 1
    assert Reminder.objects.filter(kind="upcoming_infusion").count() == 4


# --------------------------------------------------------------------------- query count


def _bulk_clinic(size: int, order: DoseOrder, nurse) -> None:
    """`size` patients, without signals: a cycle given last week (checks due), the next booked
    (upcoming), every fourth overdue instead; some with renal or haemolysis flags or labs."""
    patients = Patient.objects.bulk_create(
        [
            Patient(
                mrn=f"BULK{size}-{n:05d}", given_name="Bulk", family_name=f"P{n}", date_of_birth=date(1970, 1, 1),
                sex_at_birth="female", diagnosis="adult_dm", ivig_started_on=date(2026, 8, 1),
            )
            for n in range(size)
        ]
    )  # fmt: skip
    orders = DoseOrder.objects.bulk_create(
        [DoseOrder(**{**_order_fields(order), "patient": patient}) for patient in patients]
    )
    courses = Course.objects.bulk_create(
        [
            Course(order=o, patient=o.patient, interval_weeks=4, days_per_cycle=2, first_day=date(2026, 8, 1),
                   created_by=nurse)
            for o in orders
        ]
    )  # fmt: skip
    plans = []  # (course, cycle number, first day, status)
    for n, course in enumerate(courses):
        if n % 4 == 0:
            plans.append((course, 1, date(2026, 10, 1), SessionStatus.COMPLETED))
        else:
            plans.append((course, 1, date(2026, 11, 19), SessionStatus.COMPLETED))
            plans.append((course, 2, date(2026, 12, 17), SessionStatus.PLANNED))
    cycles = Cycle.objects.bulk_create([Cycle(course=c, number=num, start_date=day) for c, num, day, _ in plans])
    sessions = InfusionSession.objects.bulk_create(
        [
            InfusionSession(
                cycle=cycle, patient_id=course.patient_id, day_number=d + 1, chair=1,
                planned_start=local(day + timedelta(days=d)), expected_minutes=300, status=status,
            )
            for cycle, (course, _, day, status) in zip(cycles, plans, strict=True)
            for d in range(2)
        ]
    )  # fmt: skip
    InfusionRecord.objects.bulk_create(
        [
            InfusionRecord(session=s, started_at=s.planned_start, stopped_at=s.planned_start + timedelta(hours=5))
            for s in sessions
            if s.status == SessionStatus.COMPLETED
        ]
    )
    RiskFlag.objects.bulk_create(
        [
            RiskFlag(
                patient=p, code="renal_insufficiency" if n % 3 else "info_haemolysis_risk",
                category="renal" if n % 3 else "other", severity="moderate" if n % 3 else "info", title="t",
                evidence="e", mitigation="m", source="s", first_seen_at=NOW, last_evaluated_at=NOW,
            )
            for n, p in enumerate(patients)
        ]
    )  # fmt: skip
    LabResult.objects.bulk_create(
        [
            LabResult(patient=p, test="creatinine", collected_on=date(2026, 11, 10), value=Decimal("70"),
                      unit="µmol/L")
            for p in patients[::2]
        ]
    )  # fmt: skip


def _order_fields(order: DoseOrder) -> dict:
    return {
        field.name: getattr(order, field.name)
        for field in DoseOrder._meta.concrete_fields
        if field.name not in ("id", "uuid", "prescribed_at")
    }


@pytest.mark.django_db
def test_sweep_queries_do_not_grow_with_the_number_of_patients(make_order, make_user, sweep):
    order, nurse = make_order(), make_user("nurse")
    counts = {}
    for size in (8, 40):
        Reminder.objects.all().delete()
        _bulk_clinic(size, order, nurse)
        with CaptureQueriesContext(connection) as first_run:
            created = sweep(NOW)["created"]
        with CaptureQueriesContext(connection) as steady:
            again = sweep(NOW)
        assert again["created"] == 0 and again["errors"] == 0
        counts[size] = (len(first_run), created, len(steady))
    print(f"\nsweep queries (first run, reminders created, steady state) by clinic size: {counts}")
    (_, created_small, steady_small), (_, created_large, steady_large) = counts[8], counts[40]
    assert created_large > created_small
    assert steady_small == steady_large  # a fixed number of batched reads, whatever the size
    # New reminders are written in batches (savepoint, insert, read back, history, release; the
    # database may split an insert into several statements) after four reads for the stewardship
    # messages: a statement per ten reminders at most, where one each used to take four.
    for first, created, steady in counts.values():
        assert first - steady <= 6 + created / 10


@pytest.mark.django_db
def test_every_reminder_the_sweep_creates_has_its_creation_in_the_history(book, sweep):
    book(date(2026, 11, 26))
    created = sweep()["created"]
    assert created > 0
    history = Reminder.history.filter(history_type="+")
    assert history.count() == Reminder.objects.count() == created
    assert set(history.values_list("id", flat=True)) == set(Reminder.objects.values_list("id", flat=True))


# --------------------------------------------------------------------------- the nightly run's chunks


@pytest.mark.django_db
def test_nightly_chunks_select_their_patients_by_id_range_and_compute_what_one_by_one_would(book, monkeypatch):
    for day in (26, 27, 28, 30):
        book(date(2026, 11, day), patient=WeighedPatientFactory())
        WeighedPatientFactory()  # a patient with no course between them
    with CaptureQueriesContext(connection) as captured:
        chunked = reminders_reconcile(now=NOW, chunk=2)
    keys = set(Reminder.objects.values_list("subject_key", flat=True))
    assert chunked["created"] == len(keys) > 0 and chunked["errors"] == 0
    # Each chunk's queries name its first and last patient, not a list of every id in it.
    ids = list(Patient.objects.order_by("pk").values_list("pk", flat=True))
    assert not any(f"IN ({ids[0]}, {ids[1]})" in query["sql"] for query in captured.captured_queries)
    Reminder.objects.all().delete()
    for patient_id in ids:  # the same computation, a patient at a time, finds the same reminders
        service.reminders_recompute(patient_ids=[patient_id], now=NOW)
    assert set(Reminder.objects.values_list("subject_key", flat=True)) == keys


def test_a_contiguous_scope_is_a_range_and_a_listed_one_a_list():
    contiguous = service._Collector(NOW, ZoneInfo("UTC"), [4, 5, 9], contiguous=True)
    listed = service._Collector(NOW, ZoneInfo("UTC"), [4, 5, 9])
    assert contiguous.in_scope("course__patient_id") == {"course__patient_id__gte": 4, "course__patient_id__lte": 9}
    assert listed.in_scope() == {"patient_id__in": [4, 5, 9]}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="JIT is PostgreSQL's")
@pytest.mark.django_db
def test_the_nightly_run_computes_each_chunk_without_jit(book, monkeypatch):
    book(date(2026, 11, 26))
    seen = []
    real = service._compute

    def compute(*args, **kwargs):
        with connection.cursor() as cursor:
            cursor.execute("SHOW jit")
            seen.append(cursor.fetchone()[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(service, "_compute", compute)
    reminders_reconcile(now=NOW)
    assert seen == ["off"]


def test_reminder_history_is_indexed_by_reminder_and_date_only():
    # Each index on the history table is written for every reminder created; these are read.
    historical = Reminder.history.model._meta
    indexed = {f.name for f in historical.concrete_fields if f.db_index or f.primary_key}
    assert indexed == {"history_id", "id", "history_date", "history_user"}
