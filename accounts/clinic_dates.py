"""The clinic's one way of writing a date, shown and typed, whatever the browser's language.

The format is one site setting, ``CLINIC_DATE_FORMAT`` (settings.py, from the environment; ISO 8601
``%Y-%m-%d`` by default). Times are always 24-hour ``HH:MM``. The Django format module
``ivig_clinic/formats/en/formats.py`` hands the same format to the ``|date`` filter (``{{ day|date }}``,
``{{ moment|date:"DATETIME_FORMAT" }}``) and to the forms' parsers, and ``ClinicFormatMixin`` (every
form with a date window has it) turns each date, time and date-time input into a text input that shows
the format (placeholder "YYYY-MM-DD", a pattern the browser checks, a numeric keyboard on a tablet).

Why text inputs: ``<input type="date">`` and ``type="datetime-local"`` display the browser's locale
(12/04/2026 and 4:30 PM on a US browser, 04.12.2026 on a German one) while the pages show the clinic's
format, so the same date would be read one way and typed another.

Addresses and the APIs keep ISO 8601 (``?start=2026-12-07``): the parsers accept it as well as the
clinic's format, which is unambiguous beside it.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from django import forms
from django.forms.widgets import DateTimeBaseInput
from django.utils import formats

ISO_DATE = "%Y-%m-%d"
TIME_FORMAT = "%H:%M"
# strptime directive -> (Django's |date letter, what the placeholder says, what the pattern matches)
_DIRECTIVES = {
    "%Y": ("Y", "YYYY", r"\d{4}"),
    "%m": ("m", "MM", r"\d{2}"),
    "%d": ("d", "DD", r"\d{2}"),
    "%H": ("H", "HH", r"\d{2}"),
    "%M": ("i", "MM", r"\d{2}"),
}
# Separators a date may use. Only "." is escaped: the browser compiles a pattern with the "v" flag,
# where an escaped "-" or "/" is a syntax error and the pattern would be ignored.
_SEPARATORS = {"-": "-", "/": "/", ".": r"\.", " ": " ", ":": ":"}
EXAMPLE = datetime(2026, 12, 4, 16, 30, tzinfo=UTC)  # only ever formatted: its zone plays no part


@dataclass(frozen=True)
class TypedFormat:
    """One format as each consumer needs it."""

    strptime: str  # to parse and to write the input's value
    django: str  # for the |date filter
    placeholder: str  # what the empty input says
    pattern: str  # the input's pattern attribute (whole value)

    @property
    def example(self) -> str:
        return EXAMPLE.strftime(self.strptime)


def typed_format(strptime_format: str) -> TypedFormat:
    """The format ``strptime_format`` (day, month, year, hour, minute and separators) for the page.

    >>> shown = typed_format("%d.%m.%Y %H:%M")
    >>> shown.django, shown.placeholder, shown.example
    ('d.m.Y H:i', 'DD.MM.YYYY HH:MM', '04.12.2026 16:30')
    >>> print(shown.pattern)
    \\d{2}\\.\\d{2}\\.\\d{4} \\d{2}:\\d{2}
    >>> typed_format("%Y-%m-%d").example
    '2026-12-04'
    >>> typed_format("%b %d")
    Traceback (most recent call last):
    ValueError: CLINIC_DATE_FORMAT: '%b' is not a numeric day, month, year, hour or minute
    """
    django, placeholder, pattern = [], [], []
    position = 0
    while position < len(strptime_format):
        piece = strptime_format[position : position + 2]
        if piece in _DIRECTIVES:
            letter, shown, digits = _DIRECTIVES[piece]
            position += 2
        elif piece[0] in _SEPARATORS:
            letter, shown, digits = piece[0], piece[0], _SEPARATORS[piece[0]]
            position += 1
        else:
            what = piece if piece.startswith("%") else piece[0]
            raise ValueError(f"CLINIC_DATE_FORMAT: {what!r} is not a numeric day, month, year, hour or minute")
        django.append(letter)
        placeholder.append(shown)
        pattern.append(digits)
    return TypedFormat(strptime_format, "".join(django), "".join(placeholder), "".join(pattern))


def clinic_date_format() -> TypedFormat:
    """The clinic's date format, as the format module gives it to Django (the first of the date
    input formats)."""
    return typed_format(formats.get_format("DATE_INPUT_FORMATS")[0])


def clinic_datetime_format() -> TypedFormat:
    return typed_format(f"{clinic_date_format().strptime} {TIME_FORMAT}")


def clinic_time_format() -> TypedFormat:
    return typed_format(TIME_FORMAT)


def _text_input_attrs(typed: TypedFormat, what: str) -> dict:
    return {
        "placeholder": typed.placeholder,
        "pattern": typed.pattern,
        # The browser's message for a value that does not match names the format.
        "title": f"{what} as {typed.placeholder}, for example {typed.example}",
        "inputmode": "numeric",
        "autocomplete": "off",
        "spellcheck": "false",
        "size": len(typed.placeholder) + 2,
    }


def _format_of(field) -> tuple[TypedFormat, str] | None:
    # DateTimeField before DateField: neither subclasses the other, but keep the order explicit.
    if isinstance(field, forms.DateTimeField):
        return clinic_datetime_format(), "Date and time"
    if isinstance(field, forms.DateField):
        return clinic_date_format(), "Date"
    if isinstance(field, forms.TimeField):
        return clinic_time_format(), "Time (24-hour)"
    return None


def use_clinic_format(field: forms.Field) -> None:
    """Make ``field`` typed and shown in the clinic's format: a text input with a placeholder and a
    pattern, and a message that names the format when the value cannot be read. A hidden input is
    left as it is."""
    found = _format_of(field)
    widget = field.widget
    if found is None or not isinstance(widget, DateTimeBaseInput) or widget.is_hidden:
        return
    typed, what = found
    widget.input_type = "text"
    widget.format = typed.strptime
    widget.attrs.update(_text_input_attrs(typed, what))
    field.error_messages["invalid"] = f"Enter the {what.lower()} as {typed.placeholder}, for example {typed.example}."


class ClinicFormatMixin:
    """Every date, time and date-time field of the form typed in the clinic's format."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            use_clinic_format(field)


def clinic_input_html(kind: str, *, name: str, value, attrs: dict) -> str:
    """A stand-alone input (a page's GET filter that has no form field of its own) in the clinic's
    format; ``kind`` is "date" or "time"."""
    field = forms.DateField() if kind == "date" else forms.TimeField()
    use_clinic_format(field)
    return field.widget.render(name, value, attrs=attrs)
