"""Reminder e-mail: each due reminder is e-mailed at most once, and exactly once unless the
sending worker is interrupted mid-delivery. The sweep (scheduling/services/sweep.py) finds the
reminders due; the `deliver_reminder` task (scheduling/tasks.py) calls `reminder_deliver` for each.

1. Claim: one conditional UPDATE sets `delivery_claimed_at` only where it is empty and
   `emailed_at` is empty, and commits. Of two deliveries running at once, one claims; the other
   sends nothing.
2. Send one message to all recipients through Django's mail.
3. Acknowledge: set `emailed_at` and status "sent", alone in their own transaction. A later
   delivery (a task re-run by `acks_late` after a worker died) finds `emailed_at` and sends nothing.

An SMTP or network error before the message left (`RETRYABLE_ERRORS`: the server unreachable,
a refusal of the sender, a recipient or the message) releases the claim, records `last_error`
and the attempt, and the task retries with exponential backoff (Celery's `autoretry_for`, see
scheduling/tasks.py), at most `MAX_DELIVERY_ATTEMPTS` in all.

An error after the message left and before the server said it took it (a slow server timing
out after DATA, a connection dropped there: scheduling/smtp.py) leaves the outcome unknown. The
reminder is marked uncertain (`email_uncertain_at`), keeps its claim and is never retried: no
retry, no duplicate task, no later sweep sends it again. A person sees it as "uncertain" in the
inbox and either confirms it arrived (`reminder_email_confirm`) or resends it deliberately
(`reminder_email_resend`).

The narrow window: if the worker dies after the mail server accepted the message but before
step 3 committed, nobody can tell from the database whether the message left. The claim stays.
A claim older than `CLAIM_STALE_AFTER` is never taken again: the reminder is flagged for a
human (`last_error` = `INTERRUPTED_DELIVERY`, `email_uncertain_at` set) and shown as "e-mail uncertain" in the inbox,
where it stays visible whatever happened to the e-mail. Reminders are never resent blindly
(at-most-once e-mail), because the in-app inbox, not the e-mail, is the record of a reminder.
"""

from datetime import datetime, timedelta
from smtplib import SMTPException
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.db.models import Case, F, Value, When
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.text import Truncator

from accounts.transactions import service

from ..models import Reminder, ReminderStatus
from ..smtp import send_outcome
from .inbox import kind_label

CLAIM_STALE_AFTER = timedelta(minutes=15)  # far above any send: SMTP gets SMTP_TIMEOUT_SECONDS
MAX_DELIVERY_ATTEMPTS = 6
SMTP_TIMEOUT_SECONDS = 30
INTERRUPTED_DELIVERY = (
    "E-mail delivery was interrupted: it may or may not have reached the recipients. "
    "Not resent automatically, to avoid a duplicate."
)
UNCERTAIN_DELIVERY = (
    "The mail server did not confirm the message after it was sent: it may or may not have "
    "reached the recipients. Not resent automatically, to avoid a duplicate."
)
DJANGO_SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
NO_RECIPIENTS = "No active user of the role has an e-mail address; shown in the inbox only."

RETRYABLE_ERRORS = (SMTPException, OSError)


class DeliveryUncertain(Exception):  # noqa: N818 (an outcome, not a failure to retry)
    """The send failed after the message left: whether it arrived is unknown. Never retried."""


def fit_message(text: str) -> str:
    """Whitespace folded, cut to the length of a reminder's message field (messages and errors alike)."""
    folded = " ".join(text.split())
    limit = Reminder._meta.get_field("message").max_length
    # Most messages fit: Truncator (which counts characters one by one) only for those that do not.
    return folded if len(folded) <= limit else Truncator(folded).chars(limit)


def reminders_flag_interrupted(now: datetime, **only) -> int:
    """Flag for a human every claim that went stale without `emailed_at` (see the module docstring)."""
    return (
        Reminder.objects.filter(emailed_at__isnull=True, delivery_claimed_at__lt=now - CLAIM_STALE_AFTER, **only)
        .exclude(email_uncertain_at__isnull=False)
        .update(last_error=INTERRUPTED_DELIVERY, email_uncertain_at=now)
    )


def reminder_deliver(reminder_id: int, *, now: datetime) -> str:
    """E-mail one due reminder to its recipients at most once (see the module docstring).

    Returns what happened: "sent", "already_sent", "in_progress" (claimed by another delivery),
    "uncertain" (the send failed after the message left, or did so earlier: left for a person),
    "interrupted" (a stale claim, flagged for a human), "not_due", "expired" (its window is
    over), "not_needed" (done or cancelled), "no_recipients", "gave_up" or "missing".
    Raises SMTPException or OSError after recording the failure, for the task to retry.

    Example: the task runs twice at the same moment → one "sent", one "in_progress"; one e-mail.
    """
    reminder = Reminder.objects.select_related("patient", "user").filter(pk=reminder_id).first()
    if reminder is None:
        return "missing"
    if reminder.emailed_at is not None:
        return "already_sent"
    if reminder.status != ReminderStatus.PENDING:
        return "not_needed"
    if reminder.due_at > now:
        return "not_due"
    if reminder.window_end is not None and reminder.window_end < now:
        return "expired"
    if reminder.email_uncertain_at is not None:
        return "uncertain"
    if reminder.delivery_claimed_at is not None:
        if reminder.delivery_claimed_at < now - CLAIM_STALE_AFTER:
            reminders_flag_interrupted(now, pk=reminder.pk)
            return "interrupted"
        return "in_progress"
    if reminder.delivery_attempts >= MAX_DELIVERY_ATTEMPTS:
        return "gave_up"
    recipients = email_recipients(reminder)
    if not recipients:
        Reminder.objects.filter(pk=reminder.pk, emailed_at__isnull=True).update(last_error=NO_RECIPIENTS)
        return "no_recipients"

    with transaction.atomic():
        claimed = Reminder.objects.filter(
            pk=reminder.pk,
            status=ReminderStatus.PENDING,
            emailed_at__isnull=True,
            delivery_claimed_at__isnull=True,
            delivery_attempts__lt=MAX_DELIVERY_ATTEMPTS,
        ).update(delivery_claimed_at=now, delivery_attempts=F("delivery_attempts") + 1)
    if not claimed:
        return "in_progress"

    try:
        _email(reminder, recipients)
    except DeliveryUncertain as uncertain:
        # The claim stays: no retry, duplicate task or sweep can take it again; a person decides.
        error = uncertain.__cause__ or uncertain
        with transaction.atomic():
            Reminder.objects.filter(pk=reminder.pk, delivery_claimed_at=now, emailed_at__isnull=True).update(
                email_uncertain_at=now,
                last_error=fit_message(f"{UNCERTAIN_DELIVERY} ({type(error).__name__}: {error})"),
            )
        return "uncertain"
    except Exception as error:
        # The server refused or was unreachable: nothing left, so the claim is released for a retry.
        with transaction.atomic():
            Reminder.objects.filter(pk=reminder.pk, delivery_claimed_at=now, emailed_at__isnull=True).update(
                delivery_claimed_at=None, last_error=fit_message(f"{type(error).__name__}: {error}")
            )
        raise

    with transaction.atomic():
        Reminder.objects.filter(pk=reminder.pk, emailed_at__isnull=True).update(
            emailed_at=now,
            status=Case(When(status=ReminderStatus.PENDING, then=Value(ReminderStatus.SENT)), default=F("status")),
            last_error="",
        )
    return "sent"


def email_recipients(reminder: Reminder) -> list[str]:
    """The user's address for a personal reminder; else every active user of the role with one."""
    if reminder.user_id:
        user = reminder.user
        return [user.email] if user.is_active and user.email else []
    users = get_user_model().objects.filter(is_active=True, groups__name=reminder.role).exclude(email="")
    return sorted(set(users.values_list("email", flat=True)))


def _email(reminder: Reminder, recipients: list[str]) -> None:
    context = {
        "clinic_name": settings.CLINIC_NAME,
        "kind_label": kind_label(reminder.kind),
        "reminder": reminder,
        "due_local": reminder.due_at.astimezone(ZoneInfo(settings.TIME_ZONE)),
        "patient_mrn": reminder.patient.mrn,
        "patient_initials": reminder.patient.initials,
        "inbox_url": _inbox_url(),
    }
    subject = " ".join(render_to_string("scheduling/email/reminder_subject.txt", context).split())
    body = render_to_string("scheduling/email/reminder.txt", context)
    timeout = {} if settings.EMAIL_TIMEOUT is not None else {"timeout": SMTP_TIMEOUT_SECONDS}
    # Django's SMTP backend, told apart from the point where the message has left (scheduling/smtp.py).
    backend = "scheduling.smtp.TrackingEmailBackend" if settings.EMAIL_BACKEND == DJANGO_SMTP_BACKEND else None
    connection = get_connection(backend, **timeout)
    # One message to all recipients: the server accepts or refuses it whole, so a retry never
    # repeats it to some of them.
    try:
        EmailMessage(subject, body, settings.DEFAULT_FROM_EMAIL, to=recipients, connection=connection).send()
    except Exception as error:
        outcome = send_outcome(connection)
        if outcome == "taken":
            return  # the server took it; only a later step (QUIT) failed
        if outcome == "unknown":
            raise DeliveryUncertain(str(error)) from error
        raise


def _inbox_url() -> str:
    site = getattr(settings, "SITE_URL", "").rstrip("/")
    return f"{site}{reverse('scheduling:inbox')}" if site else ""


def _uncertain_for_update(reminder: Reminder) -> Reminder:
    reminder = Reminder.objects.select_for_update().get(pk=reminder.pk)
    if reminder.email_uncertain_at is None or reminder.emailed_at is not None:
        raise ValidationError("This reminder's e-mail is not uncertain: there is nothing to confirm or resend.")
    return reminder


@service
def reminder_email_confirm(*, reminder: Reminder, by, now: datetime) -> Reminder:
    """A person checked that the uncertain e-mail did arrive: it counts as sent from now.

    Example: a timeout after DATA left it uncertain; a nurse saw the message in the unit's
    mailbox and confirms: `emailed_at` is set, and no delivery will ever send it again.
    """
    reminder = _uncertain_for_update(reminder)
    reminder.emailed_at = now
    reminder.email_uncertain_at = None
    reminder.last_error = ""
    if reminder.status == ReminderStatus.PENDING:
        reminder.status = ReminderStatus.SENT
    reminder._history_user = by
    reminder.save(update_fields=["emailed_at", "email_uncertain_at", "last_error", "status"])
    return reminder


@service
def reminder_email_resend(*, reminder: Reminder, by, now: datetime) -> Reminder:
    """A person decided the uncertain e-mail did not arrive: release it for one more delivery,
    with a fresh count of attempts. The caller queues the delivery after the commit.

    Example: a timeout after DATA left it uncertain; nobody received it; "Resend e-mail"
    clears the claim, and the next delivery sends it (once: the claim logic applies again).
    """
    reminder = _uncertain_for_update(reminder)
    reminder.email_uncertain_at = None
    reminder.delivery_claimed_at = None
    reminder.delivery_attempts = 0
    reminder.last_error = ""
    reminder._history_user = by
    reminder.save(update_fields=["email_uncertain_at", "delivery_claimed_at", "delivery_attempts", "last_error"])
    return reminder
