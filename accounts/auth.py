"""Bearer-token authentication for the JSON API (``Authorization: Bearer <secret>``).

`ApiTokenAuth` is the Ninja side. `bearer_token_user` is the same check for code that
runs before Ninja and knows only sessions (the login-required middleware), so a
script with a token and no session reaches the API at all. `token_for_secret` gives the
token itself, for the FHIR API, which answers a read-only token's write with its own 403.

A read-only token (``ApiToken.scope``) authenticates only reads; a write with it is 403,
not 401: the token is good, the method is not allowed to it.
"""

import hmac
from datetime import datetime

from django.utils import timezone
from ninja.errors import AuthorizationError
from ninja.security import HttpBearer

from .models import ApiToken, CalendarFeed, secret_hash
from .services import api_token_mark_used, calendar_feed_mark_used

# Generated secrets are 43 characters; anything far longer is not one of ours (and is not worth hashing).
MAX_SECRET_LENGTH = 200


def token_for_secret(secret: str, *, now: datetime | None = None) -> ApiToken | None:
    """The live token of an active user with this secret, or None. Notes the use (at most once a minute)."""
    if not secret or len(secret) > MAX_SECRET_LENGTH:
        return None
    now = now or timezone.now()
    digest = secret_hash(secret)
    # Looked up by hash: what the database compares is a digest the caller cannot steer
    # byte by byte; the constant-time comparison below keeps the check itself timing-safe.
    token = ApiToken.objects.usable(now).select_related("user").filter(key_hash=digest).first()
    if token is None or not hmac.compare_digest(token.key_hash, digest):
        return None
    api_token_mark_used(token=token, now=now)
    return token


def user_for_secret(secret: str, *, now: datetime | None = None):
    """The active user whose live token has this secret, or None."""
    token = token_for_secret(secret, now=now)
    return None if token is None else token.user


def bearer_token_user(request):
    """The user a request's bearer token belongs to, or None (no header, another scheme, or no live token)."""
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return user_for_secret(secret.strip())


class ApiTokenAuth(HttpBearer):
    """Ninja auth: a live token of an active user. No CSRF check: a script sends the token
    itself on purpose, a browser never adds it on its own."""

    def authenticate(self, request, token: str):
        api_token = token_for_secret(token.strip())
        if api_token is None:
            return None
        if not api_token.allows_method(request.method):
            raise AuthorizationError(message="This token is read-only: it may only read (GET).")
        request.user = api_token.user
        return api_token.user


def calendar_feed_for_secret(secret: str, *, now: datetime | None = None) -> CalendarFeed | None:
    """The live calendar feed link with this secret, of an active user, or None. Notes the use.

    Its own table: an API token's secret is never a feed link, and a feed link is never a token."""
    if not secret or len(secret) > MAX_SECRET_LENGTH:
        return None
    now = now or timezone.now()
    digest = secret_hash(secret)
    feed = (
        CalendarFeed.objects.select_related("user")
        .filter(key_hash=digest, revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if feed is None or not hmac.compare_digest(feed.key_hash, digest):
        return None
    calendar_feed_mark_used(feed=feed, now=now)
    return feed
