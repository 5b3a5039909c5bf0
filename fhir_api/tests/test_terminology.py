import pytest

from fhir_api import terminology as t
from patients.labs import LAB_CATALOG


@pytest.mark.parametrize(
    ("ours", "ucum"),
    [
        ("mL/min/1.73 m²", "mL/min/{1.73_m2}"),
        ("×10⁹/L", "10*9/L"),
        ("%", "%"),
        ("mg/dL", "mg/dL"),
        ("U/L", "U/L"),
        ("g/dL", "g/dL"),
        ("mg/L FEU", "mg/L{FEU}"),
    ],
)
def test_units_map_to_ucum_exactly(ours, ucum):
    assert t.ucum(ours) == ucum


def test_every_lab_of_the_catalog_has_a_ucum_unit():
    for definition in LAB_CATALOG.values():
        assert t.ucum(definition.unit)


def test_an_unknown_unit_is_an_error_not_a_guess():
    with pytest.raises(ValueError, match="unit"):
        t.ucum("mmol/L")


def test_local_codes_are_unique_and_each_has_a_definition():
    concepts = t.local_concepts()
    assert len({c.code for c in concepts}) == len(concepts)
    assert all(c.display and c.definition for c in concepts)
