"""Every g/kg dose input steps by 0.1 g/kg (2.00 -> 2.10 with the arrow keys), on the browser's grid."""

from decimal import Decimal

import pytest

from dosing.forms import DoseCalculatorForm
from dosing.order_forms import DoseOrderForm
from pathway.forms import CourseEditForm, ReviewForm


@pytest.mark.parametrize(
    ("form_class", "field"),
    [
        (DoseCalculatorForm, "dose_g_per_kg"),
        (DoseOrderForm, "dose_g_per_kg"),
        (CourseEditForm, "max_dose_g_per_kg"),
        (ReviewForm, "dose_g_per_kg"),
    ],
)
def test_a_dose_per_kg_input_steps_by_a_tenth_from_a_whole_grid(form_class, field):
    attrs = form_class.base_fields[field].widget.attrs

    step, low = Decimal(attrs["step"]), Decimal(attrs["min"])
    assert step == Decimal("0.1")
    # The browser's step grid starts at min: 2.0 and 2.1 must lie on it, or the arrows skip them.
    assert (Decimal("2.0") - low) % step == 0 and (Decimal("2.1") - low) % step == 0
