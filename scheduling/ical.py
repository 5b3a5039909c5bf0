"""The unit's session feed as iCalendar (RFC 5545), written by the ``icalendar`` package.

Pure: events in, text out; no ORM, no clock. This module holds only what the feed decides:
which properties an event carries, and that every time is written in UTC (``...Z``), so a
calendar app never has to know the clinic's time zone to place a session right across a
daylight-saving change. Escaping TEXT values, folding lines at 75 octets and CRLF line ends
are the library's.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import icalendar

from accounts.errors import FieldError

STATUSES = ("TENTATIVE", "CONFIRMED", "CANCELLED")
PRODUCT_ID = "-//IVIG Clinic//Unit//EN"


def _aware(name: str, value: datetime) -> None:
    # A naive time would be written as "floating" local time, placed by each reader's own zone.
    if value.tzinfo is None or value.utcoffset() is None:
        raise FieldError(name, f"naive datetime {value.isoformat()} refused; pass an aware datetime")


@dataclass(frozen=True)
class Event:
    uid: str
    start: datetime
    end: datetime
    summary: str
    description: str = ""
    status: str = "TENTATIVE"
    sequence: int = 0
    url: str = ""

    def __post_init__(self):
        if self.status not in STATUSES:
            raise FieldError("status", f"must be one of {', '.join(STATUSES)}, not {self.status!r}")
        _aware("start", self.start)
        _aware("end", self.end)
        if self.end < self.start:
            raise FieldError("end", f"{self.end.isoformat()} is before start {self.start.isoformat()}")
        if not self.uid or any(char in self.uid for char in "\r\n"):
            raise FieldError("uid", "must be non-empty, on one line")

    def component(self, stamp: datetime) -> icalendar.Event:
        return icalendar.Event.new(
            uid=self.uid,
            stamp=stamp.astimezone(UTC),
            start=self.start.astimezone(UTC),
            end=self.end.astimezone(UTC),
            summary=self.summary,
            description=self.description or None,
            status=self.status,
            sequence=self.sequence,
            url=self.url or None,
        )


def calendar(events: Iterable[Event], *, name: str, stamp: datetime, product: str = PRODUCT_ID) -> str:
    """The whole VCALENDAR, every time in UTC.

    Example: 09:00 EST on Monday 23 Nov 2026 is written as 14:00 UTC.

    >>> from zoneinfo import ZoneInfo
    >>> start = datetime(2026, 11, 23, 9, 0, tzinfo=ZoneInfo("America/New_York"))
    >>> event = Event(uid="a@ivig-clinic", start=start, end=start, summary="Chair 1: IVIG MRN-1")
    >>> text = calendar([event], name="IVIG unit", stamp=datetime(2026, 11, 22, 17, 0, tzinfo=UTC))
    >>> "DTSTART:20261123T140000Z" in text.split("\\r\\n"), text.endswith("END:VCALENDAR\\r\\n")
    (True, True)
    """
    _aware("stamp", stamp)
    feed = icalendar.Calendar()
    feed.add("version", "2.0")
    feed.add("prodid", product)
    feed.add("calscale", "GREGORIAN")
    feed.add("method", "PUBLISH")
    # Typed as TEXT explicitly: an X- property would otherwise be written unescaped.
    feed.add("x-wr-calname", icalendar.vText(name))
    for event in events:
        feed.add_component(event.component(stamp))
    return feed.to_ical().decode("utf-8")
