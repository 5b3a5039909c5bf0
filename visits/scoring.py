"""A patient's visits scored against their baseline: the TIS of every later visit,
ProDERM confirmed deterioration, and the week-16 response.

Glue between the Visit rows and the pure arithmetic in visits/tis.py; it reads
the visits it is given and writes nothing."""

from dataclasses import dataclass
from datetime import date, timedelta

from patients.models import WEEK_ZERO_DERIVED, Diagnosis, Patient

from . import tis
from .models import Visit

WEEK16 = 16
WEEK16_WINDOW_WEEKS = 2  # a visit within ±2 weeks of week 16 counts as the week-16 visit
# ProDERM (adults): TIS ≥ 20 at week 16 and no confirmed deterioration. For juvenile DM the same
# rule uses the juvenile minimal-improvement threshold (30): ProDERM itself enrolled adults only.
RESPONDER_TIS = {tis.ADULT: 20, tis.JUVENILE: 30}


@dataclass(frozen=True)
class ScoredVisit:
    visit: Visit
    weeks_since_first_infusion: int | None
    result: tis.TisResult | None  # None for the baseline itself and visits before it
    mmt_scale_mismatch: bool


@dataclass(frozen=True)
class PatientResponse:
    population: str
    baseline: Visit | None
    baseline_is_default: bool
    first_infusion_on: date | None  # week 0: Patient.ivig_week_zero
    first_infusion_source: str | None  # patients.models.WEEK_ZERO_RECORDED or WEEK_ZERO_DERIVED
    visits: list[ScoredVisit]  # oldest first
    deterioration: tis.DeteriorationResult | None
    week16_visit: ScoredVisit | None

    @property
    def first_infusion_derived(self) -> bool:
        """Week 0 is the first infusion given, no date of the first infusion being recorded."""
        return self.first_infusion_source == WEEK_ZERO_DERIVED

    @property
    def confirmed_deterioration(self) -> bool:
        return self.deterioration is not None and self.deterioration.confirmed

    @property
    def responder_min_tis(self) -> int:
        """The week-16 TIS a responder reaches: 20 for adult DM/PM, 30 for juvenile DM."""
        return RESPONDER_TIS[self.population]

    @property
    def week16_responder(self) -> bool | None:
        """True/False once a complete week-16 TIS exists; None before (or when it is incomplete)."""
        if self.week16_visit is None or self.week16_visit.result is None or self.week16_visit.result.total is None:
            return None
        return self.week16_visit.result.total >= self.responder_min_tis and not self._deteriorated_by(
            self.week16_visit.visit.visit_date
        )

    def _deteriorated_by(self, day: date) -> bool:
        return any(later <= day for _, later in (self.deterioration.confirmed_pairs if self.deterioration else ()))


def population_for(patient: Patient) -> str:
    return tis.JUVENILE if patient.diagnosis == Diagnosis.JUVENILE_DM else tis.ADULT


def default_baseline(visits: list[Visit], first_infusion_on: date | None) -> Visit | None:
    """The last visit on or before the first infusion; with no infusion yet, the latest visit.

    Example: visits on 2026-01-05 and 2026-02-01, first infusion 2026-01-10 → the 2026-01-05 visit.
    """
    eligible = [v for v in visits if first_infusion_on is None or v.visit_date <= first_infusion_on]
    return max(eligible, key=lambda v: (v.visit_date, v.created_at), default=None)


def weeks_between(start: date | None, day: date) -> int | None:
    return None if start is None else (day - start).days // 7


def patient_response(patient: Patient, visits: list[Visit] | None = None) -> PatientResponse:
    """Score every visit after the baseline, counting weeks from the patient's week 0 (the
    recorded first infusion, else the first one given). `visits` may be passed in to avoid a query."""
    visits = sorted(visits if visits is not None else patient.visits.all(), key=lambda v: (v.visit_date, v.created_at))
    week0 = patient.ivig_week_zero
    first_infusion_on = week0.on if week0 else None
    marked = [v for v in visits if v.is_baseline]
    baseline = marked[0] if marked else default_baseline(visits, first_infusion_on)
    population = population_for(patient)
    scored = []
    followups = []
    for visit in visits:
        result = None
        mismatch = False
        if baseline is not None and (visit.visit_date, visit.created_at) > (baseline.visit_date, baseline.created_at):
            mismatch = bool(visit.mmt_scale and baseline.mmt_scale and visit.mmt_scale != baseline.mmt_scale)
            result = _score(baseline, visit, population, mismatch)
            followups.append((visit.visit_date, _measures_for_comparison(visit, mismatch)))
        scored.append(ScoredVisit(visit, weeks_between(first_infusion_on, visit.visit_date), result, mismatch))
    deterioration = (
        tis.confirmed_deterioration(baseline.core_set_measures(), followups) if baseline and followups else None
    )
    return PatientResponse(
        population=population,
        baseline=baseline,
        baseline_is_default=not marked,
        first_infusion_on=first_infusion_on,
        first_infusion_source=week0.source if week0 else None,
        visits=scored,
        deterioration=deterioration,
        week16_visit=_week16(scored, first_infusion_on),
    )


def _measures_for_comparison(visit: Visit, mmt_scale_mismatch: bool) -> tis.CoreSetMeasures:
    measures = visit.core_set_measures()
    if not mmt_scale_mismatch:
        return measures
    # Scores on different scales cannot be compared: the MMT counts as not measured.
    return tis.CoreSetMeasures(
        physician_global=measures.physician_global,
        patient_global=measures.patient_global,
        mmt=None,
        haq=measures.haq,
        extramuscular_global=measures.extramuscular_global,
        enzymes=dict(measures.enzymes),
    )


def _score(baseline: Visit, visit: Visit, population: str, mmt_scale_mismatch: bool) -> tis.TisResult:
    mmt_max = baseline.mmt_max or visit.mmt_max or tis.MMT8_BILATERAL_MAX
    return tis.total_improvement_score(
        baseline.core_set_measures(),
        _measures_for_comparison(visit, mmt_scale_mismatch),
        population=population,
        mmt_max=mmt_max,
    )


def _week16(scored: list[ScoredVisit], first_infusion_on: date | None) -> ScoredVisit | None:
    """The scored visit closest to week 16 within ±2 weeks, preferring one with a complete TIS
    (then the later one on a tie)."""
    if first_infusion_on is None:
        return None
    target = first_infusion_on + timedelta(weeks=WEEK16)
    window = timedelta(weeks=WEEK16_WINDOW_WEEKS)
    candidates = [s for s in scored if s.result is not None and abs(s.visit.visit_date - target) <= window]
    return min(
        candidates,
        key=lambda s: (s.result.total is None, abs(s.visit.visit_date - target), -s.visit.visit_date.toordinal()),
        default=None,
    )
