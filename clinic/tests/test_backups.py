"""`manage.py backup` then `manage.py restore`: a small clinic is backed up, dropped, restored,
and every patient, order and audit row is found again. SQLite in the normal run; PostgreSQL when
DATABASE_URL points to it (restored into a scratch database of its own, dropped afterwards)."""

from datetime import UTC, datetime

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections

from accounts import backups
from accounts.deletion_guards import history_models
from dosing.models import DoseOrder
from patients.models import Patient
from patients.tests.factories import MeasurementFactory, PatientFactory


def _tables():
    return [Patient, DoseOrder, *history_models()]


def _snapshot(cursor) -> dict[str, set]:
    rows = {}
    for model in _tables():
        cursor.execute(f'SELECT "{model._meta.pk.column}" FROM "{model._meta.db_table}"')
        rows[model._meta.db_table] = {row[0] for row in cursor.fetchall()}
    return rows


@pytest.fixture
def small_clinic(make_order, make_user):
    make_order()
    second = PatientFactory()
    MeasurementFactory(patient=second)
    make_order(patient=second)
    with connection.cursor() as cursor:
        before = _snapshot(cursor)
    assert len(before[Patient._meta.db_table]) >= 2 and len(before[DoseOrder._meta.db_table]) == 2
    assert sum(len(rows) for table, rows in before.items() if "historical" in table) >= 4
    return before


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_backup_drop_restore_finds_every_row_again(small_clinic, tmp_path):
    call_command("backup", "--dir", str(tmp_path))
    [path] = tmp_path.iterdir()
    if connection.vendor == "sqlite":
        call_command("flush", interactive=False, verbosity=0)  # the clinic is gone
        assert not Patient.objects.exists() and not DoseOrder.objects.exists()
        call_command("restore", str(path), "--noinput")
        with connection.cursor() as cursor:
            assert _snapshot(cursor) == small_clinic
        return
    # PostgreSQL: restored into a scratch database beside the test database, never over it.
    wrapper = connections["default"]
    scratch = type(wrapper)(
        {**wrapper.settings_dict, "NAME": wrapper.settings_dict["NAME"] + "_restore"}, alias="scratch"
    )
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{scratch.settings_dict["NAME"]}"')
        cursor.execute(f'CREATE DATABASE "{scratch.settings_dict["NAME"]}"')
    try:
        backups.restore(scratch, path)
        with scratch.cursor() as cursor:
            assert _snapshot(cursor) == small_clinic
    finally:
        scratch.close()
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{scratch.settings_dict["NAME"]}"')


@pytest.mark.django_db
def test_backup_keeps_the_newest(tmp_path):
    suffix = backups.SUFFIX[connection.vendor]
    for day in (1, 2, 3):
        (tmp_path / f"{backups.NAME_PREFIX}2026110{day}T020000Z{suffix}").write_bytes(b"old")
    (tmp_path / "notes.txt").write_text("not a backup")
    call_command("backup", "--dir", str(tmp_path), "--keep", "2")
    names = sorted(path.name for path in tmp_path.iterdir())
    assert names[0] == f"{backups.NAME_PREFIX}20261103T020000Z{suffix}"
    assert len(names) == 3 and "notes.txt" in names


def test_file_name_sorts_by_time():
    assert backups.backup_file_name("postgresql", datetime(2026, 11, 22, 2, 30, tzinfo=UTC)) == (
        "ivig-clinic-20261122T023000Z.dump"
    )


@pytest.mark.django_db
def test_restore_refuses_a_missing_or_foreign_file(tmp_path):
    with pytest.raises(CommandError, match="No backup file"):
        call_command("restore", str(tmp_path / "missing.dump"), "--noinput")
    if connection.vendor == "sqlite":
        (tmp_path / "x.sqlite3").write_text("hello")
        with pytest.raises(CommandError, match="not a SQLite backup"):
            call_command("restore", str(tmp_path / "x.sqlite3"), "--noinput")
    assert Patient.objects.count() == 0


@pytest.mark.django_db
def test_restore_asks_first_and_no_changes_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr("builtins.input", lambda prompt: "no")
    with pytest.raises(CommandError, match="nothing was changed"):
        call_command("restore", str(tmp_path / "any.dump"))


@pytest.mark.django_db
def test_keep_must_be_positive(tmp_path):
    with pytest.raises(CommandError, match="at least 1"):
        call_command("backup", "--dir", str(tmp_path), "--keep", "0")
    assert not list(tmp_path.iterdir())
