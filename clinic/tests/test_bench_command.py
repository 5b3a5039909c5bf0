"""manage.py bench: the table it prints, its refusals, --seed-only, and the measuring helpers."""

import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from clinic import benchmark
from clinic.dashboard import dashboard
from clinic.synthetic import seed_synthetic_clinic
from patients.models import Patient
from patients.tests.factories import PatientFactory
from scheduling.services.sweep import reminders_reconcile, reminders_sweep

pytestmark = pytest.mark.django_db


def _bench(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("bench", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_prints_every_page_at_both_sizes_with_equal_query_counts_and_the_targets(frozen_today):
    out, err = _bench("--sizes", "3", "6", "--requests", "2")
    assert "seeding 1–3" in err and "seeding 4–6" in err
    assert re.search(r"^\s+0 →\s+3 patients\s+[\d.]+ s\s+[\d,]+ rows\s+[\d,]+ rows/s", out, re.MULTILINE)
    rows = {}
    spread = r"[\d.]+ \([\d.]+–[\d.]+\)"
    for page in benchmark.PAGES:
        for size in (3, 6):
            found = re.search(
                rf"^{page}\s+{size}\s+{spread}\s+{spread}\s+(\S+)\s+((?:[\d.]+ ?){{3}})$", out, re.MULTILINE
            )
            assert found, f"{page} at {size} missing from:\n{out}"
            rows[(page, size)] = found.group(1)
        assert rows[(page, 3)] == rows[(page, 6)]
    replays = re.findall(r"^\s+([36]) patients\s+(\d+) statements\s+p50: page .* ratio\s+[\d.]+×", out, re.MULTILINE)
    assert [size for size, _ in replays] == ["3", "6"]
    assert all(int(statements) == int(rows[("dashboard", 3)]) for _, statements in replays)
    runs = re.findall(
        r"^\s+([36])\s+(first run|periodic|nightly)\s+[\d.]+\s+([\d,]+)\s+([\d,]+)\s+[\d,]+\s+[\d,]+\s*(\d*)\s+[\d.]+$",
        out,
        re.MULTILINE,
    )
    assert [(size, run) for size, run, *_ in runs] == [
        (size, run) for size in ("3", "6") for run in ("first run", "periodic", "nightly")
    ]
    assert all(written == "0" for _, run, _, written, _ in runs if run == "periodic")
    assert all(repaired == "0" for _, run, _, _, repaired in runs if run == "nightly")
    periodic_queries = {queries for _, run, queries, _, _ in runs if run == "periodic"}
    assert len(periodic_queries) == 1  # the same at both sizes
    assert "database   SQLite" in out or "database   PostgreSQL" in out
    assert "CPUs" in out and "Django" in out
    # The bench logs in as its physician: the page measured is the physician's home.
    assert (
        "dashboard  the home page as the bench's physician sees it: flags not yet acknowledged; needs review; "
        "stewardship reviews due listed, the rest as figures"
    ) in out
    assert "slowest queries at 6 patients" in out and "SELECT" in out
    targets = out[out.index("targets (") :]
    # At 3 and 6 patients no 10,000-patient figure exists: graded "not measured", never invented.
    assert re.search(r"dashboard p95 ≤ 100 ms at 10,000\s+not measured at 10,000\s+not measured", targets)
    assert re.search(r"nightly reconciliation ≤ 60 s\s+not measured\s+not measured", targets)
    assert re.search(r"seeding 50,000 patients ≤ 15 min\s+not measured\s+not measured", targets)
    assert len(re.findall(r"(met|NOT MET|not measured)$", targets, re.MULTILINE)) == 15
    assert Patient.objects.count() == 6


def test_refuses_a_database_with_patients_it_did_not_create(frozen_today):
    PatientFactory()
    with pytest.raises(CommandError, match="not synthetic"):
        _bench("--sizes", "2", "--requests", "1")
    with pytest.raises(CommandError, match="not synthetic"):
        _bench("--seed-only", "--patients", "2")
    assert Patient.objects.count() == 1


def test_refuses_an_earlier_benchmark_clinic_unless_kept(frozen_today):
    seed_synthetic_clinic(patients=2, today=frozen_today)
    with pytest.raises(CommandError, match="--keep"):
        _bench("--sizes", "2", "--requests", "1")
    out, _ = _bench("--sizes", "2", "3", "--requests", "1", "--keep")
    assert re.search(r"^dashboard\s+3\s", out, re.MULTILINE)
    assert Patient.objects.count() == 3


def test_seed_only_seeds_and_grows_without_measuring(frozen_today):
    out, err = _bench("--seed-only", "--patients", "2")
    assert out == "" and "Seeded 2 patients" in err
    _bench("--seed-only", "--patients", "4")
    assert sorted(Patient.objects.values_list("mrn", flat=True)) == [f"BENCH-00000{n}" for n in range(1, 5)]
    _, err = _bench("--seed-only", "--patients", "3")
    assert "nothing to seed" in err and Patient.objects.count() == 4


@pytest.mark.parametrize("sizes", [["10,5"], ["10", "5"], ["0"], ["a,b"], ["5", "5"]])
def test_sizes_must_increase(sizes):
    with pytest.raises(CommandError, match="--sizes"):
        _bench("--sizes", *sizes, "--requests", "1")


def test_fewer_than_three_repetitions_are_refused():
    with pytest.raises(CommandError, match="--repetitions"):
        _bench("--sizes", "2", "--repetitions", "2")


def test_the_hand_written_sql_returns_the_dashboards_rows(frozen_today):
    seed_synthetic_clinic(patients=12, today=frozen_today)
    board = dashboard(shown=["flags"])  # the overview's list of patients with active flags
    expected = [(patient.pk, flag.pk) for patient, flags in board.patients for flag in flags]
    rows = benchmark.dashboard_sql_rows()
    assert expected, "the synthetic clinic has patients with flags"
    assert [(row[0], row[5]) for row in rows] == expected


def test_the_first_run_creates_then_the_periodic_sweep_and_a_second_reconciliation_write_nothing(frozen_today):
    from django.utils import timezone

    seed_synthetic_clinic(patients=6, today=frozen_today)
    first = benchmark.run_sweep(reminders_reconcile, now=timezone.now())
    periodic = benchmark.run_sweep(reminders_sweep, now=timezone.now())
    again = benchmark.run_sweep(reminders_reconcile, now=timezone.now())
    # Each reminder and its history row; SQLite reports no row count for an INSERT ... RETURNING
    # until its rows are read, so there only the history rows are counted.
    assert first.created > 0 and first.rows_written >= (2 if connection.vendor == "postgresql" else 1) * first.created
    assert first.counts["repaired"] + first.counts["scheduled"] == first.created and first.peak_mib > 0
    # Two queries; on PostgreSQL the time limit adds SET and RESET statement_timeout.
    assert periodic.queries == (4 if connection.vendor == "postgresql" else 2)
    assert periodic.rows_written == 0 and periodic.queued > 0
    assert again.rows_written == 0 and again.created == 0 and again.counts["repaired"] == 0


def test_run_reminders_grades_the_three_runs(frozen_today):
    from django.utils import timezone

    seed_synthetic_clinic(patients=4, today=frozen_today)
    runs = benchmark.run_reminders(now=timezone.now())
    assert [label for label, _ in runs.named()] == ["first run", "periodic", "nightly"]
    assert runs.first.created > 0 and runs.periodic.created == 0
    assert runs.nightly.counts["repaired"] == 0 and runs.nightly.counts["patients"] == 4


@pytest.mark.parametrize(
    ("values", "percent", "expected"), [([10, 20, 30, 40], 50, 25.0), ([7.5], 95, 7.5), ([1, 2, 3, 4, 5], 95, 4.8)]
)
def test_percentile(values, percent, expected):
    assert benchmark.percentile(values, percent) == pytest.approx(expected)


def test_page_urls_are_deterministic_and_start_with_this_week(frozen_today):
    seed_synthetic_clinic(patients=12, today=frozen_today)
    weeks = benchmark.page_urls("schedule week", count=5)
    assert weeks == benchmark.page_urls("schedule week", count=5)
    assert weeks[0].endswith("start=2026-11-16")
    patients = benchmark.page_urls("patient detail", count=3)
    assert len(set(patients)) == 3
    with pytest.raises(ValueError, match="page"):
        benchmark.page_urls("nowhere", count=1)


def test_a_sweep_past_the_time_limit_is_stopped_and_reported(frozen_today):
    from django.utils import timezone

    def endless_sweep(*, now):
        while True:
            Patient.objects.count()

    run = benchmark.run_sweep(endless_sweep, now=timezone.now(), limit_seconds=0.2)
    assert run.stopped and run.seconds >= 0.2 and run.queries > 0
    assert Patient.objects.count() == 0  # the connection is usable afterwards


@pytest.mark.parametrize(
    ("values", "expected"),
    [([12.0, 10.0, 30.0], (12.0, 10.0, 30.0)), ([5.0], (5.0, 5.0, 5.0)), ([4.0, 1.0, 2.0, 3.0], (2.5, 1.0, 4.0))],
)
def test_a_spread_is_the_median_and_range_of_the_repetitions(values, expected):
    spread = benchmark.Spread.of(values)
    assert (spread.median, spread.low, spread.high) == expected
    assert benchmark.Spread(12.0, 10.0, 30.25).text() == "12.0 (10.0–30.2)"
    with pytest.raises(ValueError, match="values"):
        benchmark.Spread.of([])


def test_repetitions_keep_each_runs_percentiles_and_load(monkeypatch):
    runs = iter([[10.0, 20.0, 30.0, 40.0], [1.0, 2.0, 3.0, 4.0], [100.0, 100.0, 100.0, 200.0]])
    loads = iter([(0.5, 0, 0), (1.5, 0, 0), (2.5, 0, 0)])
    monkeypatch.setattr(benchmark.os, "getloadavg", lambda: next(loads))
    repetitions = benchmark.repeat(lambda: next(runs), 3)
    timing = benchmark.Timing("page", repetitions, (3, 3), 4)
    assert [r.p50_ms for r in repetitions] == [25.0, 2.5, 100.0]
    assert timing.p50 == benchmark.Spread(25.0, 2.5, 100.0)
    assert timing.p95.median == pytest.approx(38.5) and timing.p95.high == pytest.approx(185.0)
    assert timing.loads_text == "0.50 1.50 2.50"
    with pytest.raises(ValueError, match="repetitions"):
        benchmark.repeat(lambda: [1.0], 0)


@pytest.mark.parametrize(
    ("value", "limit", "strictly_below", "verdict"),
    [
        (99.9, 100, False, "met"),
        (100.0, 100, False, "met"),
        (100.1, 100, False, "NOT MET"),
        (49.9, 50, True, "met"),
        (50.0, 50, True, "NOT MET"),
        (None, 100, False, "not measured"),
        (0.0, 1, False, "met"),
    ],
)
def test_grade_at_most(value, limit, strictly_below, verdict):
    assert benchmark.grade_at_most(value, limit, strictly_below=strictly_below) == verdict


@pytest.mark.parametrize(
    ("counts", "same", "not_growing"),
    [
        ({1000: 12, 10000: 12, 50000: 12}, "met", "met"),
        ({1000: 12, 10000: 13}, "NOT MET", "NOT MET"),
        ({1000: 30, 10000: 27}, "NOT MET", "met"),
        ({1000: 12}, "not measured", "not measured"),
        ({}, "not measured", "not measured"),
    ],
)
def test_grading_counts_across_sizes(counts, same, not_growing):
    assert benchmark.grade_same(counts) == same
    assert benchmark.grade_not_growing(counts) == not_growing


def test_the_replay_runs_the_statements_the_dashboard_ran(frozen_today):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from clinic.synthetic import bench_users

    seed_synthetic_clinic(patients=4, today=frozen_today)
    client = benchmark.logged_in_client(bench_users()["physician"])
    url = benchmark.page_urls("dashboard", count=1)[0]
    client.get(url)  # the first request renews the session; the replay is of a steady one
    statements = benchmark.capture_statements(client, url)
    _, queries = benchmark.count_queries(client, [url])
    assert len(statements) == len(queries) > 5
    # The same statements in the same order (captured with their parameters apart, so compare the FROM).
    assert [s.sql.split(" FROM ")[-1][:30] for s in statements] == [q["sql"].split(" FROM ")[-1][:30] for q in queries]
    with CaptureQueriesContext(connection) as replayed:
        assert benchmark.replay_statements(statements) > 0
    # Django's own cursor sees only the savepoint around the replay: the statements went to the driver.
    assert not any("SELECT" in q["sql"] for q in replayed.captured_queries)
    timing = benchmark.measure_replay(statements, requests=2, repetitions=3)
    assert timing.queries == (len(statements), len(statements)) and len(timing.repetitions) == 3


def test_the_reminder_clock_only_moves_forward_from_size_to_size(frozen_today, monkeypatch):
    """The second size's first run starts where the first size's nightly run was made, not back
    at the wall clock: the earlier patients' reminders are neither cancelled nor revived by a
    clock going back, so the nightly run of a clean clinic repairs nothing at every size."""
    clocks = []
    real = benchmark.run_reminders

    def recorded(*, now, limit_seconds):
        clocks.append(now)
        return real(now=now, limit_seconds=limit_seconds)

    monkeypatch.setattr(benchmark, "run_reminders", recorded)
    out, err = _bench("--sizes", "3", "6", "--requests", "2")
    assert len(clocks) == 2
    assert clocks[1] >= clocks[0] + benchmark.NIGHTLY_AFTER
    assert re.findall(r"nightly: [\d.]+ s, repaired (\d+)", err) == ["0", "0"]


def test_reminder_clock():
    from datetime import UTC, datetime, timedelta

    t = datetime(2026, 12, 4, 18, 0, tzinfo=UTC)
    assert benchmark.reminder_clock(None, wall=t) == t
    assert benchmark.reminder_clock(t + timedelta(days=1), wall=t + timedelta(minutes=10)) == t + timedelta(days=1)
    assert benchmark.reminder_clock(t, wall=t + timedelta(minutes=10)) == t + timedelta(minutes=10)
