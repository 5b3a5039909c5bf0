"""Parsing FHIR search parameters: pure, no ORM. Anything we cannot read exactly is refused with
a SearchError naming the parameter (the view answers 400): a filter quietly dropped would hand an
EHR more patients or results than it asked for."""

import re
from dataclasses import dataclass
from datetime import date, datetime

from .capability import DEFAULT_COUNT, MAX_COUNT


class SearchError(ValueError):
    def __init__(self, param: str, message: str):
        super().__init__(f"{param}: {message}")
        self.param = param


@dataclass(frozen=True)
class Token:
    system: str | None  # None: any system; "": no system
    code: str


def parse_token(param: str, value: str) -> Token:
    """system|code, |code (no system) or code (any system).

    >>> parse_token("identifier", "urn:oid:1.2|MRN1"), parse_token("identifier", "MRN1")
    (Token(system='urn:oid:1.2', code='MRN1'), Token(system=None, code='MRN1'))
    """
    system, bar, code = value.partition("|")
    if not bar:
        system, code = None, value
    if not code:
        raise SearchError(param, f"{value!r} has no code (expected system|code or code)")
    return Token(system, code)


DATE_PREFIXES = ("eq", "ge", "le", "gt", "lt")
_WHOLE = re.compile(r"[0-9]{1,9}")
_DATE = re.compile(r"(?P<prefix>[a-z]{2})?(?P<day>\d{4}-\d{2}-\d{2})")


@dataclass(frozen=True)
class DateBound:
    prefix: str
    day: date

    def matches(self, day: date) -> bool:
        """Whether an observation of `day` lies within this bound.

        >>> DateBound("ge", date(2026, 1, 1)).matches(date(2026, 1, 1))
        True
        """
        return {
            "eq": day == self.day,
            "ge": day >= self.day,
            "le": day <= self.day,
            "gt": day > self.day,
            "lt": day < self.day,
        }[self.prefix]

    def overlaps(self, start: date, end: date | None) -> bool:
        """Whether a period of days from `start` to `end` (None: still open) meets this bound, as
        FHIR compares a period: eq, it holds the day; ge/gt, it lasts until the day (or after);
        le/lt, it began by the day (or before).

        >>> bound = DateBound("eq", date(2026, 3, 1))
        >>> bound.overlaps(date(2026, 2, 1), None), bound.overlaps(date(2026, 2, 1), date(2026, 2, 28))
        (True, False)
        """
        return {
            "eq": start <= self.day and (end is None or end >= self.day),
            "ge": end is None or end >= self.day,
            "gt": end is None or end > self.day,
            "le": start <= self.day,
            "lt": start < self.day,
        }[self.prefix]


def parse_date(param: str, value: str) -> DateBound:
    """[prefix]YYYY-MM-DD; our observations are dated to the day.

    >>> parse_date("date", "ge2026-01-05")
    DateBound(prefix='ge', day=datetime.date(2026, 1, 5))
    """
    match = _DATE.fullmatch(value)
    if not match:
        raise SearchError(param, f"{value!r} is not a date: expected [eq|ge|le|gt|lt]YYYY-MM-DD")
    prefix = match["prefix"] or "eq"
    if prefix not in DATE_PREFIXES:
        raise SearchError(param, f"prefix {prefix!r} is not supported: use one of {', '.join(DATE_PREFIXES)}")
    try:
        day = date.fromisoformat(match["day"])
    except ValueError:
        raise SearchError(param, f"{match['day']!r} is not a calendar date") from None
    return DateBound(prefix, day)


def parse_count(value: str | None) -> int:
    """Page size: default 20, 0 for the total only, more than 100 gets 100.

    >>> parse_count(None), parse_count("2"), parse_count("500")
    (20, 2, 100)
    """
    if value is None:
        return DEFAULT_COUNT
    if not _WHOLE.fullmatch(value):
        raise SearchError("_count", f"{value!r} is not a whole number of 0 or more")
    return min(int(value), MAX_COUNT)


def parse_offset(value: str | None) -> int:
    """Where a page starts (the next link's _offset).

    >>> parse_offset("40")
    40
    """
    if value is None:
        return 0
    if not _WHOLE.fullmatch(value):
        raise SearchError("_offset", f"{value!r} is not a whole number of 0 or more")
    return int(value)


_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})")


def parse_instant(param: str, value: str) -> datetime:
    """A FHIR instant: date, time to the second and a zone (Z or +hh:mm), as an aware datetime.

    >>> parse_instant("_since", "2026-11-20T08:00:00Z").isoformat()
    '2026-11-20T08:00:00+00:00'
    """
    if not _INSTANT.fullmatch(value):
        raise SearchError(param, f"{value!r} is not an instant: expected YYYY-MM-DDThh:mm:ss with Z or +hh:mm")
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise SearchError(param, f"{value!r} is not a calendar date and time") from None


def parse_types(param: str, value: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
    """A comma list of resource types, each one of `allowed`, in the order of `allowed`.

    >>> parse_types("_type", "Observation,Patient", ("Patient", "Observation", "Flag"))
    ('Patient', 'Observation')
    """
    asked = [name.strip() for name in value.split(",")]
    unknown = [name for name in asked if name not in allowed]
    if unknown:
        raise SearchError(param, f"{unknown[0]!r} is not one of the types served here: {', '.join(allowed)}")
    return tuple(name for name in allowed if name in asked)
