"""The trend chart (clinic.views.trend_chart): the core set measures over time with the infusions given."""

import xml.etree.ElementTree as ET
from datetime import date, datetime
from decimal import Decimal
from functools import partial
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from clinic.views import INFUSION_LABEL
from dosing.models import Indication
from dosing.services.orders import dose_order_create, dose_order_verify
from patients.tests.factories import MeasurementFactory, MedicationFactory, PatientFactory
from visits.tests.factories import treated_patient

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
class TestTrendChart:
    def test_every_role_gets_the_svg(self, role_client, any_role, treated):
        patient = treated()
        response = role_client(any_role).get(trend_url(patient))

        assert response.status_code == 200
        assert response["Content-Type"] == "image/svg+xml; charset=utf-8"
        root = ET.fromstring(response.content)
        assert root.tag == f"{SVG}svg"
        assert patient.mrn in root.find(f"{SVG}title").text
        assert len([e for e in root.iter() if e.get("class") == "tis-point"]) == 1
        assert_not_cached(response)

    def test_the_svg_carries_the_sites_csp_and_uses_no_inline_style(self, role_client, treated):
        response = role_client("viewer").get(trend_url(treated()))

        policy = response["Content-Security-Policy"]
        assert "style-src 'self'" in policy and "script-src 'self'" in policy
        root = ET.fromstring(response.content)
        assert all("style" not in element.attrib for element in root.iter())
        assert root.find(f".//{SVG}style") is None

    def test_cycles_with_a_completed_infusion_are_marked(self, role_client, make_user, treated):
        from scheduling.models import Course, Cycle, InfusionSession, SessionStatus

        patient = treated()
        MeasurementFactory(patient=patient, measured_on=date(2026, 1, 5))
        indication = Indication.objects.get(product__slug="octagam-10", slug="dermatomyositis")
        order = dose_order_create(
            by=make_user("physician"),
            patient=patient,
            indication=indication,
            dose_g_per_kg=Decimal("2"),
            days=2,
            weight_basis="auto",
            today=date(2026, 1, 6),
        )
        dose_order_verify(by=make_user("pharmacist"), order=order)
        course = Course.objects.create(
            order=order, patient=patient, interval_weeks=4, days_per_cycle=2, first_day=date(2026, 2, 9),
            created_by=make_user("nurse"),
        )  # fmt: skip
        for number, (start, status) in enumerate(
            [(date(2026, 2, 9), SessionStatus.COMPLETED), (date(2026, 3, 9), SessionStatus.COMPLETED),
             (date(2026, 4, 6), SessionStatus.PLANNED)], start=1,
        ):  # fmt: skip
            cycle = Cycle.objects.create(course=course, number=number, start_date=start)
            InfusionSession.objects.create(
                cycle=cycle, patient=patient, day_number=1, chair=1, expected_minutes=300, status=status,
                planned_start=datetime.combine(start, datetime.min.time(), tzinfo=ZoneInfo("America/New_York")),
            )  # fmt: skip

        root = ET.fromstring(role_client("nurse").get(trend_url(patient)).content)

        desc = root.find(f"{SVG}desc").text
        assert f"Marked ({INFUSION_LABEL}): 2026-01-12, 2026-02-09, 2026-03-09." in desc

    def test_the_recorded_glucocorticoids_are_drawn_as_prednisone_under_the_tis(self, role_client, treated):
        patient = treated()
        MedicationFactory(
            patient=patient, name="Methylprednisolone", daily_dose_mg=Decimal("16"), started_on=date(2025, 12, 1)
        )
        MedicationFactory(patient=patient, name="Deflazacort", daily_dose_mg=Decimal("6"), started_on=date(2026, 2, 1))
        MedicationFactory(patient=patient, category="other", name="Vitamin D", daily_dose_mg=Decimal("0.02"))
        root = ET.fromstring(role_client("viewer").get(trend_url(patient)).content)
        desc = root.find(f"{SVG}desc").text
        # Visits from 5 Jan 2026: the chart's dates start a week before.
        assert (
            "Glucocorticoids as prednisone equivalent: from 2025-12-29 20.0 mg/day; from 2026-02-01 20.0 mg/day."
            in desc
        )
        assert "not counted above: Deflazacort 6 mg/day (2026-02-01 to current)." in desc
        assert "Vitamin D" not in desc
        assert len([e for e in root.iter() if e.get("class") == "prednisone-line"]) == 1

    def test_without_a_glucocorticoid_the_panel_says_none_recorded(self, role_client, treated):
        root = ET.fromstring(role_client("viewer").get(trend_url(treated())).content)
        assert "Glucocorticoids: none recorded." in root.find(f"{SVG}desc").text

    def test_a_patient_without_visits_still_gets_a_chart(self, role_client):
        response = role_client("physician").get(trend_url(PatientFactory()))
        assert response.status_code == 200
        assert "No visits recorded yet" in ET.fromstring(response.content).find(f"{SVG}desc").text

    def test_unknown_patient_is_404(self, role_client):
        response = role_client("physician").get(reverse("visits:trend", kwargs={"patient_uuid": UNKNOWN_UUID}))
        assert response.status_code == 404

    def test_no_role_is_403(self, role_client, treated):
        assert role_client(None).get(trend_url(treated())).status_code == 403

    def test_anonymous_is_sent_to_login(self, client, treated):
        response = client.get(trend_url(treated()))
        assert response.status_code == 302 and reverse("login") in response.url

    def test_post_is_405(self, role_client, treated):
        assert role_client("physician").post(trend_url(treated())).status_code == 405


# ----------------------------------------------------------------------- cohort page
