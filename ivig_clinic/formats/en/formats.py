"""The clinic's date and time formats for Django (settings.FORMAT_MODULE_PATH), from the one site
setting CLINIC_DATE_FORMAT; accounts/clinic_dates.py says why there is one format and how it is typed.

Django localises formats by language: without this module, English would show "Dec. 4, 2026, 4:30 p.m."
for an unformatted date-time and accept "12/04/2026" (4 December? 12 April?) in a date field.
"""

from django.conf import settings

from accounts.clinic_dates import ISO_DATE, typed_format
from accounts.clinic_dates import TIME_FORMAT as CLOCK

_date = typed_format(settings.CLINIC_DATE_FORMAT)
_time = typed_format(CLOCK)

DATE_FORMAT = SHORT_DATE_FORMAT = _date.django
TIME_FORMAT = _time.django
DATETIME_FORMAT = SHORT_DATETIME_FORMAT = f"{_date.django} {_time.django}"
# The clinic's format first (the inputs show it), then ISO 8601 for addresses and scripts; seconds are
# accepted where a script sends them (Django adds its ISO input formats after these in any case).
# Nothing ambiguous, no US month-first "12/04/2026", is read.
DATE_INPUT_FORMATS = list(dict.fromkeys([_date.strptime, ISO_DATE]))
TIME_INPUT_FORMATS = [CLOCK, "%H:%M:%S"]
DATETIME_INPUT_FORMATS = list(
    dict.fromkeys(f"{day} {clock}" for day in DATE_INPUT_FORMATS for clock in TIME_INPUT_FORMATS)
)
FIRST_DAY_OF_WEEK = 1  # Monday, as the week view
