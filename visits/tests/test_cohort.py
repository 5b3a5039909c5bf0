"""The week-16 cohort: shares at each threshold, responders, populations kept apart, patients
without a week-16 TIS counted apart, the CSV, and a query count that does not grow."""

import csv
import io
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from patients.tests.factories import MedicationFactory, PatientFactory
from visits import cohort
from visits.services import visit_record
from visits.tests.factories import WORKED_BASELINE as BASELINE

TODAY = date(2026, 11, 22)
FIRST_INFUSION = date(2026, 1, 12)
BASELINE_DAY = date(2026, 1, 5)
WEEK16_DAY = FIRST_INFUSION + timedelta(weeks=16)  # 2026-05-04

# Follow-up visits built from the baseline, with the TIS each gives (tis.md point tables).
FOLLOWUP_FOR_TIS = {
    # MMT 60 -> 66 is +7.5 % of 80: 10 points.
    10: {"mmt_score": Decimal("66")},
    # Physician 6 -> 4.5 (15 %: 7.5) and extramuscular 4 -> 2 (20 %: 12.5).
    20: {"physician_global_cm": Decimal("4.5"), "extramuscular_global_cm": Decimal("2")},
    # The worked example.
    35: {
        "physician_global_cm": Decimal("4.5"),
        "patient_global_cm": Decimal("5.5"),
        "mmt_score": Decimal("68"),
        "haq_score": Decimal("1.05"),
        "extramuscular_global_cm": Decimal("2.5"),
        "ck_u_per_l": Decimal("2550"),
    },
    # The worked example with physician 6 -> 3 (30 %: 17.5 instead of 7.5).
    45: {
        "physician_global_cm": Decimal("3"),
        "patient_global_cm": Decimal("5.5"),
        "mmt_score": Decimal("68"),
        "haq_score": Decimal("1.05"),
        "extramuscular_global_cm": Decimal("2.5"),
        "ck_u_per_l": Decimal("2550"),
    },
    # 20 + 10 + 27.5 + 0 + 0 + 7.5.
    65: {
        "physician_global_cm": Decimal("1"),
        "patient_global_cm": Decimal("2"),
        "mmt_score": Decimal("80"),
        "extramuscular_global_cm": Decimal("3"),
    },
}
# Extramuscular global up 2.5 cm: worse than baseline by the ProDERM definition.
WORSE = {"extramuscular_global_cm": Decimal("6.5")}


@pytest.fixture
def on_ivig(physician):
    """A patient with a baseline visit, a first infusion and optionally a week-16 TIS."""

    def make(tis: int | None = None, *, diagnosis="adult_dm", first_infusion=FIRST_INFUSION, **patient_fields):
        patient = PatientFactory(diagnosis=diagnosis, ivig_started_on=first_infusion, **patient_fields)
        record(patient, first_infusion - timedelta(days=7), BASELINE)
        if tis is not None:
            record(patient, first_infusion + timedelta(weeks=16), BASELINE | FOLLOWUP_FOR_TIS[tis])
        return patient

    def record(patient, day, measures):
        return visit_record(by=physician, patient=patient, today=TODAY, visit_date=day, **measures)

    make.record = record
    return make


def report():
    return cohort.load_cohort(today=TODAY)


def adults(built):
    return next(s for s in built.populations if s.population == "adult")


def juveniles(built):
    return next(s for s in built.populations if s.population == "juvenile")


# ------------------------------------------------------------------------- arithmetic


@pytest.mark.parametrize(
    "count, total, expected",
    [
        (3, 4, Decimal("75.0")),
        (1, 3, Decimal("33.3")),
        (2, 3, Decimal("66.7")),
        (37, 47, Decimal("78.7")),
        (21, 48, Decimal("43.8")),
        (1, 8, Decimal("12.5")),
        (1, 16, Decimal("6.3")),  # 6.25 rounds half up
        (0, 5, Decimal("0.0")),
        (5, 5, Decimal("100.0")),
        (0, 0, None),
    ],
)
def test_percent_of_is_exact_and_rounds_half_up(count, total, expected):
    assert cohort.percent_of(count, total) == expected


@pytest.mark.parametrize("count, total", [(5, 4), (-1, 4), (0, -1)])
def test_percent_of_refuses_impossible_counts(count, total):
    with pytest.raises(ValueError, match="count"):
        cohort.percent_of(count, total)


# ---------------------------------------------------------------------------- shares


@pytest.mark.django_db
def test_shares_at_each_adult_threshold(on_ivig):
    for tis in (20, 35, 45, 10):
        on_ivig(tis)

    summary = adults(report())

    assert [(s.label, s.count, s.of, s.percent) for s in summary.shares] == [
        ("TIS ≥ 20 (minimal or better)", 3, 4, Decimal("75.0")),
        ("TIS ≥ 40 (moderate or better)", 1, 4, Decimal("25.0")),
        ("TIS ≥ 60 (major or better)", 0, 4, Decimal("0.0")),
    ]
    assert (summary.responders.count, summary.responders.of, summary.responders.percent) == (3, 4, Decimal("75.0"))
    assert sorted(r.tis_total for r in summary.results) == [10, 20, 35, 45]
    assert {r.category for r in summary.results} == {"none", "minimal", "moderate"}


@pytest.mark.django_db
def test_juvenile_patients_are_summarised_apart_with_their_thresholds(on_ivig):
    on_ivig(35)
    on_ivig(20, diagnosis="juvenile_dm")
    on_ivig(35, diagnosis="juvenile_dm")
    on_ivig(65, diagnosis="juvenile_dm")

    built = report()
    adult, juvenile = adults(built), juveniles(built)

    assert [s.of for s in adult.shares] == [1, 1, 1]
    assert [(threshold, category) for threshold, category in juvenile.thresholds] == [
        (30, "minimal"),
        (45, "moderate"),
        (70, "major"),
    ]
    assert [(s.label, s.count, s.of) for s in juvenile.shares] == [
        ("TIS ≥ 30 (minimal or better)", 2, 3),
        ("TIS ≥ 45 (moderate or better)", 1, 3),
        ("TIS ≥ 70 (major or better)", 0, 3),
    ]
    # 20 is "none" for a child (below 30), so not a responder either: the juvenile rule uses 30.
    assert sorted((r.tis_total, r.category) for r in juvenile.results) == [
        (20, "none"),
        (35, "minimal"),
        (65, "moderate"),
    ]
    assert juvenile.responders.count == 2


@pytest.mark.django_db
def test_confirmed_deterioration_makes_a_tis_of_20_or_more_a_non_responder(on_ivig):
    patient = on_ivig(35)
    on_ivig.record(patient, FIRST_INFUSION + timedelta(weeks=4), BASELINE | WORSE)
    on_ivig.record(patient, FIRST_INFUSION + timedelta(weeks=8), BASELINE | WORSE)
    on_ivig(35)

    summary = adults(report())

    (deteriorated,) = [r for r in summary.results if r.patient == patient]
    assert deteriorated.tis_total == 35
    assert deteriorated.deterioration_on == FIRST_INFUSION + timedelta(weeks=8)
    assert deteriorated.responder is False
    assert summary.shares[0].count == 2
    assert (summary.responders.count, summary.responders.of) == (1, 2)


@pytest.mark.django_db
def test_deterioration_confirmed_after_week_16_does_not_count(on_ivig):
    patient = on_ivig(35)
    on_ivig.record(patient, WEEK16_DAY + timedelta(weeks=4), BASELINE | WORSE)
    on_ivig.record(patient, WEEK16_DAY + timedelta(weeks=8), BASELINE | WORSE)

    (row,) = adults(report()).results
    assert row.deterioration_on is None and row.responder is True


@pytest.mark.django_db
def test_patients_without_a_week16_tis_are_counted_apart(on_ivig, physician):
    on_ivig(35)
    missed = on_ivig()  # baseline only, long ago
    on_ivig.record(missed, FIRST_INFUSION + timedelta(weeks=8), BASELINE)
    still_open = on_ivig(first_infusion=TODAY - timedelta(weeks=10))
    no_baseline = PatientFactory(ivig_started_on=FIRST_INFUSION)
    on_ivig.record(no_baseline, WEEK16_DAY, BASELINE)
    incomplete = on_ivig()
    on_ivig.record(incomplete, WEEK16_DAY, BASELINE | {"haq_score": None})
    PatientFactory(ivig_started_on=None)
    PatientFactory(ivig_started_on=None)

    built = report()
    summary = adults(built)

    assert [r.patient for r in summary.results] != [] and len(summary.results) == 1
    assert [s.of for s in summary.shares] == [1, 1, 1]
    reasons = {row.patient: row.reason for row in summary.no_week16}
    assert reasons == {missed: "no_visit", still_open: "window_open", no_baseline: "no_baseline"}
    (late,) = [row for row in summary.no_week16 if row.patient == missed]
    assert (late.window_from, late.window_to) == (date(2026, 4, 20), date(2026, 5, 18))
    assert [(row.patient, row.missing) for row in summary.incomplete] == [(incomplete, ("haq",))]
    assert summary.patients == 5
    assert built.without_first_infusion == 2


@pytest.mark.django_db
def test_an_empty_clinic():
    built = report()
    assert built.patients == 0
    assert all(share.percent is None for share in adults(built).shares)
    assert [s.population for s in cohort.shown_populations(built)] == ["adult"]


# ------------------------------------------------------------------------------- CSV


def csv_table(built) -> list[dict]:
    out = io.StringIO()
    cohort.write_csv(built, out)
    return list(csv.DictReader(io.StringIO(out.getvalue())))


@pytest.mark.django_db
def test_csv_has_one_row_per_patient_and_the_summary_lines_without_names(on_ivig):
    for tis in (20, 35, 45, 10):
        on_ivig(tis, given_name="Zelda", family_name="Quixote")
    on_ivig(given_name="Zelda", family_name="Quixote")

    out = io.StringIO()
    cohort.write_csv(report(), out)
    text = out.getvalue()
    rows = list(csv.DictReader(io.StringIO(text)))

    assert list(rows[0]) == list(cohort.CSV_COLUMNS)
    assert "Zelda" not in text and "Quixote" not in text
    patients = [r for r in rows if r["row_type"] in ("week16", "week16_incomplete", "no_week16_visit")]
    assert len(patients) == 5 and all(r["mrn"].startswith("MRN") for r in patients)
    week16 = sorted((r["tis"], r["category"], r["responder"]) for r in rows if r["row_type"] == "week16")
    assert week16 == [
        ("10.0", "none", "no"),
        ("20.0", "minimal", "yes"),
        ("35.0", "minimal", "yes"),
        ("45.0", "moderate", "yes"),
    ]
    summary = {
        (r["population"], r["measure"]): (r["count"], r["of"], r["percent"]) for r in rows if r["row_type"] == "summary"
    }
    assert summary[("adult", "tis_ge_20")] == ("3", "4", "75.0")
    assert summary[("adult", "tis_ge_40")] == ("1", "4", "25.0")
    assert summary[("adult", "responders")] == ("3", "4", "75.0")
    assert summary[("adult", "no_week16_visit")] == ("1", "5", "20.0")
    assert summary[("juvenile", "tis_ge_30")] == ("0", "0", "")
    published = [(r["count"], r["of"], r["percent"]) for r in rows if r["row_type"] == "proderm_published"]
    assert published == [("37", "47", "78.7"), ("21", "48", "43.8")]


@pytest.mark.django_db
def test_csv_cells_cannot_start_a_spreadsheet_formula(on_ivig):
    on_ivig(35, mrn="=HYPERLINK(1)")
    (row,) = [r for r in csv_table(report()) if r["row_type"] == "week16"]
    assert row["mrn"] == "'=HYPERLINK(1)"


# ---------------------------------------------------------------------- query count


@pytest.mark.django_db
def test_query_count_does_not_grow_with_the_cohort(on_ivig):
    def count_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            built = report()
            csv_table(built)
        return len(queries)

    for tis in (20, 35):
        on_ivig(tis)
    on_ivig()
    small = count_queries()
    for tis in (10, 20, 35, 45, 65, 35):
        on_ivig(tis)
        on_ivig(tis, diagnosis="juvenile_dm")
    on_ivig()
    large = count_queries()

    assert small == large == 4  # patients, their visits, their glucocorticoids, those without week 0


# ------------------------------------------------------------- glucocorticoid sparing


@pytest.mark.parametrize(
    "values, expected",
    [
        (["40.0", "10.0", "20.0"], Decimal("20.0")),
        (["10.0", "15.5"], Decimal("12.75")),
        (["0.0"], Decimal("0.0")),
        ([], None),
    ],
)
def test_median_mg_is_exact(values, expected):
    assert cohort.median_mg([Decimal(v) for v in values]) == expected


def steroid(patient, name, mg, started_on, stopped_on=None):
    MedicationFactory(
        patient=patient, name=name, daily_dose_mg=Decimal(mg), started_on=started_on, stopped_on=stopped_on
    )


@pytest.fixture
def sparing(on_ivig):
    """Four adults with a week-16 TIS of 35 (baseline 5 Jan, week 16 4 May 2026) and their glucocorticoids."""
    tapered = on_ivig(35, mrn="MRN-A")  # 40 mg prednisone, then methylprednisolone 8 mg = 10.0 mg prednisone
    steroid(tapered, "Prednisone", "40", date(2025, 12, 1), date(2026, 3, 1))
    steroid(tapered, "Methylprednisolone", "8", date(2026, 3, 1))
    steady = on_ivig(35, mrn="MRN-B")
    steroid(steady, "Prednisolone", "20", date(2025, 11, 1))
    on_ivig(35, mrn="MRN-C")  # no glucocorticoid: 0 at both visits
    budesonide = on_ivig(35, mrn="MRN-D")  # one the table cannot convert: left out of the summary
    steroid(budesonide, "Prednisone", "10", date(2025, 11, 1))
    steroid(budesonide, "Budesonide", "9", date(2026, 2, 1))


@pytest.mark.django_db
def test_each_week16_result_carries_the_prednisone_equivalent_at_baseline_and_week_16(sparing):
    rows = {r.patient.mrn: r.prednisone for r in adults(report()).results}
    assert {mrn: (p.baseline.prednisone_mg, p.week16.prednisone_mg, p.not_converted) for mrn, p in rows.items()} == {
        "MRN-A": (Decimal("40.0"), Decimal("10.0"), ()),
        "MRN-B": (Decimal("20.0"), Decimal("20.0"), ()),
        "MRN-C": (Decimal("0.0"), Decimal("0.0"), ()),
        "MRN-D": (Decimal("10.0"), Decimal("10.0"), ("Budesonide",)),
    }


@pytest.mark.django_db
def test_the_summary_gives_medians_and_how_many_were_lowered(sparing):
    summary = adults(report()).prednisone
    assert (summary.counted, summary.not_converted) == (3, 1)
    # Baseline 0, 20, 40 -> 20.0; week 16 0, 10, 20 -> 10.0; lowered in A of A and B (C took none).
    assert (summary.median_baseline_mg, summary.median_week16_mg) == (Decimal("20.0"), Decimal("10.0"))
    assert (summary.lowered.count, summary.lowered.of, summary.lowered.percent) == (1, 2, Decimal("50.0"))


@pytest.mark.django_db
def test_the_csv_carries_the_prednisone_equivalents(sparing):
    rows = csv_table(report())
    by_mrn = {r["mrn"]: r for r in rows if r["row_type"] == "week16"}
    assert [by_mrn["MRN-A"][k] for k in ("prednisone_mg_baseline", "prednisone_mg_week16")] == ["40.0", "10.0"]
    assert by_mrn["MRN-D"]["prednisone_not_converted"] == "Budesonide"
    summary = {(r["population"], r["measure"]): r for r in rows if r["row_type"] == "summary"}
    lowered = summary[("adult", "prednisone_lowered_by_week16")]
    assert (lowered["count"], lowered["of"], lowered["percent"]) == ("1", "2", "50.0")
    median = summary[("adult", "prednisone_mg_median")]
    assert (median["count"], median["of"], median["prednisone_mg_baseline"], median["prednisone_mg_week16"]) == (
        "3",
        "4",
        "20.0",
        "10.0",
    )
    assert median["prednisone_not_converted"] == "1" and "BNF" in median["note"]


def test_without_glucocorticoids_given_the_results_carry_none():
    built = cohort.build_cohort([], today=TODAY, without_first_infusion=0)
    assert adults(built).prednisone.counted == 0 and adults(built).prednisone.median_baseline_mg is None
