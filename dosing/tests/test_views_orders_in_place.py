"""Calculate on the new-order page in place (htmx): the inputs and the plan come back alone, the plan
focused and Place order enabled with the digest of the plan shown; errors come back with the inputs
and 422; Place order stays a full post. Without htmx, Calculate draws the page as before."""

import re

import pytest
from django.urls import reverse

from dosing.models import DoseOrder
from dosing.tests.factories import site_first_step_factor

HTMX = {"HX-Request": "true"}
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def usual_first_step(db):
    site_first_step_factor(1)


def url(patient):
    return reverse("dosing:order_create", kwargs={"patient_uuid": patient.uuid})


def form(indication, **overrides):
    return {"indication": indication.pk, "dose_g_per_kg": "2", "days": "2", "weight_basis": "auto"} | overrides


def test_the_calculate_button_posts_in_place_and_place_order_does_not(role_client, dm_patient, frozen_today):
    html = role_client("physician").get(url(dm_patient)).content.decode()
    calculate = re.search(r'<button [^>]*value="preview"[^>]*>', html).group(0)
    assert f'hx-post="{url(dm_patient)}"' in calculate and 'hx-target="#order-editor"' in calculate
    place = re.search(r'<button [^>]*value="place"[^>]*>', html).group(0)
    assert "hx-" not in place and "disabled" in place
    assert '<div class="row g-4" id="order-editor">' in html


def test_calculate_in_place_answers_the_plan_and_enables_place_order(
    role_client, dm_patient, dm_indication, frozen_today
):
    client = role_client("physician")
    response = client.post(url(dm_patient), form(dm_indication, action="preview"), headers=HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html and html.lstrip().startswith('<div class="row g-4" id="order-editor">')
    assert re.search(r'<h2 class="h5" id="order-plan-h" tabindex="-1" autofocus>Plan \(not yet ordered\)', html)
    assert "168.0" in html  # the worked example's top pump rate, mL/h
    place = re.search(r'<button [^>]*value="place"[^>]*>', html).group(0)
    assert "disabled" not in place
    digest = re.search(r'name="plan_digest" value="([^"]+)"', html).group(1)
    assert DoseOrder.objects.count() == 0

    # Place order, a full post, places exactly the plan shown.
    placed = client.post(url(dm_patient), form(dm_indication, action="place", plan_digest=digest))
    assert placed.status_code == 302 and DoseOrder.objects.count() == 1


def test_calculate_in_place_with_six_days_is_422_at_the_field(role_client, dm_patient, dm_indication, frozen_today):
    response = role_client("physician").post(
        url(dm_patient), form(dm_indication, days="6", action="preview"), headers=HTMX
    )
    assert response.status_code == 422
    html = response.content.decode()
    field = re.search(r'<input [^>]*name="days"[^>]*>', html).group(0)
    assert "is-invalid" in field and "between 2 and 5" in html
    assert "autofocus" not in html and DoseOrder.objects.count() == 0


def test_without_htmx_calculate_draws_the_page(role_client, dm_patient, dm_indication, frozen_today):
    response = role_client("physician").post(url(dm_patient), form(dm_indication, action="preview"))
    html = response.content.decode()
    assert response.status_code == 200 and "<html" in html and "autofocus>Plan" not in html
