"""403, 404 and 500 answer inside the app's frame, say why, and offer the way back."""

import pytest
from django.test import RequestFactory
from django.urls import reverse
from django.views.defaults import server_error


@pytest.mark.django_db
def test_a_forbidden_page_names_the_role_and_offers_the_way_back(role_client):
    # A viewer may not edit the unit's chairs and hours: a 403 from the view.
    client = role_client("viewer")
    response = client.get(reverse("scheduling:unit_settings"))

    assert response.status_code == 403
    html = response.content.decode()
    assert "You cannot open this page" in html
    assert "the role of <strong>viewer</strong>" in html
    assert f'href="{reverse("home")}"' in html and "Back to the dashboard" in html
    assert 'aria-label="Main"' in html and "Log out" in html  # the app's own frame, with its menu


@pytest.mark.django_db
def test_a_user_without_a_role_is_told_so(role_client):
    response = role_client(None).get(reverse("scheduling:unit_settings"))

    assert response.status_code == 403
    assert "<strong>no clinic role</strong>" in response.content.decode()


@pytest.mark.django_db
def test_an_unknown_address_is_a_404_in_the_frame_that_names_it(role_client):
    response = role_client("nurse").get("/patients/no-such-page/")

    assert response.status_code == 404
    html = response.content.decode()
    assert "There is nothing at this address" in html
    assert "<code>/patients/no-such-page/</code>" in html
    assert "Back to the dashboard" in html and "Log out" in html


def test_a_server_error_page_needs_no_database_and_offers_the_way_back():
    # No django_db mark: any query while rendering would fail the test, as it would fail a real
    # 500 with the database down.
    response = server_error(RequestFactory().get("/dosing/orders/"))

    assert response.status_code == 500
    html = response.content.decode()
    assert "Something went wrong on our side" in html
    assert "open the record and check" in html
    assert 'href="/"' in html and "/static/" in html  # styled by the app's own CSS
