"""The patient search's trigram indexes (migration patients 0015): on PostgreSQL the query the
search sends can be answered from them, not by reading every patient."""

import pytest
from django.db import connection, transaction

from patients.models import Patient
from patients.tests.factories import PatientFactory

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="pg_trgm indexes exist on PostgreSQL only; SQLite keeps its plain scan (run with DATABASE_URL=postgres://...)",
    ),
]


def plan(queryset) -> str:
    """The plan PostgreSQL picks when reading the table, or walking the registry index in order,
    is priced out, as a few hundred test rows would otherwise make either the cheapest: what
    matters is that the search's conditions themselves can be answered from an index."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
        return queryset.explain()


def test_a_name_search_is_answered_from_the_trigram_indexes():
    Patient.objects.bulk_create(PatientFactory.build_batch(300))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE patients_patient")
    explained = plan(Patient.objects.in_registry().search("kwo"))
    assert "patient_family_name_trgm" in explained and "patient_given_name_trgm" in explained, explained
    assert "patient_mrn_trgm" in explained, explained
    assert "Seq Scan" not in explained, explained


def test_the_index_is_on_the_expression_the_search_compares():
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'patient_family_name_trgm'")
        (definition,) = cursor.fetchone()
    assert "gin" in definition and "upper((family_name)::text) gin_trgm_ops" in definition, definition
    # The search's own SQL compares that same expression.
    sql = str(Patient.objects.search("kwo").query)
    assert 'UPPER("patients_patient"."family_name"::text) LIKE UPPER(' in sql, sql


def test_the_search_still_finds_by_part_of_a_name_and_by_mrn_start():
    wanted = PatientFactory(mrn="MRN-4242", family_name="Okonkwo", given_name="Ada")
    PatientFactory(mrn="X-1", family_name="Smith", given_name="Bob")
    assert list(Patient.objects.search("konk")) == [wanted]
    assert list(Patient.objects.search("mrn-42")) == [wanted]
