"""Every write to API tokens goes through here: validate, write in one
transaction, and leave an audit entry (who, when, why) in the token's history."""

import secrets
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone

from accounts.audit import audited_save

from .models import PREFIX_LENGTH, ApiToken, CalendarFeed, TokenScope, secret_hash
from .transactions import service

# 32 random bytes: a 43-character URL-safe secret, far beyond guessing.
SECRET_BYTES = 32
# Recording every call would write on every request; a minute is precise enough to see
# whether a token is still in use.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@service
def api_token_create(
    *,
    by,
    name: str,
    expires_at: datetime | None = None,
    scope: str = TokenScope.READ_WRITE,
    now: datetime | None = None,
):
    """Make a token for `by` and return ``(token, secret)``. The secret exists only in the
    return value: show it once, it cannot be recovered. `scope` "read-only" makes a token that may only read."""
    now = now or timezone.now()
    if expires_at is not None and expires_at <= now:
        raise ValidationError({"expires_at": "The expiry must be in the future."})
    secret = secrets.token_urlsafe(SECRET_BYTES)
    token = ApiToken(
        user=by,
        name=name.strip(),
        key_hash=secret_hash(secret),
        prefix=secret[:PREFIX_LENGTH],
        created_at=now,
        expires_at=expires_at,
        scope=scope,
    )
    audited_save(token, by=by, reason="created")
    return token, secret


@service
def api_token_revoke(*, by, token: ApiToken, now: datetime | None = None) -> ApiToken:
    """Stop a token working. Revoking twice keeps the first revocation time."""
    return _revoke(token, by=by, now=now)


def _revoke(credential, *, by, now: datetime | None):
    """An API token or a calendar feed link stops working; a second revocation keeps the first time."""
    credential = type(credential).objects.select_for_update().get(pk=credential.pk)
    if credential.revoked_at is None:
        credential.revoked_at = now or timezone.now()
        audited_save(credential, by=by, reason="revoked")
    return credential


def api_token_mark_used(*, token: ApiToken, now: datetime) -> None:
    """Note that the token was used, at most once a minute. Bookkeeping only: no audit row."""
    _mark_used(token, now=now)


def _mark_used(credential, *, now: datetime) -> None:
    if credential.last_used_at is not None and now - credential.last_used_at < LAST_USED_RESOLUTION:
        return
    # Conditional update: concurrent requests write once, and never move the time backwards.
    type(credential).objects.filter(pk=credential.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lte=now - LAST_USED_RESOLUTION)
    ).update(last_used_at=now)
    credential.last_used_at = now


@service
def calendar_feed_create(*, by, name: str, now: datetime | None = None):
    """Make a calendar feed link for `by` and return ``(feed, secret)``. The secret opens only the
    calendar feed; like a token's, it exists only in the return value."""
    now = now or timezone.now()
    secret = secrets.token_urlsafe(SECRET_BYTES)
    feed = CalendarFeed(
        user=by, name=name.strip(), key_hash=secret_hash(secret), prefix=secret[:PREFIX_LENGTH], created_at=now
    )
    audited_save(feed, by=by, reason="created")
    return feed, secret


@service
def calendar_feed_revoke(*, by, feed: CalendarFeed, now: datetime | None = None) -> CalendarFeed:
    """Stop a feed link working. Revoking twice keeps the first revocation time."""
    return _revoke(feed, by=by, now=now)


def calendar_feed_mark_used(*, feed: CalendarFeed, now: datetime) -> None:
    """Note that the feed link was used, at most once a minute. Bookkeeping only: no audit row."""
    _mark_used(feed, now=now)
