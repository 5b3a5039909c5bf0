"""Is an infusion a "first infusion", and why: the one rule, for the order (dosing) and the session
(scheduling), which both call it.

An infusion counts as a first one when the patient is IVIG-naive, when the product changes, or
after a long gap without IVIG (more than ``gap_weeks``: ``SiteSettings.first_infusion_gap_weeks``,
8 by default). Those are the infusions most likely to bring a reaction, so the site runs them on a
slower ladder (``dosing.calculations.slow_first_step``).

The data is the last infusion given before the day (started: completed or in progress, with its
order's product), and ``Patient.ivig_started_on``: "the first IVIG infusion of the current
treatment". A start recorded *before* the day with nothing given here means IVIG was started
elsewhere (or before these records): the patient is not naive. What was given there, and when,
is not on file, so no switch or gap can be derived from it; the prescriber knows, and the
infusion is not marked. A start recorded on the day or later is this treatment's first infusion
still to come: naive.

Pure: no Django, no models, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from accounts.errors import FieldError

GAP_WEEKS_MIN = 1
GAP_WEEKS_MAX = 52


class FirstInfusionKind(StrEnum):
    IVIG_NAIVE = "ivig_naive"
    PRODUCT_SWITCH = "product_switch"
    GAP = "gap"


@dataclass(frozen=True)
class InfusionGiven:
    """An infusion given (started): its local date and its order's product."""

    on: date
    product_slug: str
    product_name: str


@dataclass(frozen=True)
class FirstInfusion:
    kind: FirstInfusionKind
    # Why, in a clinician's words: "product switch from Gamunex-C (last given 2026-08-01)".
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind.value, "reason": self.reason}


def given_from_rows(rows: Any) -> tuple[InfusionGiven, ...]:
    """The infusions given as kept on the patient (``Patient.infusions_given``: dicts of ISO date,
    product slug and name), oldest first.

    >>> given_from_rows([{"on": "2026-08-01", "product_slug": "gamunex-c", "product_name": "Gamunex-C"}])
    (InfusionGiven(on=datetime.date(2026, 8, 1), product_slug='gamunex-c', product_name='Gamunex-C'),)
    """
    if not isinstance(rows, list | tuple):
        raise TypeError("infusions_given: must be a list")
    given = (InfusionGiven(date.fromisoformat(row["on"]), row["product_slug"], row["product_name"]) for row in rows)
    return tuple(sorted(given, key=lambda infusion: infusion.on))


def last_given_before(given: Any, day: date) -> InfusionGiven | None:
    """The last infusion given on a day before ``day``; None when there is none.

    >>> given = given_from_rows([{"on": "2026-08-01", "product_slug": "a", "product_name": "A"},
    ...     {"on": "2026-08-29", "product_slug": "b", "product_name": "B"}])
    >>> last_given_before(given, date(2026, 8, 29)).product_name, last_given_before(given, date(2026, 8, 1))
    ('A', None)
    """
    before = _date(day, "on")
    earlier = [infusion for infusion in given if infusion.on < before]
    return max(earlier, key=lambda infusion: infusion.on) if earlier else None


def _date(value: Any, field_name: str) -> date:
    # datetime is a date subclass; a moment is never meant here.
    if not isinstance(value, date) or hasattr(value, "hour"):
        raise TypeError(f"{field_name}: must be a date, not {type(value).__name__}")
    return value


def first_infusion(
    *,
    on: date,
    product_slug: str,
    last_given: InfusionGiven | None,
    ivig_started_on: date | None,
    gap_weeks: int,
) -> FirstInfusion | None:
    """Whether an infusion of ``product_slug`` on ``on`` is a first infusion, and why; None if not.

    ``last_given`` is the last infusion given before ``on`` (None: none on file). A product switch
    is named before a gap; when both hold, the reason says both. Exactly ``gap_weeks`` is not a gap.

    Example: Gamunex-C last given on 1 Aug 2026, Octagam 10 % on 24 Oct (12 weeks later, gap 8).

    >>> last = InfusionGiven(date(2026, 8, 1), "gamunex-c", "Gamunex-C")
    >>> first_infusion(on=date(2026, 10, 24), product_slug="octagam-10", last_given=last,
    ...     ivig_started_on=None, gap_weeks=8).reason
    'product switch from Gamunex-C (last given 2026-08-01); 12 weeks without IVIG, more than 8'
    >>> first_infusion(on=date(2026, 9, 26), product_slug="gamunex-c", last_given=last,
    ...     ivig_started_on=None, gap_weeks=8) is None
    True
    >>> first_infusion(on=date(2026, 10, 24), product_slug="gamunex-c", last_given=None,
    ...     ivig_started_on=None, gap_weeks=8).reason
    'IVIG-naive: no infusion given before'
    """
    day = _date(on, "on")
    if not isinstance(product_slug, str) or not product_slug:
        raise FieldError("product_slug", "the product of the infusion is needed")
    if isinstance(gap_weeks, bool) or not isinstance(gap_weeks, int):
        raise TypeError(f"gap_weeks: must be a whole number (int), not {type(gap_weeks).__name__}")
    if not GAP_WEEKS_MIN <= gap_weeks <= GAP_WEEKS_MAX:
        raise FieldError("gap_weeks", f"must be between {GAP_WEEKS_MIN} and {GAP_WEEKS_MAX}, not {gap_weeks}")
    started = None if ivig_started_on is None else _date(ivig_started_on, "ivig_started_on")

    if last_given is None:
        if started is not None and started < day:
            return None  # started elsewhere (or before these records): not naive, nothing more on file
        return FirstInfusion(FirstInfusionKind.IVIG_NAIVE, "IVIG-naive: no infusion given before")
    if not isinstance(last_given, InfusionGiven):
        raise TypeError("last_given: must be an InfusionGiven or None")
    last_on = _date(last_given.on, "last_given.on")
    if last_on >= day:
        raise FieldError("last_given", f"the last infusion given before {day} cannot be on {last_on}")

    reasons, kind = [], None
    if last_given.product_slug != product_slug:
        kind = FirstInfusionKind.PRODUCT_SWITCH
        reasons.append(f"product switch from {last_given.product_name} (last given {last_on.isoformat()})")
    if day - last_on > timedelta(weeks=gap_weeks):
        kind = kind or FirstInfusionKind.GAP
        weeks_text = _weeks(day - last_on)
        since = "" if reasons else f" (last given {last_on.isoformat()})"
        reasons.append(f"{weeks_text} without IVIG{since}, more than {gap_weeks}")
    if kind is None:
        return None
    return FirstInfusion(kind, "; ".join(reasons))


def _weeks(elapsed: timedelta) -> str:
    """Whole weeks and days, as a nurse reads them: 84 days -> '12 weeks', 59 days -> '8 weeks 3 days'."""
    weeks, days = divmod(elapsed.days, 7)
    text = f"{weeks} week{'s' if weeks != 1 else ''}"
    return text + (f" {days} day{'s' if days != 1 else ''}" if days else "")
