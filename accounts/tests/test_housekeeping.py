from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session

from accounts.housekeeping import housekeeping_run
from accounts.models import FormSubmission
from accounts.tasks import housekeeping

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def _session(expire_date):
    store = SessionStore()
    store.create()
    Session.objects.filter(session_key=store.session_key).update(expire_date=expire_date)


@pytest.mark.django_db
def test_removes_expired_sessions_and_stale_login_failures_once():
    _session(NOW - timedelta(minutes=1))
    _session(NOW + timedelta(minutes=10))
    AccessAttempt.objects.create(username="x", ip_address="127.0.0.1", failures_since_start=3)
    AccessAttempt.objects.filter().update(attempt_time=NOW - timedelta(hours=1))
    AccessAttempt.objects.create(username="y", ip_address="127.0.0.1", failures_since_start=1)
    AccessAttempt.objects.filter(username="y").update(attempt_time=NOW - timedelta(minutes=5))

    user = get_user_model().objects.create_user("someone")
    FormSubmission.objects.create(user=user, key="old", path="/", fingerprint="", created_at=NOW - timedelta(hours=25))
    FormSubmission.objects.create(user=user, key="new", path="/", fingerprint="", created_at=NOW - timedelta(hours=23))

    with time_machine.travel(NOW, tick=False):
        assert housekeeping_run() == {"expired_sessions": 1, "stale_login_failures": 1, "expired_submissions": 1}
        assert Session.objects.count() == 1
        assert list(AccessAttempt.objects.values_list("username", flat=True)) == ["y"]
        assert list(FormSubmission.objects.values_list("key", flat=True)) == ["new"]
        assert housekeeping_run() == {"expired_sessions": 0, "stale_login_failures": 0, "expired_submissions": 0}


@pytest.mark.django_db
def test_the_task_calls_the_service():
    result = housekeeping.apply().get()
    assert set(result) == {"expired_sessions", "stale_login_failures", "expired_submissions"}
