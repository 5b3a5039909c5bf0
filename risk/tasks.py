from celery import shared_task

from .services import flags_recompute_all


@shared_task(name="risk.tasks.flags_recompute_nightly")
def flags_recompute_nightly():
    """Nightly (see CELERY_BEAT_SCHEDULE): rules that depend on the date (age, a diagnosis
    within the last year, a cancer screen going stale) change without any edit."""
    return flags_recompute_all()
