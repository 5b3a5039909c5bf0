from celery import shared_task

from .housekeeping import housekeeping_run


@shared_task(name="accounts.tasks.housekeeping")
def housekeeping():
    """Nightly (see CELERY_BEAT_SCHEDULE): one idempotent service call."""
    return housekeeping_run()
