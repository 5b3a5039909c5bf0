"""Reminder tasks: ids in, one service call each, safe to run twice (acks_late redelivers a task
whose worker died). The beat schedule (settings.CELERY_BEAT_SCHEDULE) runs the sweep every
5 minutes; the sweep task queues `deliver_reminder` for each reminder the sweep found due,
after the sweep's writes commit. No service imports a task: the services return ids and the
tasks fan them out."""

from functools import partial

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from .services.delivery import RETRYABLE_ERRORS, reminder_deliver
from .services.sweep import reminders_sweep as sweep_service

DELIVERY_MAX_RETRIES = 5  # with the first try: MAX_DELIVERY_ATTEMPTS in the service
BACKOFF_FIRST_SECONDS = 60
BACKOFF_MAX_SECONDS = 60 * 60


def backoff_seconds(retries: int) -> int:
    """Wait before retry number ``retries + 1``: doubling from a minute, capped at an hour.

    Example: after the 1st failure 60 s, then 120, 240, 480, 960 s; never above 3600 s.

    >>> [backoff_seconds(n) for n in range(7)]
    [60, 120, 240, 480, 960, 1920, 3600]
    """
    if retries < 0:
        raise ValueError(f"retries: must be 0 or more, not {retries}")
    return min(BACKOFF_FIRST_SECONDS * 2**retries, BACKOFF_MAX_SECONDS)


@shared_task(name="scheduling.tasks.reminders_sweep", acks_late=True)
def reminders_sweep() -> dict:
    """Every 5 minutes (beat): create the reminders the data calls for and queue their e-mail.

    Returns the sweep's counts with "queued" (how many deliveries were queued) in place of
    the ids themselves."""
    counts = sweep_service(now=timezone.now())
    counts["queued"] = deliveries_queue(counts.pop("due_ids"))
    return counts


def deliveries_queue(reminder_ids: list[int]) -> int:
    """Queue one `deliver_reminder` per id once the current transaction commits (at once
    outside one). A duplicate queueing is harmless: only one delivery can claim a reminder."""
    for reminder_id in reminder_ids:
        transaction.on_commit(partial(deliver_reminder.delay, reminder_id), robust=True)
    return len(reminder_ids)


@shared_task(bind=True, name="scheduling.tasks.deliver_reminder", acks_late=True, max_retries=DELIVERY_MAX_RETRIES)
def deliver_reminder(self, reminder_id: int) -> str:
    """E-mail one reminder at most once; an SMTP or network failure is retried with backoff."""
    try:
        return reminder_deliver(reminder_id, now=timezone.now())
    except RETRYABLE_ERRORS as error:
        raise self.retry(exc=error, countdown=backoff_seconds(self.request.retries)) from error
