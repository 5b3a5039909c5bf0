from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.middleware import LoginRequiredMiddleware as DjangoLoginRequiredMiddleware
from django.http import JsonResponse, QueryDict
from django.utils import timezone
from django_htmx.http import HttpResponseClientRedirect

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
        response = super().handle_no_permission(request, view_func)
        if request.headers.get("HX-Request") == "true":
            # An in-place update after the session expired: the whole page goes to the login form
            # (and back to the page the person was on), never a login form swapped into a fragment.
            return HttpResponseClientRedirect(_login_url_for_page(request, response["Location"]))
        return response


def _login_url_for_page(request, login_url: str) -> str:
    """The login URL whose ``next`` is the page in the address bar (HX-Current-URL), not the
    fragment's own URL, when that page is on this site."""
    page = urlsplit(request.headers.get("HX-Current-URL", ""))
    if page.netloc != request.get_host() or not page.path.startswith("/"):
        return login_url
    target = urlunsplit(("", "", page.path, page.query, ""))
    login = urlsplit(login_url)
    query = QueryDict(mutable=True)
    query[REDIRECT_FIELD_NAME] = target
    return urlunsplit(("", "", login.path, query.urlencode(safe="/"), ""))  # as redirect_to_login writes it


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


class SessionIdleRenewalMiddleware:
    """Renew the idle timeout on activity, writing the session row at most once every
    SESSION_RENEW_SECONDS instead of on every request (a write per page view costs three
    queries and serialises a user's parallel requests on one row). The session therefore
    expires between SESSION_COOKIE_AGE minus that interval and SESSION_COOKIE_AGE after
    the last request: never later than the configured timeout."""

    KEY = "_renewed_at"

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        session = getattr(request, "session", None)
        if session is None or (not session.session_key and not session.modified) or session.is_empty():
            return response  # no session (API token, static) or a flushed/expired one
        now = int(timezone.now().timestamp())
        renewed_at = session.get(self.KEY)
        if session.modified or renewed_at is None or now - renewed_at >= settings.SESSION_RENEW_SECONDS:
            session[self.KEY] = now  # marks the session modified: SessionMiddleware saves it
        return response
