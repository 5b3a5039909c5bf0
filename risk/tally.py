"""The figures the dashboard counts and ranks by, folded from one patient's active flags.

Counting every active flag on each page view makes the page grow with the clinic. Instead
each patient's active flags are folded under a few keys (PatientFlagSummary rows, one per key
the patient has), and the clinic's totals per key are kept beside them (FlagTally). A key is
either a dashboard filter, "<severity>/<category>" with "" for "any" ("/" is every flag,
"high/" every high flag, "high/renal" the high renal ones), or one of the named figures below.
Pure functions: the service that writes the rows (risk.services.flag_summary_refresh) and the
migration that back-fills them both fold with these.
"""

from collections.abc import Iterable
from typing import NamedTuple

from . import rules

AT_RISK = "at-risk"  # flags that put the patient at risk (rules.puts_at_risk)
UNACKNOWLEDGED = "unacknowledged"  # not acknowledged and not informational: the dashboard's "new"
DETERIORATION = "deterioration"  # confirmed deterioration of the response


class FlagFacts(NamedTuple):
    """What the fold reads of one active flag."""

    category: str
    severity: str
    code: str
    acknowledged: bool


class KeyFigures(NamedTuple):
    """A patient's flags under one key: the worst severity's rank (0 = high) and how many."""

    worst_rank: int
    flag_count: int


def filter_key(severity: str = "", category: str = "") -> str:
    """The key of the dashboard's severity/category filter ("" for any).

    Example: filter_key("high", "") == "high/"; filter_key() == "/"
    """
    if severity and severity not in rules.SEVERITIES:
        raise ValueError(f"severity: {severity!r} is not one of {', '.join(rules.SEVERITIES)}")
    if category and category not in rules.CATEGORIES:
        raise ValueError(f"category: {category!r} is not one of {', '.join(rules.CATEGORIES)}")
    return f"{severity}/{category}"


def flag_keys(flag: FlagFacts) -> tuple[str, ...]:
    """Every key one active flag counts under.

    Example: an unacknowledged high renal flag counts under
    ("/", "high/", "/renal", "high/renal", "at-risk", "unacknowledged").
    """
    keys = [
        filter_key(),
        filter_key(flag.severity),
        filter_key(category=flag.category),
        filter_key(flag.severity, flag.category),
    ]
    if rules.puts_at_risk(flag.category, flag.severity):
        keys.append(AT_RISK)
    if not flag.acknowledged and flag.severity != rules.INFO:
        keys.append(UNACKNOWLEDGED)
    if flag.code == rules.CONFIRMED_DETERIORATION:
        keys.append(DETERIORATION)
    return tuple(keys)


def fold(flags: Iterable[FlagFacts]) -> dict[str, KeyFigures]:
    """One patient's active flags folded per key: the worst rank and the number of flags.

    Example: a high renal flag and an info "other" flag fold to
    {"/": (0, 2), "high/": (0, 1), "/renal": (0, 1), "high/renal": (0, 1), "at-risk": (0, 1),
     "unacknowledged": (0, 1), "info/": (2, 1), "/other": (2, 1), "info/other": (2, 1)}
    (both unacknowledged; the info flag is not "new").
    """
    folded: dict[str, KeyFigures] = {}
    for flag in flags:
        rank = rules.SEVERITIES.index(flag.severity)
        for key in flag_keys(flag):
            worst, count = folded.get(key, (rank, 0))
            folded[key] = KeyFigures(min(worst, rank), count + 1)
    return folded


def tally_change(before: dict[str, KeyFigures], after: dict[str, KeyFigures]) -> dict[str, tuple[int, int]]:
    """What one patient's change adds to the clinic's totals per key: (patients, flags).
    Keys whose totals do not move are left out.

    Example: from {"/": (1, 1)} to {"/": (0, 2), "high/": (0, 1)}
    the change is {"/": (0, 1), "high/": (1, 1)}.
    """
    change = {}
    for key in sorted(before.keys() | after.keys()):
        old, new = before.get(key), after.get(key)
        patients = (new is not None) - (old is not None)
        flags = (new.flag_count if new else 0) - (old.flag_count if old else 0)
        if patients or flags:
            change[key] = (patients, flags)
    return change
