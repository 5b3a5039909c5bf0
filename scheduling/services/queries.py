"""Reads for the pages: the week view of the unit's chairs and the calendar feed.

Each answer is a fixed number of queries whatever the week or the unit holds."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from uuid import UUID
from zoneinfo import ZoneInfo

from django.contrib.auth import get_user_model
from django.db import models

from accounts.auth_backend import load_group_names
from accounts.templatetags.people import person
from dosing.models import DoseOrder, OrderStatus
from risk.models import RiskFlag

from ..models import InfusionSession, SessionStatus, UnitSettings


@dataclass(frozen=True)
class Chip:
    """One session on the week's board, as plain values: what the chip shows and nothing else
    (no model instance, no JSON column decoded). ``start`` and ``end`` are local times."""

    uuid: UUID
    chair: int
    start: datetime
    end: datetime
    day_number: int
    days_per_cycle: int
    status: str
    product: str
    mrn: str
    initials: str
    order_status: str
    at_risk: tuple[str, ...] = ()  # titles of the patient's flags that lower the rate cap
    prescribed_by: str = ""  # the print layout only: "Ana Ruiz (physician)"
    verified_by: str = ""

    @property
    def status_label(self) -> str:
        return SessionStatus(self.status).label

    @property
    def order_status_label(self) -> str:
        return OrderStatus(self.order_status).label


@dataclass(frozen=True)
class WeekGrid:
    days: tuple[date, ...]
    rows: tuple[tuple[int, tuple[tuple[Chip, ...], ...]], ...]  # (chair, one tuple per day)
    cancelled: int
    chairs: int  # chairs in the unit this week: its setting, or more when sessions sit beyond it
    first_chair: int
    last_chair: int


CHAIRS_PER_PAGE = 16  # a bay of chairs per page: a large unit's week stays a readable, fast page
# The columns a chip shows, read as values: the patient's, product's, order's and session's JSON
# columns are never selected, so none is decoded (issue 17: the page decoded ~1,200 per request).
CHIP_COLUMNS = (
    "uuid",
    "chair",
    "planned_start",
    "expected_minutes",
    "day_number",
    "status",
    "patient_id",
    "patient__mrn",
    "patient__given_name",
    "patient__family_name",
    "cycle__course__days_per_cycle",
    "cycle__course__order__status",
    "cycle__course__order__product__name",
)
SIGNATORY_COLUMNS = ("cycle__course__order__prescribed_by_id", "cycle__course__order__verified_by_id")


def week_grid(
    monday: date,
    *,
    unit: UnitSettings,
    tz: ZoneInfo,
    first_chair: int = 1,
    signatories: bool = False,
    only_day: date | None = None,
) -> WeekGrid:
    """CHAIRS_PER_PAGE of the unit's chairs, from ``first_chair``, × 7 days from ``monday`` (or
    the one day ``only_day``: today's column, refreshed on its own), each cell the sessions
    starting there in start order (cancelled ones only counted). Three queries whatever the week
    or the unit holds (the chair count, the sessions, their flags); with ``signatories`` (the
    print layout, which names each order's prescriber and verifier) two more (the people, their
    roles)."""
    days = (only_day,) if only_day else tuple(monday + timedelta(days=offset) for offset in range(7))
    start = datetime.combine(days[0], time(0), tzinfo=tz)
    end = datetime.combine(days[-1] + timedelta(days=1), time(0), tzinfo=tz)
    week_start = datetime.combine(monday, time(0), tzinfo=tz)
    week = InfusionSession.objects.between(week_start, week_start + timedelta(days=7))
    beyond = week.exclude(status=SessionStatus.CANCELLED).aggregate(chair=models.Max("chair"))["chair"]
    chairs = max(unit.chairs, beyond or 0)
    first_chair = min(max(first_chair, 1), chairs)
    last_chair = min(first_chair + CHAIRS_PER_PAGE - 1, chairs)
    columns = (*CHIP_COLUMNS, *SIGNATORY_COLUMNS) if signatories else CHIP_COLUMNS
    rows = list(
        # The chairs listed, not a range: the database then reads each chair's week off the
        # (chair, planned_start) index, not every chair's whole history between them.
        InfusionSession.objects.between(start, end)
        .filter(chair__in=range(first_chair, last_chair + 1))
        .order_by("planned_start", "chair")
        .values(*columns)
    )
    shown = [row for row in rows if row["status"] != SessionStatus.CANCELLED]
    flags: dict[int, list[str]] = defaultdict(list)
    if shown:
        at_risk = RiskFlag.objects.putting_at_risk().filter(patient_id__in={row["patient_id"] for row in shown})
        for patient_id, title in at_risk.order_by("pk").values_list("patient_id", "title"):
            flags[patient_id].append(title)
    names = _signatories(shown) if signatories else {}
    cells: dict[tuple[int, date], list[Chip]] = defaultdict(list)
    for row in shown:
        chip = _chip(row, tz, tuple(flags.get(row["patient_id"], ())), names)
        cells[(chip.chair, chip.start.date())].append(chip)
    grid = tuple(
        (chair, tuple(tuple(cells[(chair, day)]) for day in days)) for chair in range(first_chair, last_chair + 1)
    )
    return WeekGrid(days, grid, len(rows) - len(shown), chairs, first_chair, last_chair)


def _chip(row: dict, tz: ZoneInfo, at_risk: tuple[str, ...], names: dict[int, str]) -> Chip:
    start = row["planned_start"].astimezone(tz)
    given, family = row["patient__given_name"], row["patient__family_name"]
    return Chip(
        uuid=row["uuid"],
        chair=row["chair"],
        start=start,
        end=(row["planned_start"] + timedelta(minutes=row["expected_minutes"])).astimezone(tz),
        day_number=row["day_number"],
        days_per_cycle=row["cycle__course__days_per_cycle"],
        status=row["status"],
        product=row["cycle__course__order__product__name"],
        mrn=row["patient__mrn"],
        initials=f"{given[:1]}{family[:1]}".upper(),  # as Patient.initials
        order_status=row["cycle__course__order__status"],
        at_risk=at_risk,
        prescribed_by=names.get(row.get("cycle__course__order__prescribed_by_id"), ""),
        verified_by=names.get(row.get("cycle__course__order__verified_by_id"), ""),
    )


def _signatories(rows: list[dict]) -> dict[int, str]:
    """Each prescriber's and verifier's name with their roles ("Ana Ruiz (physician)"): two queries."""
    ids = {row[column] for row in rows for column in SIGNATORY_COLUMNS} - {None}
    if not ids:
        return {}
    people = list(get_user_model().objects.filter(pk__in=ids).only("username", "first_name", "last_name"))
    load_group_names(people)
    return {user.pk: person(user) for user in people}


def chair_pages(chairs: int) -> list[tuple[int, int]]:
    """The (first, last) chair of each page: 40 chairs -> [(1, 16), (17, 32), (33, 40)]."""
    return [(first, min(first + CHAIRS_PER_PAGE - 1, chairs)) for first in range(1, chairs + 1, CHAIRS_PER_PAGE)]


def feed_sessions(*, now: datetime, days_back: int = 7, days_ahead: int = 90):
    """Open sessions for the calendar feed, from ``days_back`` days ago to ``days_ahead`` ahead."""
    return (
        InfusionSession.objects.open()
        .between(now - timedelta(days=days_back), now + timedelta(days=days_ahead))
        .select_related("patient", "cycle__course__order__product")
        .order_by("planned_start", "chair")
    )


ORDERS_TO_BOOK_SHOWN = 8  # the panel's first rows, waiting longest first; the order list has them all
ORDER_COLUMNS = (
    "uuid",
    "status",
    "dose_g_per_kg",
    "days",
    "verified_at",
    "patient__mrn",
    "patient__given_name",
    "patient__family_name",
    "product__name",
)


@dataclass(frozen=True)
class OrderToBook:
    """A verified order no course was booked from, as the board's panel lists it (MRN and
    initials only: the board is on a screen others can see)."""

    uuid: UUID
    status: str
    dose_g_per_kg: Decimal
    days: int
    mrn: str
    initials: str
    product: str


def _order_to_book(row: dict) -> OrderToBook:
    given, family = row["patient__given_name"], row["patient__family_name"]
    return OrderToBook(
        uuid=row["uuid"],
        status=row["status"],
        dose_g_per_kg=row["dose_g_per_kg"],
        days=row["days"],
        mrn=row["patient__mrn"],
        initials=f"{given[:1]}{family[:1]}".upper(),
        product=row["product__name"],
    )


def orders_to_book(limit: int = ORDERS_TO_BOOK_SHOWN) -> tuple[list[OrderToBook], bool]:
    """The first ``limit`` orders waiting for a course (dosing's own to_schedule filter), waiting
    longest first, and whether there are more. One query, LIMIT limit + 1, read off the partial
    index ``order_to_schedule`` (verified_at, id)."""
    rows = list(DoseOrder.objects.to_schedule().order_by("verified_at", "pk").values(*ORDER_COLUMNS)[: limit + 1])
    return [_order_to_book(row) for row in rows[:limit]], len(rows) > limit


def order_to_book(order_uuid: UUID) -> OrderToBook | None:
    """The order the board is booking, while it still waits for a course; else None."""
    row = DoseOrder.objects.to_schedule().filter(uuid=order_uuid).values(*ORDER_COLUMNS).first()
    return _order_to_book(row) if row else None
