"""A minimal iCalendar (RFC 5545) writer for the unit's session feed.

Pure: events in, text out; no ORM, no clock. Only what the feed needs: VCALENDAR with
VEVENTs whose times are UTC (``...Z``), TEXT values escaped, content lines folded at 75
octets (never inside a UTF-8 character) and ended with CRLF.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

CRLF = "\r\n"
LINE_OCTETS_MAX = 75
STATUSES = ("TENTATIVE", "CONFIRMED", "CANCELLED")


def escape_text(value: str) -> str:
    r"""Escape a TEXT value: backslash, semicolon, comma and line breaks.

    Example:

    >>> escape_text("Octagam 10%, day 1; chair 2\nnote")
    'Octagam 10%\\, day 1\\; chair 2\\nnote'
    """
    return (
        value.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\r", "\\n")
        .replace("\n", "\\n")
    )


def fold(line: str) -> str:
    """Fold one content line into lines of at most 75 octets; continuation lines start with a
    space (which counts toward their 75). A multi-octet character is never split.

    Example: an 80-character line becomes 75 octets, CRLF, a space and the last 5.

    >>> folded = fold("X" * 80)
    >>> [len(part.encode()) for part in folded.split("\\r\\n")]
    [75, 6]
    """
    parts: list[str] = []
    current, size = "", 0
    for char in line:
        octets = len(char.encode("utf-8"))
        if size + octets > LINE_OCTETS_MAX:
            parts.append(current)
            current, size = " ", 1
        current += char
        size += octets
    parts.append(current)
    return CRLF.join(parts)


def utc_stamp(value: datetime) -> str:
    """An aware datetime as an iCalendar UTC DATE-TIME.

    Example: 09:00 EST on 23 Nov 2026 is 14:00 UTC.

    >>> from zoneinfo import ZoneInfo
    >>> utc_stamp(datetime(2026, 11, 23, 9, 0, tzinfo=ZoneInfo("America/New_York")))
    '20261123T140000Z'
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"value: naive datetime {value.isoformat()} refused; pass an aware datetime")
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


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
            raise ValueError(f"status: must be one of {', '.join(STATUSES)}, not {self.status!r}")
        if self.end < self.start:
            raise ValueError(f"end: {self.end.isoformat()} is before start {self.start.isoformat()}")
        if not self.uid or any(char in self.uid for char in "\r\n"):
            raise ValueError("uid: must be non-empty, on one line")

    def lines(self, stamp: datetime) -> list[str]:
        lines = [
            "BEGIN:VEVENT",
            f"UID:{self.uid}",
            f"DTSTAMP:{utc_stamp(stamp)}",
            f"DTSTART:{utc_stamp(self.start)}",
            f"DTEND:{utc_stamp(self.end)}",
            f"SUMMARY:{escape_text(self.summary)}",
        ]
        if self.description:
            lines.append(f"DESCRIPTION:{escape_text(self.description)}")
        lines += [f"STATUS:{self.status}", f"SEQUENCE:{self.sequence}"]
        if self.url:
            lines.append(f"URL:{self.url}")
        lines.append("END:VEVENT")
        return lines


def calendar(events: Iterable[Event], *, name: str, stamp: datetime, product: str = "-//IVIG Clinic//Unit//EN") -> str:
    """The whole VCALENDAR: every line folded and ended with CRLF.

    Example: an empty calendar still names itself.

    >>> text = calendar([], name="IVIG unit", stamp=datetime(2026, 11, 22, 17, 0, tzinfo=UTC))
    >>> text.split("\\r\\n")[:2], text.endswith("END:VCALENDAR\\r\\n")
    (['BEGIN:VCALENDAR', 'VERSION:2.0'], True)
    """
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{product}",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{escape_text(name)}",
    ]
    for event in events:
        lines += event.lines(stamp)
    lines.append("END:VCALENDAR")
    return "".join(fold(line) + CRLF for line in lines)
