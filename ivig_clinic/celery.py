"""Celery application. Tasks live in the apps (`<app>/tasks.py`); the beat
schedule is declared in settings.CELERY_BEAT_SCHEDULE."""

import os
from pathlib import Path

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ivig_clinic.settings")

app = Celery("ivig_clinic")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def _ensure_filesystem_broker_folders() -> None:
    # Kombu's filesystem transport does not create its folders itself.
    options = app.conf.broker_transport_options or {}
    for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
        if options.get(key):
            Path(options[key]).mkdir(parents=True, exist_ok=True)


_ensure_filesystem_broker_folders()
