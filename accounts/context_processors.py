from django.conf import settings

from .roles import roles_of


def clinic(request):
    user = getattr(request, "user", None)
    return {
        "clinic_name": settings.CLINIC_NAME,
        "session_idle_minutes": settings.SESSION_COOKIE_AGE // 60,
        "lockout_minutes": round(settings.AXES_COOLOFF_TIME * 60),
        "user_roles": roles_of(user) if user is not None and user.is_authenticated else [],
    }
