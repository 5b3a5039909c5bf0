"""accounts.input_rules: the named date windows and printable identifiers (that every form and
API body uses them: ivig_clinic/tests/test_date_windows_everywhere.py)."""

from datetime import date

import pytest
from django.core.exceptions import ValidationError

from accounts.input_rules import (
    BIRTH,
    BOOKING,
    CLINICAL,
    LOT_EXPIRY,
    unprintable_characters,
    validate_identifier,
)

TODAY = date(2026, 11, 22)


@pytest.mark.parametrize(
    ("window", "low", "high"),
    [
        (BIRTH, date(1900, 1, 1), TODAY),
        (CLINICAL, date(1950, 1, 1), date(2027, 11, 23)),
        (LOT_EXPIRY, date(2021, 11, 21), date(2036, 11, 22)),
        (BOOKING, date(2024, 11, 21), date(2028, 11, 22)),
    ],
)
def test_each_window_takes_its_bounds_and_refuses_a_day_beyond(window, low, high):
    assert window.bounds(TODAY) == (low, high)
    window.check(low, TODAY)
    window.check(high, TODAY)
    for outside in (date.fromordinal(low.toordinal() - 1), date.fromordinal(high.toordinal() + 1))[
        : 1 if window is BIRTH else 2
    ]:
        with pytest.raises(ValidationError, match=f"Enter a date from {low.isoformat()} to {high.isoformat()}"):
            window.check(outside, TODAY)


@pytest.mark.parametrize("day", [date(1, 1, 1), date(9999, 12, 31)])
def test_year_1_and_9999_are_outside_every_window(day):
    for window in (BIRTH, CLINICAL, LOT_EXPIRY, BOOKING):
        with pytest.raises(ValidationError):
            window.check(day, TODAY)


@pytest.mark.parametrize(
    "text",
    [
        "SEC\u202eexe.fdp",  # right-to-left override: shows as SECpdf.exe
        "MRN\r\nBcc: x@example.org",  # splits an e-mail
        "MRN\u200b1",  # zero-width space: two MRNs that look alike
        "MRN\u2028",  # line separator
        "MRN\x1b",
        "\ufeffMRN",
        "MRN\u2066",  # left-to-right isolate
    ],
)
def test_identifiers_refuse_control_format_and_separator_characters(text):
    with pytest.raises(ValidationError, match="Only printable characters"):
        validate_identifier(text)


@pytest.mark.parametrize("text", ["MRN-0042", "Müller-Ødegård 12", "NÚM 5/2026", "مريض ١٢", "患者 7"])
def test_identifiers_keep_any_printable_text_of_any_script(text):
    validate_identifier(text)
    assert unprintable_characters(text) == []
