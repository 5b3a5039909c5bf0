"""Measurements for `manage.py bench`: server time and queries of the busiest pages through
Django's test client, the dashboard's list next to one hand-written SQL query, and the
reminder sweep over the whole clinic.

Times are float milliseconds from time.perf_counter (timings, not clinical numbers). The
client runs the whole request cycle (middleware, view, template) in this process, without
a network or a web server, so the figures are the server's share of a page.
"""

from __future__ import annotations

import os
import random
import statistics
import time
import tracemalloc
from collections.abc import Callable, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from clinic.dashboard import PATIENTS_SHOWN
from patients.models import Patient
from risk import rules
from risk.models import RiskFlag
from scheduling.models import InfusionSession
from scheduling.services.sweep import reminders_reconcile, reminders_sweep

from .synthetic import FAMILY_NAMES, bench_patients

PAGES = ("dashboard", "patient detail", "schedule week", "patient list")
QUERY_COUNT_REQUESTS = 10  # requests per page whose queries are counted (the same URLs at every size)
WRITES = ("INSERT", "UPDATE", "DELETE")
SLOWEST_SHOWN = 3


class BenchError(Exception):
    """A page did not answer 200, or the data cannot be measured."""


@dataclass(frozen=True)
class Spread:
    """A figure measured in several repetitions: their median and range."""

    median: float
    low: float
    high: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        """Example: Spread.of([12.0, 10.0, 30.0]) == Spread(median=12.0, low=10.0, high=30.0)"""
        if not values:
            raise ValueError("values: need at least one")
        return cls(statistics.median(values), min(values), max(values))

    def text(self, places: int = 1) -> str:
        """Example: Spread(12.0, 10.0, 30.0).text() == "12.0 (10.0–30.0)" """
        return f"{self.median:.{places}f} ({self.low:.{places}f}–{self.high:.{places}f})"


@dataclass(frozen=True)
class Repetition:
    """One repetition of N requests: its percentiles, and the machine's 1-minute load average at
    its end (os.getloadavg), so a slow repetition can be told from a busy machine."""

    p50_ms: float
    p95_ms: float
    load_1min: float


@dataclass(frozen=True)
class Timing:
    name: str
    repetitions: tuple[Repetition, ...]
    queries: tuple[int, int]  # fewest and most queries of one request
    requests: int  # per repetition
    slowest: tuple[tuple[float, str], ...] = ()  # (ms, SQL) of the slowest queries counted

    @property
    def p50(self) -> Spread:
        return Spread.of([r.p50_ms for r in self.repetitions])

    @property
    def p95(self) -> Spread:
        return Spread.of([r.p95_ms for r in self.repetitions])

    @property
    def loads_text(self) -> str:
        return " ".join(f"{r.load_1min:.2f}" for r in self.repetitions)

    @property
    def queries_text(self) -> str:
        low, high = self.queries
        return str(low) if low == high else f"{low}–{high}"


def percentile(values: Sequence[float], percent: int) -> float:
    """The `percent`th percentile, inclusive method (a single value is its own percentile).

    Example: percentile([10, 20, 30, 40], 50) == 25.0
    """
    if not values:
        raise ValueError("values: need at least one")
    if len(values) == 1:
        return float(values[0])
    return statistics.quantiles(values, n=100, method="inclusive")[percent - 1]


def bench_host() -> str:
    """A host name the settings accept, so requests pass ALLOWED_HOSTS with DEBUG off."""
    for host in settings.ALLOWED_HOSTS:
        if host == "*":
            return "localhost"
        if not host.startswith("."):
            return host
    return "localhost"


def logged_in_client(user) -> Client:
    client = Client(HTTP_HOST=bench_host())
    client.force_login(user)
    return client


# ----------------------------------------------------------------------------- pages


def page_urls(page: str, *, count: int, seed: int = 0) -> list[str]:
    """`count` URLs for one page, drawn with a fixed seed.

    Patient detail: a different seeded patient each request. Schedule week: the current week
    first, then weeks from 12 back to 5 ahead that have sessions (an empty week skips a query,
    which would make counts differ for want of data rather than by the clinic's size). Patient
    list: the first page and a search by family name, alternately. Dashboard: the home page."""
    rng = random.Random(f"{seed}:{page}")
    if page == "dashboard":
        return [reverse("home")] * count
    if page == "patient detail":
        uuids = list(bench_patients().order_by("pk").values_list("uuid", flat=True))
        if not uuids:
            raise BenchError("No synthetic patient to open: seed the clinic first.")
        chosen = rng.sample(uuids, min(count, len(uuids)))
        chosen += [rng.choice(uuids) for _ in range(count - len(chosen))]
        return [reverse("patients:detail", kwargs={"patient_uuid": uuid}) for uuid in chosen]
    if page == "schedule week":
        weeks = _booked_weeks()
        chosen = [weeks[0]] + [rng.choice(weeks) for _ in range(count - 1)]
        return [f"{reverse('scheduling:week')}?start={monday:%Y-%m-%d}" for monday in chosen]
    if page == "patient list":
        listing = reverse("patients:list")
        return [listing if n % 2 == 0 else f"{listing}?q={rng.choice(FAMILY_NAMES)}" for n in range(count)]
    raise ValueError(f"page: unknown page {page!r}; one of {', '.join(PAGES)}")


def _booked_weeks() -> list:
    """Mondays from 12 weeks back to 5 ahead whose week has a session, this week first if it has."""
    tz = timezone.get_default_timezone()
    today = timezone.localdate()
    this_monday = today - timedelta(days=today.weekday())
    weeks = []
    for offset in [0, *range(-12, 0), *range(1, 6)]:
        monday = this_monday + timedelta(weeks=offset)
        start = datetime.combine(monday, datetime.min.time(), tzinfo=tz)
        if InfusionSession.objects.between(start, start + timedelta(days=7)).exists():
            weeks.append(monday)
    if not weeks:
        raise BenchError("No session booked within 12 weeks of today: seed the clinic first.")
    return weeks


def _get(client: Client, url: str) -> None:
    response = client.get(url, secure=settings.SECURE_SSL_REDIRECT)
    if response.status_code != 200:
        raise BenchError(f"GET {url} answered {response.status_code}, not 200.")


def time_requests(client: Client, urls: Sequence[str]) -> list[float]:
    """Milliseconds per request, after one untimed request that warms caches and connections."""
    _get(client, urls[0])
    timings = []
    for url in urls:
        started = time.perf_counter()
        _get(client, url)
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def repeat(timed: Callable[[], list[float]], repetitions: int) -> tuple[Repetition, ...]:
    """Run `timed` (which returns milliseconds per request) `repetitions` times: p50 and p95 of
    each run, with the load average when it ends."""
    if repetitions < 1:
        raise ValueError("repetitions: need at least one")
    runs = []
    for _ in range(repetitions):
        timings = timed()
        runs.append(Repetition(percentile(timings, 50), percentile(timings, 95), os.getloadavg()[0]))
    return tuple(runs)


def count_queries(client: Client, urls: Sequence[str]) -> tuple[list[int], list[dict]]:
    """Queries per request, and every query captured (SQL and time).

    The session row is renewed at most once every SESSION_RENEW_SECONDS, so whether a request
    carries that write depends on the clock, not on the clinic: while counting, the renewal is
    put beyond the run, and every count is a request's own queries."""
    counts, queries = [], []
    steady = override_settings(SESSION_RENEW_SECONDS=10**9) if hasattr(settings, "SESSION_RENEW_SECONDS") else None
    for url in urls:
        with steady or nullcontext(), CaptureQueriesContext(connection) as captured:
            _get(client, url)
        counts.append(len(captured.captured_queries))
        queries.extend(captured.captured_queries)
    return counts, queries


def slowest(queries: Sequence[dict], count: int = SLOWEST_SHOWN) -> tuple[tuple[float, str], ...]:
    """The `count` slowest distinct statements (by their first 300 characters), slowest first."""
    worst: dict[str, float] = {}
    for query in queries:
        # PostgreSQL leaves no SQL text for a statement cancelled at the time limit.
        key = " ".join((query["sql"] or "(a statement cancelled at the time limit)").split())[:300]
        worst[key] = max(worst.get(key, 0.0), float(query["time"]) * 1000)
    return tuple(sorted(((ms, sql) for sql, ms in worst.items()), reverse=True)[:count])


def measure_page(client: Client, page: str, *, requests: int, repetitions: int = 3, seed: int = 0) -> Timing:
    """Time `repetitions` runs of `requests` requests of one page (timed without query capture,
    which adds its own cost), then count the queries of the first few of the same URLs."""
    urls = page_urls(page, count=requests, seed=seed)
    runs = repeat(lambda: time_requests(client, urls), repetitions)
    counts, queries = count_queries(client, urls[:QUERY_COUNT_REQUESTS])
    return Timing(page, runs, (min(counts), max(counts)), len(urls), slowest(queries))


# ----------------------------------------------------------------------------- the physical floor


@dataclass(frozen=True)
class Statement:
    sql: str
    params: object  # as the backend received them: a sequence, a mapping or None
    many: bool


def capture_statements(client: Client, url: str) -> list[Statement]:
    """Every statement one request of `url` sent to the database, with its parameters, as the
    backend executed it (no session renewal: see count_queries)."""
    statements: list[Statement] = []

    def record(execute, sql, params, many, context):
        statements.append(Statement(sql, params, many))
        return execute(sql, params, many, context)

    steady = override_settings(SESSION_RENEW_SECONDS=10**9) if hasattr(settings, "SESSION_RENEW_SECONDS") else None
    with steady or nullcontext(), connection.execute_wrapper(record):
        _get(client, url)
    return statements


def replay_statements(statements: Sequence[Statement]) -> float:
    """Run `statements` again through the driver's own cursor, fetching every row as the page
    did, and return the milliseconds they took: the database's share of the page, without
    Django's ORM, views or templates. Inside a transaction rolled back, so a write in the page
    (none is expected) would not be repeated into the data."""
    with transaction.atomic(), connection.cursor() as cursor:
        raw = cursor.cursor  # the driver's cursor (on SQLite Django's thin parameter-style adapter)
        started = time.perf_counter()
        for statement in statements:
            if statement.many:
                raw.executemany(statement.sql, statement.params)
            else:
                raw.execute(statement.sql, statement.params)
            if raw.description is not None:
                raw.fetchall()
        elapsed = (time.perf_counter() - started) * 1000
        transaction.set_rollback(True)
    return elapsed


def measure_replay(statements: Sequence[Statement], *, requests: int, repetitions: int = 3) -> Timing:
    """The replay timed as the page is: `repetitions` runs of `requests` replays, one untimed first."""

    def timed() -> list[float]:
        replay_statements(statements)
        return [replay_statements(statements) for _ in range(requests)]

    count = len(statements)
    return Timing("its queries as raw SQL", repeat(timed, repetitions), (count, count), requests)


# ----------------------------------------------------------------------------- the dashboard in SQL


def _severity_rank(column: str) -> str:
    whens = " ".join(f"WHEN '{severity}' THEN {rank}" for rank, severity in enumerate(rules.SEVERITIES))
    return f"CASE {column} {whens} END"


def dashboard_sql() -> str:
    """The dashboard's "patients at risk" list in one query: the PATIENTS_SHOWN patients with the
    worst active flag first (then most flags, family name, id), each with all their active flags,
    most severe first. Plain SQL that SQLite and PostgreSQL both run."""
    flags = connection.ops.quote_name(RiskFlag._meta.db_table)
    patients = connection.ops.quote_name(Patient._meta.db_table)
    return f"""
        WITH per_patient AS (
            SELECT f.patient_id, MIN({_severity_rank("f.severity")}) AS worst, COUNT(*) AS flag_count
            FROM {flags} f
            WHERE f.resolved_at IS NULL
            GROUP BY f.patient_id
        ), shown AS (
            SELECT pp.patient_id, pp.worst, pp.flag_count, p.family_name
            FROM per_patient pp JOIN {patients} p ON p.id = pp.patient_id
            ORDER BY pp.worst, pp.flag_count DESC, p.family_name, pp.patient_id
            LIMIT {int(PATIENTS_SHOWN)}
        )
        SELECT p.id, p.uuid, p.mrn, p.given_name, p.family_name,
               f.id, f.code, f.category, f.severity, f.title, f.evidence, f.evidence_on, f.acknowledged_at
        FROM shown s
        JOIN {patients} p ON p.id = s.patient_id
        JOIN {flags} f ON f.patient_id = s.patient_id AND f.resolved_at IS NULL
        ORDER BY s.worst, s.flag_count DESC, s.family_name, s.patient_id, {_severity_rank("f.severity")}, f.code
    """  # noqa: S608 - table names from the models, no user input


def dashboard_sql_rows() -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(dashboard_sql())
        return cursor.fetchall()


def time_sql(requests: int, repetitions: int = 3) -> Timing:
    def timed() -> list[float]:
        dashboard_sql_rows()  # warm-up
        timings = []
        for _ in range(requests):
            started = time.perf_counter()
            dashboard_sql_rows()
            timings.append((time.perf_counter() - started) * 1000)
        return timings

    return Timing("dashboard list in SQL", repeat(timed, repetitions), (1, 1), requests)


# ----------------------------------------------------------------------------- grading targets

MET, NOT_MET, NOT_MEASURED = "met", "NOT MET", "not measured"


def grade_at_most(value: float | None, limit: float, *, strictly_below: bool = False) -> str:
    """Whether a figure is within its limit (at most, or strictly below); None was not measured.

    Example: grade_at_most(100.0, 100) == "met", grade_at_most(100.0, 100, strictly_below=True)
    == "NOT MET", grade_at_most(None, 100) == "not measured"
    """
    if value is None:
        return NOT_MEASURED
    return MET if (value < limit if strictly_below else value <= limit) else NOT_MET


def grade_same(counts: Mapping[int, int]) -> str:
    """Whether a count is the same at every clinic size measured (at least two).

    Example: grade_same({1000: 12, 10000: 12}) == "met", grade_same({1000: 12, 10000: 13})
    == "NOT MET", grade_same({1000: 12}) == "not measured"
    """
    if len(counts) < 2:
        return NOT_MEASURED
    return MET if len(set(counts.values())) == 1 else NOT_MET


def grade_not_growing(counts: Mapping[int, int]) -> str:
    """Whether a count at the largest clinic is no more than at the smallest (at least two sizes).

    Example: grade_not_growing({1000: 27, 10000: 27}) == "met", grade_not_growing({1000: 27,
    10000: 128}) == "NOT MET"
    """
    if len(counts) < 2:
        return NOT_MEASURED
    return MET if counts[max(counts)] <= counts[min(counts)] else NOT_MET


# ----------------------------------------------------------------------------- the reminder sweep


@dataclass(frozen=True)
class SweepRun:
    """One measured reminder run: its time, queries, rows written (INSERT/UPDATE/DELETE row
    counts), peak Python memory (tracemalloc, MiB) and the counts the service returned."""

    seconds: float
    queries: int
    rows_written: int
    created: int
    queued: int
    stopped: bool = False  # ran past the time limit and was stopped; the counts are partial
    slowest: tuple[tuple[float, str], ...] = ()
    peak_mib: float = 0.0
    counts: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ReminderRuns:
    """The three reminder runs the bench grades, in the order it makes them on one clinic:
    `first` the nightly reconciliation of a clinic never computed (bulk-seeded data: it creates
    every reminder), `periodic` the 5-minute sweep (reads the window of due reminders), and
    `nightly` the reconciliation a day later (what time brought within the horizon, no drift).
    A run is None when an earlier one was stopped at the time limit."""

    first: SweepRun
    periodic: SweepRun | None
    nightly: SweepRun | None

    def named(self) -> list[tuple[str, SweepRun | None]]:
        return [("first run", self.first), ("periodic", self.periodic), ("nightly", self.nightly)]


@dataclass(frozen=True)
class SweepFigure:
    """A graded figure of the sweep section: which run (one of the names the targets table
    grades), how long it took, its queries and how far memory rose (None: not measured)."""

    name: str
    seconds: float
    queries: int
    memory_mib: float | None = None
    stopped: bool = False  # stopped at the time limit: the seconds are a lower bound
    repaired: int | None = None  # the nightly run's repairs (what a missed trigger left; 0 when clean)


class SweepTimeLimit(Exception):
    pass


@contextmanager
def rows_written_counter():
    """Count rows changed by INSERT, UPDATE and DELETE statements (their row counts, so a
    statement that matches nothing writes nothing)."""
    written = [0]

    def wrapper(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if sql.lstrip()[:6].upper() in WRITES:
            written[0] += max(context["cursor"].rowcount or 0, 0)
        return result

    with connection.execute_wrapper(wrapper):
        yield written


@contextmanager
def time_limit(seconds: float):
    """Stop the database work after `seconds`: no statement starts after the deadline, and a
    running one is cancelled (PostgreSQL: statement_timeout; SQLite: a progress handler). So a
    sweep with a query that grows with the square of the clinic is reported, not waited for."""
    deadline = time.perf_counter() + seconds

    def wrapper(execute, sql, params, many, context):
        if time.perf_counter() > deadline:
            raise SweepTimeLimit
        return execute(sql, params, many, context)

    connection.ensure_connection()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"SET statement_timeout = {int(seconds * 1000)}")
    elif connection.vendor == "sqlite":
        connection.connection.set_progress_handler(lambda: int(time.perf_counter() > deadline), 10_000)
    try:
        with connection.execute_wrapper(wrapper):
            yield
    finally:
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("RESET statement_timeout")
        elif connection.vendor == "sqlite":
            connection.connection.set_progress_handler(None, 0)


def run_sweep(
    sweep: Callable[..., dict], *, now: datetime, limit_seconds: float = 120, trace_memory: bool = True
) -> SweepRun:
    """One reminder run over the whole clinic, stopped after `limit_seconds`. The e-mail
    deliveries it finds due are counted, not sent to a broker (the run returns their ids; its
    Celery task queues them): the benchmark measures the run's own work. Peak memory is
    tracemalloc's (Python allocations, not the process's RSS); tracing costs some speed, so
    `trace_memory=False` gives the plain time."""
    stopped = False
    counts: dict = {}
    if trace_memory:
        tracemalloc.start()
    try:
        with CaptureQueriesContext(connection) as captured, rows_written_counter() as written:
            started = time.perf_counter()
            try:
                with time_limit(limit_seconds):
                    counts = sweep(now=now)
            except (SweepTimeLimit, DatabaseError):
                if time.perf_counter() - started < limit_seconds:
                    raise
                stopped = True
            seconds = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1] if trace_memory else 0
    finally:
        if trace_memory:
            tracemalloc.stop()
    return SweepRun(
        seconds,
        len(captured.captured_queries),
        written[0],
        counts.get("created", 0),
        len(counts.get("due_ids", ())),
        stopped,
        slowest(captured.captured_queries),
        peak / 2**20,
        {name: value for name, value in counts.items() if name != "due_ids"},
    )


PERIODIC_AFTER = timedelta(minutes=5)
NIGHTLY_AFTER = timedelta(days=1)


def run_reminders(*, now: datetime, limit_seconds: float = 120) -> ReminderRuns:
    """The first run of a never-computed clinic at `now`, then the periodic sweep 5 minutes
    later, then the next night's reconciliation a day later (see ReminderRuns), each its own
    SweepRun. The clinic's clock has then reached `now + NIGHTLY_AFTER`: a later measurement on
    the same clinic must start there or after (see reminder_clock), never before."""
    first = _measured(reminders_reconcile, now=now, limit_seconds=limit_seconds)
    if first.stopped:
        return ReminderRuns(first, None, None)
    periodic = _measured(reminders_sweep, now=now + PERIODIC_AFTER, limit_seconds=limit_seconds)
    nightly = _measured(reminders_reconcile, now=now + NIGHTLY_AFTER, limit_seconds=limit_seconds)
    return ReminderRuns(first, periodic, nightly)


def reminder_clock(previous: datetime | None, *, wall: datetime) -> datetime:
    """When the next size's reminder runs start: the wall clock, or the moment the previous
    size's nightly run was made at if that is later. The clinic grows between sizes, and its
    reminders were computed as of that nightly run; a first run back at the wall clock would see
    the earlier patients' horizon shrink (cancelling) and the nightly after it grow back
    (reviving), reported as repairs of a clean clinic.

    Example: reminder_clock(None, wall=T) == T; reminder_clock(T + 1 day, wall=T + 10 min) ==
    T + 1 day; reminder_clock(T, wall=T + 10 min) == T + 10 min."""
    return wall if previous is None else max(previous, wall)


class _RollBack(Exception):
    pass


def _measured(run: Callable[..., dict], *, now: datetime, limit_seconds: float) -> SweepRun:
    """Time a run without tracemalloc (which slows Python-heavy code severalfold), its peak
    memory from an identical pass traced first and rolled back, so both figures are honest."""
    traced = None
    try:
        with transaction.atomic():
            traced = run_sweep(run, now=now, limit_seconds=limit_seconds, trace_memory=True)
            raise _RollBack
    except _RollBack:
        pass
    if traced.stopped:
        return traced
    return replace(run_sweep(run, now=now, limit_seconds=limit_seconds, trace_memory=False), peak_mib=traced.peak_mib)
