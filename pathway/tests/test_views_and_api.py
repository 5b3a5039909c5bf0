"""The course and review pages and the treatment course API: works, bad input (field message,
nothing written), unknown course 404, a non-physician 403, wrong method 405."""

import json
from datetime import date
from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.services import api_token_create
from dosing.tests.factories import DoseOrderFactory
from pathway.models import Review


@pytest.fixture(autouse=True)
def clinic_time(settings, frozen_today):
    settings.TIME_ZONE = "America/New_York"


@pytest.fixture
def course(dm_patient):
    return DoseOrderFactory(patient=dm_patient, verified=True).treatment_course


def bearer(user) -> dict:
    _, secret = api_token_create(by=user, name="script")
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


@pytest.mark.django_db
class TestPages:
    def test_every_role_reads_the_course_and_review_pages(self, role_client, any_role, course):
        client = role_client(any_role)
        page = client.get(reverse("pathway:course_detail", args=[course.uuid]))
        assert page.status_code == 200 and b"2027-05-22" in page.content  # authorised until
        review = client.get(reverse("pathway:review", args=[course.uuid]))
        assert review.status_code == 200 and b"TIS trend" in review.content
        assert (b"Record the review" in review.content) is (any_role == "physician")

    def test_a_physician_records_a_step_down_and_the_next_order_form_proposes_it(self, role_client, course):
        client = role_client("physician")
        answer = client.post(
            reverse("pathway:review", args=[course.uuid]),
            {"decision": "step_down", "dose_g_per_kg": "1", "reason": "stable, ProDERM extension", "version": "1"},
        )
        assert answer.status_code == 302
        form = client.get(reverse("dosing:order_create", args=[course.patient.uuid]))
        assert form.context["form"].initial["dose_g_per_kg"] == Decimal("1.00")
        assert b"next orders at 1" in form.content

    def test_a_review_without_reason_is_refused_at_the_field(self, role_client, course):
        answer = role_client("physician").post(
            reverse("pathway:review", args=[course.uuid]), {"decision": "continue", "reason": "", "version": "1"}
        )
        assert answer.status_code == 200 and answer.context["form"].errors["reason"]
        assert not Review.objects.exists()

    def test_others_cannot_write_and_unknown_is_404_wrong_method_405(self, role_client, course):
        nurse = role_client("nurse")
        url = reverse("pathway:review", args=[course.uuid])
        assert nurse.post(url, {"decision": "continue", "reason": "x", "version": "1"}).status_code == 403
        assert nurse.get(reverse("pathway:course_edit", args=[course.uuid])).status_code == 403
        physician = role_client("physician")
        unknown = "00000000-0000-0000-0000-000000000000"
        assert physician.get(reverse("pathway:course_detail", args=[unknown])).status_code == 404
        assert physician.post(reverse("pathway:course_detail", args=[course.uuid])).status_code == 405

    def test_the_edit_page_renews_with_a_reason(self, role_client, course):
        answer = role_client("physician").post(
            reverse("pathway:course_edit", args=[course.uuid]),
            {
                "authorised_until": "2027-12-01",
                "next_review_due": "2027-11-01",
                "max_dose_g_per_kg": "2",
                "interval_weeks": "4",
                "objective_measures": ["mmt", "haq", "enzyme"],
                "reason": "Renewed by the IG committee",
                "version": "1",
            },
        )
        assert answer.status_code == 302
        course.refresh_from_db()
        assert course.authorised_until == date(2027, 12, 1) and course.objective_measures == ["mmt", "haq", "enzyme"]
        assert "Renewed by the IG committee" in course.history.first().history_change_reason

    def test_the_patient_chart_links_the_course(self, role_client, course):
        page = role_client("viewer").get(course.patient.get_absolute_url())
        assert course.get_absolute_url().encode() in page.content


@pytest.mark.django_db
class TestApi:
    def test_lists_and_reads_a_course(self, client, make_user, course):
        headers = bearer(make_user("viewer"))
        listed = client.get(f"/api/v1/patients/{course.patient.uuid}/treatment-courses", **headers)
        assert listed.status_code == 200
        assert listed.json()[0]["authorised_until"] == "2027-05-22"
        assert listed.json()[0]["max_dose_g_per_kg"] == "2"
        one = client.get(f"/api/v1/treatment-courses/{course.uuid}", **headers)
        assert one.status_code == 200 and len(one.json()["orders"]) == 1 and one.json()["reviews"] == []

    def test_a_physician_posts_a_decision(self, client, make_user, course):
        answer = client.post(
            f"/api/v1/treatment-courses/{course.uuid}/reviews",
            json.dumps({"decision": "step_down", "interval_weeks": 6, "reason": "stable"}),
            content_type="application/json",
            **bearer(make_user("physician")),
        )
        assert answer.status_code == 201, answer.content
        assert answer.json()["interval_weeks"] == 6 and answer.json()["authorised_until"] == "2027-11-22"

    def test_422_at_the_field_and_403_for_others(self, client, make_user, course):
        url = f"/api/v1/treatment-courses/{course.uuid}/reviews"
        body = json.dumps({"decision": "step_down", "dose_g_per_kg": "2.5", "reason": "x"})
        refused = client.post(url, body, content_type="application/json", **bearer(make_user("physician")))
        assert refused.status_code == 422
        assert refused.json()["errors"][0]["field"] == "dose_g_per_kg"
        forbidden = client.post(url, body, content_type="application/json", **bearer(make_user("pharmacist")))
        assert forbidden.status_code == 403
        assert not Review.objects.exists()
