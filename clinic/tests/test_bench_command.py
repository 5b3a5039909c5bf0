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


def test_prints_every_page_at_both_sizes_with_equal_query_counts(frozen_today):
    out, err = _bench("--sizes", "3,6", "--requests", "2")
    assert "seeding 1–3" in err and "seeding 4–6" in err
    rows = {}
    for page in benchmark.PAGES:
        for size in (3, 6):
            found = re.search(rf"^{page}\s+{size}\s+[\d.]+\s+[\d.]+\s+(\S+)$", out, re.MULTILINE)
            assert found, f"{page} at {size} missing from:\n{out}"
            rows[(page, size)] = found.group(1)
        assert rows[(page, 3)] == rows[(page, 6)]
    assert re.search(r"ratio\s+[\d.]+×", out)
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
    assert "slowest queries at 6 patients" in out and "SELECT" in out
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
    out, _ = _bench("--sizes", "2,3", "--requests", "1", "--keep")
    assert re.search(r"^dashboard\s+3\s", out, re.MULTILINE)
    assert Patient.objects.count() == 3


def test_seed_only_seeds_and_grows_without_measuring(frozen_today):
    out, err = _bench("--seed-only", "--patients", "2")
    assert out == "" and "Seeded 2 patients" in err
    _bench("--seed-only", "--patients", "4")
    assert sorted(Patient.objects.values_list("mrn", flat=True)) == [f"BENCH-00000{n}" for n in range(1, 5)]
    _, err = _bench("--seed-only", "--patients", "3")
    assert "nothing to seed" in err and Patient.objects.count() == 4


@pytest.mark.parametrize("sizes", ["10,5", "0", "a,b", "5,5"])
def test_sizes_must_increase(sizes):
    with pytest.raises(CommandError, match="--sizes"):
        _bench("--sizes", sizes, "--requests", "1")


def test_the_hand_written_sql_returns_the_dashboards_rows(frozen_today):
    seed_synthetic_clinic(patients=12, today=frozen_today)
    board = dashboard()
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
