from datetime import timedelta
from importlib import import_module

from axes.models import AccessAttempt
from django.conf import settings
from django.utils import timezone

from .submissions import submissions_expire


def housekeeping_run() -> dict[str, int]:
    """Delete expired sessions, login-failure counters whose cool-off has passed and form
    submission claims older than a day (accounts/submissions.py).
    Running it twice in a row deletes nothing the second time.

    Sessions are cleared by the session engine's own ``clear_expired()``, which judges
    expiry by the clock and takes no time argument; so the login-failure cut-off is taken
    from the same clock, and tests freeze it. ``clear_expired()`` returns nothing: the
    expired sessions are counted just before (the engine is database-backed, see settings).
    """
    now = timezone.now()
    session_store = import_module(settings.SESSION_ENGINE).SessionStore
    sessions = session_store.get_model_class().objects.filter(expire_date__lt=now).count()
    session_store.clear_expired()
    cooloff = timedelta(hours=settings.AXES_COOLOFF_TIME)
    attempts, _ = AccessAttempt.objects.filter(attempt_time__lt=now - cooloff).delete()
    submissions = submissions_expire(now)
    return {"expired_sessions": sessions, "stale_login_failures": attempts, "expired_submissions": submissions}
