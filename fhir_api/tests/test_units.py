"""The inbound unit table: exact conversions (a parametrised table), half-up rounding to the column's
places, refusals naming the unit, and agreement with the units the rest of the app stores."""

from decimal import Decimal

import pytest

from fhir_api import terminology as t
from fhir_api.units import CONVERSIONS, UnitError, to_stored_unit
from patients.labs import LAB_CATALOG


@pytest.mark.parametrize(
    ("quantity", "value", "ucum", "places", "stored"),
    [
        ("creatinine", "88.42", "umol/L", 3, "1.000"),
        ("creatinine", "100", "umol/L", 3, "1.131"),  # 1.130965...
        ("creatinine", "1.2", "mg/dL", 3, "1.200"),
        ("creatinine", "1.2345", "mg/dL", 3, "1.235"),  # half up, not half even (1.234)
        ("haemoglobin", "135", "g/L", 3, "13.500"),
        ("haematocrit", "0.42", "L/L", 3, "42.000"),
        ("haematocrit", "41.5", "%", 3, "41.500"),
        ("ck", "3.5", "ukat/L", 3, "210.000"),
        ("alt", "0.55", "ukat/L", 3, "33.000"),
        ("triglycerides", "2", "mmol/L", 3, "177.140"),
        ("iga", "2.5", "g/L", 3, "250.000"),
        ("iga", "25", "mg/L", 3, "2.500"),
        ("egfr", "42", "mL/min/{1.73_m2}", 3, "42.000"),
        ("platelets", "250", "10*3/uL", 3, "250.000"),
        ("weight", "154", "[lb_av]", 1, "69.9"),  # 69.85322498
        ("weight", "100", "[lb_av]", 1, "45.4"),  # 45.359237
        ("weight", "70250", "g", 1, "70.3"),  # 70.25: half up
        ("height", "67", "[in_i]", 1, "170.2"),  # 170.18
        ("height", "1.705", "m", 1, "170.5"),
        ("height", "1705", "mm", 1, "170.5"),
    ],
)
def test_conversions_are_exact_and_rounded_half_up(quantity, value, ucum, places, stored):
    result = to_stored_unit(quantity, Decimal(value), ucum, places=places)
    assert result == Decimal(stored)
    assert result.as_tuple().exponent == -places


def test_a_unit_not_in_the_table_is_refused_by_name():
    with pytest.raises(
        UnitError, match=r"'mmol/L' cannot be converted to creatinine's mg/dL \(accepted: mg/dL, umol/L\)"
    ):
        to_stored_unit("creatinine", Decimal("0.1"), "mmol/L", places=3)
    with pytest.raises(UnitError, match="'U/L'"):
        to_stored_unit("weight", Decimal("70"), "U/L", places=1)


@pytest.mark.parametrize(
    ("quantity", "value", "places", "field"),
    [("nothing", "1", 3, "quantity"), ("ck", "NaN", 3, "value"), ("ck", "1", -1, "places")],
)
def test_impossible_input_names_the_field(quantity, value, places, field):
    with pytest.raises(ValueError, match=f"^{field}:"):
        to_stored_unit(quantity, Decimal(value), "U/L", places=places)


def test_every_lab_is_stored_in_the_unit_the_catalog_gives_it():
    labs = {q: c.stored_ucum for q, c in CONVERSIONS.items() if q not in ("weight", "height")}
    assert labs == {test: t.ucum(d.unit) for test, d in LAB_CATALOG.items()}
    assert (CONVERSIONS["weight"].stored_ucum, CONVERSIONS["height"].stored_ucum) == ("kg", "cm")


def test_every_inbound_code_names_a_stored_quantity_and_every_quantity_has_a_code():
    codes = t.inbound_codes()
    assert set(codes.values()) == set(CONVERSIONS)
    assert all(codes[d.loinc] == test for test, d in LAB_CATALOG.items())
