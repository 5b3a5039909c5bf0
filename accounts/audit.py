"""Every write that matters is saved through ``audited_save`` (who and why in the row's
history), and a write from a page that showed an older version is refused with
``stale_version_error``: the lowest layer's helpers, used by every app's services."""

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

CHANGE_REASON_MAX_CHARS = 100


def audited_save(instance, *, by, reason: str = "") -> None:
    """Validate and save a clinical record with who did it and why in its history.

    Every service writes through this one function. A reason longer than the history column
    is shortened with an ellipsis (the history row still holds every value).
    Example: ``audited_save(order, by=pharmacist, reason="verified")``.
    """
    instance.full_clean()
    instance._history_user = by
    if len(reason) > CHANGE_REASON_MAX_CHARS:
        reason = reason[: CHANGE_REASON_MAX_CHARS - 1] + "…"
    instance._change_reason = reason or None
    try:
        with transaction.atomic():  # a savepoint, so the check below can still read
            instance.save()
    except IntegrityError:
        # Two writes raced past full_clean (two registrations of one MRN at the same moment):
        # the later one is refused at its field, as if it had come a moment after.
        instance.validate_unique()
        instance.validate_constraints()
        raise


# The code of a refusal for a write made from a page that showed an older version of a record;
# views answer it with 409 Conflict (see accounts.form_errors.conflict_status).
STALE = "stale"


def stale_version_error(instance, *, what: str, state: str = "") -> ValidationError:
    """The refusal for a write from a page that showed an older ``version`` of ``instance``:
    who changed it last and when (local time, from its history), what it is now, and that
    nothing of this write was kept. The first change stands; the second person is told.

    Example: "This order was changed by Dana Reyes at 2026-11-22 10:05 (now: Cancelled) after
    you opened it. Nothing was saved — review the order as it is now and try again."
    """
    last = instance.history.select_related("history_user").order_by("-history_date", "-history_id").first()
    user = last.history_user if last else None
    who = (user.get_full_name() or user.get_username()) if user else "someone else"
    when = f" at {timezone.localtime(last.history_date):%Y-%m-%d %H:%M}" if last else ""
    now = f" (now: {state})" if state else ""
    return ValidationError(
        f"This {what} was changed by {who}{when}{now} after you opened it. "
        f"Nothing was saved — review the {what} as it is now and try again.",
        code=STALE,
    )


def check_version(instance, expected_version, *, what: str, state: str = "") -> None:
    """Refuse a write from a page that showed another version of ``instance`` (already re-read
    under a row lock by the caller). One meaning everywhere: ``expected_version`` is the version
    the page showed and must equal the row's; ``None`` means the caller showed no page (a script,
    the demo loader) and is not checked. Pages always post a version: their forms require it, so a
    post without one never reaches a service. Anything that is not a whole number is stale.

    Example: a pharmacist's verify page showed version 1, a physician cancelled meanwhile (now 2)
    -> "This order was changed by Dana Reyes at ... (now: Cancelled) after you opened it. ..."
    """
    if expected_version is None:
        return
    try:
        stale = int(expected_version) != instance.version
    except (TypeError, ValueError):
        stale = True
    if stale:
        raise stale_version_error(instance, what=what, state=state)
