"""Benchmark a synthetic clinic: seed it, then time the busiest pages, the dashboard next to
one hand-written SQL query, and the reminder sweep, at each clinic size. `make bench` runs it
on a scratch database (SQLite, or PostgreSQL with DATABASE_URL=...).

Only on a scratch database: it refuses one holding any patient it did not create.
"""

import os
import platform
import time
from datetime import date

import django
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.utils import timezone

from accounts.roles import PHYSICIAN
from clinic import benchmark
from clinic.synthetic import MRN_PREFIX, bench_mrn, bench_patients, bench_users, seed_synthetic_clinic
from patients.models import Patient

# Issue 8's targets, on PostgreSQL at 10,000 patients.
TARGET_PATIENTS = 10_000
TARGET_DASHBOARD_P95_MS = 150
TARGET_DASHBOARD_QUERIES = 12
TARGET_PATIENT_QUERIES = 15
# Reminders (issue 17): the 5-minute sweep, the first run of a never-computed clinic, the nightly
# reconciliation, and the peak Python memory of any of them. The periodic sweep's query count
# must also not grow with the clinic: the table prints it at each size.
TARGET_REMINDER_SECONDS = {"periodic": 1.0, "first run": 10.0, "nightly": 60.0}
TARGET_REMINDER_PEAK_MIB = 50
SCRATCH_HELP = (
    "Run it on a scratch database: `make bench` (SQLite at var/bench.sqlite3, recreated each run) or "
    "`make bench DATABASE_URL=postgres://postgres@127.0.0.1:5432/ivig_bench`; by hand, point DATABASE_URL at an "
    "empty database and run `manage.py migrate` first."
)


class ProgressBar:
    """A text bar on the command's stderr: redrawn in place on a terminal, a line every 10 % in a log."""

    WIDTH = 30

    def __init__(self, stream, label: str):
        self.stream = stream
        self.label = label
        self.started = time.perf_counter()
        self.interactive = getattr(stream, "isatty", lambda: False)()
        self.last_tenth = -1

    def __call__(self, done: int, total: int) -> None:
        fraction = done / total if total else 1
        tenth = int(fraction * 10)
        if not self.interactive and tenth == self.last_tenth and done < total:
            return
        self.last_tenth = tenth
        filled = int(fraction * self.WIDTH)
        line = (
            f"{self.label} [{'#' * filled}{'.' * (self.WIDTH - filled)}] "
            f"{done:,}/{total:,} patients  {time.perf_counter() - self.started:6.1f} s"
        )
        plain = lambda text: text  # noqa: E731 - no error colour on stderr for a progress bar
        self.stream.write(("\r" + line) if self.interactive else line, style_func=plain, ending="")
        self.stream.write("" if self.interactive and done < total else "\n", style_func=plain, ending="")
        self.stream.flush()


class Command(BaseCommand):
    help = (
        "Seed a synthetic clinic (BENCH- patients with two years of history) in a scratch database and print "
        "page timings (p50/p95), query counts, the dashboard against hand-written SQL, and the reminder sweep. "
        + SCRATCH_HELP
    )

    def add_arguments(self, parser):
        parser.add_argument("--patients", type=int, default=TARGET_PATIENTS, help="Clinic size (default 10000).")
        parser.add_argument(
            "--sizes",
            help="Comma-separated clinic sizes to measure at, growing the same clinic (default 1000,<patients>).",
        )
        parser.add_argument("--requests", type=int, default=50, help="Requests per page and size (default 50).")
        parser.add_argument(
            "--seed-only", action="store_true", help="Seed (or grow) the clinic to --patients and stop: no measuring."
        )
        parser.add_argument(
            "--keep",
            action="store_true",
            help="Measure from the synthetic patients already in the database instead of requiring an empty one.",
        )
        parser.add_argument("--seed", type=int, default=0, help="Random seed of the synthetic clinic (default 0).")
        parser.add_argument(
            "--sweep-limit",
            type=float,
            default=120,
            help="Stop a reminder sweep after this many seconds and report it as stopped (default 120).",
        )

    def handle(self, *args, patients, sizes, requests, seed_only, keep, seed, sweep_limit, **options):
        sizes = self._sizes(sizes, patients)
        if requests < 1:
            raise CommandError("--requests must be at least 1.")
        existing = self._existing()
        today = timezone.localdate()
        if seed_only:
            self._grow(existing, patients, today=today, seed=seed)
            return
        if existing and not keep:
            raise CommandError(
                f"The database already holds {existing:,} synthetic patients from an earlier run. Recreate it "
                "(make bench does) or pass --keep to measure from them."
            )
        if existing > sizes[0]:
            raise CommandError(f"The database holds {existing:,} synthetic patients, more than the first size.")
        results = []
        for size in sizes:
            seeding = self._grow(existing, size, today=today, seed=seed)
            existing = size
            results.append(self._measure(size, requests=requests, seed=seed, seeding=seeding, sweep_limit=sweep_limit))
        self._report(results, requests=requests)
        differing = self._differing_query_counts(results)
        if differing:
            raise CommandError(
                "Query counts differ between sizes (a query per row somewhere): " + "; ".join(differing) + "."
            )

    # ------------------------------------------------------------------ setup

    @staticmethod
    def _sizes(sizes: str | None, patients: int) -> list[int]:
        if patients < 1:
            raise CommandError("--patients must be at least 1.")
        if sizes is None:
            return sorted({min(1000, patients), patients})
        try:
            parsed = [int(part) for part in sizes.split(",") if part.strip()]
        except ValueError:
            raise CommandError(f"--sizes: whole numbers separated by commas, not {sizes!r}.") from None
        if not parsed or any(size < 1 for size in parsed) or parsed != sorted(set(parsed)):
            raise CommandError(f"--sizes: increasing clinic sizes of at least 1, not {sizes!r}.")
        return parsed

    def _existing(self) -> int:
        others = Patient.objects.exclude(mrn__startswith=MRN_PREFIX).count()
        if others:
            raise CommandError(
                f"This database ({connection.settings_dict['NAME']}) holds {others:,} patients that are not "
                f"synthetic: the benchmark never writes next to real or demo data. {SCRATCH_HELP}"
            )
        existing = bench_patients().count()
        if existing and not Patient.objects.filter(mrn=bench_mrn(existing - 1)).exists():
            raise CommandError("The synthetic patients in this database are not numbered from 1: recreate it.")
        return existing

    def _grow(self, existing: int, size: int, *, today: date, seed: int) -> dict:
        if existing >= size:
            self.stderr.write(f"The clinic already has {existing:,} synthetic patients; nothing to seed.")
            return {"patients": 0, "seconds": 0.0, "rows": 0}
        bar = ProgressBar(self.stderr, f"seeding {existing + 1:,}–{size:,}")
        started = time.perf_counter()
        counts = seed_synthetic_clinic(
            patients=size - existing, start_index=existing, today=today, progress=bar, seed=seed
        )
        seconds = time.perf_counter() - started
        rows = sum(counts.values())
        summary = ", ".join(f"{name} {count:,}" for name, count in counts.items())
        self.stderr.write(f"Seeded {size - existing:,} patients in {seconds:.1f} s: {rows:,} rows ({summary}).")
        return {"patients": size - existing, "seconds": seconds, "rows": rows}

    # ------------------------------------------------------------------ measuring

    def _measure(self, size: int, *, requests: int, seed: int, seeding: dict, sweep_limit: float) -> dict:
        self.stderr.write(f"Measuring at {size:,} patients: the reminder runs, then the pages.")
        reminders = benchmark.run_reminders(now=timezone.now(), limit_seconds=sweep_limit)
        for label, run in reminders.named():
            if run is not None:
                self.stderr.write(f"  {label}: {run.seconds:.2f} s{' (stopped at the limit)' if run.stopped else ''}")
        client = benchmark.logged_in_client(bench_users()[PHYSICIAN])
        pages = []
        for page in benchmark.PAGES:
            pages.append(benchmark.measure_page(client, page, requests=requests, seed=seed))
            self.stderr.write(f"  {page}: p50 {pages[-1].p50_ms:.1f} ms")
        sql = benchmark.time_sql(requests)
        return {"size": size, "seeding": seeding, "pages": pages, "sql": sql, "sweeps": reminders}

    @staticmethod
    def _differing_query_counts(results: list[dict]) -> list[str]:
        differing = []
        for number, page in enumerate(benchmark.PAGES):
            counts = {result["size"]: result["pages"][number].queries_text for result in results}
            if len(set(counts.values())) > 1:
                differing.append(f"{page} " + ", ".join(f"{n} at {size:,}" for size, n in counts.items()))
        return differing

    # ------------------------------------------------------------------ the report

    def _report(self, results: list[dict], *, requests: int) -> None:
        out = self.stdout.write
        out("")
        out(f"IVIG Clinic benchmark, {timezone.now():%Y-%m-%d %H:%M} UTC")
        out(f"database   {self._database()}")
        out(f"software   Python {platform.python_version()}, Django {django.get_version()}, DEBUG {self._debug()}")
        out(f"machine    {platform.platform()}, {os.cpu_count()} CPUs ({platform.processor() or platform.machine()})")
        out(f"requests   {requests} per page and size, through django.test.Client (server time, no network)")
        out("")
        out("seeding")
        grown = 0
        for result in results:
            seeding = result["seeding"]
            if seeding["patients"]:
                out(
                    f"  {grown:>7,} → {result['size']:>7,} patients  {seeding['seconds']:7.1f} s  "
                    f"{seeding['rows']:>10,} rows"
                )
            grown = result["size"]
        out("")
        out(f"{'page':<16}{'patients':>9}{'p50 ms':>10}{'p95 ms':>10}{'queries':>9}")
        for number, page in enumerate(benchmark.PAGES):
            for result in results:
                timing = result["pages"][number]
                out(
                    f"{page:<16}{result['size']:>9,}{timing.p50_ms:>10.1f}{timing.p95_ms:>10.1f}"
                    f"{timing.queries_text:>9}"
                )
        out("")
        out("dashboard against one hand-written SQL query for its patient list (p50; the ratio to drive down)")
        for result in results:
            page, sql = result["pages"][0], result["sql"]
            out(
                f"  {result['size']:>7,} patients  page {page.p50_ms:8.1f} ms  SQL {sql.p50_ms:7.2f} ms  "
                f"ratio {page.p50_ms / sql.p50_ms:7.1f}×"
            )
        out("")
        out(
            "reminders: first run of a never-computed clinic, the 5-minute periodic sweep, the next night's "
            "reconciliation (repaired: what a missed trigger left; must be 0 after the first run)"
        )
        header = f"  {'patients':>8}  {'run':<10}{'seconds':>9}{'queries':>9}{'rows written':>14}{'created':>9}"
        out(header + f"{'queued':>8}{'repaired':>10}{'peak MiB':>10}")
        for result in results:
            for label, run in result["sweeps"].named():
                if run is None:
                    out(f"  {result['size']:>8,}  {label:<10}  not run: an earlier run was stopped at the time limit")
                    continue
                seconds = f">{run.seconds:.0f}" if run.stopped else f"{run.seconds:.2f}"
                repaired = run.counts.get("repaired", "") if label == "nightly" else ""
                out(
                    f"  {result['size']:>8,}  {label:<10}{seconds:>9}{run.queries:>9,}{run.rows_written:>14,}"
                    f"{run.created:>9,}{run.queued:>8,}{repaired:>10}{run.peak_mib:>10.1f}"
                    + ("  stopped at the time limit: counts partial" if run.stopped else "")
                )
        self._slowest(results[-1])
        self._targets(results)

    def _slowest(self, result: dict) -> None:
        """Where the time goes at the largest size: for the next optimisation, not a verdict."""
        out = self.stdout.write
        out("")
        out(f"slowest queries at {result['size']:,} patients (ms, first 300 characters)")
        runs = [(f"reminders, {label}", run.slowest) for label, run in result["sweeps"].named() if run is not None]
        for name, found in [*((t.name, t.slowest) for t in result["pages"]), *runs]:
            out(f"  {name}")
            for ms, sql in found:
                out(f"    {ms:9.1f}  {sql}")

    def _targets(self, results: list[dict]) -> None:
        at_target = [r for r in results if r["size"] == TARGET_PATIENTS]
        if not at_target or connection.vendor != "postgresql":
            self.stdout.write("")
            measured = ", ".join(f"{result['size']:,}" for result in results)
            self.stdout.write(
                f"targets    checked on PostgreSQL at {TARGET_PATIENTS:,} patients "
                f"(this run: {connection.vendor}, sizes {measured})"
            )
            return
        result = at_target[0]
        dashboard, patient = result["pages"][0], result["pages"][1]
        reminders = result["sweeps"]
        checks = [
            (f"dashboard p95 ≤ {TARGET_DASHBOARD_P95_MS} ms", f"{dashboard.p95_ms:.1f} ms", dashboard.p95_ms),
            (f"dashboard ≤ {TARGET_DASHBOARD_QUERIES} queries", dashboard.queries_text, dashboard.queries[1]),
            (f"patient page ≤ {TARGET_PATIENT_QUERIES} queries", patient.queries_text, patient.queries[1]),
        ]
        limits = [TARGET_DASHBOARD_P95_MS, TARGET_DASHBOARD_QUERIES, TARGET_PATIENT_QUERIES]
        for label, run in reminders.named():
            target = TARGET_REMINDER_SECONDS[label]
            if run is None:
                checks.append((f"reminders {label} ≤ {target:g} s", "not run", float("inf")))
            else:
                shown = f"{'>' if run.stopped else ''}{run.seconds:.1f} s"
                checks.append(
                    (f"reminders {label} ≤ {target:g} s", shown, float("inf") if run.stopped else run.seconds)
                )
            limits.append(target)
        peak = max((run.peak_mib for _, run in reminders.named() if run is not None), default=0.0)
        checks.append((f"reminders peak ≤ {TARGET_REMINDER_PEAK_MIB} MiB", f"{peak:.1f} MiB", peak))
        limits.append(TARGET_REMINDER_PEAK_MIB)
        self.stdout.write("")
        self.stdout.write(f"targets at {TARGET_PATIENTS:,} patients on PostgreSQL")
        for (label, shown, value), limit in zip(checks, limits, strict=True):
            self.stdout.write(f"  {label:<28}{shown:>12}  {'met' if value <= limit else 'NOT MET'}")

    @staticmethod
    def _database() -> str:
        if connection.vendor == "postgresql":
            version = connection.cursor().connection.info.server_version
            return f"PostgreSQL {version // 10000}.{version % 10000} ({connection.settings_dict['NAME']})"
        if connection.vendor == "sqlite":
            import sqlite3

            return f"SQLite {sqlite3.sqlite_version} ({connection.settings_dict['NAME']})"
        return connection.vendor

    @staticmethod
    def _debug() -> str:
        from django.conf import settings

        return "on" if settings.DEBUG else "off"
