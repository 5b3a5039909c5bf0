"""Per-user API tokens: how scripts call the JSON API without a browser session.

A token's secret is shown once when it is made and never stored: the database
keeps its SHA-256 (enough for a random 256-bit secret; a slow password hash
would only slow down every API call) and its first characters, so people can
tell their tokens apart. Creating and revoking are audited (simple-history);
`last_used_at` is bookkeeping, updated in place without a history row.
"""

import hashlib
from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

from .input_rules import validate_identifier

PREFIX_LENGTH = 8


def secret_hash(secret: str) -> str:
    """SHA-256 of a token secret, as 64 hex digits.

    Example: ``secret_hash("abc")`` starts with ``"ba7816bf"``.
    """
    return hashlib.sha256(secret.encode()).hexdigest()


class TokenStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    EXPIRED = "expired", "Expired"
    REVOKED = "revoked", "Revoked"


class TokenScope(models.TextChoices):
    READ_WRITE = "read-write", "Read and write"
    READ_ONLY = "read-only", "Read only"


# What a read-only token may do: read (RFC 9110's safe methods), on the JSON API and on /fhir/.
READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class ApiTokenQuerySet(models.QuerySet):
    def usable(self, now: datetime):
        """Tokens that authenticate at `now`: not revoked, not expired, their user still active."""
        return self.filter(revoked_at__isnull=True, user__is_active=True).filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=now)
        )


class ApiToken(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(
        max_length=100,
        validators=[validate_identifier],
        help_text="What the token is for, e.g. “pharmacy dose-check script”.",
    )
    key_hash = models.CharField("SHA-256 of the secret", max_length=64, unique=True, editable=False)
    prefix = models.CharField(max_length=PREFIX_LENGTH, editable=False, help_text="The secret's first characters.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: does not expire.")
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    scope = models.CharField(
        max_length=10,
        choices=TokenScope.choices,
        default=TokenScope.READ_WRITE,
        help_text="Read only: the token may only read (GET), for an EHR or a registry that never writes.",
    )
    history = HistoricalRecords(excluded_fields=["last_used_at"])

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        verbose_name = "API token"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(expires_at__isnull=True) | Q(expires_at__gt=F("created_at")),
                name="apitoken_expires_after_created",
            ),
            models.CheckConstraint(
                condition=Q(revoked_at__isnull=True) | Q(revoked_at__gte=F("created_at")),
                name="apitoken_revoked_after_created",
            ),
            models.CheckConstraint(condition=Q(scope__in=TokenScope.values), name="apitoken_scope_known"),
        ]

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    def allows_method(self, method: str) -> bool:
        """Whether a request with this HTTP method may use the token: a read-only token only reads.

        Example: a read-only token allows "GET" and refuses "POST"; a read-write token allows both.
        """
        return self.scope == TokenScope.READ_WRITE or method.upper() in READ_ONLY_METHODS

    def status_on(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return TokenStatus.REVOKED
        if self.expires_at is not None and self.expires_at <= now:
            return TokenStatus.EXPIRED
        return TokenStatus.ACTIVE


class FormSubmission(models.Model):
    """One submission of a form or one API write, claimed once: the same submission sent again
    (a double click, a reload, a script retrying) gets the first one's result instead of doing
    the work twice (accounts/submissions.py). The key is the form's hidden `submission_id` or
    the API's `Idempotency-Key` header; unique per user, claimed in the transaction of the write
    it guards, so a concurrent duplicate waits on the unique index and then reads the result.
    Deleted by housekeeping once older than `SUBMISSION_KEEP_HOURS`."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    path = models.CharField(max_length=2000)
    fingerprint = models.CharField("SHA-256 of the submitted values", max_length=64)
    result_url = models.CharField(max_length=2000, blank=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_content_type = models.CharField(max_length=200, blank=True)
    response_body = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="formsubmission_one_per_user_key")]

    def __str__(self):
        return f"{self.key} → {self.result_url or self.response_status}"


class CalendarFeed(models.Model):
    """A calendar feed link: a secret that opens one thing, the infusion unit's calendar feed,
    as its user, and nothing else (not /api/v1/, not /fhir/, not a page). Calendar apps cannot
    log in or send headers, so the secret travels in the URL's path; the access log and Django's
    request log redact it (accounts.log_redaction). Hashed at rest like an API token."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calendar_feeds")
    name = models.CharField(max_length=100, help_text="Where the link is used, e.g. “ward tablet calendar”.")
    key_hash = models.CharField("SHA-256 of the secret", max_length=64, unique=True, editable=False)
    prefix = models.CharField(max_length=PREFIX_LENGTH, editable=False, help_text="The secret's first characters.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    history = HistoricalRecords(excluded_fields=["last_used_at"])

    class Meta:
        verbose_name = "calendar feed link"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(revoked_at__isnull=True) | Q(revoked_at__gte=F("created_at")),
                name="calendarfeed_revoked_after_created",
            ),
        ]

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"
