"""The Celery wiring against the broker this run is configured for: the
filesystem transport by default, Redis when CELERY_BROKER_URL says so (CI).
An unreachable broker fails the test; it is never skipped."""

import uuid

import pytest
from django.conf import settings
from kombu.transport import filesystem

from ivig_clinic import celery
from ivig_clinic.celery import app


def test_a_message_makes_the_round_trip_through_the_configured_broker():
    with app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=3, interval_start=0.2)
        queue = connection.SimpleQueue(f"ivig-test-{uuid.uuid4().hex}")
        try:
            queue.put({"probe": "round-trip"})
            message = queue.get(timeout=10)
            message.ack()
            assert message.payload == {"probe": "round-trip"}
        finally:
            queue.clear()
            queue.close()


def test_the_broker_is_the_one_settings_name():
    assert app.conf.broker_url == settings.CELERY_BROKER_URL


def test_every_periodic_job_names_a_registered_task():
    app.loader.import_default_modules()
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        assert entry["task"] in app.tasks, name


@pytest.mark.parametrize(
    ("broker_url", "patched"),
    [("filesystem://", True), ("redis://127.0.0.1:6379/0", False), ("rediss://cache.example.org:6380/0", False)],
)
def test_the_filesystem_transport_is_patched_only_when_it_is_the_broker(monkeypatch, broker_url, patched):
    released = object()
    monkeypatch.setattr(filesystem.Channel, "_put", released)
    assert celery._fix_filesystem_broker(broker_url) is patched
    assert (filesystem.Channel._put is celery._put_atomically) is patched
    assert (filesystem.Channel._put is released) is not patched
