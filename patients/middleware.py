from django.contrib.auth.middleware import LoginRequiredMiddleware as DjangoLoginRequiredMiddleware
from django.http import JsonResponse


class LoginRequiredMiddleware(DjangoLoginRequiredMiddleware):
    """Every page needs a login. Pages redirect to the login form; the JSON API
    answers 401 instead, because a script cannot follow a login redirect."""

    def handle_no_permission(self, request, view_func):
        if request.path.startswith("/api/"):
            return JsonResponse({"detail": "Authentication required."}, status=401)
        return super().handle_no_permission(request, view_func)
