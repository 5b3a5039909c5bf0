"""Reminders computed from what changed: a write marks its patient, whose reminders are right
once the transaction commits, before any sweep runs; the periodic sweep only reads a window on
due times; the nightly reconciliation repairs drift and says what it repaired.

Time is frozen on Sunday 22 Nov 2026 12:00 in New York (the conftest's day)."""

import logging
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from dosing.services.orders import dose_order_verify
from patients.tests.factories import LabResultFactory, WeighedPatientFactory
from scheduling.models import InfusionSession, Reminder, ReminderStatus, SessionStatus
from scheduling.services import sweep as service
from scheduling.services.courses import course_plan
from scheduling.services.sessions import session_move, session_set_status
from scheduling.services.sweep import reminders_recompute, reminders_reconcile, reminders_sweep
from scheduling.tests.factories import book_course

pytestmark = pytest.mark.django_db

NY = ZoneInfo("America/New_York")
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=NY)  # Sunday
TODAY = NOW.date()


def local(day: date, hour: int = 9, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=NY)


def live(kind=None, **filters):
    reminders = Reminder.objects.filter(status__in=[ReminderStatus.PENDING, ReminderStatus.SENT], **filters)
    return reminders.filter(kind=kind) if kind else reminders


@pytest.fixture(autouse=True)
def clinic_time(settings, frozen_today):
    settings.TIME_ZONE = "America/New_York"


@pytest.fixture
def no_sweep(monkeypatch):
    """Any sweep or reconciliation in the code under test fails the test: what is checked must
    come from the triggers alone."""

    def refused(**kwargs):
        raise AssertionError("no sweep may run in this test")

    monkeypatch.setattr(service, "reminders_sweep", refused)
    monkeypatch.setattr(service, "reminders_reconcile", refused)


def sessions_of(course) -> list[InfusionSession]:
    return list(InfusionSession.objects.filter(cycle__course=course).order_by("planned_start"))


# --------------------------------------------------------------------------- triggers


def test_booking_moving_and_cancelling_through_the_services_keep_reminders_right_without_a_sweep(
    make_order, staff, no_sweep, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        order = make_order(by=staff.physician)
        dose_order_verify(by=staff.pharmacist, order=order)
        course = course_plan(
            by=staff.nurse,
            order=order,
            first_day=date(2026, 11, 26),  # Thursday and Friday, 09:00
            start_time=time(9, 0),
            chair=1,
            cycles=1,
            today=TODAY,
            accept_warnings=True,
        )
    day1, day2 = sessions_of(course)
    upcoming = {r.session_id: r for r in live("upcoming_infusion")}
    assert set(upcoming) == {day1.pk, day2.pk}
    assert upcoming[day1.pk].due_at == local(date(2026, 11, 23)) and upcoming[day1.pk].status == "pending"
    # Booked with nothing given yet: the "missed cycle" reminder waits ahead, due the morning after.
    assert live("cycle_overdue").get().due_at == local(date(2026, 11, 28), 8)

    with django_capture_on_commit_callbacks(execute=True):
        session_move(
            by=staff.nurse,
            session=day2,
            new_date=date(2026, 11, 28),
            new_start=time(11, 0),
            expected_version=None,
            accept_warnings=True,
        )
    old = Reminder.objects.get(pk=upcoming[day2.pk].pk)
    assert old.status == ReminderStatus.CANCELLED
    moved = live("upcoming_infusion").get(session=day2)
    assert moved.due_at == local(date(2026, 11, 25), 11) and moved.subject_key.endswith(":2026-11-25")
    assert live("cycle_overdue").get().due_at == local(date(2026, 11, 29), 8)  # after the new last day

    with django_capture_on_commit_callbacks(execute=True):
        session_set_status(
            by=staff.nurse, session=day1, status=SessionStatus.CANCELLED, reason="flu", expected_version=None
        )
    assert list(live("upcoming_infusion")) == [moved]
    assert Reminder.objects.filter(kind="upcoming_infusion").count() == 3  # nothing deleted


def test_a_lab_recorded_cancels_the_labs_reminder_it_answers(make_order, staff, no_sweep):
    patient = WeighedPatientFactory()
    with CaptureOnCommit() as commit:
        # No creatinine on record: one is called for within the 7 days before the cycle.
        course = book_course(make_order(patient=patient), staff.nurse, date(2026, 12, 3))
    commit.run()
    labs = live("labs_creatinine_bun").get()
    assert labs.due_at == local(date(2026, 11, 26), 8) and labs.cycle == sessions_of(course)[0].cycle

    with CaptureOnCommit() as commit:
        LabResultFactory(patient=patient, test="creatinine", collected_on=TODAY)  # 11 days before: recent
    # Not yet committed: nothing has changed.
    assert live("labs_creatinine_bun").get() == labs
    commit.run()
    labs.refresh_from_db()
    assert labs.status == ReminderStatus.CANCELLED


class CaptureOnCommit:
    """Collect the on-commit callbacks registered inside, to run them on demand (a commit)."""

    def __enter__(self):
        self.start = len(connection.run_on_commit)
        return self

    def __exit__(self, *exc):
        self.callbacks = [callback for _, callback, *_ in connection.run_on_commit[self.start :]]
        del connection.run_on_commit[self.start :]

    def run(self):
        for callback in self.callbacks:
            callback()


def test_every_patient_touched_in_a_transaction_is_recomputed_once_after_commit(make_order, staff, monkeypatch):
    calls = []
    monkeypatch.setattr(service, "reminders_recompute", lambda **kwargs: calls.append(kwargs["patient_ids"]))
    first, second = WeighedPatientFactory(), WeighedPatientFactory()
    with CaptureOnCommit() as commit, transaction.atomic():
        book_course(make_order(patient=first), staff.nurse, date(2026, 12, 3), cycles=2)
        book_course(make_order(patient=second), staff.nurse, date(2026, 12, 4))
        LabResultFactory(patient=first, test="creatinine", collected_on=TODAY)
        assert calls == []  # nothing before the commit
    commit.run()
    assert len(calls) == 1 and {first.pk, second.pk} <= set(calls[0])  # with the fixtures' patient


def test_a_rolled_back_transaction_recomputes_nothing_and_the_next_one_still_does(make_order, staff, monkeypatch):
    calls = []
    monkeypatch.setattr(service, "reminders_recompute", lambda **kwargs: calls.append(kwargs["patient_ids"]))
    patient = WeighedPatientFactory()
    with CaptureOnCommit() as commit:
        try:
            with transaction.atomic():
                LabResultFactory(patient=patient, test="creatinine", collected_on=TODAY)
                raise RuntimeError("the write fails")
        except RuntimeError:
            pass
        LabResultFactory(patient=patient, test="creatinine", collected_on=TODAY)
    commit.run()
    assert len(calls) == 1 and patient.pk in calls[0]


def test_a_failing_recompute_never_fails_the_write(staff, monkeypatch, caplog, django_capture_on_commit_callbacks):
    def broken(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(service, "reminders_recompute", broken)
    patient = WeighedPatientFactory()
    with caplog.at_level(logging.ERROR), django_capture_on_commit_callbacks(execute=True):
        result = LabResultFactory(patient=patient, test="creatinine", collected_on=TODAY)
    assert result.pk is not None
    assert "nightly reconciliation will" in caplog.text


def test_a_recompute_costs_the_same_few_queries_for_one_patient_or_many(make_order, staff):
    patients = [WeighedPatientFactory() for _ in range(6)]
    for number, patient in enumerate(patients):
        book_course(make_order(patient=patient), staff.nurse, date(2026, 11, 24) + timedelta(days=number), cycles=2)
    reminders_recompute(patient_ids=[patients[0].pk], now=NOW)
    reminders_recompute(patient_ids=[p.pk for p in patients], now=NOW)
    with CaptureQueriesContext(connection) as one:
        reminders_recompute(patient_ids=[patients[0].pk], now=NOW)
    with CaptureQueriesContext(connection) as many:
        reminders_recompute(patient_ids=[p.pk for p in patients], now=NOW)
    assert len(one) == len(many) <= 25


# --------------------------------------------------------------------------- the periodic sweep


def test_the_periodic_sweep_finds_a_reminder_when_the_clock_passes_and_computes_nothing(make_order, staff):
    course = book_course(make_order(), staff.nurse, date(2026, 11, 26))
    reminders_recompute(patient_ids=[course.patient_id], now=NOW)
    reminder = live("upcoming_infusion", session=sessions_of(course)[0]).get()
    assert reminder.due_at == local(date(2026, 11, 23))

    before = local(date(2026, 11, 23), 8, 59)
    with CaptureQueriesContext(connection) as queries:
        assert reminder.pk not in reminders_sweep(now=before)["due_ids"]
    with CaptureQueriesContext(connection) as due_queries:
        assert reminder.pk in reminders_sweep(now=local(date(2026, 11, 23)))["due_ids"]
    # Nothing computed, nothing read but reminders: one flagging update and one windowed read.
    for captured in (queries, due_queries):
        assert len(captured) == 2
        assert all('"scheduling_reminder"' in q["sql"] and "INSERT" not in q["sql"] for q in captured.captured_queries)
    assert Reminder.objects.count() == Reminder.objects.filter(status__in=["pending", "cancelled"]).count()


def test_the_periodic_sweep_reads_as_many_queries_in_a_small_and_a_larger_clinic(make_order, staff):
    def clinic_of(size: int):
        for number in range(size):
            patient = WeighedPatientFactory()
            book_course(make_order(patient=patient), staff.nurse, date(2026, 11, 23) + timedelta(days=number % 5))
        reminders_reconcile(now=NOW)
        with CaptureQueriesContext(connection) as captured:
            due = reminders_sweep(now=local(date(2026, 11, 25), 10))["due_ids"]
        return len(captured), len(due)

    small_queries, small_due = clinic_of(2)
    larger_queries, larger_due = clinic_of(12)
    assert larger_due > small_due > 0
    assert small_queries == larger_queries == 2


# --------------------------------------------------------------------------- the nightly reconciliation


def test_the_reconciliation_repairs_drift_and_reports_it(make_order, staff, caplog):
    course = book_course(make_order(), staff.nurse, date(2026, 11, 26))
    first = reminders_reconcile(now=NOW)
    assert first["created"] > 0 and first["patients"] == 1
    assert reminders_reconcile(now=NOW)["repaired"] == 0  # in line: nothing to repair

    day1, day2 = sessions_of(course)
    # Drift a trigger would have prevented: a move written without signals, a reminder
    # cancelled by hand although the data still calls for it.
    InfusionSession.objects.filter(pk=day1.pk).update(planned_start=local(date(2026, 11, 25)))
    Reminder.objects.filter(kind="upcoming_infusion", session=day2).update(status=ReminderStatus.CANCELLED)
    with caplog.at_level(logging.WARNING):
        repaired = reminders_reconcile(now=NOW)
    # The move re-dates day 1's upcoming reminder, the cycle's labs and the baseline TIS (a week
    # before the first infusion); the hand-cancelled reminder comes back.
    created = {"upcoming_infusion": 1, "labs_creatinine_bun": 1, "tis_assessment": 1}
    assert repaired["repaired_by_kind"]["created"] == created
    assert repaired["repaired_by_kind"]["revived"] == {"upcoming_infusion": 1}
    assert repaired["repaired_by_kind"]["cancelled"] == {"upcoming_infusion": 1, "labs_creatinine_bun": 1}
    assert repaired["repaired"] == 6
    assert "repaired 6 reminders a trigger missed" in caplog.text and "upcoming_infusion" in caplog.text
    assert live("upcoming_infusion", session=day1).get().due_at == local(date(2026, 11, 22))
    assert live("upcoming_infusion", session=day2).exists()
    assert reminders_reconcile(now=NOW)["repaired"] == 0


def test_what_time_brings_within_the_horizon_is_scheduled_not_repaired(make_order, staff, caplog):
    book_course(make_order(), staff.nurse, date(2026, 12, 28))  # upcoming due 25 Dec: 33 days ahead
    book_course(make_order(patient=WeighedPatientFactory()), staff.nurse, date(2027, 1, 1))  # due 29 Dec
    reminders_reconcile(now=NOW)
    assert live("upcoming_infusion").count() == 2  # day 1 and 2 of the first course; 29 Dec is beyond
    tomorrow = reminders_reconcile(now=NOW + timedelta(days=2))
    assert tomorrow["created_by_kind"]["upcoming_infusion"] == 1 and tomorrow["scheduled"] >= 1
    assert tomorrow["repaired_by_kind"]["created"].get("upcoming_infusion") is None


def test_created_reminders_each_get_their_creation_history_row(make_order, staff):
    book_course(make_order(), staff.nurse, date(2026, 11, 26))
    reminders_reconcile(now=NOW)
    reminders_reconcile(now=NOW)  # nothing new: no new history either
    for reminder in Reminder.objects.all():
        history = list(reminder.history.all())
        assert [row.history_type for row in history] == ["+"]
        assert history[0].subject_key == reminder.subject_key and history[0].due_at == reminder.due_at
