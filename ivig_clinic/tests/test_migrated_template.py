"""The test databases are copies of one migrated template (ivig_clinic/migrated_template.py): the copy
must be a fully migrated database, and the template must be rebuilt whenever a migration changes."""

import shutil
from pathlib import Path

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from ivig_clinic import migrated_template

ROOT = Path(migrated_template.__file__).resolve().parent.parent


@pytest.mark.django_db
def test_the_test_database_has_every_migration_applied_and_the_migrations_data():
    executor = MigrationExecutor(connection)
    assert executor.migration_plan(executor.loader.graph.leaf_nodes()) == []
    # Rows that only data migrations and post-migrate steps create.
    from django.contrib.auth.models import Group, Permission

    from accounts.roles import ROLES
    from dosing.models import Product

    assert set(Group.objects.values_list("name", flat=True)) >= set(ROLES)
    assert Permission.objects.filter(codename="acknowledge_riskflag").exists()
    assert Product.objects.exists()


def _project_copy(tmp_path: Path) -> Path:
    for path in ROOT.glob("*/migrations/*.py"):
        target = tmp_path / path.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    shutil.copyfile(ROOT / "requirements.txt", tmp_path / "requirements.txt")
    return tmp_path


def test_the_fingerprint_changes_with_a_migration_or_a_requirement_and_only_then(tmp_path):
    project = _project_copy(tmp_path)
    before = migrated_template.fingerprint(project)
    assert migrated_template.fingerprint(project) == before

    migration = next(project.glob("patients/migrations/0001_*.py"))
    migration.write_text(migration.read_text() + "\n# changed\n")
    changed = migrated_template.fingerprint(project)
    assert changed != before

    (project / "requirements.txt").write_text((project / "requirements.txt").read_text() + "\nextra==1.0\n")
    with_requirement = migrated_template.fingerprint(project)
    assert with_requirement not in (before, changed)

    (project / "patients" / "notes.txt").write_text("not a migration")
    (project / "patients" / "migrations" / "README").write_text("not a migration either")
    assert migrated_template.fingerprint(project) == with_requirement


def test_the_template_url_is_the_database_url_with_another_name(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://postgres:secret@127.0.0.1:5432/test?sslmode=disable")
    assert (
        migrated_template._url_for("ivig_test_template_abc")
        == "postgres://postgres:secret@127.0.0.1:5432/ivig_test_template_abc?sslmode=disable"
    )


def test_turned_off_by_the_environment(monkeypatch):
    monkeypatch.setenv("TEST_DB_TEMPLATE", "0")
    assert not migrated_template.enabled()
    monkeypatch.delenv("TEST_DB_TEMPLATE")
    assert migrated_template.enabled()
