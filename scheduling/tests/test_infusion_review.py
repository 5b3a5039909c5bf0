"""The pure decision whether an infusion needs the prescriber's review: the table at the
boundary of one smallest vial, reactions by severity, and impossible input."""

from datetime import date
from decimal import Decimal

import pytest

from scheduling.infusion_review import ReactionSeen, infusion_review
from scheduling.timing import ReminderKind

DAY = date(2027, 1, 12)
# The 70 g day: 700 mL at 100 mg/mL from 30 g and 10 g vials; one smallest vial is 10 g = 100 mL.
PLAN = {
    "on": DAY,
    "planned_volume_ml": Decimal("700.0"),
    "planned_dose_g": Decimal("70.00"),
    "concentration_mg_per_ml": Decimal("100"),
    "vial_sizes_g": [Decimal("30"), Decimal("10")],
}
INCOMPLETE, REACTION = ReminderKind.INFUSION_INCOMPLETE, ReminderKind.INFUSION_REACTION


def kinds(**given) -> list[ReminderKind]:
    return [finding.kind for finding in infusion_review(**(PLAN | given))]


@pytest.mark.parametrize(("given_ml", "expected"), [
    ("700.0", []),  # all given
    ("707.0", []),  # the 1 % over the plan that is allowed
    ("600.1", []),
    ("600.0", []),  # exactly one smallest vial short: not incomplete
    ("599.9", [INCOMPLETE]),  # more than one smallest vial short
    ("520", [INCOMPLETE]),
    ("0", [INCOMPLETE]),
    (None, []),  # still running: volume not judged
])  # fmt: skip
def test_volume_short_by_more_than_one_smallest_vial(given_ml, expected):
    assert kinds(given_volume_ml=given_ml) == expected


@pytest.mark.parametrize(("planned_g", "given_ml", "expected"), [
    ("70", "700", []),
    ("80", "700", []),  # 10 g not given: exactly one smallest vial
    ("80.01", "700", [INCOMPLETE]),  # the volume is complete, but more than one vial's grams were not given
])  # fmt: skip
def test_grams_not_given_beyond_one_smallest_vial(planned_g, given_ml, expected):
    assert kinds(planned_dose_g=Decimal(planned_g), given_volume_ml=given_ml) == expected


def test_smallest_vial_of_a_plan_with_one_size():
    # 5 g vials at 50 mg/mL: 100 mL per vial; 730 mL planned (36.5 g).
    plan = {"planned_volume_ml": "730", "planned_dose_g": "36.5", "concentration_mg_per_ml": "50"}
    assert kinds(**plan, vial_sizes_g=["5"], given_volume_ml="630") == []
    assert kinds(**plan, vial_sizes_g=["5"], given_volume_ml="629.9") == [INCOMPLETE]


def test_message_and_note_name_the_figures():
    (finding,) = infusion_review(**PLAN, given_volume_ml=Decimal("520.0"))
    assert finding.message == (
        "Infusion of 2027-01-12 stopped at 520 of 700 mL: 180 mL and 18 g not given, more than one "
        "smallest vial (10 g, 100 mL). Review the plan before the next cycle."
    )
    assert finding.note == "Last cycle stopped at 520 of 700 mL (2027-01-12): 18 g not given."


@pytest.mark.parametrize(("severities", "expected"), [
    ((), []),
    (("mild",), []),
    (("moderate",), [REACTION]),
    (("severe",), [REACTION]),
    (("mild", "severe", "moderate"), [REACTION]),  # one finding for all of them
])  # fmt: skip
def test_moderate_or_severe_reaction(severities, expected):
    reactions = [ReactionSeen(severity, "Headache") for severity in severities]
    assert kinds(given_volume_ml="700", reactions=reactions) == expected
    assert kinds(reactions=reactions) == expected  # judged while the infusion runs too


def test_reaction_note_names_the_worst_and_both_findings_come_incomplete_first():
    reactions = [ReactionSeen("moderate", "Headache", "Rate slowed"), ReactionSeen("severe", "Anaphylaxis", "Stopped")]
    incomplete, reaction = infusion_review(**PLAN, given_volume_ml="300", reactions=reactions)
    assert (incomplete.kind, reaction.kind) == (INCOMPLETE, REACTION)
    assert (
        reaction.note
        == "Reaction last cycle (severe anaphylaxis, 2027-01-12): consider premedication and a slower ladder."
    )
    assert "severe anaphylaxis (stopped); moderate headache (rate slowed)" in reaction.message


@pytest.mark.parametrize(("given", "field"), [
    ({"given_volume_ml": "-1"}, "given_volume_ml"),
    ({"given_volume_ml": "lots"}, "given_volume_ml"),
    ({"concentration_mg_per_ml": "0"}, "concentration_mg_per_ml"),
    ({"vial_sizes_g": []}, "vial_sizes_g"),
    ({"planned_volume_ml": "NaN"}, "planned_volume_ml"),
])  # fmt: skip
def test_impossible_input_names_the_field(given, field):
    with pytest.raises(ValueError, match=f"^{field}"):
        infusion_review(**(PLAN | given))


def test_unknown_severity_refused():
    with pytest.raises(ValueError, match="^severity"):
        ReactionSeen("catastrophic", "Headache")


def test_invariant_never_incomplete_within_one_vial():
    for tenth in range(0, 1001):
        given = Decimal("600") + Decimal(tenth) / 10
        assert kinds(given_volume_ml=given) == []
