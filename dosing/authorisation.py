"""A treatment course's authorisation window, in plain dates and Decimals (pure: no Django).

Stewardship (Ontario IG utilisation guidance): IVIG for an indication is authorised for a
window; the objective measures are named at the start; the first review falls due no later than
``review_first_months`` (6) after the start, then at least every ``review_every_months`` (12).
An order placed after the window, above the authorised maximum dose, or on a course in trial
off or stopped needs a renewal (a review) or an explicit reason (``authorisation_needs``).

Months are calendar months with the end of a month clamped, the rule of
``scheduling.timing.add_months`` (the same ``relativedelta``; a test holds the two equal).
"""

from datetime import date, timedelta
from decimal import Decimal

from dateutil.relativedelta import relativedelta

from accounts.errors import FieldError

ACTIVE, TRIAL_OFF, STOPPED = "active", "trial_off", "stopped"


def months_after(day: date, months: int) -> date:
    """``day`` plus ``months`` calendar months, a missing day clamped to the month's end.

    >>> months_after(date(2026, 1, 5), 6)
    datetime.date(2026, 7, 5)
    >>> months_after(date(2026, 8, 31), 6)
    datetime.date(2027, 2, 28)
    """
    if isinstance(months, bool) or not isinstance(months, int) or months < 1:
        raise FieldError("months", f"must be a whole number of months from 1, not {months!r}")
    return day + relativedelta(months=months)


def first_window(started_on: date, review_first_months: int) -> date:
    """The first authorisation runs to the first review: the start plus ``review_first_months``.

    Example: a dermatomyositis course started Mon 5 Jan 2026, site policy 6 months -> authorised
    until, and reviewed by, Sun 5 Jul 2026.

    >>> first_window(date(2026, 1, 5), 6)
    datetime.date(2026, 7, 5)
    """
    return months_after(started_on, review_first_months)


def renewed_window(reviewed_on: date, review_every_months: int) -> date:
    """A review that continues the course renews it from the review's day.

    Example: reviewed 1 Jul 2026, site policy every 12 months -> authorised until 1 Jul 2027.

    >>> renewed_window(date(2026, 7, 1), 12)
    datetime.date(2027, 7, 1)
    """
    return months_after(reviewed_on, review_every_months)


def review_reminder_date(due: date, days_before: int) -> date:
    """The day the physician is first reminded of a review or a lapsing window.

    Example: review due 5 Jul 2026, 28 days' notice -> reminded from 7 Jun 2026.

    >>> review_reminder_date(date(2026, 7, 5), 28)
    datetime.date(2026, 6, 7)
    """
    if isinstance(days_before, bool) or not isinstance(days_before, int) or days_before < 0:
        raise FieldError("days_before", f"must be a whole number of days from 0, not {days_before!r}")
    return due - timedelta(days=days_before)


def _g_per_kg(value: Decimal) -> str:
    return f"{value.normalize():f} g/kg"


def authorisation_needs(
    *,
    ordered_on: date,
    authorised_until: date,
    dose_g_per_kg: Decimal,
    max_dose_g_per_kg: Decimal,
    status: str,
) -> list[str]:
    """Why an order falls outside its course's authorisation, one sentence each (empty: inside).

    Example: an order of 2 g/kg on 6 Jul 2026 on a course authorised until 5 Jul 2026 at most
    1 g/kg (stepped down):

    >>> for need in authorisation_needs(ordered_on=date(2026, 7, 6), authorised_until=date(2026, 7, 5),
    ...                                 dose_g_per_kg=Decimal("2"), max_dose_g_per_kg=Decimal("1.00"),
    ...                                 status="active"):
    ...     print(need)
    The course's authorisation ended on 2026-07-05 (ordered 2026-07-06).
    2 g/kg is above the authorised maximum of 1 g/kg.
    >>> authorisation_needs(ordered_on=date(2026, 7, 5), authorised_until=date(2026, 7, 5),
    ...                     dose_g_per_kg=Decimal("2"), max_dose_g_per_kg=Decimal("2"), status="active")
    []
    """
    if dose_g_per_kg <= 0 or max_dose_g_per_kg <= 0:
        raise FieldError("dose_g_per_kg", "doses must be above 0 g/kg")
    needs = []
    if status == TRIAL_OFF:
        needs.append("The course is in a trial off IVIG.")
    elif status == STOPPED:
        needs.append("The course was stopped.")
    elif status != ACTIVE:
        raise FieldError("status", f"unknown course status {status!r}")
    if ordered_on > authorised_until:
        needs.append(
            f"The course's authorisation ended on {authorised_until.isoformat()} (ordered {ordered_on.isoformat()})."
        )
    if dose_g_per_kg > max_dose_g_per_kg:
        needs.append(f"{_g_per_kg(dose_g_per_kg)} is above the authorised maximum of {_g_per_kg(max_dose_g_per_kg)}.")
    return needs
