"""Reconciling an infusion (pure: no Django, no database): what the recorded pump rates could
deliver between the start and the stop, what may be opened without a reason, and the summary
shown before completing.

Every figure is exact (Decimal, time to the microsecond); rounding happens once, where a
figure is shown or compared, and says which way it goes.

Examples use the worked 70 kg dermatomyositis day: 70 g of Octagam 10% (100 mg/mL), 700.0 mL,
vials of 30 and 10 g, ladder 42.0, 84.0, 168.0 mL/h.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal

# What the pump may deliver beyond the recorded rates (pump calibration, a rate set a minute
# before it was written down). Site policy, not a label figure.
VOLUME_DELIVERY_TOLERANCE_PERCENT = Decimal("2")
TENTH = Decimal("0.1")
HUNDREDTH = Decimal("0.01")
MG_PER_G = Decimal("1000")
_MICROSECONDS_PER_HOUR = Decimal(3_600_000_000)


@dataclass(frozen=True)
class RateAt:
    """A pump rate set at one moment: a rate change, or 0 mL/h for a reaction that paused or
    stopped the infusion, or the rate it resumed at."""

    at: datetime
    rate_ml_per_h: Decimal


def _hours(delta: timedelta) -> Decimal:
    return Decimal(max(delta, timedelta(0)) // timedelta(microseconds=1)) / _MICROSECONDS_PER_HOUR


def deliverable_ml(
    *, start: datetime, stop: datetime, initial_rate_ml_per_h: Decimal, rates: Sequence[RateAt]
) -> Decimal:
    """The volume the pump delivers from ``start`` to ``stop`` at the recorded rates, exact.

    Before the first recorded rate the pump runs at ``initial_rate_ml_per_h`` (the caller passes
    the first step's limit: the fastest the ladder allows at the start). Rates outside the
    interval count from its edges.

    >>> from datetime import datetime as dt
    >>> start = dt(2026, 11, 22, 8, 10)
    >>> rates = [RateAt(dt(2026, 11, 22, 8, 40), Decimal("84")), RateAt(dt(2026, 11, 22, 9, 10), Decimal("168"))]
    >>> deliverable_ml(start=start, stop=dt(2026, 11, 22, 10, 10), initial_rate_ml_per_h=Decimal("42"), rates=rates)
    Decimal('231.0')
    """
    if stop <= start:
        return Decimal("0")
    total, rate, since = Decimal("0"), Decimal(initial_rate_ml_per_h), start
    for change in sorted(rates, key=lambda change: change.at):
        if change.at >= stop:
            break
        if change.at > since:
            total += rate * _hours(change.at - since)
            since = change.at
        rate = Decimal(change.rate_ml_per_h)
    return total + rate * _hours(stop - since)


def deliverable_limit_ml(deliverable: Decimal) -> Decimal:
    """The most that may be recorded as given: what the rates deliver plus the tolerance, to
    0.1 mL rounded down. Example: 534.0 mL -> 544.6 mL."""
    return (deliverable * (100 + VOLUME_DELIVERY_TOLERANCE_PERCENT) / 100).quantize(TENTH, ROUND_DOWN)


def opened_allowance_g(*, daily_dose_g: Decimal, vial_sizes_g: Sequence[Decimal]) -> Decimal:
    """Grams that may be opened for the day without a reason: the day's grams plus the smallest
    vial of the plan (one vial opened and found faulty, or a spare).

    >>> opened_allowance_g(daily_dose_g=Decimal("70"), vial_sizes_g=[Decimal("30"), Decimal("10")])
    Decimal('80')
    """
    return Decimal(daily_dose_g) + min(Decimal(size) for size in vial_sizes_g)


def grams_in(volume_ml: Decimal, concentration_mg_per_ml: Decimal) -> Decimal:
    """Grams of IgG in a volume, to 0.01 g rounded down. Example: 520.0 mL of 100 mg/mL -> 52.00 g."""
    return (Decimal(volume_ml) * Decimal(concentration_mg_per_ml) / MG_PER_G).quantize(HUNDREDTH, ROUND_DOWN)


@dataclass(frozen=True)
class CompletionSummary:
    """What the nurse confirms when completing: grams and volume against the plan, and the time."""

    grams_planned: Decimal
    grams_opened: Decimal
    grams_given: Decimal
    grams_wasted: Decimal
    volume_planned_ml: Decimal
    volume_given_ml: Decimal
    started_at: datetime
    stopped_at: datetime
    planned_minutes: int

    @property
    def minutes(self) -> int:
        """Whole minutes from start to stop, rounded down."""
        return int((self.stopped_at - self.started_at) // timedelta(minutes=1))

    @property
    def grams_unaccounted(self) -> Decimal:
        """Opened, less given, less recorded as not given: 0 when the record adds up."""
        return self.grams_opened - self.grams_given - self.grams_wasted

    @property
    def incomplete(self) -> bool:
        return self.volume_given_ml < self.volume_planned_ml

    def to_dict(self) -> dict:
        """For the API: decimal strings, times ISO 8601 with offset."""
        return {
            "grams_planned": str(self.grams_planned),
            "grams_opened": str(self.grams_opened),
            "grams_given": str(self.grams_given),
            "grams_wasted": str(self.grams_wasted),
            "grams_unaccounted": str(self.grams_unaccounted),
            "volume_planned_ml": str(self.volume_planned_ml),
            "volume_given_ml": str(self.volume_given_ml),
            "started_at": self.started_at.isoformat(),
            "stopped_at": self.stopped_at.isoformat(),
            "minutes": self.minutes,
            "planned_minutes": self.planned_minutes,
        }


def completion_summary(
    *,
    daily_dose_g: Decimal,
    daily_volume_ml: Decimal,
    concentration_mg_per_ml: Decimal,
    planned_minutes: int,
    grams_opened: Decimal,
    grams_wasted: Decimal,
    volume_given_ml: Decimal,
    started_at: datetime,
    stopped_at: datetime,
) -> CompletionSummary:
    """The summary of one infusion day.

    >>> from datetime import datetime as dt
    >>> s = completion_summary(daily_dose_g=Decimal("70"), daily_volume_ml=Decimal("700.0"),
    ...     concentration_mg_per_ml=Decimal("100"), planned_minutes=286, grams_opened=Decimal("70"),
    ...     grams_wasted=Decimal("18"), volume_given_ml=Decimal("520.0"),
    ...     started_at=dt(2026, 11, 22, 8, 10), stopped_at=dt(2026, 11, 22, 12, 36))
    >>> str(s.grams_given), str(s.grams_unaccounted), s.minutes, s.incomplete
    ('52.00', '0.00', 266, True)
    """
    return CompletionSummary(
        grams_planned=Decimal(daily_dose_g),
        grams_opened=Decimal(grams_opened),
        grams_given=grams_in(volume_given_ml, concentration_mg_per_ml),
        grams_wasted=Decimal(grams_wasted),
        volume_planned_ml=Decimal(daily_volume_ml),
        volume_given_ml=Decimal(volume_given_ml),
        started_at=started_at,
        stopped_at=stopped_at,
        planned_minutes=planned_minutes,
    )
