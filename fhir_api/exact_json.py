"""JSON with every Decimal written as the number it is.

fhir.resources serialises a decimal through ``float`` (fhir_core.types.Decimal): ``1.20`` comes
out as ``1.2`` and ``1.23456789012345678901`` as ``1.2345678901234567``. FHIR keeps a decimal's
precision ("1.20" is not "1.2"), and a clinical number must never be rounded on its way out, so
we validate the resource with the library and write the JSON ourselves from the exact values.
"""

import json
from decimal import Decimal
from typing import Any


def decimal_literal(value: Decimal) -> str:
    """A finite Decimal as a JSON number, digit for digit, never in exponent form.

    >>> decimal_literal(Decimal("70.0")), decimal_literal(Decimal("1.2")), decimal_literal(Decimal("1E+2"))
    ('70.0', '1.2', '100')
    """
    if not value.is_finite():
        raise ValueError(f"value: {value} is not a finite number; JSON has no such number")
    return format(value, "f")


def trimmed(value: Decimal) -> Decimal:
    """A stored lab value without the zeros the database pads it with (3 places), never in exponent form.

    >>> trimmed(Decimal("1.200")), trimmed(Decimal("150.000")), trimmed(Decimal("5.250"))
    (Decimal('1.2'), Decimal('150'), Decimal('5.25'))
    """
    normal = value.normalize()
    return normal.quantize(Decimal(1)) if normal.as_tuple().exponent > 0 else normal


def dumps(data: Any) -> str:
    """Compact JSON of dicts, lists, strings, ints, bools, None and Decimals (exact).

    >>> dumps({"value": Decimal("1.20"), "unit": "mg/dL", "n": [1, True, None]})
    '{"value":1.20,"unit":"mg/dL","n":[1,true,null]}'
    """
    if isinstance(data, Decimal):
        return decimal_literal(data)
    if isinstance(data, dict):
        return "{" + ",".join(f"{json.dumps(str(key))}:{dumps(value)}" for key, value in data.items()) + "}"
    if isinstance(data, list | tuple):
        return "[" + ",".join(dumps(item) for item in data) + "]"
    if isinstance(data, float):
        raise TypeError("a float has no place in a FHIR resource here: use Decimal")
    return json.dumps(data, ensure_ascii=False)
