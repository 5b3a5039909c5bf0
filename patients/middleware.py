from django.contrib.auth.middleware import LoginRequiredMiddleware as DjangoLoginRequiredMiddleware
from django.http import JsonResponse

from accounts.auth import bearer_token_user


class LoginRequiredMiddleware(DjangoLoginRequiredMiddleware):
    """Every page needs a login. Pages redirect to the login form; the JSON API
    answers 401 instead, because a script cannot follow a login redirect.

    An API call with a live bearer token goes on to the API, which checks the
    token again per operation; a bad token gets the same 401 as no login."""

    def process_view(self, request, view_func, view_args, view_kwargs):
        if _is_api(request) and bearer_token_user(request) is not None:
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)

    def handle_no_permission(self, request, view_func):
        if _is_api(request):
            return JsonResponse({"detail": "Authentication required."}, status=401)
        return super().handle_no_permission(request, view_func)


def _is_api(request) -> bool:
    return request.path.startswith("/api/")
