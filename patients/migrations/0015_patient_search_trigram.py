"""Trigram indexes for the patient search (PatientQuerySet.search) on PostgreSQL.

The search asks `mrn__iexact`, `mrn__istartswith` and `family_name`/`given_name__icontains`,
which PostgreSQL runs as UPPER("col"::text) = / LIKE UPPER(...) with a leading "%": no b-tree
serves that, so every search read the whole registry. A GIN index with gin_trgm_ops on the very
same expression, UPPER("col"::text), serves LIKE '%term%', LIKE 'term%' and = (pg_trgm 1.6,
PostgreSQL 14+), and one per column lets the planner OR them in a bitmap.

PostgreSQL only: creating the extension needs a role allowed to (the database owner on
PostgreSQL 13+, pg_trgm being a trusted extension); SQLite, the zero-setup default, has no
such index and searches its small databases as before.
"""

from django.db import migrations

COLUMNS = ("mrn", "family_name", "given_name")


def index_name(column: str) -> str:
    return f"patient_{column}_trgm"


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    table = schema_editor.quote_name(apps.get_model("patients", "Patient")._meta.db_table)
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for column in COLUMNS:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {index_name(column)} ON {table} "
            f"USING gin ((UPPER({schema_editor.quote_name(column)}::text)) gin_trgm_ops)"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for column in COLUMNS:
        schema_editor.execute(f"DROP INDEX IF EXISTS {index_name(column)}")  # the extension may serve others


class Migration(migrations.Migration):
    dependencies = [("patients", "0014_patient_archived")]

    operations = [migrations.RunPython(create, drop)]
