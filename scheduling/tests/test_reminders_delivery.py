"""reminder_deliver and the deliver_reminder task: each reminder e-mailed at most once, to the
right people, without a patient name; failures retried with backoff; interruptions flagged."""

import threading
from datetime import datetime, timedelta
from smtplib import SMTPRecipientsRefused, SMTPServerDisconnected
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from celery.app import autoretry
from celery.utils.time import get_exponential_backoff_interval
from django.core import mail
from django.db import connection

from patients.tests.factories import PatientFactory
from scheduling import tasks
from scheduling.models import Reminder, ReminderStatus
from scheduling.services import delivery as service
from scheduling.services.delivery import (
    CLAIM_STALE_AFTER,
    INTERRUPTED_DELIVERY,
    MAX_DELIVERY_ATTEMPTS,
    reminder_deliver,
)
from scheduling.services.sweep import reminders_sweep
from scheduling.tasks import deliver_reminder
from scheduling.tests.factories import ReminderFactory

NY = ZoneInfo("America/New_York")
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=NY)


class WorkerDied(BaseException):
    """What a killed worker looks like from inside: nothing after it runs, no except clause."""


@pytest.fixture(autouse=True)
def clinic_time(settings, frozen_today):
    settings.TIME_ZONE = "America/New_York"
    settings.CLINIC_NAME = "IVIG Clinic"


@pytest.fixture
def team(make_user):
    return SimpleNamespace(
        nurse=make_user("nurse", email="nurse.one@example.org"),
        nurse_without_mail=make_user("nurse", email=""),
        former_nurse=make_user("nurse", email="gone@example.org", is_active=False),
        physician=make_user("physician", email="doctor@example.org"),
    )


@pytest.fixture
def patient(db):
    return PatientFactory(mrn="MRN424242", given_name="Zenobia", family_name="Quackenbush")


@pytest.fixture
def make_reminder(patient):
    def make(**fields):
        values = {
            "subject_key": f"thrombosis_check:cycle-{Reminder.objects.count() + 1}:2026-11-20",
            "kind": "thrombosis_check",
            "patient": patient,
            "due_at": NOW - timedelta(hours=1),
            "window_end": NOW + timedelta(hours=48),
            "message": "Arterial and early venous thrombosis symptoms within 72 h of the cycle's last infusion.",
            "role": "nurse",
        } | fields
        return ReminderFactory(**values)

    return make


def refreshed(reminder) -> Reminder:
    reminder.refresh_from_db()
    return reminder


# --------------------------------------------------------------------------- once


@pytest.mark.django_db
def test_one_email_to_the_active_role_members_with_an_address(team, make_reminder):
    reminder = make_reminder()
    assert reminder_deliver(reminder.pk, now=NOW) == "sent"
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["nurse.one@example.org"]
    reminder = refreshed(reminder)
    assert reminder.status == ReminderStatus.SENT and reminder.emailed_at == NOW
    assert reminder.delivery_attempts == 1 and reminder.last_error == ""


@pytest.mark.django_db
def test_subject_and_body_carry_no_patient_name(team, make_reminder):
    reminder_deliver(make_reminder().pk, now=NOW)
    message = mail.outbox[0]
    assert message.subject == "[IVIG Clinic] Thrombosis check (72 h) — due Sun 22 Nov 11:00"
    for text in (message.subject, message.body):
        assert "Zenobia" not in text and "Quackenbush" not in text
    assert "MRN424242" not in message.subject
    assert "Patient: MRN MRN424242 (ZQ)" in message.body
    assert "within 72 h" in message.body


@pytest.mark.django_db
def test_a_second_call_sends_nothing(team, make_reminder):
    reminder = make_reminder()
    reminder_deliver(reminder.pk, now=NOW)
    assert reminder_deliver(reminder.pk, now=NOW + timedelta(minutes=1)) == "already_sent"
    assert len(mail.outbox) == 1 and refreshed(reminder).delivery_attempts == 1


@pytest.mark.django_db
def test_a_delivery_running_during_another_sends_nothing(team, make_reminder, monkeypatch):
    """Two tasks at the same moment, interleaved by hand: the second arrives while the first is
    sending (claimed, not yet acknowledged)."""
    reminder = make_reminder()
    real_email = service._email
    outcomes = []

    def email_while_another_delivery_runs(*args):
        outcomes.append(reminder_deliver(reminder.pk, now=NOW))
        real_email(*args)

    monkeypatch.setattr(service, "_email", email_while_another_delivery_runs)
    outcomes.append(reminder_deliver(reminder.pk, now=NOW))
    assert outcomes == ["in_progress", "sent"] and len(mail.outbox) == 1


@pytest.mark.skipif(connection.vendor != "postgresql", reason="two real connections racing need PostgreSQL")
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_workers_at_the_same_moment_on_postgresql(make_user, patient, monkeypatch):
    make_user("nurse", email="nurse.one@example.org")
    reminder = Reminder.objects.create(
        subject_key="venous_check:cycle-1:2026-11-22", kind="venous_check", patient=patient,
        due_at=NOW - timedelta(hours=1), message="Venous check.", role="nurse",
    )  # fmt: skip
    barrier = threading.Barrier(2, timeout=20)
    real_recipients = service.email_recipients

    def recipients_then_claim_together(reminder):
        found = real_recipients(reminder)
        barrier.wait()  # both have read the reminder unsent and unclaimed
        return found

    monkeypatch.setattr(service, "email_recipients", recipients_then_claim_together)
    outcomes = []

    def deliver():
        try:
            outcomes.append(reminder_deliver(reminder.pk, now=NOW))
        finally:
            connection.close()

    workers = [threading.Thread(target=deliver) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert not any(worker.is_alive() for worker in workers), "a delivery hung"
    assert sorted(outcomes) == ["in_progress", "sent"]
    assert len(mail.outbox) == 1
    assert refreshed(reminder).delivery_attempts == 1


@pytest.mark.django_db
def test_task_rerun_after_the_worker_died_before_acknowledging_sends_nothing(team, make_reminder, monkeypatch):
    """acks_late: the worker dies after the service committed but before the broker got the
    acknowledgement, so the broker hands the task out again."""
    reminder = make_reminder()
    real_deliver = tasks.reminder_deliver
    runs = []

    def deliver_then_die_once(reminder_id, *, now):
        outcome = real_deliver(reminder_id, now=now)
        runs.append(outcome)
        if len(runs) == 1:
            raise RuntimeError("worker lost before ack")
        return outcome

    monkeypatch.setattr(tasks, "reminder_deliver", deliver_then_die_once)
    assert deliver_reminder.apply(args=[reminder.pk]).failed()
    assert deliver_reminder.apply(args=[reminder.pk]).get() == "already_sent"
    assert runs == ["sent", "already_sent"] and len(mail.outbox) == 1


# --------------------------------------------------------------------------- the narrow window


@pytest.mark.django_db
def test_interrupted_delivery_is_flagged_for_a_human_never_resent(team, make_reminder, monkeypatch):
    """The mail server accepted the message, then the worker died before `emailed_at` was
    committed. Nobody can tell whether it left: it is never sent again, and once the claim is
    stale the reminder says so (the inbox shows it as uncertain)."""
    reminder = make_reminder()
    real_email = service._email

    def send_then_die(*args):
        real_email(*args)
        raise WorkerDied

    monkeypatch.setattr(service, "_email", send_then_die)
    with pytest.raises(WorkerDied):
        reminder_deliver(reminder.pk, now=NOW)
    monkeypatch.setattr(service, "_email", real_email)
    assert len(mail.outbox) == 1
    assert refreshed(reminder).delivery_claimed_at == NOW and reminder.emailed_at is None

    assert reminder_deliver(reminder.pk, now=NOW + timedelta(minutes=5)) == "in_progress"
    later = NOW + CLAIM_STALE_AFTER + timedelta(seconds=1)
    assert reminder_deliver(reminder.pk, now=later) == "interrupted"
    assert len(mail.outbox) == 1
    reminder = refreshed(reminder)
    assert reminder.last_error == INTERRUPTED_DELIVERY and reminder.emailed_at is None
    assert reminder.status == ReminderStatus.PENDING  # still in everyone's inbox


@pytest.mark.django_db
def test_the_sweep_flags_stale_claims_and_does_not_queue_them(team, make_reminder):
    stale = make_reminder(delivery_claimed_at=NOW - CLAIM_STALE_AFTER - timedelta(minutes=1), delivery_attempts=1)
    fresh = make_reminder(delivery_claimed_at=NOW - timedelta(minutes=1), delivery_attempts=1)
    result = reminders_sweep(now=NOW)
    assert result["flagged_interrupted"] == 1 and result["due_ids"] == []
    assert refreshed(stale).last_error == INTERRUPTED_DELIVERY and refreshed(fresh).last_error == ""
    assert reminders_sweep(now=NOW)["flagged_interrupted"] == 0


# --------------------------------------------------------------------------- failures and retries


@pytest.mark.django_db
def test_smtp_error_releases_the_claim_and_records_the_attempt(team, make_reminder, monkeypatch):
    reminder = make_reminder()
    real_email = service._email
    monkeypatch.setattr(service, "_email", lambda *args: (_ for _ in ()).throw(SMTPServerDisconnected("gone")))
    with pytest.raises(SMTPServerDisconnected):
        reminder_deliver(reminder.pk, now=NOW)
    reminder = refreshed(reminder)
    assert reminder.delivery_attempts == 1 and reminder.delivery_claimed_at is None
    assert reminder.last_error == "SMTPServerDisconnected: gone" and reminder.status == ReminderStatus.PENDING

    monkeypatch.setattr(service, "_email", real_email)
    assert reminder_deliver(reminder.pk, now=NOW + timedelta(minutes=1)) == "sent"
    reminder = refreshed(reminder)
    assert len(mail.outbox) == 1 and reminder.delivery_attempts == 2 and reminder.last_error == ""


@pytest.mark.django_db
def test_task_retries_with_exponential_backoff_then_sends_once(team, make_reminder, monkeypatch):
    reminder = make_reminder()
    real_email = service._email
    failures = [SMTPServerDisconnected("down"), ConnectionRefusedError(111, "refused")]

    def flaky(*args):
        if failures:
            raise failures.pop(0)
        real_email(*args)

    waits = []
    real_backoff = autoretry.get_exponential_backoff_interval

    def recorded_backoff(**kwargs):
        waits.append(real_backoff(**kwargs))
        return waits[-1]

    monkeypatch.setattr(service, "_email", flaky)
    monkeypatch.setattr(autoretry, "get_exponential_backoff_interval", recorded_backoff)
    assert deliver_reminder.apply(args=[reminder.pk]).get() == "sent"  # eager: retries run at once
    assert waits == [60, 120]
    assert len(mail.outbox) == 1
    reminder = refreshed(reminder)
    assert reminder.delivery_attempts == 3 and reminder.status == ReminderStatus.SENT


@pytest.mark.django_db
def test_task_gives_up_after_its_retries(team, make_reminder, monkeypatch):
    reminder = make_reminder()
    monkeypatch.setattr(service, "_email", lambda *args: (_ for _ in ()).throw(SMTPRecipientsRefused({})))
    result = deliver_reminder.apply(args=[reminder.pk])
    assert result.failed() and isinstance(result.result, SMTPRecipientsRefused)
    reminder = refreshed(reminder)
    assert reminder.delivery_attempts == MAX_DELIVERY_ATTEMPTS == tasks.DELIVERY_MAX_RETRIES + 1
    assert reminder.last_error.startswith("SMTPRecipientsRefused")
    assert reminder_deliver(reminder.pk, now=NOW) == "gave_up" and mail.outbox == []


@pytest.mark.parametrize(
    ("retries", "seconds"), [(0, 60), (1, 120), (2, 240), (4, 960), (5, 1920), (6, 3600), (20, 3600)]
)
def test_backoff_doubles_up_to_an_hour(retries, seconds):
    """The wait Celery's autoretry computes from the delivery task's settings."""
    wait = get_exponential_backoff_interval(
        factor=deliver_reminder.retry_backoff,
        retries=retries,
        maximum=deliver_reminder.retry_backoff_max,
        full_jitter=deliver_reminder.retry_jitter,
    )
    assert wait == seconds


# --------------------------------------------------------------------------- what is not sent


@pytest.mark.parametrize(
    ("fields", "outcome"),
    [
        ({"due_at": NOW + timedelta(minutes=1)}, "not_due"),
        ({"window_end": NOW - timedelta(minutes=1)}, "expired"),
        ({"status": ReminderStatus.DONE}, "not_needed"),
        ({"status": ReminderStatus.CANCELLED}, "not_needed"),
        ({"role": "pharmacist"}, "no_recipients"),
    ],
)
@pytest.mark.django_db
def test_nothing_sent(team, make_reminder, fields, outcome):
    reminder = make_reminder(**fields)
    assert reminder_deliver(reminder.pk, now=NOW) == outcome
    assert mail.outbox == [] and refreshed(reminder).delivery_attempts == 0
    assert reminder_deliver(0, now=NOW) == "missing"


@pytest.mark.django_db
def test_personal_reminder_goes_to_its_user_only(team, make_reminder):
    reminder_deliver(make_reminder(role="", user=team.physician).pk, now=NOW)
    assert mail.outbox[0].to == ["doctor@example.org"]


@pytest.mark.django_db
def test_sweep_queues_due_never_tried_reminders_after_commit(
    team, make_reminder, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setitem(deliver_reminder.app.conf, "task_always_eager", True)  # .delay() runs here
    due = make_reminder()
    make_reminder(due_at=NOW + timedelta(hours=1))  # not due
    make_reminder(last_error=service.NO_RECIPIENTS)  # tried: nobody to send to
    make_reminder(delivery_attempts=2, last_error="SMTPServerDisconnected: down")  # the task retries it
    make_reminder(emailed_at=NOW, status=ReminderStatus.SENT)
    make_reminder(window_end=NOW - timedelta(minutes=1))  # its moment has passed
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        result = tasks.reminders_sweep()  # the beat's task, run here at the frozen NOW
    assert result["queued"] == 1 and len(callbacks) == 1 and "due_ids" not in result
    assert mail.outbox == []  # nothing is queued before the sweep's writes commit
    callbacks[0]()
    assert refreshed(due).status == ReminderStatus.SENT and len(mail.outbox) == 1
