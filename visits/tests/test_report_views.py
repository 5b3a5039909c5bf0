"""The report pages: the trend chart SVG, the cohort page and its CSV. Each: works, unknown
patient 404, no role 403, wrong method 405, and nothing cached."""

import csv
import io
from datetime import date
from decimal import Decimal
from functools import partial

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from patients.tests.factories import MedicationFactory, PatientFactory
from visits.tests.factories import FIRST_INFUSION, treated_patient

TODAY = date(2026, 11, 22)
SVG = "{http://www.w3.org/2000/svg}"
UNKNOWN_UUID = "00000000-0000-4000-8000-000000000000"


# The root conftest's frozen_today: Sunday 22 Nov 2026, 12:00 in New York.
pytestmark = pytest.mark.usefixtures("frozen_today")


@pytest.fixture
def treated(physician):
    """A patient with a baseline and the tis.md worked example at week 16 (TIS 35)."""

    return partial(treated_patient, by=physician, today=TODAY)


def trend_url(patient) -> str:
    return reverse("visits:trend", kwargs={"patient_uuid": patient.uuid})


def assert_not_cached(response):
    assert "no-store" in response["Cache-Control"] and "private" in response["Cache-Control"]


@pytest.mark.django_db
class TestCohortReport:
    def test_every_role_sees_the_table(self, role_client, any_role, treated):
        patient = treated(given_name="Zelda")
        PatientFactory(ivig_started_on=date(2026, 10, 1))  # no week-16 visit yet
        response = role_client(any_role).get(reverse("visits:cohort"))

        assert response.status_code == 200
        html = response.content.decode()
        assert "TIS ≥ 20 (minimal or better)" in html
        assert "100.0 %" in html
        assert reverse("visits:patient_visits", kwargs={"patient_uuid": patient.uuid}) in html
        assert patient.mrn in html and "Zelda" not in html
        assert "no baseline visit" in html
        assert "37 of 47" in html and "21 of 48" in html and "N Engl J Med" in html
        assert 'This clinic: Adult DM/PM on IVIG</th><td class="num">1 of 1</td>' in html
        assert "amyopathic" in html and "44 %" in html and "ceiling effect" in html
        assert "not confirmed from the primary publication" in html
        summary = response.context["populations"][0]
        assert (summary.responders.count, summary.responders.of) == (1, 1)
        assert_not_cached(response)

    def test_the_prednisone_equivalent_at_baseline_and_week_16_is_shown(self, role_client, treated):
        patient = treated()
        MedicationFactory(patient=patient, name="Methylprednisolone", daily_dose_mg=Decimal("16"))
        html = role_client("viewer").get(reverse("visits:cohort")).content.decode()
        assert html.count('20.0 <span class="unit">mg/day</span>') == 4  # the patient twice, both medians
        assert "lowered by week 16 in <strong>0</strong> of 1 on a glucocorticoid at baseline (0.0 %)" in html
        assert "Equivalence: BNF" in html

    def test_juvenile_patients_get_their_own_table(self, role_client, treated):
        treated()
        treated(diagnosis="juvenile_dm")
        html = role_client("viewer").get(reverse("visits:cohort")).content.decode()

        assert "Juvenile DM" in html and "TIS ≥ 30 (minimal or better)" in html
        assert html.index("Adult DM/PM") < html.index("Juvenile DM")

    def test_an_empty_clinic(self, role_client):
        html = role_client("viewer").get(reverse("visits:cohort")).content.decode()
        assert "No patient has a first IVIG infusion date yet" in html

    def test_no_role_is_403(self, role_client):
        assert role_client(None).get(reverse("visits:cohort")).status_code == 403

    def test_post_is_405(self, role_client):
        assert role_client("physician").post(reverse("visits:cohort")).status_code == 405

    def test_query_count_does_not_grow_with_the_number_of_patients(self, role_client, treated):
        client = role_client("viewer")

        def count_queries() -> int:
            with CaptureQueriesContext(connection) as queries:
                assert client.get(reverse("visits:cohort")).status_code == 200
            return len(queries)

        treated()
        count_queries()  # warm the session and permission caches alike for both sizes
        small = count_queries()
        for diagnosis in ("adult_dm", "juvenile_dm", "adult_dm", "polymyositis", "juvenile_dm"):
            treated(diagnosis=diagnosis)
        PatientFactory(ivig_started_on=FIRST_INFUSION)
        assert count_queries() == small


# ------------------------------------------------------------------------- cohort CSV


@pytest.mark.django_db
class TestCohortCsv:
    def test_download_with_the_date_in_its_name_and_no_patient_names(self, role_client, any_role, treated):
        treated(given_name="Zelda", family_name="Quixote")
        response = role_client(any_role).get(reverse("visits:cohort_csv"))

        assert response.status_code == 200
        assert response["Content-Type"] == "text/csv; charset=utf-8"
        assert response["Content-Disposition"] == 'attachment; filename="tis-cohort-2026-11-22.csv"'
        text = response.content.decode()
        assert "Zelda" not in text and "Quixote" not in text
        rows = list(csv.DictReader(io.StringIO(text)))
        (patient_row,) = [row for row in rows if row["row_type"] == "week16"]
        assert (patient_row["tis"], patient_row["category"], patient_row["responder"]) == ("35.0", "minimal", "yes")
        assert any(row["measure"] == "tis_ge_20" and row["percent"] == "100.0" for row in rows)
        assert_not_cached(response)

    def test_query_count_does_not_grow_with_the_number_of_patients(self, role_client, treated):
        client = role_client("viewer")

        def count_queries() -> int:
            with CaptureQueriesContext(connection) as queries:
                assert client.get(reverse("visits:cohort_csv")).status_code == 200
            return len(queries)

        treated()
        count_queries()
        small = count_queries()
        for _ in range(4):
            treated()
        assert count_queries() == small

    def test_no_role_is_403(self, role_client):
        assert role_client(None).get(reverse("visits:cohort_csv")).status_code == 403

    def test_post_is_405(self, role_client):
        assert role_client("physician").post(reverse("visits:cohort_csv")).status_code == 405
