"""Reminder e-mail against a real (small, threaded) SMTP server on a real socket, and a real
Celery worker thread: a slow server that takes the message and answers after the timeout gets
it exactly once, and the reminder is marked uncertain for a person; a failure before the
message left is retried and still delivers once.

The timeout is 1 s and the server stalls 2 s after DATA, so each case costs about a second."""

import socket
import socketserver
import threading
import time
from datetime import timedelta
from types import SimpleNamespace

import pytest
from celery.contrib.testing.worker import start_worker
from celery.signals import task_postrun, task_retry
from django.utils import timezone

from patients.tests.factories import PatientFactory
from scheduling.models import Reminder, ReminderStatus
from scheduling.services.delivery import reminder_deliver
from scheduling.tasks import deliver_reminder
from scheduling.tests.factories import ReminderFactory

celery_app = deliver_reminder.app  # the project's app (ivig_clinic.celery), without importing upward

STALL_SECONDS = 2
TIMEOUT_SECONDS = 1


class MailServer(socketserver.ThreadingTCPServer):
    """Just enough SMTP. `behaviour`: "ok", "stall_after_data" (take the message, answer after
    STALL_SECONDS), "drop_after_data" (take it, hang up without an answer), "refuse_sender" (451
    to MAIL FROM), "drop_before_data" (hang up at the DATA command)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), SmtpHandler)
        self.behaviour = "ok"
        self.messages: list[bytes] = []

    @property
    def port(self) -> int:
        return self.server_address[1]


class SmtpHandler(socketserver.StreamRequestHandler):
    def reply(self, line: str) -> None:
        self.wfile.write(f"{line}\r\n".encode())
        self.wfile.flush()

    def handle(self):
        server, behaviour = self.server, self.server.behaviour
        self.reply("220 test ESMTP")
        while line := self.rfile.readline():
            command = line.decode().strip().upper()
            if command.startswith(("EHLO", "HELO")):
                self.reply("250 test")
            elif command.startswith("MAIL"):
                self.reply("451 try again later" if behaviour == "refuse_sender" else "250 ok")
            elif command.startswith("RCPT"):
                self.reply("250 ok")
            elif command == "DATA":
                if behaviour == "drop_before_data":
                    return
                self.reply("354 go ahead")
                body = b""
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    body += chunk
                server.messages.append(body)  # the server has the message from here on
                if behaviour == "drop_after_data":
                    return
                if behaviour == "stall_after_data":
                    time.sleep(STALL_SECONDS)
                self.reply("250 queued")
            elif command == "RSET":
                self.reply("250 ok")
            elif command == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("502 not implemented")


@pytest.fixture
def mail_server(settings):
    server = MailServer()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", server.port
    settings.EMAIL_TIMEOUT = TIMEOUT_SECONDS
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def reminder(make_user):
    make_user("nurse", email="nurse.one@example.org")
    return ReminderFactory(
        subject_key="thrombosis_check:cycle-1:2026-11-20",
        kind="thrombosis_check",
        patient=PatientFactory(),
        due_at=timezone.now() - timedelta(hours=1),
        window_end=timezone.now() + timedelta(hours=48),
        message="Arterial and early venous thrombosis symptoms within 72 h of the cycle's last infusion.",
        role="nurse",
    )


def refreshed(reminder) -> Reminder:
    reminder.refresh_from_db()
    return reminder


# ------------------------------------------------------------------ the service on a real socket


@pytest.mark.django_db
@pytest.mark.parametrize("behaviour", ["stall_after_data", "drop_after_data"])
def test_no_answer_after_data_is_uncertain_never_resent(mail_server, reminder, behaviour):
    mail_server.behaviour = behaviour
    assert reminder_deliver(reminder.pk, now=timezone.now()) == "uncertain"
    reminder = refreshed(reminder)
    assert len(mail_server.messages) == 1
    assert reminder.email_uncertain_at is not None and reminder.emailed_at is None
    assert reminder.delivery_claimed_at is not None  # the claim stays: nobody takes it again
    assert reminder.status == ReminderStatus.PENDING and "did not confirm" in reminder.last_error

    mail_server.behaviour = "ok"  # even once the server is healthy again
    assert reminder_deliver(reminder.pk, now=timezone.now()) == "uncertain"
    later = timezone.now() + timedelta(hours=1)  # long after the claim went stale
    assert reminder_deliver(reminder.pk, now=later) == "uncertain"
    result = deliver_reminder.apply(args=[reminder.pk])  # a retry or a duplicate task
    assert result.successful() and result.result == "uncertain"
    assert len(mail_server.messages) == 1


@pytest.mark.django_db
@pytest.mark.parametrize("behaviour", ["refuse_sender", "drop_before_data"])
def test_failure_before_data_is_retried_and_delivers_once(mail_server, reminder, behaviour):
    mail_server.behaviour = behaviour
    with pytest.raises(OSError if behaviour == "drop_before_data" else Exception):
        reminder_deliver(reminder.pk, now=timezone.now())
    reminder = refreshed(reminder)
    assert mail_server.messages == [] and reminder.delivery_claimed_at is None
    assert reminder.email_uncertain_at is None and reminder.delivery_attempts == 1

    mail_server.behaviour = "ok"
    assert reminder_deliver(reminder.pk, now=timezone.now()) == "sent"
    assert len(mail_server.messages) == 1 and refreshed(reminder).status == ReminderStatus.SENT


@pytest.mark.django_db
def test_a_healthy_server_gets_the_reminder_once(mail_server, reminder):
    assert reminder_deliver(reminder.pk, now=timezone.now()) == "sent"
    assert reminder_deliver(reminder.pk, now=timezone.now()) == "already_sent"
    assert len(mail_server.messages) == 1 and b"Thrombosis" in mail_server.messages[0]


# ------------------------------------------------------------------ a real worker


@pytest.fixture
def memory_worker(monkeypatch):
    """A Celery worker thread on the in-memory broker, tasks really queued (not eager)."""
    monkeypatch.setitem(celery_app.conf, "broker_url", "memory://")
    monkeypatch.setitem(celery_app.conf, "broker_transport_options", {})
    monkeypatch.setitem(celery_app.conf, "task_always_eager", False)
    # Pools made by an earlier test point at the configured broker: start from fresh ones.
    monkeypatch.setattr(celery_app, "_pool", None)
    monkeypatch.setattr(celery_app.amqp, "_producer_pool", None)
    finished, retries = [], []

    def record(sender=None, retval=None, **kwargs):
        if sender is not None and sender.name == deliver_reminder.name:
            finished.append(retval)

    def record_retry(request=None, reason=None, **kwargs):
        retries.append(reason)

    task_postrun.connect(record, weak=False)
    task_retry.connect(record_retry, weak=False)
    with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        yield SimpleNamespace(finished=finished, retries=retries)
    task_postrun.disconnect(record)
    task_retry.disconnect(record_retry)


def wait_for(condition, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the worker did not finish in time"
        time.sleep(0.05)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_worker_with_duplicate_tasks_and_a_slow_server_sends_once(mail_server, reminder, memory_worker):
    """The incident: EMAIL_TIMEOUT below the server's answer after DATA, the delivery queued
    twice. One message reaches the server; the reminder waits for a person as uncertain."""
    mail_server.behaviour = "stall_after_data"
    deliver_reminder.delay(reminder.pk)
    deliver_reminder.delay(reminder.pk)
    wait_for(lambda: len(memory_worker.finished) == 2)
    assert memory_worker.finished == ["uncertain", "uncertain"]
    assert memory_worker.retries == []  # no retry was scheduled
    assert len(mail_server.messages) == 1
    reminder = refreshed(reminder)
    assert reminder.email_uncertain_at is not None and reminder.emailed_at is None


def test_the_mail_server_really_stalls():
    """The fixture server itself: after DATA it holds its answer longer than the timeout."""
    server = MailServer()
    server.behaviour = "stall_after_data"
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT_SECONDS) as sock:
            stream = sock.makefile("rwb")
            stream.readline()
            for command in (b"EHLO x", b"MAIL FROM:<a@b>", b"RCPT TO:<c@d>", b"DATA"):
                stream.write(command + b"\r\n")
                stream.flush()
                stream.readline()
            stream.write(b"hello\r\n.\r\n")
            stream.flush()
            with pytest.raises(TimeoutError):
                stream.readline()
    finally:
        server.shutdown()
        server.server_close()
