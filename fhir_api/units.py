"""Units of inbound FHIR Observations converted to the unit we store, exactly: pure, no ORM.

One table (CONVERSIONS): for each quantity we store (a lab test of patients/labs.py, body weight,
body height) the UCUM code it is stored in and every other UCUM code we convert from, each with
an exact factor. A unit missing from the table is refused (UnitError), never guessed: a factor
that depends on what was measured (mmol/L is not one thing) is keyed by the quantity.

The arithmetic: stored = value x factor, worked out in Decimal with 50 significant digits (every
factor is an exact decimal or the exact quotient of two), then rounded ROUND_HALF_UP to the
decimal places of the column it goes into (3 for a lab value or ULN, 1 for kg and cm). That one
rounding is the only one: nothing is rounded before the last step. A value already in the stored
unit with more places than the column is rounded the same way.

Sources of the factors: creatinine 1 mg/dL = 88.42 umol/L (molar mass 113.12 g/mol), the
factor laboratories print; triglycerides 1 mmol/L = 88.57 mg/dL (triolein, 885.7 g/mol);
1 ukat/L = 60 U/L (1 U = 1 umol/min, 1 kat = 1 mol/s); the avoirdupois pound is 0.45359237 kg and
the international inch 2.54 cm, both exact by definition.
"""

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext
from types import MappingProxyType


class UnitError(ValueError):
    """A unit that cannot be converted to the stored one (the message names it and what is accepted)."""


@dataclass(frozen=True)
class Factor:
    """Multiply by numerator / denominator: an exact ratio, so 1/88.42 is not a rounded decimal."""

    numerator: Decimal
    denominator: Decimal = Decimal(1)


@dataclass(frozen=True)
class Quantity:
    """How one quantity is stored: its UCUM unit, and the factor from every other accepted unit."""

    stored_ucum: str
    from_units: MappingProxyType  # UCUM code -> Factor (the stored unit itself is always accepted)

    def accepted(self) -> tuple[str, ...]:
        return (self.stored_ucum, *self.from_units)


def _quantity(stored_ucum: str, **from_units: Factor) -> Quantity:
    return Quantity(stored_ucum, MappingProxyType(dict(from_units)))


ENZYME_FROM = {"ukat/L": Factor(Decimal(60))}  # 1 ukat/L = 60 U/L

# Keys: the lab test codes of patients/labs.py, and "weight", "height". The UCUM codes are
# those of fhir_api.terminology.UCUM_FOR_UNIT (a test checks the two agree).
CONVERSIONS: MappingProxyType = MappingProxyType(
    {
        "ck": _quantity("U/L", **ENZYME_FROM),
        "aldolase": _quantity("U/L", **ENZYME_FROM),
        "ast": _quantity("U/L", **ENZYME_FROM),
        "alt": _quantity("U/L", **ENZYME_FROM),
        "ldh": _quantity("U/L", **ENZYME_FROM),
        "creatinine": _quantity("mg/dL", **{"umol/L": Factor(Decimal(1), Decimal("88.42"))}),
        "egfr": _quantity("mL/min/{1.73_m2}"),
        "bun": _quantity("mg/dL"),  # urea in mmol/L is not BUN: refused, not converted
        "haemoglobin": _quantity("g/dL", **{"g/L": Factor(Decimal(1), Decimal(10))}),
        "haematocrit": _quantity("%", **{"L/L": Factor(Decimal(100))}),
        "platelets": _quantity("10*9/L", **{"10*3/uL": Factor(Decimal(1))}),
        "iga": _quantity("mg/dL", **{"g/L": Factor(Decimal(100)), "mg/L": Factor(Decimal(1), Decimal(10))}),
        "d_dimer": _quantity("mg/L{FEU}", **{"ug/mL{FEU}": Factor(Decimal(1))}),
        "triglycerides": _quantity("mg/dL", **{"mmol/L": Factor(Decimal("88.57"))}),
        "weight": _quantity("kg", g=Factor(Decimal(1), Decimal(1000)), **{"[lb_av]": Factor(Decimal("0.45359237"))}),
        "height": _quantity(
            "cm", m=Factor(Decimal(100)), mm=Factor(Decimal(1), Decimal(10)), **{"[in_i]": Factor(Decimal("2.54"))}
        ),
    }
)


def to_stored_unit(quantity: str, value: Decimal, ucum: str, *, places: int) -> Decimal:
    """``value`` in ``ucum`` as the stored unit of ``quantity``, rounded half up to ``places``.

    A creatinine of 100 umol/L is 100 / 88.42 = 1.13096... mg/dL, stored as 1.131; a weight of
    154 [lb_av] is 69.85322498 kg, stored as 69.9; 1.2 mg/dL is stored as 1.200.

    >>> to_stored_unit("creatinine", Decimal("100"), "umol/L", places=3)
    Decimal('1.131')
    >>> to_stored_unit("weight", Decimal("154"), "[lb_av]", places=1)
    Decimal('69.9')
    >>> to_stored_unit("creatinine", Decimal("1.2"), "mg/dL", places=3)
    Decimal('1.200')
    >>> to_stored_unit("creatinine", Decimal("1.2"), "mmol/L", places=3)
    Traceback (most recent call last):
    ...
    fhir_api.units.UnitError: unit: 'mmol/L' cannot be converted to creatinine's mg/dL (accepted: mg/dL, umol/L)
    """
    if quantity not in CONVERSIONS:
        raise ValueError(f"quantity: {quantity!r} is not one we store")
    if not value.is_finite():
        raise ValueError(f"value: {value} is not a finite number")
    if places < 0:
        raise ValueError(f"places: {places} is negative")
    target = CONVERSIONS[quantity]
    if ucum == target.stored_ucum:
        factor = Factor(Decimal(1))
    elif ucum in target.from_units:
        factor = target.from_units[ucum]
    else:
        raise UnitError(
            f"unit: {ucum!r} cannot be converted to {quantity}'s {target.stored_ucum} "
            f"(accepted: {', '.join(target.accepted())})"
        )
    with localcontext() as context:
        context.prec = 50
        exact = value * factor.numerator / factor.denominator
        return exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
