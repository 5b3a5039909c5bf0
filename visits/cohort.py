"""The clinic's week-16 response to IVIG, laid out like the ProDERM trial's results.

For each patient with a first infusion (recorded, else derived from the first infusion given:
``Patient.ivig_week_zero``), ``scoring.patient_response`` finds the visit within
±2 weeks of week 16 and its TIS against the baseline. Patients with a complete week-16 TIS
are counted by category and as ProDERM responders; the others are counted apart, with the
reason, never dropped. Adult DM/PM and juvenile DM are summarised separately because their
category thresholds differ (20/40/60 vs 30/45/70).

``build_cohort`` and ``percent_of`` are pure; ``load_cohort`` is the one function that reads
the database, in a fixed number of queries whatever the number of patients.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import IO

from django.db.models import Prefetch

from patients.models import WEEK_ZERO_DERIVED, WEEK_ZERO_RECORDED, Patient

from . import tis
from .models import Visit
from .scoring import RESPONDER_TIS, WEEK16, WEEK16_WINDOW_WEEKS, PatientResponse, patient_response

POPULATION_LABELS = {tis.ADULT: "Adult DM/PM", tis.JUVENILE: "Juvenile DM"}

REASON_NO_BASELINE = "no_baseline"
REASON_WINDOW_OPEN = "window_open"
REASON_NO_VISIT = "no_visit"
REASONS = {
    REASON_NO_BASELINE: "no baseline visit, so no visit can be scored",
    REASON_WINDOW_OPEN: "week-16 window still open",
    REASON_NO_VISIT: "no visit within ±2 weeks of week 16",
}


@dataclass(frozen=True)
class PublishedResult:
    arm: str
    responders: int
    patients: int
    published_percent: int


# Aggarwal R, Charles-Schoeman C, Schessl J, et al. Trial of intravenous immune globulin in
# dermatomyositis (ProDERM). N Engl J Med 2022;387:1264-78. Primary end point at week 16.
PRODERM_SOURCE = (
    "Aggarwal R et al. Trial of intravenous immune globulin in dermatomyositis (ProDERM). "
    "N Engl J Med 2022;387:1264–78; week-16 primary end point (TIS ≥ 20 and no confirmed deterioration)."
)
PRODERM_RESULTS: tuple[PublishedResult, ...] = (
    PublishedResult("IVIG 2 g/kg every 4 weeks", responders=37, patients=47, published_percent=79),
    PublishedResult("Placebo", responders=21, patients=48, published_percent=44),
)
# From /work/shared/reference/tis.md, "Known limits to show users".
KNOWN_LIMITS: tuple[str, ...] = (
    "44 % of placebo patients in ProDERM also reached TIS ≥ 20: a TIS ≥ 20 alone does not show that IVIG worked.",
    "Half of the 100 points come from visual analogue scale ratings (physician, patient and extramuscular global).",
    "The TIS has no skin-specific measure, so clinically amyopathic dermatomyositis is poorly served by it.",
    "Manual muscle testing has a ceiling effect: mildly weak patients have little room to improve.",
)


def percent_of(count: int, total: int) -> Decimal | None:
    """``count`` as a percentage of ``total`` to one decimal, half up, computed exactly.

    ``None`` when ``total`` is 0 (no percentage of nobody).

    >>> percent_of(3, 4), percent_of(2, 3), percent_of(37, 47), percent_of(0, 0)
    (Decimal('75.0'), Decimal('66.7'), Decimal('78.7'), None)
    """
    if total < 0 or count < 0 or count > total:
        raise ValueError(f"count: must be between 0 and total ({total}), got {count}")
    if total == 0:
        return None
    tenths = Fraction(count * 1000, total)
    rounded = int(tenths + Fraction(1, 2))  # half up; tenths is never negative here
    return Decimal(rounded).scaleb(-1)


@dataclass(frozen=True)
class Share:
    label: str
    count: int
    of: int

    @property
    def percent(self) -> Decimal | None:
        return percent_of(self.count, self.of)


@dataclass(frozen=True)
class Week16Result:
    """A patient with a complete week-16 TIS."""

    patient: Patient
    first_infusion_on: date
    visit_date: date
    weeks: int
    tis_total: Decimal
    category: str
    deterioration_on: date | None  # confirmed deterioration on or before the week-16 visit
    responder: bool
    first_infusion_derived: bool = False  # week 0 taken from the first infusion given


@dataclass(frozen=True)
class Week16Incomplete:
    """A patient whose week-16 visit lacks a measure, so it has no TIS."""

    patient: Patient
    first_infusion_on: date
    visit_date: date
    weeks: int
    missing: tuple[str, ...]
    first_infusion_derived: bool = False  # week 0 taken from the first infusion given


@dataclass(frozen=True)
class NoWeek16:
    """A patient with a first infusion and no scored visit within ±2 weeks of week 16."""

    patient: Patient
    first_infusion_on: date
    window_from: date
    window_to: date
    reason: str
    first_infusion_derived: bool = False  # week 0 taken from the first infusion given

    @property
    def reason_display(self) -> str:
        return REASONS[self.reason]


@dataclass(frozen=True)
class PopulationSummary:
    population: str
    results: list[Week16Result] = field(default_factory=list)
    incomplete: list[Week16Incomplete] = field(default_factory=list)
    no_week16: list[NoWeek16] = field(default_factory=list)

    @property
    def label(self) -> str:
        return POPULATION_LABELS[self.population]

    @property
    def thresholds(self) -> list[tuple[Decimal, str]]:
        """(minimum TIS, category), lowest first: adults 20/40/60, juveniles 30/45/70."""
        return list(reversed(tis.CATEGORY_THRESHOLDS[self.population]))

    @property
    def patients(self) -> int:
        return len(self.results) + len(self.incomplete) + len(self.no_week16)

    @property
    def shares(self) -> list[Share]:
        return [
            Share(
                f"TIS ≥ {threshold} ({category} or better)",
                sum(r.tis_total >= threshold for r in self.results),
                len(self.results),
            )
            for threshold, category in self.thresholds
        ]

    @property
    def responders(self) -> Share:
        label = (
            f"Responders: TIS ≥ {RESPONDER_TIS[self.population]} and no confirmed deterioration up to week 16 "
            "(ProDERM rule; for juvenile DM with the juvenile minimal-improvement threshold)"
        )
        return Share(label, sum(r.responder for r in self.results), len(self.results))


@dataclass(frozen=True)
class CohortReport:
    today: date
    populations: list[PopulationSummary]
    without_first_infusion: int

    @property
    def patients(self) -> int:
        return sum(summary.patients for summary in self.populations)

    @property
    def adults(self) -> PopulationSummary:
        """The adult DM/PM summary, the one comparable with ProDERM (a trial in adults)."""
        return next(summary for summary in self.populations if summary.population == tis.ADULT)


def _deterioration_by(course: PatientResponse, day: date) -> date | None:
    # The same rule as PatientResponse.week16_responder: a pair confirmed on or before the week-16 visit.
    if course.deterioration is None:
        return None
    return min((later for _, later in course.deterioration.confirmed_pairs if later <= day), default=None)


def _classify(patient: Patient, course: PatientResponse, today: date):
    first = course.first_infusion_on
    derived = course.first_infusion_derived
    week16 = course.week16_visit
    if week16 is None:
        window_from = first + timedelta(weeks=WEEK16 - WEEK16_WINDOW_WEEKS)
        window_to = first + timedelta(weeks=WEEK16 + WEEK16_WINDOW_WEEKS)
        if course.baseline is None:
            reason = REASON_NO_BASELINE
        elif today <= window_to:
            reason = REASON_WINDOW_OPEN
        else:
            reason = REASON_NO_VISIT
        return NoWeek16(patient, first, window_from, window_to, reason, derived)
    visit_date = week16.visit.visit_date
    result = week16.result
    if result is None or result.total is None:
        missing = result.missing if result is not None else tuple(tis.MEASURES)
        return Week16Incomplete(patient, first, visit_date, week16.weeks_since_first_infusion, missing, derived)
    return Week16Result(
        patient=patient,
        first_infusion_on=first,
        visit_date=visit_date,
        weeks=week16.weeks_since_first_infusion,
        tis_total=result.total,
        category=result.category,
        deterioration_on=_deterioration_by(course, visit_date),
        responder=bool(course.week16_responder),
        first_infusion_derived=derived,
    )


def build_cohort(
    courses: Iterable[tuple[Patient, PatientResponse]], *, today: date, without_first_infusion: int
) -> CohortReport:
    """Group patients on IVIG by population and by what their week-16 visit shows.

    ``courses`` are patients with a first infusion and their ``patient_response``.

    Example: four adults whose week-16 TIS are 20, 35, 45 and 10 give TIS ≥ 20 in 3 of 4
    (75.0 %), ≥ 40 in 1 of 4 (25.0 %), ≥ 60 in 0 of 4 (0.0 %).
    """
    summaries = {population: PopulationSummary(population) for population in tis.POPULATIONS}
    for patient, course in courses:
        if course.first_infusion_on is None:
            raise ValueError(f"courses: patient {patient.mrn} has no first infusion date")
        summary = summaries[course.population]
        entry = _classify(patient, course, today)
        if isinstance(entry, Week16Result):
            summary.results.append(entry)
        elif isinstance(entry, Week16Incomplete):
            summary.incomplete.append(entry)
        else:
            summary.no_week16.append(entry)
    for summary in summaries.values():
        for rows in (summary.results, summary.incomplete, summary.no_week16):
            rows.sort(key=lambda row: row.patient.mrn)
    return CohortReport(
        today=today, populations=list(summaries.values()), without_first_infusion=without_first_infusion
    )


def load_cohort(*, today: date) -> CohortReport:
    """Every patient with a first infusion (recorded or derived), scored; three queries whatever
    the cohort's size."""
    patients = (
        Patient.objects.with_week_zero()
        .order_by("mrn")
        .prefetch_related(Prefetch("visits", queryset=Visit.objects.chronological()))
    )
    courses = [(patient, patient_response(patient, visits=list(patient.visits.all()))) for patient in patients]
    without = Patient.objects.without_week_zero().count()
    return build_cohort(courses, today=today, without_first_infusion=without)


# --- CSV ---------------------------------------------------------------------------------------

CSV_COLUMNS: tuple[str, ...] = (
    "row_type",
    "population",
    "mrn",
    "first_infusion_on",
    "first_infusion_source",
    "week16_visit_date",
    "weeks_since_first_infusion",
    "tis",
    "category",
    "deterioration_confirmed_on",
    "responder",
    "note",
    "measure",
    "count",
    "of",
    "percent",
)


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    # A cell starting with = + - @ (or a tab/CR) is run as a formula by spreadsheet programs.
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


def _iso(day: date | None) -> str:
    return "" if day is None else day.isoformat()


def _source(derived: bool) -> str:
    return WEEK_ZERO_DERIVED if derived else WEEK_ZERO_RECORDED


def csv_rows(report: CohortReport) -> list[dict[str, object]]:
    """One row per patient on IVIG, then the summary lines and ProDERM's published figures.

    Identifies patients by MRN only: no names leave the clinic in this file.
    """
    rows: list[dict[str, object]] = []
    for summary in report.populations:
        for r in summary.results:
            rows.append(
                {
                    "row_type": "week16",
                    "population": summary.population,
                    "mrn": r.patient.mrn,
                    "first_infusion_on": _iso(r.first_infusion_on),
                    "first_infusion_source": _source(r.first_infusion_derived),
                    "week16_visit_date": _iso(r.visit_date),
                    "weeks_since_first_infusion": r.weeks,
                    "tis": r.tis_total,
                    "category": r.category,
                    "deterioration_confirmed_on": _iso(r.deterioration_on),
                    "responder": "yes" if r.responder else "no",
                }
            )
        for r in summary.incomplete:
            rows.append(
                {
                    "row_type": "week16_incomplete",
                    "population": summary.population,
                    "mrn": r.patient.mrn,
                    "first_infusion_on": _iso(r.first_infusion_on),
                    "first_infusion_source": _source(r.first_infusion_derived),
                    "week16_visit_date": _iso(r.visit_date),
                    "weeks_since_first_infusion": r.weeks,
                    "category": tis.CATEGORY_INCOMPLETE,
                    "note": "missing: " + ", ".join(r.missing),
                }
            )
        for r in summary.no_week16:
            rows.append(
                {
                    "row_type": "no_week16_visit",
                    "population": summary.population,
                    "mrn": r.patient.mrn,
                    "first_infusion_on": _iso(r.first_infusion_on),
                    "first_infusion_source": _source(r.first_infusion_derived),
                    "note": f"{r.reason_display} ({_iso(r.window_from)} to {_iso(r.window_to)})",
                }
            )
    for summary in report.populations:
        counts = [
            ("week16_complete_tis", len(summary.results), summary.patients),
            ("week16_incomplete_tis", len(summary.incomplete), summary.patients),
            ("no_week16_visit", len(summary.no_week16), summary.patients),
        ]
        for share, (threshold, _) in zip(summary.shares, summary.thresholds, strict=True):
            counts.append((f"tis_ge_{threshold}", share.count, share.of))
        counts.append(("responders", summary.responders.count, summary.responders.of))
        for measure, count, of in counts:
            rows.append(
                {
                    "row_type": "summary",
                    "population": summary.population,
                    "measure": measure,
                    "count": count,
                    "of": of,
                    "percent": percent_of(count, of) if of else "",
                }
            )
    rows.append(
        {
            "row_type": "summary",
            "measure": "patients_without_first_infusion_not_included",
            "count": report.without_first_infusion,
        }
    )
    for published in PRODERM_RESULTS:
        rows.append(
            {
                "row_type": "proderm_published",
                "population": tis.ADULT,
                "note": f"{published.arm}; published as {published.published_percent} %; {PRODERM_SOURCE}",
                "measure": "responders",
                "count": published.responders,
                "of": published.patients,
                "percent": percent_of(published.responders, published.patients),
            }
        )
    return rows


def write_csv(report: CohortReport, out: IO[str]) -> None:
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    for row in csv_rows(report):
        writer.writerow({column: _cell(row.get(column)) for column in CSV_COLUMNS})


def shown_populations(report: CohortReport) -> Sequence[PopulationSummary]:
    """The populations with anyone on IVIG (adults always, so an empty clinic still shows the table)."""
    return [s for s in report.populations if s.patients or s.population == tis.ADULT]
