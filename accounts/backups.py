"""Backing up and restoring the clinic's database, whole: every patient, order and audit row.

PostgreSQL: ``pg_dump --format=custom`` (compressed, restorable table by table) and
``pg_restore --clean --if-exists --single-transaction`` (all or nothing). SQLite: Python's
sqlite3 online backup API, which copies a consistent snapshot while the app keeps running.
`manage.py backup` and `manage.py restore` (``make backup`` / ``make restore``) call these.
"""

import os
import sqlite3
import subprocess
from datetime import datetime
from pathlib import Path

SUFFIX = {"sqlite": ".sqlite3", "postgresql": ".dump"}
NAME_PREFIX = "ivig-clinic-"


class BackupError(Exception):
    pass


def backup_file_name(vendor: str, now: datetime) -> str:
    """The file name of a backup taken at `now` (UTC): sorts by time, says what restores it.

    Example: ``backup_file_name("postgresql", datetime(2026, 11, 22, 2, 30, tzinfo=UTC))`` is
    ``"ivig-clinic-20261122T023000Z.dump"``.
    """
    return f"{NAME_PREFIX}{now:%Y%m%dT%H%M%SZ}{SUFFIX[vendor]}"


def _pg_environment(database: dict) -> tuple[list[str], dict]:
    args = ["--dbname", database["NAME"]]
    for option, key in (("--host", "HOST"), ("--port", "PORT"), ("--username", "USER")):
        if database.get(key):
            args += [option, str(database[key])]
    environment = dict(os.environ)
    if database.get("PASSWORD"):
        environment["PGPASSWORD"] = database["PASSWORD"]  # never on the command line (ps shows it)
    return args, environment


def _run(command: list[str], environment: dict) -> None:
    result = subprocess.run(command, env=environment, capture_output=True, text=True)
    if result.returncode != 0:
        raise BackupError(f"{command[0]} failed ({result.returncode}): {result.stderr.strip()}")


def backup(connection, path: Path) -> Path:
    """Write a backup of the database behind Django `connection` to `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if connection.vendor == "postgresql":
        args, environment = _pg_environment(connection.settings_dict)
        _run(["pg_dump", "--format=custom", "--no-owner", "--no-privileges", "--file", str(path), *args], environment)
    elif connection.vendor == "sqlite":
        connection.ensure_connection()
        with sqlite3.connect(path) as target:
            connection.connection.backup(target)
        target.close()
    else:
        raise BackupError(f"No backup for a {connection.vendor} database.")
    return path


def restore(connection, path: Path) -> None:
    """Replace the database behind `connection` with the backup at `path`, all or nothing."""
    if not path.is_file():
        raise BackupError(f"No backup file at {path}.")
    if connection.vendor == "postgresql":
        args, environment = _pg_environment(connection.settings_dict)
        connection.close()  # pg_restore drops the tables this connection may hold open
        _run(
            ["pg_restore", "--clean", "--if-exists", "--no-owner", "--no-privileges", "--single-transaction",
             "--exit-on-error", *args, str(path)],
            environment,
        )  # fmt: skip
    elif connection.vendor == "sqlite":
        with open(path, "rb") as header:
            if not header.read(16).startswith(b"SQLite format 3"):
                raise BackupError(f"{path} is not a SQLite backup.")
        connection.ensure_connection()
        source = sqlite3.connect(path)
        try:
            source.backup(connection.connection)
        finally:
            source.close()
    else:
        raise BackupError(f"No restore for a {connection.vendor} database.")


def prune(directory: Path, *, vendor: str, keep: int) -> list[Path]:
    """Delete all but the newest `keep` backups of this kind in `directory`; return the deleted ones."""
    if keep < 1:
        raise ValueError("keep: at least one backup must be kept")
    backups = sorted(directory.glob(f"{NAME_PREFIX}*{SUFFIX[vendor]}"))
    old = backups[:-keep]
    for path in old:
        path.unlink()
    return old
