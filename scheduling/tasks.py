"""Reminder tasks: ids in, one service call each, safe to run twice (acks_late redelivers a task
whose worker died). The beat schedule (settings.CELERY_BEAT_SCHEDULE) runs the sweep every
5 minutes; the sweep task queues `deliver_reminder` for each reminder the clock has made due,
after the sweep's writes commit. Reminders themselves are made when their data is written
(scheduling/signals.py) and by the nightly reconciliation (`reminders_reconcile`). No service
imports a task: the services return ids and the tasks fan them out.

Delivery failures before the message left (an SMTP or network error) are retried by Celery
itself (`autoretry_for`); a send whose outcome is unknown is marked uncertain and never retried:
after 60 s, then doubling, never more than an hour apart, at most `MAX_DELIVERY_ATTEMPTS` tries
in all. The service records each attempt and sends at most once (scheduling/services/delivery.py)."""

from functools import partial

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from .services.delivery import MAX_DELIVERY_ATTEMPTS, RETRYABLE_ERRORS, reminder_deliver
from .services.sweep import reminders_reconcile as reconcile_service
from .services.sweep import reminders_sweep as sweep_service

DELIVERY_MAX_RETRIES = MAX_DELIVERY_ATTEMPTS - 1  # the first try is not a retry
BACKOFF_FIRST_SECONDS = 60  # then 120, 240, 480, 960 s
BACKOFF_MAX_SECONDS = 60 * 60


@shared_task(name="scheduling.tasks.reminders_sweep", acks_late=True)
def reminders_sweep() -> dict:
    """Every 5 minutes (beat): queue the e-mail of the reminders the clock has made due.

    Returns the sweep's counts with "queued" (how many deliveries were queued) in place of
    the ids themselves."""
    counts = sweep_service(now=timezone.now())
    counts["queued"] = deliveries_queue(counts.pop("due_ids"))
    return counts


@shared_task(name="scheduling.tasks.reminders_reconcile", acks_late=True)
def reminders_reconcile() -> dict:
    """Nightly (beat): recompute every patient's reminders, repair drift and report it, then
    queue the e-mail of any reminder the repair made due."""
    counts = reconcile_service(now=timezone.now())
    counts["queued"] = deliveries_queue(sweep_service(now=timezone.now())["due_ids"])
    return counts


def deliveries_queue(reminder_ids: list[int]) -> int:
    """Queue one `deliver_reminder` per id once the current transaction commits (at once
    outside one). A duplicate queueing is harmless: only one delivery can claim a reminder."""
    for reminder_id in reminder_ids:
        transaction.on_commit(partial(deliver_reminder.delay, reminder_id), robust=True)
    return len(reminder_ids)


@shared_task(
    name="scheduling.tasks.deliver_reminder",
    acks_late=True,
    autoretry_for=RETRYABLE_ERRORS,
    max_retries=DELIVERY_MAX_RETRIES,
    retry_backoff=BACKOFF_FIRST_SECONDS,
    retry_backoff_max=BACKOFF_MAX_SECONDS,
    retry_jitter=False,  # the waits above exactly; one clinic's handful of e-mails needs no spreading
)
def deliver_reminder(reminder_id: int) -> str:
    """E-mail one reminder at most once; an SMTP or network failure is retried with backoff."""
    return reminder_deliver(reminder_id, now=timezone.now())
