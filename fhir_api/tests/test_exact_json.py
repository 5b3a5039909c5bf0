from decimal import Decimal

import pytest
from fhir.resources.R4B.quantity import Quantity

from fhir_api.exact_json import dumps, trimmed


def test_the_library_would_round_through_float_which_is_why_we_write_the_json():
    # If fhir.resources ever writes decimals exactly, exact_json can go: this test says when.
    assert Quantity(value=Decimal("1.20")).model_dump_json() == '{"value":1.2}'


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal("1.2"), "1.2"),
        (Decimal("1.20"), "1.20"),
        (Decimal("70.0"), "70.0"),
        (Decimal("1.23456789012345678901"), "1.23456789012345678901"),
        (Decimal("1E+2"), "100"),
        (Decimal("0.000001"), "0.000001"),
    ],
)
def test_decimals_are_written_digit_for_digit(value, text):
    assert dumps({"value": value}) == f'{{"value":{text}}}'


@pytest.mark.parametrize("value", [Decimal("NaN"), Decimal("Infinity")])
def test_a_number_json_cannot_hold_is_refused(value):
    with pytest.raises(ValueError, match="value"):
        dumps({"value": value})


def test_a_float_is_refused():
    with pytest.raises(TypeError):
        dumps({"value": 1.2})


def test_text_keeps_its_characters():
    assert dumps({"unit": "mL/min/{1.73_m2}", "name": "Zoë"}) == '{"unit":"mL/min/{1.73_m2}","name":"Zoë"}'


@pytest.mark.parametrize(
    ("stored", "sent"),
    [("1.200", "1.2"), ("150.000", "150"), ("0.000", "0"), ("5.250", "5.25"), ("3000.000", "3000")],
)
def test_trimmed(stored, sent):
    assert str(trimmed(Decimal(stored))) == sent
