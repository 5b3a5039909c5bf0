"""Test databases copied from one migrated template instead of each being migrated.

Migrating an empty database costs about 30 s of CPU on these machines: 92 migrations, and after each
data migration Django renders the model states again. A test run made one such database per xdist
worker, per browser-test run and per database engine: seven in CI, about a fifth of its time.

Now the first test process that needs a database migrates a template once, under a file lock (xdist
workers wait for it rather than race), and every test database is a copy of it: PostgreSQL's
``CREATE DATABASE … TEMPLATE`` (Django's own ``TEST["TEMPLATE"]`` setting), or for SQLite's in-memory
test database the SQLite backup API. Django's test set-up then runs ``migrate`` as always and finds
nothing left to apply, so every post-migrate step (content types, permissions, role groups) still runs.

The template's name carries a fingerprint of every migration file of the project and of the pinned
requirements (third-party apps' migrations come with their versions), so a changed migration builds a
new template and a template is never used against other migrations. ``TEST_DB_TEMPLATE=0`` turns it
off (each test database migrated from empty, as before). ``scripts/native-stack-check`` still migrates
its own empty database: that is the compose file's migrate service, proved as it runs in production.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import sqlite3
import subprocess
import sys
from contextlib import contextmanager, suppress
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import django
from django.db import Error as DatabaseError

ROOT = Path(__file__).resolve().parent.parent
WORK_DIR = ROOT / "var" / "test-db"
PREFIX = "ivig_test_template_"
# SQLite in-memory test databases live while any connection to them is open: ours stays open for the
# whole test process, so the copy outlives Django closing and reopening its own connections.
_keep_alive: list[sqlite3.Connection] = []


def enabled() -> bool:
    return os.environ.get("TEST_DB_TEMPLATE", "1") != "0"


def fingerprint(root: Path = ROOT) -> str:
    """Twelve hex digits that change whenever a migration or a pinned requirement changes."""
    digest = hashlib.sha256(django.get_version().encode())
    for path in sorted(root.glob("*/migrations/*.py")):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    digest.update((root / "requirements.txt").read_bytes())
    return digest.hexdigest()[:12]


@contextmanager
def _locked(name: str):
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    with open(WORK_DIR / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _migrate(database_url: str) -> None:
    """``migrate`` in a child process against database_url, with the test run's settings."""
    env = {**os.environ, "DATABASE_URL": database_url, "DJANGO_SETTINGS_MODULE": "ivig_clinic.settings_pytest"}
    subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "migrate", "--run-syncdb", "--noinput", "-v0"],
        env=env,
        cwd=ROOT,
        check=True,
    )


def use_for_tests(connection) -> None:
    """Make the test database of this connection a copy of the migrated template (building it first
    if needed). Called before Django creates the test databases."""
    if connection.vendor == "postgresql":
        _use_postgresql(connection)
    elif connection.vendor == "sqlite" and connection.creation.is_in_memory_db(
        connection.settings_dict["TEST"].get("NAME") or ":memory:"
    ):
        _use_sqlite(connection)


# --- PostgreSQL ----------------------------------------------------------------------------------


def _use_postgresql(connection) -> None:
    template = PREFIX + fingerprint()
    with _locked("postgresql"), connection._nodb_cursor() as cursor:
        cursor.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", [PREFIX + "%"])
        existing = {row[0] for row in cursor.fetchall()}
        if template not in existing:
            _build_postgresql(cursor, template)
        for stale in existing - {template}:
            # Another run may be copying it right now: then it is left for a later run to drop.
            with suppress(DatabaseError):
                cursor.execute(f'DROP DATABASE IF EXISTS "{stale}"')
    connection.settings_dict["TEST"]["TEMPLATE"] = template


def _build_postgresql(cursor, template: str) -> None:
    building = template + "_building"
    cursor.execute(f'DROP DATABASE IF EXISTS "{building}"')
    cursor.execute(f'CREATE DATABASE "{building}"')
    try:
        _migrate(_url_for(building))
    except BaseException:
        cursor.execute(f'DROP DATABASE IF EXISTS "{building}"')
        raise
    # Renamed only once whole: a run stopped half-way never leaves a template that looks ready.
    cursor.execute(f'ALTER DATABASE "{building}" RENAME TO "{template}"')


def _url_for(name: str) -> str:
    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path="/" + name))


# --- SQLite --------------------------------------------------------------------------------------


def _use_sqlite(connection) -> None:
    template = WORK_DIR / f"template-{fingerprint()}.sqlite3"
    with _locked("sqlite"):
        if not template.exists():
            for stale in WORK_DIR.glob("template-*.sqlite3"):
                stale.unlink()
            building = template.with_suffix(".building")
            building.unlink(missing_ok=True)
            _migrate(f"sqlite:///{building}")
            building.rename(template)
    # The name Django gives an in-memory test database (a shared cache, so every connection of this
    # process sees one database).
    target = connection.creation._get_test_db_name()
    keeper = sqlite3.connect(target, uri=True, check_same_thread=False)
    source = sqlite3.connect(f"file:{template}?mode=ro", uri=True)
    try:
        source.backup(keeper)
    finally:
        source.close()
    _keep_alive.append(keeper)
