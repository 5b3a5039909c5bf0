"""dosing.first_infusion: which infusion is a first one, and why (IVIG-naive, product switch,
gap of more than the site's weeks), worked from a patient last given Gamunex-C on Sat 1 Aug 2026."""

from datetime import date, datetime

import pytest

from accounts.errors import FieldError
from dosing.first_infusion import FirstInfusionKind, InfusionGiven, first_infusion

LAST = InfusionGiven(date(2026, 8, 1), "gamunex-c", "Gamunex-C")
NAIVE, SWITCH, GAP = FirstInfusionKind


@pytest.mark.parametrize(
    "on, product, last, started, kind, reason",
    [
        # Nothing given, nothing recorded elsewhere.
        (date(2026, 8, 1), "octagam-10", None, None, NAIVE, "IVIG-naive: no infusion given before"),
        # The treatment's start recorded for this very day, or later: still to come, naive.
        (date(2026, 8, 1), "octagam-10", None, date(2026, 8, 1), NAIVE, "IVIG-naive: no infusion given before"),
        (date(2026, 8, 1), "octagam-10", None, date(2026, 8, 8), NAIVE, "IVIG-naive: no infusion given before"),
        # Started elsewhere before the day: not naive, and nothing more on file.
        (date(2026, 8, 1), "octagam-10", None, date(2026, 5, 2), None, None),
        # Same product four weeks later: the usual ladder.
        (date(2026, 8, 29), "gamunex-c", LAST, None, None, None),
        # Exactly 8 weeks (56 days) is not more than 8.
        (date(2026, 9, 26), "gamunex-c", LAST, None, None, None),
        # 57 days is.
        (date(2026, 9, 27), "gamunex-c", LAST, None, GAP,
         "8 weeks 1 day without IVIG (last given 2026-08-01), more than 8"),
        (date(2026, 8, 29), "octagam-10", LAST, None, SWITCH, "product switch from Gamunex-C (last given 2026-08-01)"),
        # Both: the switch is named first, the gap too.
        (date(2026, 10, 24), "octagam-10", LAST, None, SWITCH,
         "product switch from Gamunex-C (last given 2026-08-01); 12 weeks without IVIG, more than 8"),
        # Infusions given here count whatever the recorded start.
        (date(2026, 8, 29), "octagam-10", LAST, date(2026, 5, 2), SWITCH,
         "product switch from Gamunex-C (last given 2026-08-01)"),
    ],
)  # fmt: skip
def test_first_infusion(on, product, last, started, kind, reason):
    found = first_infusion(on=on, product_slug=product, last_given=last, ivig_started_on=started, gap_weeks=8)
    assert (found and found.kind, found and found.reason) == (kind, reason)


def test_the_gap_is_the_sites():
    on = date(2026, 9, 5)  # 5 weeks after the last
    assert first_infusion(on=on, product_slug="gamunex-c", last_given=LAST, ivig_started_on=None, gap_weeks=8) is None
    found = first_infusion(on=on, product_slug="gamunex-c", last_given=LAST, ivig_started_on=None, gap_weeks=4)
    assert found.to_dict() == {"kind": "gap", "reason": "5 weeks without IVIG (last given 2026-08-01), more than 4"}


@pytest.mark.parametrize(
    "changes, error, field",
    [
        ({"gap_weeks": 0}, FieldError, "gap_weeks"),
        ({"gap_weeks": 53}, FieldError, "gap_weeks"),
        ({"gap_weeks": True}, TypeError, "gap_weeks"),
        ({"on": datetime(2026, 9, 1, 9)}, TypeError, "on"),
        ({"product_slug": ""}, FieldError, "product_slug"),
        ({"on": date(2026, 8, 1)}, FieldError, "last_given"),  # the "last" is not before the day
        ({"ivig_started_on": "2026-05-02", "last_given": None}, TypeError, "ivig_started_on"),
    ],
)
def test_impossible_input_names_its_field(changes, error, field):
    inputs = {"on": date(2026, 9, 1), "product_slug": "x", "last_given": LAST, "ivig_started_on": None, "gap_weeks": 8}
    with pytest.raises(error, match=field):
        first_infusion(**{**inputs, **changes})
