"""Template filters that show dosing figures exactly: Decimal text in, text out, never a float.

The dose plan reaches templates as ``DosePlan.to_dict()`` (Decimals as strings), so these
filters read strings as well as Decimals and ints. A float is refused: it cannot hold
3.3 mg/kg/min exactly, and a wrong figure on a dosing screen must fail loudly.
"""

from decimal import Decimal, Inexact, InvalidOperation, localcontext

from django import template

register = template.Library()

# Shown for a mL/kg/min figure that has no exact decimal (a concentration other than 50 or 100 mg/mL).
APPROXIMATE_SIGNIFICANT_DIGITS = 3


def _decimal(value) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | str | Decimal):
        raise TypeError(f"dosing figure must be a Decimal, int or str, not {type(value).__name__}")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"dosing figure {value!r} is not a number") from None
    if not number.is_finite():
        raise ValueError(f"dosing figure {value!r} is not a finite number")
    return number


def _text(number: Decimal) -> str:
    # normalize() alone would write 100 as 1E+2.
    return format(number.normalize(), "f")


@register.filter
def plain(value) -> str:
    """The number without trailing zeros: "70.00" -> "70", "3.30" -> "3.3", "0.8" -> "0.8".

    Empty (None or "") stays empty so templates can fall back with ``default``.
    """
    if value is None or value == "":
        return ""
    return _text(_decimal(value))


def rate_ml_per_kg_min(rate_mg_per_kg_min, concentration_mg_per_ml) -> tuple[Decimal, bool]:
    """mg/kg/min ÷ mg/mL = mL/kg/min, and whether that is exact.

    Example: 3.3 mg/kg/min of a 10 % product (100 mg/mL) -> (Decimal("0.033"), True);
    1 mg/kg/min at 60 mg/mL -> (Decimal("0.0167"), False), rounded to 3 significant digits.
    """
    rate = _decimal(rate_mg_per_kg_min)
    concentration = _decimal(concentration_mg_per_ml)
    if concentration <= 0:
        raise ValueError(f"concentration_mg_per_ml: must be above 0 mg/mL, not {concentration}")
    with localcontext() as context:
        context.traps[Inexact] = True
        try:
            return rate / concentration, True
        except Inexact:
            pass
    with localcontext() as context:
        context.prec = APPROXIMATE_SIGNIFICANT_DIGITS
        return +(rate / concentration), False


@register.filter
def ml_per_kg_min(rate_mg_per_kg_min, concentration_mg_per_ml) -> str:
    """``{{ rate|ml_per_kg_min:product.concentration_mg_per_ml }}``: "4.0" at 100 mg/mL -> "0.04".

    A figure that is not exact is marked "≈" so nobody copies it as if it were.
    """
    volume_rate, exact = rate_ml_per_kg_min(rate_mg_per_kg_min, concentration_mg_per_ml)
    return _text(volume_rate) if exact else f"≈ {_text(volume_rate)}"


@register.filter
def hours_minutes(minutes) -> str:
    """Whole minutes as hours and minutes: 288 -> "4 h 48 min", 300 -> "5 h", 45 -> "45 min"."""
    if isinstance(minutes, bool) or not isinstance(minutes, int | str):
        raise TypeError(f"minutes must be a whole number, not {type(minutes).__name__}")
    total = int(minutes)
    if total < 0:
        raise ValueError(f"minutes must not be negative, not {total}")
    hours, rest = divmod(total, 60)
    if not hours:
        return f"{rest} min"
    return f"{hours} h" if not rest else f"{hours} h {rest} min"
