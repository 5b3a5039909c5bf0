"""Celery application. Tasks live in the apps (`<app>/tasks.py`); the beat
schedule is declared in settings.CELERY_BEAT_SCHEDULE."""

import os
import time
import uuid
from pathlib import Path

from celery import Celery
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps

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


def _put_atomically(self, queue, payload, **kwargs):
    """Kombu's filesystem transport creates the message file and then writes it, so a worker
    polling at that instant reads an empty file and dies (JSONDecodeError). Write the message
    aside and rename it into place: a reader sees either nothing or the whole message."""
    name = f"{round(time.monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
    aside = os.path.join(self.data_folder_out, f".{name}.part")
    with open(aside, "wb") as message:
        message.write(str_to_bytes(dumps(payload)))
    os.replace(aside, os.path.join(self.data_folder_out, name))


def _fix_filesystem_broker(broker_url: str | None) -> bool:
    """Patch Kombu's filesystem transport and create its folders, only when it is the broker
    in use: with Redis (production, CI) Kombu is left exactly as released. True if applied."""
    if not (broker_url or "").startswith("filesystem://"):
        return False
    filesystem.Channel._put = _put_atomically
    _ensure_filesystem_broker_folders()
    return True


_fix_filesystem_broker(app.conf.broker_url)
