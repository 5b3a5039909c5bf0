"""The clinic's week-16 response to IVIG, laid out like the ProDERM trial's results.

For each patient with a first infusion (recorded, else derived from the first infusion given:
``Patient.ivig_week_zero``), ``scoring.patient_response`` finds the visit within
±2 weeks of week 16 and its TIS against the baseline. Patients with a complete week-16 TIS
are counted by category and as ProDERM responders; the others are counted apart, with the
reason, never dropped. Adult DM/PM and juvenile DM are summarised separately because their
category thresholds differ (20/40/60 vs 30/45/70).

Glucocorticoid sparing sits beside the TIS: each complete week-16 result carries the daily
glucocorticoid dose as prednisone at the baseline and the week-16 visit (patients.medicines),
and each population the medians and how many were lowered.

``build_cohort`` and ``percent_of`` are pure; ``load_cohort`` is the one function that reads
the database, in a fixed number of queries whatever the number of patients.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import IO

from django.db.models import Prefetch

from patients.medicines import (
    GLUCOCORTICOID_EQUIVALENCE_SOURCE,
    GlucocorticoidCourse,
    PrednisonePoint,
    prednisone_on,
)
from patients.models import WEEK_ZERO_DERIVED, WEEK_ZERO_RECORDED, Medication, MedicationCategory, Patient

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


def median_mg(values: Sequence[Decimal]) -> Decimal | None:
    """The median of doses in mg, exactly (the mean of the middle two for an even count).

    Example: 40.0, 10.0 and 20.0 give 20.0; 10.0 and 15.5 give 12.75; none gives None.
    """
    ordered = sorted(values)
    if not ordered:
        return None
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


@dataclass(frozen=True)
class Share:
    label: str
    count: int
    of: int

    @property
    def percent(self) -> Decimal | None:
        return percent_of(self.count, self.of)


@dataclass(frozen=True)
class PrednisoneAt:
    """The daily glucocorticoid dose as prednisone at the baseline visit and at the week-16 visit
    (patients.medicines, GLUCOCORTICOID_EQUIVALENCE_SOURCE)."""

    baseline: PrednisonePoint
    week16: PrednisonePoint

    @property
    def not_converted(self) -> tuple[str, ...]:
        """Glucocorticoids taken at either visit that the table cannot convert (not in the totals)."""
        return tuple(dict.fromkeys(self.baseline.unconverted + self.week16.unconverted))

    @property
    def lowered(self) -> bool:
        return self.week16.prednisone_mg < self.baseline.prednisone_mg


@dataclass(frozen=True)
class PrednisoneSummary:
    """Glucocorticoid sparing among the patients with a complete week-16 TIS."""

    counted: int  # every glucocorticoid converted at both visits
    not_converted: int  # left out: a glucocorticoid the table cannot convert
    median_baseline_mg: Decimal | None
    median_week16_mg: Decimal | None
    lowered: Share  # of those on a glucocorticoid at baseline


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
    prednisone: PrednisoneAt | None = None  # None: the caller gave no glucocorticoids to read


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

    @property
    def prednisone(self) -> PrednisoneSummary:
        """Median prednisone-equivalent at baseline and week 16 and how many were lowered, over the
        patients with a complete week-16 TIS whose glucocorticoids all convert.

        Example: 40 -> 10 mg, 20 -> 20 mg and 0 -> 0 mg: medians 20.0 and 10.0, lowered in 1 of
        the 2 on a glucocorticoid at baseline.
        """
        known = [r.prednisone for r in self.results if r.prednisone is not None]
        converted = [p for p in known if not p.not_converted]
        on_steroid = [p for p in converted if p.baseline.prednisone_mg > 0]
        return PrednisoneSummary(
            counted=len(converted),
            not_converted=len(known) - len(converted),
            median_baseline_mg=median_mg([p.baseline.prednisone_mg for p in converted]),
            median_week16_mg=median_mg([p.week16.prednisone_mg for p in converted]),
            lowered=Share(
                "Glucocorticoid lowered by week 16 (prednisone-equivalent below baseline), of those on one at baseline",
                sum(p.lowered for p in on_steroid),
                len(on_steroid),
            ),
        )


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


def _classify(
    patient: Patient, course: PatientResponse, today: date, glucocorticoids: Sequence[GlucocorticoidCourse] | None
):
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
        prednisone=None
        if glucocorticoids is None
        else PrednisoneAt(
            prednisone_on(glucocorticoids, course.baseline.visit_date), prednisone_on(glucocorticoids, visit_date)
        ),
    )


def build_cohort(
    courses: Iterable[tuple[Patient, PatientResponse]],
    *,
    today: date,
    without_first_infusion: int,
    glucocorticoids: Mapping[int, Sequence[GlucocorticoidCourse]] | None = None,
) -> CohortReport:
    """Group patients on IVIG by population and by what their week-16 visit shows.

    ``courses`` are patients with a first infusion and their ``patient_response``;
    ``glucocorticoids`` (by patient id; a patient missing from it has none) add each complete
    week-16 result's prednisone-equivalent at baseline and week 16 (None: not read).

    Example: four adults whose week-16 TIS are 20, 35, 45 and 10 give TIS ≥ 20 in 3 of 4
    (75.0 %), ≥ 40 in 1 of 4 (25.0 %), ≥ 60 in 0 of 4 (0.0 %).
    """
    summaries = {population: PopulationSummary(population) for population in tis.POPULATIONS}
    for patient, course in courses:
        if course.first_infusion_on is None:
            raise ValueError(f"courses: patient {patient.mrn} has no first infusion date")
        summary = summaries[course.population]
        steroids = None if glucocorticoids is None else glucocorticoids.get(patient.pk, ())
        entry = _classify(patient, course, today, steroids)
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
    """Every patient with a first infusion (recorded or derived), scored, with their
    glucocorticoids; four queries whatever the cohort's size."""
    steroids = Medication.objects.filter(category=MedicationCategory.GLUCOCORTICOID, daily_dose_mg__isnull=False)
    patients = (
        Patient.objects.with_week_zero()
        .order_by("mrn")
        .prefetch_related(
            Prefetch("visits", queryset=Visit.objects.chronological()),
            Prefetch("medications", queryset=steroids.order_by("started_on", "pk"), to_attr="glucocorticoid_rows"),
        )
    )
    courses, glucocorticoids = [], {}
    for patient in patients:
        courses.append((patient, patient_response(patient, visits=list(patient.visits.all()))))
        glucocorticoids[patient.pk] = [
            GlucocorticoidCourse(row.name, row.daily_dose_mg, row.started_on, row.stopped_on)
            for row in patient.glucocorticoid_rows
        ]
    without = Patient.objects.without_week_zero().count()
    return build_cohort(courses, today=today, without_first_infusion=without, glucocorticoids=glucocorticoids)


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
    # Glucocorticoid as prednisone (mg/day): a patient's dose, or in the summary the median.
    "prednisone_mg_baseline",
    "prednisone_mg_week16",
    "prednisone_not_converted",
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
                    **_prednisone_cells(r.prednisone),
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
        sparing = summary.prednisone
        counts.append(("prednisone_lowered_by_week16", sparing.lowered.count, sparing.lowered.of))
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
    for summary in report.populations:
        sparing = summary.prednisone
        rows.append(
            {
                "row_type": "summary",
                "population": summary.population,
                "measure": "prednisone_mg_median",
                "count": sparing.counted,
                "of": len(summary.results),
                "prednisone_mg_baseline": sparing.median_baseline_mg,
                "prednisone_mg_week16": sparing.median_week16_mg,
                "prednisone_not_converted": sparing.not_converted or "",
                "note": f"patients with a complete week-16 TIS whose glucocorticoids all convert; "
                f"{GLUCOCORTICOID_EQUIVALENCE_SOURCE}",
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


def _prednisone_cells(prednisone: PrednisoneAt | None) -> dict[str, object]:
    if prednisone is None:
        return {}
    return {
        "prednisone_mg_baseline": prednisone.baseline.prednisone_mg,
        "prednisone_mg_week16": prednisone.week16.prednisone_mg,
        "prednisone_not_converted": "; ".join(prednisone.not_converted),
    }


def write_csv(report: CohortReport, out: IO[str]) -> None:
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    for row in csv_rows(report):
        writer.writerow({column: _cell(row.get(column)) for column in CSV_COLUMNS})


def shown_populations(report: CohortReport) -> Sequence[PopulationSummary]:
    """The populations with anyone on IVIG (adults always, so an empty clinic still shows the table)."""
    return [s for s in report.populations if s.patients or s.population == tis.ADULT]
