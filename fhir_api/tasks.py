"""Bulk export tasks: ids in, one service call each, safe to run twice (acks_late redelivers a
task whose worker died). The kick-off view queues `bulk_export_build` once the job's row has
committed; the beat schedule (settings.CELERY_BEAT_SCHEDULE) runs `bulk_exports_expire` hourly."""

from functools import partial

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from . import bulk


@shared_task(name="fhir_api.tasks.bulk_export_build", acks_late=True)
def bulk_export_build(job_id: int) -> str:
    """Write one export's NDJSON files; returns the job's status."""
    return bulk.bulk_export_build(job_id, now=timezone.now())


@shared_task(name="fhir_api.tasks.bulk_exports_expire", acks_late=True)
def bulk_exports_expire() -> dict:
    """Hourly (beat): delete the files of exports past their retention."""
    return bulk.bulk_exports_expire(now=timezone.now())


def bulk_export_queue(job_id: int) -> None:
    """Queue the build once the current transaction commits (at once outside one)."""
    transaction.on_commit(partial(bulk_export_build.delay, job_id), robust=True)
