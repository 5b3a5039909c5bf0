from datetime import datetime, timedelta

from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.sessions.models import Session
from django.utils import timezone


def housekeeping_run(*, now: datetime | None = None) -> dict[str, int]:
    """Delete expired sessions and login-failure counters whose cool-off has passed.
    Running it twice in a row deletes nothing the second time."""
    now = now or timezone.now()
    sessions, _ = Session.objects.filter(expire_date__lt=now).delete()
    cooloff = timedelta(hours=settings.AXES_COOLOFF_TIME)
    attempts, _ = AccessAttempt.objects.filter(attempt_time__lt=now - cooloff).delete()
    return {"expired_sessions": sessions, "stale_login_failures": attempts}
