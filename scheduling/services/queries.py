"""Reads for the pages: the week view of the unit's chairs and the calendar feed.

Each answer is a fixed number of queries whatever the week or the unit holds."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db import models
from django.db.models import Prefetch

from accounts.auth_backend import load_group_names
from risk.models import RiskFlag

from ..models import InfusionSession, SessionStatus, UnitSettings


@dataclass(frozen=True)
class WeekGrid:
    days: tuple[date, ...]
    rows: tuple[tuple[int, tuple[tuple[InfusionSession, ...], ...]], ...]  # (chair, one tuple per day)
    cancelled: int
    chairs: int  # chairs in the unit this week: its setting, or more when sessions sit beyond it
    first_chair: int
    last_chair: int


# The order's JSON documents, which the week view's chips never show.
ORDER_JSON_NOT_SHOWN = ("inputs", "facts", "plan", "chart_replan", "contraindication_override")
CHAIRS_PER_PAGE = 16  # a bay of chairs per page: a large unit's week stays a readable, fast page


def week_grid(monday: date, *, unit: UnitSettings, tz: ZoneInfo, first_chair: int = 1) -> WeekGrid:
    """CHAIRS_PER_PAGE of the unit's chairs, from ``first_chair``, × 7 days from ``monday``,
    each cell the sessions starting there in start order (cancelled ones only counted). Four
    queries whatever the week or the unit holds (the chair count, the sessions, their flags, the
    roles of the orders' prescribers and verifiers)."""
    days = tuple(monday + timedelta(days=offset) for offset in range(7))
    start = datetime.combine(monday, time(0), tzinfo=tz)
    end = datetime.combine(monday + timedelta(days=7), time(0), tzinfo=tz)
    week = InfusionSession.objects.between(start, end)
    beyond = week.exclude(status=SessionStatus.CANCELLED).aggregate(chair=models.Max("chair"))["chair"]
    chairs = max(unit.chairs, beyond or 0)
    first_chair = min(max(first_chair, 1), chairs)
    last_chair = min(first_chair + CHAIRS_PER_PAGE - 1, chairs)
    sessions = list(
        # The chairs listed, not a range: the database then reads each chair's week off the
        # (chair, planned_start) index, not every chair's whole history between them.
        week.filter(chair__in=range(first_chair, last_chair + 1))
        # The prescriber and the verifier: the printed week names them on each session.
        .select_related(
            "patient",
            "cycle__course__order__product",
            "cycle__course__order__prescribed_by",
            "cycle__course__order__verified_by",
        )
        .defer(*(f"cycle__course__order__{name}" for name in ORDER_JSON_NOT_SHOWN))
        .prefetch_related(
            Prefetch("patient__risk_flags", queryset=RiskFlag.objects.putting_at_risk(), to_attr="at_risk_flags")
        )
        .order_by("planned_start", "chair")
    )
    shown = [session for session in sessions if session.status != SessionStatus.CANCELLED]
    # The printed week names each order's prescriber and verifier with their roles: one query for all.
    load_group_names(
        person
        for session in shown
        for person in (session.cycle.course.order.prescribed_by, session.cycle.course.order.verified_by)
    )
    cells: dict[tuple[int, date], list[InfusionSession]] = defaultdict(list)
    for session in shown:
        cells[(session.chair, session.planned_start.astimezone(tz).date())].append(session)
    rows = tuple(
        (chair, tuple(tuple(cells[(chair, day)]) for day in days)) for chair in range(first_chair, last_chair + 1)
    )
    return WeekGrid(days, rows, len(sessions) - len(shown), chairs, first_chair, last_chair)


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
