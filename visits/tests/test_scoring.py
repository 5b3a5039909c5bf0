"""patient_response: Visit rows scored against the baseline (tis.md through the ORM)."""

from datetime import date, timedelta
from decimal import Decimal

import pytest

from patients.tests.factories import PatientFactory
from visits.scoring import patient_response
from visits.services import visit_set_baseline
from visits.tests.factories import WORKED_BASELINE as BASELINE
from visits.tests.factories import WORKED_FOLLOWUP as FOLLOWUP
from visits.tests.factories import VisitFactory

FIRST_INFUSION = date(2026, 6, 1)
WEEK16 = FIRST_INFUSION + timedelta(weeks=16)  # 2026-09-21

WORSE = BASELINE | {"extramuscular_global_cm": Decimal("6")}  # up 2 cm: ProDERM worsening


@pytest.fixture
def patient(db):
    return PatientFactory(diagnosis="adult_dm", ivig_started_on=FIRST_INFUSION)


@pytest.fixture
def make_visit(physician):
    def make(patient, visit_date, **fields):
        return VisitFactory(patient=patient, visit_date=visit_date, assessor=physician, **fields)

    return make


def _result(response, visit):
    return next(scored for scored in response.visits if scored.visit.pk == visit.pk).result


@pytest.mark.django_db
def test_worked_example_through_visit_rows_is_tis_35_minimal(patient, make_visit):
    make_visit(patient, date(2026, 5, 28), **BASELINE)
    followup = make_visit(patient, date(2026, 7, 1), **FOLLOWUP)
    result = _result(patient_response(patient), followup)
    assert (result.total, result.category, result.missing) == (Decimal("35.0"), "minimal", ())
    points = {measure: score.points for measure, score in result.measures.items()}
    assert points == {
        "physician_global": Decimal("7.5"),
        "patient_global": Decimal("2.5"),
        "mmt": Decimal("10"),
        "haq": Decimal("5"),
        "enzyme": Decimal("2.5"),
        "extramuscular_global": Decimal("7.5"),
    }
    enzyme = result.measures["enzyme"]
    assert (enzyme.enzyme, enzyme.uln_u_per_l, enzyme.range_u_per_l) == ("ck", Decimal("200"), Decimal("3000"))


@pytest.mark.django_db
def test_default_baseline_is_the_last_visit_on_or_before_the_first_infusion(patient, make_visit):
    make_visit(patient, date(2026, 4, 1), **BASELINE)
    on_the_day = make_visit(patient, FIRST_INFUSION, **BASELINE)
    after = make_visit(patient, date(2026, 7, 1), **FOLLOWUP)
    response = patient_response(patient)
    assert (response.baseline, response.baseline_is_default) == (on_the_day, True)
    assert [scored.result is not None for scored in response.visits] == [False, False, True]
    assert _result(response, after).total == Decimal("35.0")


@pytest.mark.django_db
def test_marked_baseline_wins_over_the_default(patient, make_visit):
    make_visit(patient, date(2026, 5, 28), **BASELINE)
    marked = make_visit(patient, date(2026, 7, 1), is_baseline=True, **BASELINE)
    make_visit(patient, date(2026, 8, 1), **FOLLOWUP)
    response = patient_response(patient)
    assert (response.baseline, response.baseline_is_default) == (marked, False)


@pytest.mark.django_db
def test_changing_the_baseline_recomputes_every_score(patient, make_visit, physician):
    make_visit(patient, date(2026, 5, 28), **BASELINE)
    middle = make_visit(patient, date(2026, 7, 1), **FOLLOWUP)
    latest = make_visit(patient, date(2026, 8, 1), **(FOLLOWUP | {"physician_global_cm": Decimal("2")}))
    before = patient_response(patient)
    assert _result(before, latest).total == Decimal("45.0")  # physician 6 -> 2 cm: 40 %, 17.5 points not 7.5
    visit_set_baseline(by=physician, visit=middle)
    after = patient_response(patient)
    assert after.baseline == middle and _result(after, middle) is None
    assert (_result(after, latest).total, _result(after, latest).category) == (Decimal("15.0"), "none")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("diagnosis", "category"), [("adult_dm", "moderate"), ("polymyositis", "moderate"), ("juvenile_dm", "minimal")]
)
def test_population_thresholds_follow_the_diagnosis(make_visit, diagnosis, category):
    patient = PatientFactory(diagnosis=diagnosis, date_of_birth=date(2015, 1, 1), ivig_started_on=FIRST_INFUSION)
    make_visit(patient, date(2026, 5, 28), **BASELINE)
    # Physician 6 -> 3.5 cm is 25 % (15 points instead of 7.5): TIS 42.5, adult moderate, juvenile minimal.
    followup = make_visit(patient, date(2026, 7, 1), **(FOLLOWUP | {"physician_global_cm": Decimal("3.5")}))
    response = patient_response(patient)
    assert response.population == ("juvenile" if diagnosis == "juvenile_dm" else "adult")
    assert (_result(response, followup).total, _result(response, followup).category) == (Decimal("42.5"), category)


@pytest.mark.django_db
def test_mmt_on_another_scale_counts_as_missing_and_the_tis_is_incomplete(patient, make_visit):
    make_visit(patient, date(2026, 5, 28), **BASELINE)
    followup = make_visit(patient, date(2026, 7, 1), **(FOLLOWUP | {"mmt_scale": "mmt8_150", "mmt_score": 140}))
    scored = next(s for s in patient_response(patient).visits if s.visit.pk == followup.pk)
    assert scored.mmt_scale_mismatch
    assert (scored.result.total, scored.result.category, scored.result.missing) == (None, "incomplete", ("mmt",))


@pytest.mark.django_db
def test_any_missing_measure_makes_it_incomplete_never_partial(patient, make_visit):
    make_visit(patient, date(2026, 5, 28), **BASELINE)
    followup = make_visit(patient, date(2026, 7, 1), **(FOLLOWUP | {"ck_u_per_l": None, "haq_score": None}))
    result = _result(patient_response(patient), followup)
    assert (result.total, result.missing) == (None, ("haq", "enzyme"))


@pytest.mark.django_db
def test_deterioration_needs_two_consecutive_worse_visits(patient, make_visit):
    make_visit(patient, date(2026, 5, 28), **BASELINE)
    make_visit(patient, date(2026, 6, 15), **WORSE)
    make_visit(patient, date(2026, 7, 1), **FOLLOWUP)  # better in between: no pair yet
    make_visit(patient, date(2026, 7, 15), **WORSE)
    assert not patient_response(patient).confirmed_deterioration
    make_visit(patient, date(2026, 8, 1), **(BASELINE | {"physician_global_cm": 8, "mmt_score": 48}))
    response = patient_response(patient)
    assert response.confirmed_deterioration
    assert response.deterioration.confirmed_pairs == ((date(2026, 7, 15), date(2026, 8, 1)),)
    criteria = {check.label: check.criteria for check in response.deterioration.visits}
    assert criteria[date(2026, 7, 15)] == ("extramuscular_global",)
    assert criteria[date(2026, 8, 1)] == ("physician_global_and_mmt",)


@pytest.mark.django_db
@pytest.mark.parametrize(("offset_days", "counted"), [(-15, False), (-14, True), (0, True), (14, True), (15, False)])
def test_week16_visit_is_within_two_weeks_of_week_16(patient, make_visit, offset_days, counted):
    make_visit(patient, date(2026, 5, 28), **BASELINE)
    visit = make_visit(patient, WEEK16 + timedelta(days=offset_days), **FOLLOWUP)
    response = patient_response(patient)
    assert (response.week16_visit is not None) == counted
    if counted:
        assert response.week16_visit.visit == visit and response.week16_responder is True
    else:
        assert response.week16_responder is None


@pytest.mark.django_db
def test_week16_takes_the_visit_closest_to_week_16(patient, make_visit):
    make_visit(patient, date(2026, 5, 28), **BASELINE)
    make_visit(patient, WEEK16 - timedelta(days=10), **FOLLOWUP)
    closest = make_visit(patient, WEEK16 + timedelta(days=3), **FOLLOWUP)
    assert patient_response(patient).week16_visit.visit == closest


@pytest.mark.django_db
def test_week16_responder_needs_tis_20_and_no_confirmed_deterioration(patient, make_visit):
    make_visit(patient, date(2026, 5, 28), **BASELINE)
    make_visit(patient, WEEK16, **(BASELINE | {"physician_global_cm": Decimal("4.4")}))  # 16 %: 15 points
    assert patient_response(patient).week16_responder is False

    deteriorated = PatientFactory(ivig_started_on=FIRST_INFUSION)
    make_visit(deteriorated, date(2026, 5, 28), **BASELINE)
    make_visit(deteriorated, date(2026, 7, 1), **WORSE)
    make_visit(deteriorated, date(2026, 8, 1), **WORSE)
    make_visit(deteriorated, WEEK16, **FOLLOWUP)
    response = patient_response(deteriorated)
    assert response.week16_visit.result.total == Decimal("35.0")
    assert response.week16_responder is False


@pytest.mark.django_db
def test_without_a_first_infusion_there_is_no_week16(make_visit):
    patient = PatientFactory(ivig_started_on=None)
    make_visit(patient, date(2026, 5, 28), **BASELINE)
    latest = make_visit(patient, date(2026, 7, 1), **FOLLOWUP)
    response = patient_response(patient)
    # With no first infusion the latest visit is the default baseline, so nothing is scored yet.
    assert response.baseline == latest and response.week16_visit is None
    assert [s.weeks_since_first_infusion for s in response.visits] == [None, None]
