"""Template context for every page: the user's unread reminder count for the navbar."""

from django.utils import timezone
from django.utils.functional import SimpleLazyObject

from .services.inbox import unread_count


def reminders(request):
    """`inbox_unread_count`: counted only when a template shows it (one query, then cached)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"inbox_unread_count": 0}

    def count() -> int:
        return unread_count(user, now=timezone.now()) if user.has_perm("scheduling.view_reminder") else 0

    return {"inbox_unread_count": SimpleLazyObject(count)}
