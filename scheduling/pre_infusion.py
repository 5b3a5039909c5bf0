"""The pre-infusion check: is what the chair needs to know about the patient recent enough?

Pure functions over ``Decimal``, ``date`` and small frozen dataclasses: no ORM, no clock, no
settings. The caller reads the facts (each a value with its date, or None when nothing is on
record) and passes today's date and the cycle's first day in.

Each item is ``ok``, ``stale`` or ``missing``, with why in a nurse's words. How old is too old
is the site's choice, kept in one place (``SITE_POLICY``) and shown to users as site policy.
The creatinine window is the one the risk rule uses (``risk.rules.CREATININE_BEFORE_CYCLE_DAYS``):
the check and the flag cannot disagree about what "recent" means.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum

from accounts.errors import FieldError
from dosing.chart_limits import REVERIFY_WEIGHT_CHANGE_PERCENT, changed_by_at_least
from risk.rules import CREATININE_BEFORE_CYCLE_DAYS

HUNDRED = Decimal("100")
TENTH = Decimal("0.1")


class CheckStatus(StrEnum):
    OK = "ok"
    STALE = "stale"
    MISSING = "missing"


@dataclass(frozen=True)
class PreInfusionPolicy:
    """How recent each fact must be at the start of an infusion (site policy, not label text)."""

    weight_max_age_days: int = 30
    # The order was dosed on a weight; a change of this much or more means the dose may be wrong
    # (the same line that sends the order back to verification).
    weight_change_max_percent: Decimal = REVERIFY_WEIGHT_CHANGE_PERCENT
    renal_before_cycle_days: int = CREATININE_BEFORE_CYCLE_DAYS
    haemoglobin_max_age_days: int = 30

    @property
    def sentence(self) -> str:
        return (
            f"weight within {self.weight_max_age_days} days and "
            f"less than {self.weight_change_max_percent.normalize():f} % from the order's weight; creatinine and eGFR "
            f"within {self.renal_before_cycle_days} days before the cycle's first day; haemoglobin within "
            f"{self.haemoglobin_max_age_days} days; blood group and IgA status recorded"
        )


SITE_POLICY = PreInfusionPolicy()


@dataclass(frozen=True)
class Fact:
    """One fact as on record: its value (a number or a label), its unit and the date it is from."""

    value: Decimal | str
    on: date | None = None
    unit: str = ""


@dataclass(frozen=True)
class CheckItem:
    code: str
    label: str
    value: str
    unit: str
    on: date | None
    age_days: int | None
    status: CheckStatus
    why: str

    @property
    def needs_acceptance(self) -> bool:
        return self.status != CheckStatus.OK

    def to_dict(self) -> dict:
        """As stored with the start and shown on the pages: dates as ISO strings."""
        data = asdict(self)
        data["on"] = self.on.isoformat() if self.on else None
        data["status"] = str(self.status)
        return data


def _plain(value: Decimal) -> str:
    # normalize() alone would write 100 as 1E+2.
    return format(value.normalize(), "f")


def _age_days(fact: Fact, today: date, field: str) -> int:
    if fact.on is None:
        raise FieldError(field, "a dated fact needs its date")
    if fact.on > today:
        raise FieldError(field, f"dated {fact.on:%Y-%m-%d}, after today ({today:%Y-%m-%d})")
    return (today - fact.on).days


def _missing(code: str, label: str, why: str) -> CheckItem:
    return CheckItem(code, label, "", "", None, None, CheckStatus.MISSING, why)


def _dated(code: str, label: str, fact: Fact, today: date, status: CheckStatus, why: str) -> CheckItem:
    value = _plain(fact.value) if isinstance(fact.value, Decimal) else str(fact.value)
    return CheckItem(code, label, value, fact.unit, fact.on, _age_days(fact, today, code), status, why)


def _weight(fact: Fact | None, order_weight_kg: Decimal, today: date, policy: PreInfusionPolicy) -> CheckItem:
    label = "Weight"
    if fact is None:
        return _missing("weight", label, "None on record.")
    if order_weight_kg <= 0:
        raise FieldError("order_weight_kg", f"must be above 0, not {order_weight_kg}")
    age = _age_days(fact, today, "weight")
    change = ((fact.value - order_weight_kg) / order_weight_kg * HUNDRED).quantize(TENTH)
    versus = f"{_plain(abs(change))} % {'above' if change > 0 else 'below'} the order's {_plain(order_weight_kg)} kg"
    if change == 0:
        versus = f"the order's weight ({_plain(order_weight_kg)} kg)"
    reasons = []
    if age > policy.weight_max_age_days:
        reasons.append(f"measured {age} days ago, more than {policy.weight_max_age_days}")
    if changed_by_at_least(order_weight_kg, fact.value, policy.weight_change_max_percent):
        reasons.append(
            f"{versus}, more than {policy.weight_change_max_percent.normalize():f} %: the dose may need re-ordering"
        )
    if reasons:
        return _dated("weight", label, fact, today, CheckStatus.STALE, "; ".join(reasons).capitalize() + ".")
    return _dated("weight", label, fact, today, CheckStatus.OK, f"Measured {age} days ago; {versus}.")


def _within_days(code: str, label: str, fact: Fact | None, today: date, max_age_days: int) -> CheckItem:
    if fact is None:
        return _missing(code, label, "None on record.")
    age = _age_days(fact, today, code)
    if age > max_age_days:
        return _dated(code, label, fact, today, CheckStatus.STALE, f"{age} days old, more than {max_age_days}.")
    return _dated(code, label, fact, today, CheckStatus.OK, f"{age} days old.")


def _before_cycle(code: str, label: str, fact: Fact | None, today: date, cycle_first_day: date, days: int):
    if fact is None:
        return _missing(code, label, "None on record.")
    window_start = cycle_first_day - timedelta(days=days)
    _age_days(fact, today, code)  # an undated or future result is refused before it is compared
    if fact.on < window_start:
        why = f"From before {window_start:%Y-%m-%d}: not within {days} days before the cycle's first day."
        return _dated(code, label, fact, today, CheckStatus.STALE, why)
    why = f"Within {days} days before the cycle's first day ({cycle_first_day:%Y-%m-%d})."
    return _dated(code, label, fact, today, CheckStatus.OK, why)


def _recorded(code: str, label: str, fact: Fact | None) -> CheckItem:
    if fact is None:
        return _missing(code, label, f"{label} not recorded.")
    return CheckItem(code, label, str(fact.value), "", None, None, CheckStatus.OK, "Recorded.")


def pre_infusion_check(
    *,
    today: date,
    cycle_first_day: date,
    order_weight_kg: Decimal,
    weight: Fact | None,
    creatinine: Fact | None,
    egfr: Fact | None,
    haemoglobin: Fact | None,
    blood_group: Fact | None,
    iga_status: Fact | None,
    policy: PreInfusionPolicy = SITE_POLICY,
) -> tuple[CheckItem, ...]:
    """The check's items, in the order a nurse reads them: weight, creatinine, eGFR,
    haemoglobin, blood group, IgA status. A fact not on record is None (a blood group or IgA
    status "not known" is not on record). A fact dated after ``today`` raises ``ValueError``
    naming it.

    Example: the 70 kg order, infusion on 2026-11-22, first day of the cycle; weighed 72.0 kg
    on 2026-11-20 (2.9 % above: ok); creatinine drawn on 2026-10-23 (30 days before the first
    day: ok, the earliest day allowed); eGFR on 2026-10-22 (31 days: stale); no haemoglobin
    (missing); blood group O; IgA status not known (missing).

    >>> day = date(2026, 11, 22)
    >>> items = pre_infusion_check(
    ...     today=day, cycle_first_day=day, order_weight_kg=Decimal("70.0"),
    ...     weight=Fact(Decimal("72.0"), date(2026, 11, 20), "kg"),
    ...     creatinine=Fact(Decimal("0.9"), date(2026, 10, 23), "mg/dL"),
    ...     egfr=Fact(Decimal("85"), date(2026, 10, 22), "mL/min/1.73 m²"),
    ...     haemoglobin=None, blood_group=Fact("O"), iga_status=None)
    >>> [(item.code, str(item.status), item.age_days) for item in items]
    ... # doctest: +NORMALIZE_WHITESPACE
    [('weight', 'ok', 2), ('creatinine', 'ok', 30), ('egfr', 'stale', 31), ('haemoglobin', 'missing', None),
     ('blood_group', 'ok', None), ('iga_status', 'missing', None)]
    >>> items[0].why
    "Measured 2 days ago; 2.9 % above the order's 70 kg."
    >>> needs_acceptance(items)
    True
    """
    return (
        _weight(weight, order_weight_kg, today, policy),
        _before_cycle("creatinine", "Creatinine", creatinine, today, cycle_first_day, policy.renal_before_cycle_days),
        _before_cycle("egfr", "eGFR", egfr, today, cycle_first_day, policy.renal_before_cycle_days),
        _within_days("haemoglobin", "Haemoglobin", haemoglobin, today, policy.haemoglobin_max_age_days),
        _recorded("blood_group", "Blood group", blood_group),
        _recorded("iga_status", "IgA status", iga_status),
    )


def needs_acceptance(items) -> bool:
    """Whether any item is stale or missing, so the start needs an explicit acceptance."""
    return any(item.needs_acceptance for item in items)
