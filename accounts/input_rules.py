"""What any typed or posted value must be before the app takes it: dates within a sensible
window and identifiers of printable characters only. One home for every form and API schema.

Lives in the lowest app so that every app's forms and schemas can use it (``accounts`` also
holds the shared form machinery, ``form_errors``).

Date windows (a date outside is refused with a message giving the window):

=================  ================================  ===============================================
window             from .. to (inclusive)            for
=================  ================================  ===============================================
``BIRTH``          1900-01-01 .. today               a date of birth
``CLINICAL``       1950-01-01 .. today + 1 year      what happened to the patient: diagnosis, a
                                                     screen, a lab, a measurement, a visit, a
                                                     medication's start or stop, a risk factor
``LOT_EXPIRY``     today - 5 years .. today + 10 y   the expiry printed on a vial
``BOOKING``        today - 2 years .. today + 2 y    a course's first day, a session's day, the
                                                     week shown, an authorisation or a review due
=================  ================================  ===============================================

Why these: nobody alive was born before 1900; IVIG and the records this app keeps start well
after 1950, and a stop date or an end may be planned up to a year ahead; a vial's shelf life is
at most a few years, and an expired vial older than 5 years is a typo; the unit books at most
26 weeks ahead and looks back at recent courses. Whether a date may lie in the future at all is
a rule of each service (a lab result cannot), checked there; a window only catches the typo
(year 1, 9999 or 2206 for 2026) that no rule would.

Identifiers (an MRN, a GTIN, a lot number, a token's name, a chair's name) are shown in lists,
e-mails, calendars and files: a control character (CR/LF splits an e-mail), a format character
(U+202E turns "SEC\u202eexe.fdp" into "SECpdf.exe" on screen, zero-width characters make two
MRNs look alike) or a line separator is refused. Free text (notes, reasons) is kept as typed and
escaped where it is shown.
"""

import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from .clinic_dates import ClinicFormatMixin

# Unicode categories an identifier may not contain: Cc control, Cf format (bidi overrides and
# isolates, zero-width space and joiners, the BOM), Zl line and Zp paragraph separators,
# Cs surrogates, Co private use, Cn unassigned.
NOT_PRINTABLE = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})


@dataclass(frozen=True)
class DateWindow:
    """Dates from ``earliest`` (a fixed date, or None) or ``days_before`` today, to
    ``days_after`` today. ``what`` names the window in the message.

    >>> DateWindow("a test", earliest=date(1900, 1, 1), days_after=0).bounds(date(2026, 11, 22))
    (datetime.date(1900, 1, 1), datetime.date(2026, 11, 22))
    """

    what: str
    earliest: date | None = None
    days_before: int | None = None
    days_after: int = 0

    def bounds(self, today: date) -> tuple[date, date]:
        low = self.earliest if self.earliest is not None else today - timedelta(days=self.days_before)
        return low, today + timedelta(days=self.days_after)

    def check(self, value: date, today: date) -> None:
        """Raise a ValidationError saying the window when ``value`` is outside it."""
        low, high = self.bounds(today)
        if self.days_after == 0 and value > today:
            # The same words as the services' own rule for a date that cannot be in the future.
            raise ValidationError("This date is in the future.", code="date_window")
        if not low <= value <= high:
            raise ValidationError(
                f"Enter a date from {low.isoformat()} to {high.isoformat()} ({self.what}); "
                f"{value.isoformat()} is outside that.",
                code="date_window",
            )


YEAR = 365
BIRTH = DateWindow("a date of birth: from 1900 to today", earliest=date(1900, 1, 1))
CLINICAL = DateWindow("a clinical date: from 1950 to a year ahead", earliest=date(1950, 1, 1), days_after=YEAR + 1)
LOT_EXPIRY = DateWindow(
    "a vial's expiry: 5 years back to 10 years ahead", days_before=5 * YEAR + 2, days_after=10 * YEAR + 3
)
BOOKING = DateWindow("a booking date: 2 years back to 2 years ahead", days_before=2 * YEAR + 1, days_after=2 * YEAR + 1)

# Every date field of every form and API schema, by its name, in one table. A form field or
# schema field with a name not listed here is a programming error (DateWindowsMixin raises).
DATE_WINDOWS: dict[str, DateWindow] = {
    "date_of_birth": BIRTH,
    "diagnosis_date": CLINICAL,
    "cancer_screen_on": CLINICAL,
    "antiphospholipid_screen_on": CLINICAL,
    "ivig_started_on": CLINICAL,
    "measured_on": CLINICAL,
    "collected_on": CLINICAL,
    "started_on": CLINICAL,
    "stopped_on": CLINICAL,
    "noted_on": CLINICAL,
    "ended_on": CLINICAL,
    "visit_date": CLINICAL,
    "reviewed_on": CLINICAL,
    "expiry_date": LOT_EXPIRY,
    "expiry": LOT_EXPIRY,
    "first_day": BOOKING,
    "new_date": BOOKING,
    "start": BOOKING,
    "date": BOOKING,
    "authorised_until": BOOKING,
    "next_review_due": BOOKING,
}


def date_in_window(window: DateWindow):
    """A validator for a form field or a pydantic AfterValidator: today is the clinic's today."""

    def validate(value: date | None) -> date | None:
        if value is not None:
            window.check(value, timezone.localdate())
        return value

    validate.window = window
    return validate


class DateWindowsMixin(ClinicFormatMixin):
    """Gives each DateField of a form the window its name has in DATE_WINDOWS. A form with a
    date field that has no window there is refused when built, so no date goes unchecked. Its
    date, time and date-time fields are typed in the clinic's format (ClinicFormatMixin)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            if isinstance(field, forms.DateField):
                if name not in DATE_WINDOWS:
                    raise LookupError(f"{type(self).__name__}.{name}: no date window in accounts.input_rules")
                field.validators.append(date_in_window(DATE_WINDOWS[name]))


# ------------------------------------------------------------------------ identifiers


def unprintable_characters(value: str) -> list[str]:
    """The characters of ``value`` an identifier may not hold, as U+XXXX names.

    >>> unprintable_characters("SEC\\u202eexe.fdp")
    ['U+202E RIGHT-TO-LEFT OVERRIDE']
    >>> unprintable_characters("MRN-0042")
    []
    """
    found = []
    for char in dict.fromkeys(value):
        if unicodedata.category(char) in NOT_PRINTABLE:
            found.append(f"U+{ord(char):04X} {unicodedata.name(char, 'control character')}")
    return found


def validate_identifier(value: str) -> None:
    """An identifier is printable characters only: no control, format or line separator."""
    found = unprintable_characters(value)
    if found:
        raise ValidationError(
            "Only printable characters are allowed here; remove %(chars)s.",
            code="unprintable",
            params={"chars": ", ".join(found)},
        )


def validate_no_nul(value) -> None:
    """Free text may hold anything but NUL, which PostgreSQL text cannot store."""
    if isinstance(value, str) and "\x00" in value:
        raise ValidationError("Null characters are not allowed.", code="null_characters_not_allowed")
