"""A real Celery worker with embedded beat, on the configured broker (Redis in CI through
CELERY_BROKER_URL, Kombu's filesystem transport otherwise), against this test's database.

The booking's own writes make its reminders (they commit one by one here, so each write's
recompute runs at once); beat fires the reminder sweep (the settings' own entry, every 2 s here
instead of 5 minutes), which finds the one reminder already due and queues its delivery; the
worker e-mails it through Django's file-based backend. The test then watches several more sweeps
and asserts the reminder still exists once and was e-mailed once.

The worker runs with a settings module written to a temporary folder: the project's settings
plus the test database's name (PostgreSQL) or a file copy of the in-memory test database
(SQLite), the 2-second beat entry, a queue of its own, and EMAIL_FILE_PATH from the environment.
Every wait is bounded and the worker's whole process group is stopped at the end."""

import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import time
import uuid
from datetime import timedelta
from decimal import Decimal
from email import message_from_string
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from patients.tests.factories import LabResultFactory, WeighedPatientFactory
from scheduling.models import Reminder
from scheduling.tests.factories import book_course
from visits.models import Visit

BASE_DIR = Path(settings.BASE_DIR)
CELERY = BASE_DIR / ".venv" / "bin" / "celery"
IN_CI = os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}
BEAT_SECONDS = 2
STARTUP_AND_FIRST_EMAIL_SECONDS = 120
WATCH_MORE_SWEEPS_SECONDS = 4 * BEAT_SECONDS
STOP_SECONDS = 20

WORKER_SETTINGS = """\
from ivig_clinic.settings import *  # noqa: F403

DATABASES = {{"default": {{**DATABASES["default"], "NAME": {database!r}, "CONN_MAX_AGE": 0}}}}  # noqa: F405
CELERY_BEAT_SCHEDULE = {{
    "reminders-sweep": {{**CELERY_BEAT_SCHEDULE["reminders-sweep"], "schedule": {beat_seconds}}},  # noqa: F405
}}
CELERY_TASK_DEFAULT_QUEUE = {queue!r}
"""


def _unavailable(reason: str):
    """Outside CI a missing broker or binary skips, with the reason; in CI it fails."""
    if IN_CI:
        pytest.fail(f"CI must run the Celery integration test: {reason}")
    pytest.skip(reason)


def _check_broker(url: str) -> None:
    if not url.startswith(("redis://", "rediss://")):
        return
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2).ping()
    except redis.RedisError as error:
        _unavailable(f"the Redis broker at {url} does not answer ({error})")


class Worker:
    """`celery -A ivig_clinic worker --beat` in its own process group, logging to a file."""

    def __init__(self, tmp_path: Path, database: str):
        self.queue = f"ivig-test-{uuid.uuid4().hex[:12]}"
        self.mail_dir = tmp_path / "mail"
        self.log = tmp_path / "worker.log"
        shim = tmp_path / "shim"
        for folder in (self.mail_dir, shim, tmp_path / "var"):
            folder.mkdir()
        (shim / "ivig_worker_settings.py").write_text(
            WORKER_SETTINGS.format(database=database, beat_seconds=BEAT_SECONDS, queue=self.queue)
        )
        self.env = os.environ | {
            "DJANGO_SETTINGS_MODULE": "ivig_worker_settings",
            "PYTHONPATH": os.pathsep.join([str(shim), str(BASE_DIR)]),
            "IVIG_VAR_DIR": str(tmp_path / "var"),  # filesystem broker folders and beat schedule
            "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "EMAIL_FILE_PATH": str(self.mail_dir),
            "TIME_ZONE": settings.TIME_ZONE,
            "CELERY_TASK_ALWAYS_EAGER": "",
        }
        self.command = [
            str(CELERY), "-A", "ivig_clinic", "worker", "--beat", "--pool=solo", "--loglevel=INFO",
            "--without-mingle", "--without-gossip", "--without-heartbeat", "-Q", self.queue,
            "--schedule", str(tmp_path / "var" / "beat-schedule"),
        ]  # fmt: skip
        self.process = None

    def __enter__(self):
        self._log_file = self.log.open("wb")
        self.process = subprocess.Popen(
            self.command,
            cwd=BASE_DIR,
            env=self.env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: beat's child process stops with it
        )
        return self

    def __exit__(self, *exc_info):
        try:
            self._signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.process.wait(timeout=STOP_SECONDS)
        finally:
            self._signal(signal.SIGKILL)  # any straggler left in the group
            self._log_file.close()
            self._forget_queue()

    def _signal(self, number: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, number)

    def _forget_queue(self) -> None:
        url = settings.CELERY_BROKER_URL
        if url.startswith(("redis://", "rediss://")):
            import redis

            with contextlib.suppress(redis.RedisError):
                redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2).delete(self.queue)

    def emails(self) -> list[EmailMessage]:
        """Every message the file backend wrote (one file per connection, messages separated)."""
        messages = []
        for path in sorted(self.mail_dir.glob("*")):
            text = path.read_text(errors="replace")
            parts = [part.strip("\n") for part in text.split("-" * 79) if "Subject:" in part]
            messages += [message_from_string(part, policy=default_policy) for part in parts]
        return messages

    def log_tail(self, lines: int = 60) -> str:
        self._log_file.flush()
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def assert_running(self) -> None:
        assert self.process.poll() is None, f"the worker exited ({self.process.returncode}):\n{self.log_tail()}"


def _one_due_reminder(make_order, make_user):
    """A session 3 days ahead less an hour: its upcoming-infusion reminder fell due an hour ago.
    A fresh creatinine and a baseline visit keep the labs and baseline-TIS reminders away."""
    nurse = make_user("nurse", email="nurse@example.org")
    physician = make_user("physician", email="doctor@example.org")
    patient = WeighedPatientFactory(given_name="Zenobia", family_name="Quackenbush")
    today = timezone.localdate()
    LabResultFactory(patient=patient, test="creatinine", value=Decimal("70"), collected_on=today)
    Visit.objects.create(patient=patient, visit_date=today, assessor=physician, recorded_by=physician, is_baseline=True)
    starts_at = timezone.localtime() + timedelta(days=3, hours=-1)
    course = book_course(make_order(patient=patient), nurse, starts_at.date(), days=1, hour=starts_at.hour, minutes=240)
    return patient, course


def _rows(database: str, sqlite: bool) -> list[tuple]:
    """(kind, subject key, e-mailed?, status, delivery attempts) of every reminder."""
    if sqlite:
        query = "SELECT kind, subject_key, emailed_at, status, delivery_attempts FROM scheduling_reminder"
        with sqlite3.connect(database, timeout=5) as db:
            rows = db.execute(query).fetchall()
    else:
        rows = Reminder.objects.values_list("kind", "subject_key", "emailed_at", "status", "delivery_attempts")
    return [(kind, key, emailed_at is not None, status, attempts) for kind, key, emailed_at, status, attempts in rows]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_beat_sweeps_and_the_worker_emails_the_due_reminder_once(tmp_path, make_order, make_user):
    if not CELERY.exists() or shutil.which(str(CELERY)) is None:
        _unavailable(f"no Celery executable at {CELERY}")
    _check_broker(settings.CELERY_BROKER_URL)
    patient, course = _one_due_reminder(make_order, make_user)

    sqlite = connection.vendor == "sqlite"
    if sqlite:
        # The test database lives in memory; the worker gets a file copy of it, and the result
        # is read back from that file.
        database = str(tmp_path / "worker.sqlite3")
        connection.ensure_connection()
        with sqlite3.connect(database) as copy:
            connection.connection.backup(copy)
    else:
        database = connection.settings_dict["NAME"]

    with Worker(tmp_path, database) as worker:
        deadline = time.monotonic() + STARTUP_AND_FIRST_EMAIL_SECONDS
        while not worker.emails() and time.monotonic() < deadline:
            worker.assert_running()
            time.sleep(0.5)
        assert worker.emails(), f"no e-mail within {STARTUP_AND_FIRST_EMAIL_SECONDS} s:\n{worker.log_tail()}"
        # Several more sweeps run; none may create or send anything again.
        time.sleep(WATCH_MORE_SWEEPS_SECONDS)
        worker.assert_running()
        rows = _rows(database, sqlite)
        emails = worker.emails()
        log = worker.log_tail(400)

    assert log.count("Sending due task reminders-sweep") >= 3, log  # beat kept firing the sweep
    session = course.cycles.get().sessions.get()
    # Besides it, only the cycle's "missed" reminder made ahead (due the morning after the
    # session unless it is given): never e-mailed.
    ahead = [row for row in rows if row[0] == "cycle_overdue"]
    assert [row[2:] for row in ahead] == [(False, "pending", 0)], rows
    rows = [row for row in rows if row[0] != "cycle_overdue"]
    assert len(rows) == 1, rows
    kind, key, emailed, status, attempts = rows[0]
    assert kind == "upcoming_infusion" and key.startswith(f"upcoming_infusion:session-{session.pk}:")
    assert (emailed, status, attempts) == (True, "sent", 1)
    assert len(emails) == 1, [str(email) for email in emails]
    subject, body = str(emails[0]["Subject"]).strip(), emails[0].get_content()
    assert subject.startswith("[IVIG Clinic] Upcoming infusion — due ") and emails[0]["To"] == "nurse@example.org"
    for text in (subject, body):
        assert patient.family_name not in text and patient.given_name not in text
    assert f"MRN {patient.mrn}" in body
