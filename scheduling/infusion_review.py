"""Whether a completed infusion, or one with a reaction, needs the prescriber's review.

Pure functions over ``Decimal``, ``date`` and small frozen dataclasses: no ORM, no clock, no
settings. The caller passes the day's plan figures, what the record says was given and the
reactions recorded. Impossible input raises ``ValueError`` (``FieldError``) naming the field.

An infusion is incomplete when more than one smallest vial of the plan was not given: the volume
given is short of the day's planned volume by more than that vial's volume (stopped early), or
the grams not given (planned grams less volume given x concentration) are more than that vial's
grams. Exactly one smallest vial short is not incomplete: that is what rounding a day to whole
vials and the last millilitres in the line can leave. A moderate or severe reaction needs review
whatever was given; a mild one does not.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from accounts.errors import FieldError

from .timing import ReminderKind

SEVERITIES = ("mild", "moderate", "severe")
REVIEWED_SEVERITIES = ("moderate", "severe")
REVIEW_KINDS = (ReminderKind.INFUSION_INCOMPLETE, ReminderKind.INFUSION_REACTION)
MG_PER_G = Decimal("1000")
TENTH = Decimal("0.1")


@dataclass(frozen=True)
class ReactionSeen:
    """One reaction as recorded: its severity (mild, moderate, severe), its type in words
    ("headache") and what was done in words ("rate slowed")."""

    severity: str
    type_label: str
    action_label: str = ""

    def __post_init__(self):
        if self.severity not in SEVERITIES:
            raise FieldError("severity", f"must be one of {', '.join(SEVERITIES)}, not {self.severity!r}")


@dataclass(frozen=True)
class Finding:
    """Why the prescriber should look: the reminder's kind, its message (figures, no patient name:
    it is e-mailed) and the note the next cycle's sessions and sheet carry."""

    kind: ReminderKind
    message: str
    note: str


def _plain(value: Decimal) -> str:
    # normalize() alone would write 100 as 1E+2.
    return format(value.normalize(), "f")


def _amount(value, field_name: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        raise TypeError(f"{field_name}: must be a Decimal, not {type(value).__name__}")
    try:
        number = Decimal(value)
    except ArithmeticError:
        raise FieldError(field_name, f"must be a number, not {value!r}") from None
    if not number.is_finite() or number < 0:
        raise FieldError(field_name, f"must be a number of 0 or more, not {value!r}")
    return number


def infusion_review(
    *,
    on: date,
    planned_volume_ml,
    planned_dose_g,
    concentration_mg_per_ml,
    vial_sizes_g,
    given_volume_ml=None,
    reactions: tuple[ReactionSeen, ...] | list[ReactionSeen] = (),
) -> tuple[Finding, ...]:
    """What of one infusion day the prescriber should review: nothing, an incomplete infusion,
    a moderate or severe reaction, or both (incomplete first). ``given_volume_ml`` None (the
    infusion is still running) judges the reactions only.

    Example: the 70 g day (700 mL at 100 mg/mL, 30 g and 10 g vials, so 100 mL is one smallest
    vial) stopped at 520 mL: 180 mL and 18 g not given -> incomplete; stopped at 600 mL: exactly
    one smallest vial -> nothing.

    >>> stopped = infusion_review(on=date(2027, 1, 12), planned_volume_ml="700", planned_dose_g="70",
    ...     concentration_mg_per_ml="100", vial_sizes_g=["30", "10"], given_volume_ml="520")
    >>> [finding.kind.value for finding in stopped]
    ['infusion_incomplete']
    >>> stopped[0].note
    'Last cycle stopped at 520 of 700 mL (2027-01-12): 18 g not given.'
    >>> infusion_review(on=date(2027, 1, 12), planned_volume_ml="700", planned_dose_g="70",
    ...     concentration_mg_per_ml="100", vial_sizes_g=["30", "10"], given_volume_ml="600")
    ()
    """
    if not isinstance(on, date):
        raise TypeError(f"on: must be a date, not {type(on).__name__}")
    planned_ml = _amount(planned_volume_ml, "planned_volume_ml")
    planned_g = _amount(planned_dose_g, "planned_dose_g")
    concentration = _amount(concentration_mg_per_ml, "concentration_mg_per_ml")
    if concentration == 0:
        raise FieldError("concentration_mg_per_ml", "must be above 0")
    sizes = [_amount(size, "vial_sizes_g") for size in vial_sizes_g]
    if not sizes or min(sizes) == 0:
        raise FieldError("vial_sizes_g", "the plan must name at least one vial size above 0 g")
    findings = []
    if given_volume_ml is not None:
        given_ml = _amount(given_volume_ml, "given_volume_ml")
        smallest_g = min(sizes)
        smallest_ml = smallest_g * MG_PER_G / concentration
        short_ml = planned_ml - given_ml
        short_g = planned_g - given_ml * concentration / MG_PER_G
        if short_ml > smallest_ml or short_g > smallest_g:
            shown_g = _plain(max(short_g, Decimal(0)).quantize(TENTH))
            findings.append(
                Finding(
                    kind=ReminderKind.INFUSION_INCOMPLETE,
                    message=(
                        f"Infusion of {on:%Y-%m-%d} stopped at {_plain(given_ml)} of {_plain(planned_ml)} mL: "
                        f"{_plain(max(short_ml, Decimal(0)))} mL and {shown_g} g not given, more than one "
                        f"smallest vial ({_plain(smallest_g)} g, {_plain(smallest_ml.quantize(TENTH))} mL). "
                        "Review the plan before the next cycle."
                    ),
                    note=f"Last cycle stopped at {_plain(given_ml)} of {_plain(planned_ml)} mL ({on:%Y-%m-%d}): "
                    f"{shown_g} g not given.",
                )
            )
    reviewed = [reaction for reaction in reactions if reaction.severity in REVIEWED_SEVERITIES]
    if reviewed:
        # The most severe first, then in the order recorded.
        reviewed.sort(key=lambda reaction: REVIEWED_SEVERITIES.index(reaction.severity), reverse=True)
        words = "; ".join(
            f"{reaction.severity} {reaction.type_label.lower()}"
            + (f" ({reaction.action_label.lower()})" if reaction.action_label else "")
            for reaction in reviewed
        )
        worst = f"{reviewed[0].severity} {reviewed[0].type_label.lower()}"
        findings.append(
            Finding(
                kind=ReminderKind.INFUSION_REACTION,
                message=f"Reaction at the infusion of {on:%Y-%m-%d}: {words}. "
                "Review before the next cycle: consider premedication and a slower ladder.",
                note=f"Reaction last cycle ({worst}, {on:%Y-%m-%d}): consider premedication and a slower ladder.",
            )
        )
    return tuple(findings)
